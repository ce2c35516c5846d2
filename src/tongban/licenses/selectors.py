"""Reads for seals."""

from __future__ import annotations

from tongban.licenses import seals
from tongban.licenses.models import Seal
from tongban.licenses.services import seal_key_dir
from tongban.licenses.signing import P256Signer
from tongban.regions.models import Department


def seal_current(*, department: Department) -> Seal | None:
    return Seal.objects.filter(department=department, retired_at__isnull=True).first()


def signer_of(seal: Seal) -> P256Signer:
    """The signer of a seal, from its key file (SealKeyError if the file is unusable)."""
    return seals.load(seal_key_dir(), seal.kid)
