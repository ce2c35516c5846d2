"""Checks for Chinese identifiers. Pure: no Django; messages are chosen by ``validation``.

Each ``normalize_*`` returns the canonical form or raises ``InvalidIdentifier`` with a reason:
``length``, ``format``, ``checksum`` or ``component`` (e.g. an impossible birth date).
"""

from __future__ import annotations

import datetime as dt
import re
from enum import StrEnum

from stdnum import exceptions as stdnum_errors
from stdnum.cn import ric, uscc


class Reason(StrEnum):
    LENGTH = "length"
    FORMAT = "format"
    CHECKSUM = "checksum"
    COMPONENT = "component"


class InvalidIdentifier(ValueError):
    def __init__(self, reason: Reason) -> None:
        self.reason = reason
        super().__init__(reason.value)


_MOBILE = re.compile(r"1[3-9]\d{9}")


def _stdnum(validate: object, value: str) -> str:
    try:
        return validate(value)  # type: ignore[operator]
    except stdnum_errors.InvalidLength:
        raise InvalidIdentifier(Reason.LENGTH) from None
    except stdnum_errors.InvalidChecksum:
        raise InvalidIdentifier(Reason.CHECKSUM) from None
    except stdnum_errors.InvalidComponent:
        raise InvalidIdentifier(Reason.COMPONENT) from None
    except stdnum_errors.ValidationError:
        raise InvalidIdentifier(Reason.FORMAT) from None


def normalize_id_number(value: str) -> str:
    """An 18-character resident ID number (GB 11643, MOD 11-2 check), upper-case ``X``."""
    compact = value.strip().replace(" ", "").upper()
    if len(compact) != 18:
        # stdnum also accepts the old 15-digit form, which is no longer issued.
        raise InvalidIdentifier(Reason.LENGTH)
    return _stdnum(ric.validate, compact)


def normalize_uscc(value: str) -> str:
    """An 18-character unified social credit code (GB 32100) with its check character."""
    return _stdnum(uscc.validate, value.strip().replace(" ", "").upper())


def normalize_mobile(value: str) -> str:
    """A mainland mobile number, 11 digits starting 13–19; ``+86``/``86`` prefixes accepted."""
    compact = re.sub(r"[\s-]", "", value.strip())
    for prefix in ("+86", "0086"):
        if compact.startswith(prefix):
            compact = compact[len(prefix) :]
    if len(compact) == 13 and compact.startswith("86"):
        compact = compact[2:]
    if not compact.isdigit():
        raise InvalidIdentifier(Reason.FORMAT)
    if len(compact) != 11:
        raise InvalidIdentifier(Reason.LENGTH)
    if not _MOBILE.fullmatch(compact):
        raise InvalidIdentifier(Reason.FORMAT)
    return compact


def uscc_division_code(code: str) -> str:
    """Characters 3–8 of a USCC name the registering authority's division."""
    return code[2:8]


def birth_date(id_number: str) -> dt.date | None:
    """The birth date encoded in a valid resident ID number."""
    try:
        return ric.get_birth_date(id_number)
    except stdnum_errors.ValidationError:
        return None
