"""Writes for seals and licences."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tongban.accounts.models import StaffRole
from tongban.accounts.permissions import staff_scope
from tongban.core.audit import SYSTEM, System, audit_record
from tongban.core.errors import Conflict, NotFound, ValidationFailed
from tongban.core.logging import get_logger
from tongban.licenses import credential, identifiers, seals
from tongban.licenses.identifiers import LicenseIdentifier
from tongban.licenses.models import (
    HolderCodeType,
    License,
    LicenseState,
    LicenseType,
    PeerRevocation,
    RevocationListCopy,
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
    """The issuer part of identifiers: the department's USCC. While it is unknown (the
    reference data has none yet), a stand-in of the same shape: ``00`` (no registration
    authority uses it), the division code where a USCC has it, and the department's number
    here — so the trust list's rule that a node vouches only for its own province's issuers
    (characters 3–8) holds for both."""
    return department.uscc or f"00{department.division_id}{department.pk:010d}"


def issuer_entries() -> list[dict[str, Any]]:
    """The issuers this node vouches for in the trust list: every department of its province
    with a seal, and the public keys of all its seals (retired ones too: what they signed
    still verifies)."""
    from tongban.regions.codes import province_of

    province = province_of(settings.TONGBAN_NODE_CODE)
    by_code: dict[str, dict[str, Any]] = {}
    for seal in Seal.objects.select_related("department").order_by("department_id", "created_at"):
        department = seal.department
        if province_of(department.division_id) != province:
            continue
        entry = by_code.setdefault(
            issuer_code(department),
            {"code": issuer_code(department), "name": department.name, "keys": []},
        )
        entry["keys"].append(
            {
                "kid": seal.kid,
                "jwk": seal.public_jwk,
                "not_before": seal.not_before.isoformat(),
                "not_after": seal.not_after.isoformat(),
                "revoked": False,
            }
        )
    return list(by_code.values())


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
    today = timezone.localdate()
    year_prefix = f"{department.division_id}{today.year}"
    taken = License.objects.filter(
        issuer=department, serial__startswith=year_prefix, version=1
    ).count()
    issued = _sign_version(
        kind=kind,
        seal=seal,
        serial=f"{year_prefix}{taken + 1:06d}",
        version=1,
        number=f"（{today.year}）{department.short_name}字第{taken + 1:06d}号",
        holder_person=case.applicant_person if case.applicant_enterprise_id is None else None,
        holder_enterprise=case.applicant_enterprise,
        surface_of=lambda holder: [
            [field["label"], _surface_value(field["from"], case, holder, today)]
            for field in kind.surface_fields
        ],
        valid_until=_years_later(today, kind.valid_years) if kind.valid_years else None,
        case=case,
    )
    audit_record(
        actor=None if isinstance(actor, System) else actor,
        action="license.issued",
        target=issued,
        changes={"identifier": issued.identifier, "case": case.number},
    )
    log.info("license.issued", case_id=case.pk, license_id=issued.pk)
    return issued


def _sign_version(
    *,
    kind: LicenseType,
    seal: Seal,
    serial: str,
    version: int,
    number: str,
    holder_person: Any,
    holder_enterprise: Any,
    surface_of: Any,
    valid_until: dt.date | None,
    case: Any,
) -> License:
    """Write one version of a licence, its credential signed today with ``seal``."""
    from tongban.licenses.selectors import signer_of

    department = seal.department
    today = timezone.localdate()
    code = issuer_code(department)
    identifier = LicenseIdentifier(kind.code, code, serial, version)
    holder = _holder(holder_person, holder_enterprise, str(identifier))
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
    return License.objects.create(
        identifier=str(identifier),
        type=kind,
        name=kind.name,
        number=number,
        serial=serial,
        version=version,
        holder_name=holder["name"],
        holder_code_type=holder["code_type"],
        holder_code_masked=holder["masked"],
        holder_hash=holder["hash"],
        holder_person=holder_person if holder_enterprise is None else None,
        holder_enterprise=holder_enterprise,
        issuer=department,
        issuer_code=code,
        division_id=department.division_id,
        issued_on=today,
        valid_from=today,
        valid_until=valid_until,
        surface=surface_of(holder),
        case=case,
        seal=seal,
        credential=credential.encode(claims, signer_of(seal)),
    )


def _years_later(day: dt.date, years: int) -> dt.date:
    """The last day of a validity of ``years`` starting on ``day`` (29 February → 28th)."""
    try:
        end = day.replace(year=day.year + years)
    except ValueError:
        end = day.replace(year=day.year + years, day=28)
    return end - dt.timedelta(days=1)


def _holder(person: Any, enterprise: Any, identifier: str) -> dict[str, str]:
    if enterprise is not None:
        return {
            "name": enterprise.name,
            "code_type": HolderCodeType.USCC,
            "masked": enterprise.uscc,
            "hash": credential.holder_hash(identifier, enterprise.uscc),
        }
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


def _issuing_staff_license(actor: Any, identifier: str) -> License:
    """A licence of the actor's department (approver or department admin, within their
    jurisdiction); NotFound for any other, which is not theirs to act on nor to learn about."""
    from tongban.cases.access import within

    staff = staff_scope(actor, (StaffRole.APPROVER, StaffRole.DEPARTMENT_ADMIN)).staff
    found = License.objects.filter(identifier=(identifier or "").strip().upper()).first()
    if (
        found is None
        or staff is None
        or found.issuer_id != staff.department_id
        or not within(staff, found.division_id)
    ):
        raise NotFound(
            _("No licence of your department has this identifier."), code="unknown_license"
        )
    return found


def _reason(reason: str) -> str:
    from tongban.core.errors import FieldErrors
    from tongban.core.validation import check_text

    errors = FieldErrors()
    clean = check_text(reason, field="reason", errors=errors, max_length=255, required=True)
    errors.raise_if_any()
    return clean


def _end(license: License, state: str, now: dt.datetime) -> None:
    """Mark a licence no longer valid and give it the next place in the revocation list (the
    caller holds its row lock and runs in a transaction)."""
    for attempt in range(3):
        try:
            with transaction.atomic():
                last = License.objects.aggregate(m=Max("status_seq"))["m"] or 0
                license.state = state
                license.status_seq = last + 1
                license.status_changed_at = now
                license.save(update_fields=["state", "status_seq", "status_changed_at"])
            return
        except IntegrityError:
            # Another licence took that place at the same moment: take the next one.
            if attempt == 2:
                raise Conflict(_("Too many changes at once; try again."), code="busy") from None


def license_revoke(*, actor: Any, identifier: str, reason: str) -> License:
    """Revoke a licence (an approver or department admin of the issuing department, within
    their jurisdiction), with the reason; the time is recorded, the status says so at once and
    the revocation list carries it to offline verifiers."""
    found = _issuing_staff_license(actor, identifier)
    clean = _reason(reason)
    with transaction.atomic():
        locked = License.objects.select_for_update().get(pk=found.pk)
        if locked.state == LicenseState.REVOKED:
            return locked
        before = locked.state
        now = timezone.now()
        locked.revoked_at = now
        locked.revoke_reason = clean
        locked.save(update_fields=["revoked_at", "revoke_reason"])
        # A superseded version is already on the list: it moves to a new place, so that
        # verifiers holding the list up to there learn the stronger news too.
        _end(locked, LicenseState.REVOKED, now)
        audit_record(
            actor=actor,
            action="license.revoked",
            target=locked,
            changes={"state": [before, locked.state], "reason": clean},
        )
    log.info("license.revoked", license_id=locked.pk)
    return locked


def license_reissue(*, actor: Any, identifier: str, reason: str) -> License:
    """Issue a new version of a valid licence — same number and serial, version + 1, signed
    today with the department's current seal (a corrected or renewed printout, or after a seal
    change) — and supersede the old one, which goes on the revocation list. Only the newest
    version can be re-issued; a revoked licence cannot."""
    found = _issuing_staff_license(actor, identifier)
    clean = _reason(reason)
    with transaction.atomic():
        seal = (
            Seal.objects.select_for_update()
            .filter(department_id=found.issuer_id, retired_at__isnull=True)
            .first()
        )
        if seal is None:
            raise Conflict(
                _("Your department has no electronic seal; a platform admin makes one first."),
                code="no_seal",
            )
        old = License.objects.select_for_update().select_related("type").get(pk=found.pk)
        if old.state != LicenseState.VALID:
            raise Conflict(
                _("Only a valid licence's newest version can be re-issued; this one is %(s)s.")
                % {"s": old.get_state_display()},
                code="stale_state",
            )
        now = timezone.now()
        _end(old, LicenseState.SUPERSEDED, now)
        new = _sign_version(
            kind=old.type,
            seal=seal,
            serial=old.serial,
            version=old.version + 1,
            number=old.number,
            holder_person=old.holder_person,
            holder_enterprise=old.holder_enterprise,
            surface_of=lambda holder: old.surface,
            valid_until=old.valid_until,
            case=old.case,
        )
        audit_record(
            actor=actor,
            action="license.reissued",
            target=new,
            changes={"superseded": old.identifier, "identifier": new.identifier, "reason": clean},
        )
    log.info("license.reissued", license_id=new.pk, superseded=old.pk)
    return new


# The revocation list ------------------------------------------------------------------------

REVOCATIONS_TYP = "tongban-revocations+jws"
# Entries per answer: a verifier far behind asks again from where the answer stopped.
REVOCATIONS_PAGE = 5000
# How often a node refreshes each peer's list (every `tongban exchange tick` checks).
REVOCATIONS_REFRESH = dt.timedelta(minutes=10)
REVOCATIONS_MAX_BYTES = 4 * 1024 * 1024


def revocation_list(*, since: int = 0) -> str:
    """This node's revocation list after place ``since`` (0: all of it), signed with the
    node's exchange key (the trust list names it): the licences it revoked or superseded, in
    the order that happened. ``serial`` is the last place included; ``more`` says whether
    another page follows."""
    from tongban.exchange import keys as exchange_keys
    from tongban.exchange import services as exchange

    since = max(0, since)
    rows = list(
        License.objects.filter(status_seq__gt=since)
        .order_by("status_seq")
        .values_list("identifier", "state", "status_changed_at", "status_seq")[
            : REVOCATIONS_PAGE + 1
        ]
    )
    more = len(rows) > REVOCATIONS_PAGE
    rows = rows[:REVOCATIONS_PAGE]
    document = {
        "v": 1,
        "node": settings.TONGBAN_NODE_CODE,
        "issued_at": timezone.now().isoformat(),
        "since": since,
        "serial": rows[-1][3] if rows else since,
        "more": more,
        "entries": [
            {"lid": lid, "state": state, "at": at.isoformat() if at else None, "seq": seq}
            for lid, state, at, seq in rows
        ],
    }
    payload = json.dumps(document, ensure_ascii=False, sort_keys=True).encode("utf-8")
    return exchange_keys.sign(exchange.signing_pair(), payload, typ=REVOCATIONS_TYP)


class RevocationListRefused(ValueError):
    """A revocation list that cannot be relied on; the message says why."""


def revocations_read(token: str, *, node: str, since: int, listed: Any) -> dict[str, Any]:
    """The document in a revocation list ``token`` from ``node``, if the trust list ``listed``
    vouches for the key that signed it and it continues from ``since``."""
    from tongban.exchange import keys as exchange_keys
    from tongban.exchange import trust

    try:
        kid = str(exchange_keys.unverified_header(token).get("kid") or "")
        key = listed.key_of(node, kid, at=timezone.now())
        document = json.loads(exchange_keys.verify(token, key.jwk, typ=REVOCATIONS_TYP))
    except (exchange_keys.BadSignature, trust.TrustError, ValueError, RecursionError) as error:
        raise RevocationListRefused(f"not a revocation list signed by {node}: {error}") from None
    if (
        not isinstance(document, dict)
        or document.get("node") != node
        or document.get("since") != since
        or not isinstance(document.get("serial"), int)
        or document["serial"] < since
        or not isinstance(document.get("entries"), list)
    ):
        raise RevocationListRefused(f"the list from {node} does not continue from {since}")
    return document


def revocations_accept(*, node: str, document: dict[str, Any], issuers: set[str]) -> int:
    """Apply a verified revocation list of another node (``revocations_read``); returns how
    many entries were applied. Only licences of ``issuers`` (those the trust list lists for
    that node) are taken: a node cannot revoke another's licences."""
    from tongban.exchange.trust import TrustError, parse_time

    changed = 0
    with transaction.atomic():
        held, _created = RevocationListCopy.objects.select_for_update().get_or_create(node=node)
        if held.serial != document["since"]:
            return 0  # another sync applied this already
        for entry in document["entries"]:
            try:
                parsed = identifiers.parse(str(entry.get("lid", "")))
                lid = str(parsed)
                state = str(entry.get("state"))
                at = parse_time(entry.get("at"), "at")
                seq = int(entry["seq"])
            except (identifiers.InvalidIdentifier, TrustError, KeyError, TypeError, ValueError):
                raise RevocationListRefused(f"an entry of {node}'s list is malformed") from None
            if state not in (LicenseState.REVOKED, LicenseState.SUPERSEDED):
                raise RevocationListRefused(f"an entry of {node}'s list has state {state!r}")
            if parsed.issuer_code not in issuers:
                log.warning("license.revocation_not_theirs", node=node, identifier=lid)
                continue
            PeerRevocation.objects.update_or_create(
                identifier=lid, defaults={"node": node, "state": state, "at": at, "seq": seq}
            )
            changed += 1
        held.serial = document["serial"]
        held.issued_at = parse_time(document.get("issued_at"), "issued_at")
        held.fetched_at = timezone.now()
        held.error = ""
        held.save()
    return changed


