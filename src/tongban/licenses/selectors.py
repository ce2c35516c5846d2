"""Reads for seals and licences: status, the holder's wallet, the PDF, presentations."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core import signing
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tongban.core.audit import System
from tongban.core.errors import Conflict, NotFound, ValidationFailed
from tongban.core.logging import get_logger
from tongban.licenses import identifiers, seals
from tongban.licenses.models import License, LicenseState, Seal
from tongban.licenses.services import seal_key_dir
from tongban.licenses.signing import P256Signer
from tongban.regions.models import Department

log = get_logger(__name__)


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


# The holder's side (the wallet) ---------------------------------------------------------------


def held_by_actor_q(actor: Any) -> Q:
    """The licences ``actor`` holds: their own, and those of the enterprises they represent or
    handle for (a removed handler holds nothing more). Staff hold none as staff."""
    from tongban.accounts.selectors import person_for_user

    person = person_for_user(actor) if not isinstance(actor, System) else None
    if person is None:
        return Q(pk__in=[])
    return Q(holder_person=person) | Q(holder_enterprise__members__person=person)


def licenses_held(actor: Any) -> list[License]:
    """The actor's licences, newest first; superseded versions are left out (the newest
    version replaces them), revoked ones stay, marked."""
    return list(
        License.objects.filter(held_by_actor_q(actor))
        .exclude(state=LicenseState.SUPERSEDED)
        .select_related("issuer", "type", "case")
        .distinct()
        .order_by("-issued_on", "-id")
    )


def license_held(actor: Any, identifier: str) -> License:
    """One of the actor's licences; NotFound (as for an unknown one) otherwise."""
    found = (
        License.objects.filter(
            held_by_actor_q(actor), identifier=(identifier or "").strip().upper()
        )
        .select_related("issuer", "type", "seal")
        .distinct()
        .first()
    )
    if found is None:
        raise NotFound(_("You hold no licence with this identifier."), code="unknown_license")
    return found


def license_validity(found: License) -> str:
    """The validity as printed on the licence (always in Chinese: the printed face is)."""
    start = found.valid_from.isoformat()
    end = found.valid_until.isoformat() if found.valid_until else "长期"
    return f"{start} 至 {end}"


def license_pdf(found: License) -> bytes:
    """The printable licence: its face, the seal image and the QR code, signed (PAdES) with the
    seal's key — the key that signed its credential."""
    from tongban.licenses import pdf

    face = pdf.Face(
        title=found.name,
        number=found.number,
        holder=found.holder_name,
        holder_code=found.holder_code_masked,
        issuer=found.issuer.name,
        issued_on=found.issued_on.isoformat(),
        validity=license_validity(found),
        surface=tuple((str(label), str(value)) for label, value in found.surface),
        identifier=found.identifier,
        credential=found.credential,
    )
    seal = found.seal
    try:
        document = pdf.render(face, seal_svg=seal.image_svg, font=pdf_font())
        return pdf.sign(
            document,
            private_key=signer_of(seal).private_key,
            certificate_pem=seal.certificate,
            name=found.issuer.name,
            location=found.division_id,
        )
    except pdf.PdfError as error:
        # A character the font lacks (a rare name), or no CJK font installed: the licence
        # stays valid and its QR code works; only the printout cannot be made here.
        log.error("license.pdf_failed", license_id=found.pk, code=error.code, error=str(error))
        raise Conflict(
            _("The printable PDF of this licence cannot be made on this node: %(why)s")
            % {"why": error.message},
            code="pdf_unavailable",
        ) from None


def pdf_font() -> Path:
    from tongban.licenses import pdf

    configured = getattr(settings, "TONGBAN_PDF_FONT", "")
    return pdf.find_font((Path(configured),) if configured else pdf.DEFAULT_FONTS)


# Presenting a licence (亮证): a short-lived link in a QR code -------------------------------

PRESENTATION_SALT = "tongban.licenses.presentation"
PRESENTATION_SECONDS = 300


def presentation_token(found: License) -> tuple[str, dt.datetime]:
    """A token for ``found`` that opens its verified face on this node for five minutes:
    what the wallet shows as a QR code for a verifier's phone camera."""
    # The row's number, not the identifier: a short link makes a sparse QR code.
    token = signing.TimestampSigner(salt=PRESENTATION_SALT).sign(str(found.pk))
    return token, timezone.now() + dt.timedelta(seconds=PRESENTATION_SECONDS)


def presentation_open(token: str) -> License:
    """The licence a presentation token shows; ValidationFailed once it has expired, NotFound
    for a token this node did not make."""
    try:
        pk = signing.TimestampSigner(salt=PRESENTATION_SALT).unsign(
            token or "", max_age=PRESENTATION_SECONDS
        )
    except signing.SignatureExpired:
        raise ValidationFailed(
            _("This presentation code has expired; ask the holder to show a new one."),
            code="presentation_expired",
        ) from None
    except signing.BadSignature:
        raise NotFound(
            _("This is not a presentation code of this node."), code="unknown_license"
        ) from None
    found = License.objects.select_related("issuer").filter(pk=int(pk)).first()
    if found is None:
        raise NotFound(_("This is not a presentation code of this node."), code="unknown_license")
    return found


# The issuing department's register --------------------------------------------------------------

ISSUING_ROLES = ("approver", "department_admin")


def licenses_issued(actor: Any, *, query: str = "", state: str = "") -> Any:
    """The licences the actor's department issued within their jurisdiction, newest first,
    for its approvers and department admins (Forbidden for anyone else); ``query`` matches the
    identifier, the printed number or the holder's name."""
    from tongban.accounts.permissions import staff_scope
    from tongban.cases.access import jurisdiction_q

    staff = staff_scope(actor, ISSUING_ROLES).staff
    if staff is None:
        return License.objects.none()
    found = License.objects.filter(jurisdiction_q("division", staff), issuer_id=staff.department_id)
    query = (query or "").strip()[:128]
    if query:
        found = found.filter(
            Q(identifier=query.upper()) | Q(number__contains=query) | Q(holder_name=query)
        )
    if state in LicenseState.values:
        found = found.filter(state=state)
    return found.select_related("type").order_by("-issued_on", "-id")
