"""Licence identifiers (证照标识) as the national platform writes them:

    1.2.156.3005.2.<type code>.<issuer code>.<licence number>.<version>.<check>

The type code is the defining ministry's unified social credit code and three digits, the issuer
code usually the issuing body's USCC, the version three digits from 001, and the check character
ISO/IEC 7064 MOD 37,36 over the type code, issuer code, number and version joined without dots.
Pure: no Django.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from stdnum.iso7064 import mod_37_36

PREFIX = "1.2.156.3005.2"
_PART = re.compile(r"[0-9A-Z]+")
MAX_NUMBER_LENGTH = 40
MAX_VERSION = 999


class InvalidIdentifier(ValueError):
    """Not a licence identifier: ``code`` names the fault for programs (and translations),
    ``reason`` says it in English."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass(frozen=True)
class LicenseIdentifier:
    type_code: str
    issuer_code: str
    number: str
    version: int

    def __post_init__(self) -> None:
        for name in ("type_code", "issuer_code", "number"):
            value = getattr(self, name)
            if not _PART.fullmatch(value):
                raise InvalidIdentifier("characters", f"{name} must be digits and capital letters")
        if len(self.number) > MAX_NUMBER_LENGTH:
            raise InvalidIdentifier(
                "too_long", f"number is longer than {MAX_NUMBER_LENGTH} characters"
            )
        if not 1 <= self.version <= MAX_VERSION:
            raise InvalidIdentifier("version", f"version must be 1 to {MAX_VERSION}")

    @property
    def body(self) -> str:
        return f"{self.type_code}{self.issuer_code}{self.number}{self.version:03d}"

    @property
    def check(self) -> str:
        return mod_37_36.calc_check_digit(self.body)

    def __str__(self) -> str:
        return (
            f"{PREFIX}.{self.type_code}.{self.issuer_code}.{self.number}."
            f"{self.version:03d}.{self.check}"
        )

    def next_version(self) -> LicenseIdentifier:
        return LicenseIdentifier(self.type_code, self.issuer_code, self.number, self.version + 1)


def parse(text: str) -> LicenseIdentifier:
    """The identifier ``text`` names; InvalidIdentifier (with the reason) if it is none."""
    text = (text or "").strip().upper()
    if not text.startswith(PREFIX + "."):
        raise InvalidIdentifier("prefix", f"does not start with {PREFIX}")
    parts = text[len(PREFIX) + 1 :].split(".")
    if len(parts) != 5:
        raise InvalidIdentifier("parts", "needs type code, issuer code, number, version and check")
    type_code, issuer_code, number, version, check = parts
    if not re.fullmatch(r"[0-9]{3}", version):
        raise InvalidIdentifier("version", "version must be three digits")
    identifier = LicenseIdentifier(type_code, issuer_code, number, int(version))
    if check != identifier.check:
        raise InvalidIdentifier("check", "the check character does not match")
    return identifier
