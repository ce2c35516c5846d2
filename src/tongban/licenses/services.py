"""Writes for seals and licences."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tongban.accounts.models import StaffRole
from tongban.accounts.permissions import staff_scope
from tongban.core.audit import SYSTEM, System, audit_record
from tongban.core.errors import Conflict, NotFound, ValidationFailed
from tongban.core.logging import get_logger
from tongban.licenses import credential, seals
from tongban.licenses.identifiers import LicenseIdentifier
from tongban.licenses.models import (
    HolderCodeType,
    License,
    LicenseState,
    LicenseType,
    Seal,
)
from tongban.licenses.signing import P256Signer
from tongban.regions.models import Department

log = get_logger(__name__)

MAX_SEAL_YEARS = 10


def seal_key_dir() -> Path:
    return Path(settings.TONGBAN_SEAL_KEY_DIR)


def _platform_name() -> str:
    from tongban.regions.models import Division

    node = settings.TONGBAN_NODE_CODE
    name = Division.objects.filter(code=node).values_list("name", flat=True).first() or node
    return f"{name}政务服务平台"


def seal_create(*, actor: Any, department_key: str, years: int = 3) -> Seal:
    """Make a department's seal: a new P-256 key (its file written first, 0600), a certificate
    valid for ``years``, and the image. The department's current seal, if any, is retired: it
    signs nothing more, and what it signed still verifies. Platform admins (and the node
    itself) do this: it is configuration."""
    if not isinstance(actor, System):
        staff_scope(actor, (StaffRole.PLATFORM_ADMIN,))
    department = Department.objects.filter(key=(department_key or "").strip()).first()
    if department is None:
        raise NotFound(_("No department has this key."), code="unknown_department")
    if not isinstance(years, int) or not 1 <= years <= MAX_SEAL_YEARS:
        raise ValidationFailed(
            fields={"years": _("From 1 to %(n)d years.") % {"n": MAX_SEAL_YEARS}}
        )
    now = timezone.now().replace(microsecond=0)
    not_after = now + dt.timedelta(days=365 * years)
    signer = P256Signer.generate()
    subject = seals.SealSubject(
        department=department.name,
        code=department.uscc or "",
        platform=_platform_name(),
        division=department.division_id,
    )
    path = seals.save(seal_key_dir(), signer)
    try:
        with transaction.atomic():
            current = (
                Seal.objects.select_for_update()
                .filter(department=department, retired_at__isnull=True)
                .first()
            )
            if current is not None:
                current.retired_at = now
                current.save(update_fields=["retired_at"])
            seal = Seal.objects.create(
                department=department,
                kid=signer.kid,
                algorithm=signer.algorithm,
                public_jwk=signer.public_jwk(),
                certificate=seals.certificate(signer, subject, not_before=now, not_after=not_after),
                image_svg=seals.image_svg(department.name, code=department.uscc or ""),
                not_before=now,
                not_after=not_after,
            )
            audit_record(
                actor=None if isinstance(actor, System) else actor,
                action="seal.created",
                target=seal,
                changes={
                    "department": department.key,
                    "kid": seal.kid,
                    "retired": current.kid if current is not None else None,
                },
            )
    except IntegrityError:
        path.unlink(missing_ok=True)
        raise Conflict(
            _("Another seal was made for this department at the same moment; try again."),
            code="seal_race",
        ) from None
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    log.info("seal.created", department=department.key, kid=seal.kid)
    return seal


def seals_ensure(*, everywhere: bool = False) -> list[Seal]:
    """Give a seal to every department of this node's province (or, with ``everywhere``, of
    any province: tests and single-database demos) that implements an item producing a
    licence and has none yet; ``tongban init`` runs it so a new node can issue at once."""
    from tongban.catalog.models import Implementation
    from tongban.regions.codes import province_of

    names = {name for kind in LicenseType.objects.all() for name in kind.item_names}
    departments = Department.objects.filter(
        pk__in=Implementation.objects.filter(item__name__in=names, department__isnull=False).values(
            "department_id"
        )
    ).exclude(pk__in=Seal.objects.filter(retired_at__isnull=True).values("department_id"))
    province = province_of(settings.TONGBAN_NODE_CODE)
    return [
        seal_create(actor=SYSTEM, department_key=department.key)
        for department in departments.order_by("key")
        if everywhere or province_of(department.division_id) == province
    ]


# Licence types (catalogue data) ---------------------------------------------------------------

DATA_DIR = Path(__file__).resolve().parent / "data"
SURFACE_SOURCES = frozenset({"item", "holder", "issuer", "case_number", "decided_on"})


def license_types_load_reference(path: Path | None = None) -> str:
    """Load or update the licence types shipped with tongban (``tongban init`` does it)."""
    import json

    rows = json.loads((path or DATA_DIR / "license_types.json").read_text(encoding="utf-8"))
    created = 0
    with transaction.atomic():
        for row in rows:
            for field in row.get("surface_fields", []):
                if field.get("from") not in SURFACE_SOURCES:
                    raise ValueError(f"{row['code']}: unknown surface source {field.get('from')}")
            LicenseIdentifier(row["code"], "0", "0", 1)  # the code's characters are checked
            _, made = LicenseType.objects.update_or_create(
                code=row["code"],
                defaults={
                    "name": row["name"],
                    "ministry": row["ministry"],
                    "item_names": list(row.get("item_names", [])),
                    "accepted_as": list(row.get("accepted_as", [])),
                    "surface_fields": list(row.get("surface_fields", [])),
                    "valid_years": row.get("valid_years"),
                },
            )
            created += made
    return f"licence types: {len(rows)} ({created} new)"


def license_type_for_item(item_name: str) -> LicenseType | None:
    return next(
        (kind for kind in LicenseType.objects.order_by("code") if item_name in kind.item_names),
        None,
    )


# Issuing --------------------------------------------------------------------------------------


def issuer_code(department: Department) -> str:
    """The issuer part of identifiers: the department's USCC; while it is unknown (the
    reference data has none yet), its division code and its number here, zero-padded to 18."""
    return department.uscc or f"{department.division_id}{department.pk:012d}"


def license_issue(*, case: Any, actor: Any) -> License | None:
    """Issue the licence an approved case produces, if a licence type names its item: signed
    with the deciding department's current seal, numbered in the department's yearly series.
    Runs inside the approval's transaction; Conflict (nothing written) when the department has
    no seal yet."""
    kind = license_type_for_item(case.item.name)
    if kind is None:
        return None
    department = case.authority_department
    seal = (
        Seal.objects.select_for_update()  # one issuer numbers one licence at a time
        .filter(department=department, retired_at__isnull=True)
        .first()
    )
    if seal is None:
        raise Conflict(
            _(
                "%(department)s has no electronic seal yet, so the licence cannot be issued; a "
                "platform admin makes one (tongban license seal create)."
            )
            % {"department": department.name},
            code="no_seal",
        )
    from tongban.licenses.selectors import signer_of

    today = timezone.localdate()
    code = issuer_code(department)
    year_prefix = f"{department.division_id}{today.year}"
    taken = License.objects.filter(issuer=department, serial__startswith=year_prefix).count()
    serial = f"{year_prefix}{taken + 1:06d}"
    identifier = LicenseIdentifier(kind.code, code, serial, 1)
    holder = _holder(case, str(identifier))
    valid_until = _years_later(today, kind.valid_years) if kind.valid_years else None
    surface = [
        [field["label"], _surface_value(field["from"], case, holder, today)]
        for field in kind.surface_fields
    ]
    number = f"（{today.year}）{department.short_name}字第{taken + 1:06d}号"
    claims = {
        "v": 1,
        "lid": str(identifier),
        "typ": kind.code,
        "tn": kind.name,
        "nm": kind.name,
        "no": number,
        "hn": holder["name"],
        "hct": holder["code_type"],
        "hc": holder["masked"],
        "hh": holder["hash"],
        "iss": code,
        "isn": department.name,
        "div": department.division_id,
        "iat": today.isoformat(),
        "nbf": today.isoformat(),
        "exp": valid_until.isoformat() if valid_until else None,
    }
    issued = License.objects.create(
        identifier=str(identifier),
        type=kind,
        name=kind.name,
        number=number,
        serial=serial,
        version=1,
        holder_name=holder["name"],
        holder_code_type=holder["code_type"],
        holder_code_masked=holder["masked"],
        holder_hash=holder["hash"],
        holder_person=case.applicant_person if case.applicant_enterprise_id is None else None,
        holder_enterprise=case.applicant_enterprise,
        issuer=department,
        issuer_code=code,
        division_id=department.division_id,
        issued_on=today,
        valid_from=today,
        valid_until=valid_until,
        surface=surface,
        case=case,
        seal=seal,
        credential=credential.encode(claims, signer_of(seal)),
    )
    audit_record(
        actor=None if isinstance(actor, System) else actor,
        action="license.issued",
        target=issued,
        changes={"identifier": issued.identifier, "case": case.number},
    )
    log.info("license.issued", case_id=case.pk, license_id=issued.pk)
    return issued


def _years_later(day: dt.date, years: int) -> dt.date:
    """The last day of a validity of ``years`` starting on ``day`` (29 February → 28th)."""
    try:
        end = day.replace(year=day.year + years)
    except ValueError:
        end = day.replace(year=day.year + years, day=28)
    return end - dt.timedelta(days=1)


def _holder(case: Any, identifier: str) -> dict[str, str]:
    if case.applicant_enterprise_id is not None:
        enterprise = case.applicant_enterprise
        return {
            "name": enterprise.name,
            "code_type": HolderCodeType.USCC,
            "masked": enterprise.uscc,
            "hash": credential.holder_hash(identifier, enterprise.uscc),
        }
    person = case.applicant_person
    return {
        "name": person.name,
        "code_type": HolderCodeType.ID_NUMBER,
        "masked": person.id_number_masked,
        "hash": credential.holder_hash(identifier, person.id_number),
    }


def _surface_value(source: str, case: Any, holder: dict[str, str], today: dt.date) -> str:
    return {
        "item": case.item.name,
        "holder": holder["name"],
        "issuer": case.authority_department.name,
        "case_number": case.number,
        "decided_on": today.isoformat(),
    }[source]


def license_revoke(*, actor: Any, identifier: str, reason: str) -> License:
    """Revoke a licence (an approver or department admin of the issuing department, within
    their jurisdiction), with the reason; the time is recorded and the status says so at once."""
    from tongban.cases.access import within
    from tongban.core.errors import FieldErrors
    from tongban.core.validation import check_text

    staff = staff_scope(actor, (StaffRole.APPROVER, StaffRole.DEPARTMENT_ADMIN)).staff
    found = License.objects.filter(identifier=(identifier or "").strip().upper()).first()
    if (
        found is None
        or staff is None
        or found.issuer_id != staff.department_id
        or not within(staff, found.division_id)
    ):
        # Another department's licence is not this one's to revoke, nor to learn about.
        raise NotFound(
            _("No licence of your department has this identifier."), code="unknown_license"
        )
    errors = FieldErrors()
    clean = check_text(reason, field="reason", errors=errors, max_length=255, required=True)
    errors.raise_if_any()
    with transaction.atomic():
        locked = License.objects.select_for_update().get(pk=found.pk)
        if locked.state == LicenseState.REVOKED:
            return locked
        before = locked.state
        locked.state = LicenseState.REVOKED
        locked.revoked_at = timezone.now()
        locked.revoke_reason = clean
        locked.save(update_fields=["state", "revoked_at", "revoke_reason"])
        audit_record(
            actor=actor,
            action="license.revoked",
            target=locked,
            changes={"state": [before, locked.state], "reason": clean},
        )
    return locked
