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


def license_status(*, identifier: str) -> License:
    """A licence by its identifier, for anyone checking whether it still holds (no holder
    data is read from it here): ValidationFailed for a malformed identifier, NotFound for one
    this node did not issue."""
    try:
        parsed = identifiers.parse(identifier)
    except identifiers.InvalidIdentifier as problem:
        raise ValidationFailed(
            fields={"identifier": _("Not a licence identifier: %(why)s.") % {"why": problem.reason}}
        ) from None
    found = License.objects.select_related("issuer").filter(identifier=str(parsed)).first()
    if found is None:
        raise NotFound(
            _("This node issued no licence with this identifier."), code="unknown_license"
        )
    return found
