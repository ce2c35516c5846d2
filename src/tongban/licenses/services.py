"""Writes for seals (and, next, licences)."""

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
from tongban.core.audit import System, audit_record
from tongban.core.errors import Conflict, NotFound, ValidationFailed
from tongban.core.logging import get_logger
from tongban.licenses import seals
from tongban.licenses.models import Seal
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