def revocations_sync(*, force: bool = False) -> int:
    """Fetch the new part of every peer's revocation list (each at most every
    REVOCATIONS_REFRESH unless ``force``); run by `tongban exchange tick`. A peer that cannot
    be reached keeps what this node holds, with the error noted."""
    from tongban.core.errors import DomainError
    from tongban.exchange import services as exchange
    from tongban.exchange import transport

    try:
        listed = exchange.trust_list_current()
    except DomainError:
        return 0
    now = timezone.now()
    done = 0
    for peer in listed.nodes:
        if peer.code == settings.TONGBAN_NODE_CODE or not peer.issuers or not peer.url:
            continue
        held = RevocationListCopy.objects.filter(node=peer.code).first()
        if held and held.fetched_at and not force and now - held.fetched_at < REVOCATIONS_REFRESH:
            continue
        since = held.serial if held else 0
        try:
            for _page in range(100):
                status, body = transport.call(
                    "GET",
                    f"{peer.url.rstrip('/')}/api/v1/licenses/revocations?since={since}",
                    limit=REVOCATIONS_MAX_BYTES,
                )
                if status != 200:
                    raise RevocationListRefused(f"{peer.code} answered {status}")
                document = revocations_read(
                    body.decode("ascii", "replace").strip(),
                    node=peer.code,
                    since=since,
                    listed=listed,
                )
                done += revocations_accept(
                    node=peer.code,
                    document=document,
                    issuers={issuer.code for issuer in peer.issuers},
                )
                since = document["serial"]
                if not document.get("more"):
                    break
        except (RevocationListRefused, transport.Unreachable, transport.TooLarge) as error:
            RevocationListCopy.objects.update_or_create(
                node=peer.code, defaults={"error": str(error)[:255]}
            )
            log.warning("license.revocations_sync_failed", node=peer.code, error=str(error))
    return done
