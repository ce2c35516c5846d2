"""Real-name verification methods: how a person raises their real-name level.

A method is a class in the registry ``TONGBAN_VERIFICATION_METHODS`` (dotted paths). The one
shipped is in-person verification at a window: a clerk checks the ID document and records it
(``services.person_verify_in_person``). A face-verification provider plugs in as another class:

- ``start(person=…, state=…)`` returns where to send the person (the provider's page) and
  hands the provider ``state``, a token this node signed that names the person;
- the provider posts its verdict to ``/api/v1/accounts/verifications/<key>/callback``;
  ``complete(payload)`` checks the provider's signature on it and returns the verdict, echoing
  ``state``; ``services.person_verification_complete`` checks the token and raises the level.

So a forged callback fails the provider's signature, a verdict about someone else fails the
token, and a replayed verdict fails the provider reference, recorded once per method.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any, ClassVar

from django.conf import settings
from django.utils.functional import Promise
from django.utils.module_loading import import_string
from django.utils.translation import gettext_lazy as _

from tongban.accounts.models import Person, RealNameLevel
from tongban.core.errors import Conflict, NotFound

IN_PERSON = "in_person"


@dataclass(frozen=True)
class VerificationStart:
    """Where to send the person to go through an online method."""

    redirect_url: str


@dataclass(frozen=True)
class VerificationVerdict:
    """What a provider reports, once its signature checks: which attempt (``state``, the
    token handed out at start), the provider's own id for the check, and whether it passed."""

    state: str
    reference: str
    passed: bool
    evidence: Mapping[str, Any] = field(default_factory=dict)


class VerificationMethod:
    """A way to verify a person. Subclasses set the class attributes; online methods (started
    by the person on the portal) implement ``start`` and ``complete``."""

    key: ClassVar[str]
    label: ClassVar[str | Promise]
    level: ClassVar[int]  # the level a passed verification grants
    # What the person does, shown on the step-up page.
    instructions: ClassVar[str | Promise]
    online: ClassVar[bool] = False

    def start(self, *, person: Person, state: str) -> VerificationStart:
        raise Conflict(
            _("This verification is not started online; see its instructions."),
            code="verification_not_online",
        )

    def complete(self, *, payload: Mapping[str, Any]) -> VerificationVerdict:
        """Check a provider's callback (its signature, its freshness); raise a DomainError
        (ValidationFailed, Forbidden) for anything that does not check."""
        raise Conflict(
            _("This verification is recorded by staff, not by a callback."),
            code="verification_not_online",
        )


class InPersonVerification(VerificationMethod):
    """A window clerk checks the person's ID document face to face (recorded through
    ``services.person_verify_in_person``)."""

    key = IN_PERSON
    label = _("In-person verification at a service window")
    level = RealNameLevel.VERIFIED_IN_PERSON
    instructions = _(
        "Bring your resident ID card (or another valid identity document) to any government "
        "service hall's window and ask for real-name verification; the clerk records it at once."
    )


# What the window clerk may have checked (the same documents the formal review accepts).
IDENTITY_DOCUMENTS: dict[str, str] = {
    "resident_id_card": "居民身份证",
    "temporary_id_card": "临时居民身份证",
    "household_register": "居民户口簿",
    "passport": "护照",
    "hk_macau_permit": "港澳居民来往内地通行证",
    "taiwan_permit": "台湾居民来往大陆通行证",
    "hmt_residence_permit": "港澳台居民居住证",
    "foreign_permanent_residence": "外国人永久居留身份证",
}

DEFAULT_METHODS = ("tongban.accounts.verification.InPersonVerification",)


@cache
def _load(paths: tuple[str, ...]) -> dict[str, VerificationMethod]:
    methods: dict[str, VerificationMethod] = {}
    for path in paths:
        method = import_string(path)()
        if not isinstance(method, VerificationMethod):
            raise TypeError(f"{path} is not a VerificationMethod")
        methods[method.key] = method
    return methods


def methods() -> dict[str, VerificationMethod]:
    """The configured methods by key, in configuration order."""
    paths = tuple(getattr(settings, "TONGBAN_VERIFICATION_METHODS", DEFAULT_METHODS))
    return _load(paths)


def method_get(key: str) -> VerificationMethod:
    method = methods().get(key)
    if method is None:
        raise NotFound(_("No verification method has this key."))
    return method


def methods_reaching(level: int) -> list[VerificationMethod]:
    """The methods that would bring a person to at least ``level``."""
    return [method for method in methods().values() if method.level >= level]
