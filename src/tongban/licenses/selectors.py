"""Reads for seals."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from tongban.core.errors import NotFound, ValidationFailed
from tongban.licenses import identifiers, seals
from tongban.licenses.models import License, Seal
from tongban.licenses.services import seal_key_dir
from tongban.licenses.signing import P256Signer
from tongban.regions.models import Department


def seal_current(*, department: Department) -> Seal | None:
    return Seal.objects.filter(department=department, retired_at__isnull=True).first()


def signer_of(seal: Seal) -> P256Signer:
    """The signer of a seal, from its key file (SealKeyError if the file is unusable)."""
    return seals.load(seal_key_dir(), seal.kid)


IDENTIFIER_PROBLEMS = {
    "prefix": _("A licence identifier starts with 1.2.156.3005.2."),
    "parts": _(
        "A licence identifier has a type code, an issuer code, a number, a version and a check "
        "character after 1.2.156.3005.2."
    ),
    "characters": _("A licence identifier holds only digits, capital letters and dots."),
    "too_long": _("The number in this licence identifier is too long."),
    "version": _("The version in a licence identifier is three digits, from 001."),
    "check": _("The check character does not match: the identifier was mistyped."),
    "": _("Not a licence identifier."),
}


def license_status(*, identifier: str) -> License:
    """A licence by its identifier, for anyone checking whether it still holds (no holder
    data is read from it here): ValidationFailed for a malformed identifier, NotFound for one
    this node did not issue."""
    try:
        parsed = identifiers.parse(identifier)
    except identifiers.InvalidIdentifier as problem:
        raise ValidationFailed(
            fields={"identifier": IDENTIFIER_PROBLEMS.get(problem.code, IDENTIFIER_PROBLEMS[""])}
        ) from None
    found = License.objects.select_related("issuer").filter(identifier=str(parsed)).first()
    if found is None:
        raise NotFound(
            _("This node issued no licence with this identifier."), code="unknown_license"
        )
    return found
