"""Field checks with translated messages, collected into ``FieldErrors``.

Every service that takes an identifier uses these, so the API, the admin and the commands
report the same message for the same mistake.
"""

from __future__ import annotations

from collections.abc import Callable

from django.utils.translation import gettext_lazy as _

from tongban.core import identifiers
from tongban.core.errors import FieldErrors, Message
from tongban.core.identifiers import InvalidIdentifier, Reason
from tongban.core.text import has_forbidden_characters

_ID_NUMBER_MESSAGES: dict[Reason, Message] = {
    Reason.LENGTH: _("A resident ID number has 18 characters."),
    Reason.FORMAT: _("A resident ID number has 17 digits and a final digit or X."),
    Reason.CHECKSUM: _("The resident ID number's check digit is wrong; please check it."),
    Reason.COMPONENT: _("The birth date or place code in the resident ID number is not valid."),
}
_USCC_MESSAGES: dict[Reason, Message] = {
    Reason.LENGTH: _("A unified social credit code has 18 characters."),
    Reason.FORMAT: _("The unified social credit code contains characters it cannot have."),
    Reason.CHECKSUM: _("The unified social credit code's check character is wrong."),
    Reason.COMPONENT: _("The unified social credit code is not valid."),
}
_MOBILE_MESSAGES: dict[Reason, Message] = {
    Reason.LENGTH: _("A mobile phone number has 11 digits."),
    Reason.FORMAT: _("Please enter a mainland mobile phone number starting with 13–19."),
    Reason.CHECKSUM: _("Please enter a valid mobile phone number."),
    Reason.COMPONENT: _("Please enter a valid mobile phone number."),
}


def _check(
    normalize: Callable[[str], str],
    messages: dict[Reason, Message],
    value: str,
    *,
    field: str,
    errors: FieldErrors,
) -> str:
    """The normalised value, or "" after recording the problem in ``errors``."""
    if not value or not value.strip():
        errors.add(field, _("This field is required."))
        return ""
    try:
        return normalize(value)
    except InvalidIdentifier as problem:
        errors.add(field, messages[problem.reason])
        return ""


def check_id_number(value: str, *, field: str, errors: FieldErrors) -> str:
    return _check(
        identifiers.normalize_id_number, _ID_NUMBER_MESSAGES, value, field=field, errors=errors
    )


def check_uscc(value: str, *, field: str, errors: FieldErrors) -> str:
    return _check(identifiers.normalize_uscc, _USCC_MESSAGES, value, field=field, errors=errors)


def check_mobile(value: str, *, field: str, errors: FieldErrors) -> str:
    return _check(identifiers.normalize_mobile, _MOBILE_MESSAGES, value, field=field, errors=errors)


def check_text(
    value: str, *, field: str, errors: FieldErrors, max_length: int, required: bool = True
) -> str:
    text = (value or "").strip()
    if has_forbidden_characters(text):
        errors.add(field, _("Remove control characters from this value."))
    elif required and not text:
        errors.add(field, _("This field is required."))
    elif len(text) > max_length:
        errors.add(field, _("At most %(n)d characters.") % {"n": max_length})
    return text
