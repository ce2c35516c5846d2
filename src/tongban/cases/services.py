"""Writes for cases: submitting, and taking workflow actions. One state change = one call:
lock the case row, check actor and state, write, append the chained event, work after commit."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
import secrets
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tongban.accounts.models import Enterprise, MemberRole, Person, Staff, StaffRole
from tongban.accounts.permissions import Scope, require_login, staff_scope
from tongban.accounts.selectors import (
    person_and_enterprise,
    person_find_by_id_number,
    person_for_user,
)
from tongban.cases import chain, files, scanning, workdays, workflow
from tongban.cases.models import (
    Case,
    CaseAlert,
    CaseEvent,
    CaseMode,
    CasePause,
    CaseSequence,
    Material,
    MaterialSource,
    PauseKind,
)
from tongban.cases.personal import protect
from tongban.catalog.forms import form_errors
from tongban.catalog.models import Implementation, ServiceItem
from tongban.catalog.selectors import version_current
from tongban.core.audit import SYSTEM
from tongban.core.errors import (
    Conflict,
    DomainError,
    FieldErrors,
    Forbidden,
    NotFound,
    ValidationFailed,
)
from tongban.core.logging import get_logger

log = get_logger(__name__)

# 行政许可法 art. 42 (20 working days) and art. 26 (45 for joint handling) where the
# implementation does not state a legal limit; the extension of art. 42 is 10 working days.
STATUTORY_DAYS = {CaseMode.ONLINE: 20, CaseMode.PROXY: 20, CaseMode.JOINT: 45}
EXTENSION_DAYS = 10
WORKFLOW_OF_MODE = {CaseMode.ONLINE: "online", CaseMode.PROXY: "proxy"}
_QUERY_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read over the phone
DENIAL_REMEDY = (
    "如不服本决定，可以自收到本决定书之日起六十日内依法申请行政复议，"
    "或者在六个月内依法向人民法院提起行政诉讼。"
)


# Submitting ---------------------------------------------------------------------------------


def case_submit(
    *,
    actor: Any,
    item_code: str,
    scenario_key: str,
    authority_division: str,
    form_data: Any,
    mode: str = CaseMode.ONLINE,
    enterprise_uscc: str | None = None,
    applicant_id_number: str | None = None,
    window_id: int | None = None,
) -> Case:
    """File a case under the catalogue version in force.

    ONLINE: the actor applies for themselves (or for an enterprise they act for). PROXY: a
    window clerk files it for the applicant in front of them (named by ID number), in the
    clerk's own jurisdiction; the authority elsewhere decides.
    """
    require_login(actor)
    errors = FieldErrors()
    if mode not in WORKFLOW_OF_MODE:
        raise ValidationFailed(fields={"mode": _("Choose ONLINE or PROXY.")})
    version = version_current()
    item = (
        ServiceItem.objects.filter(version=version, code=(item_code or "").strip().upper())
        .prefetch_related("scenarios")
        .first()
    )
    if item is None:
        raise NotFound(_("No service item has this code in this catalogue version."))
    scenario = next((s for s in item.scenarios.all() if s.key == scenario_key), None)
    if scenario is None:
        errors.add("scenario_key", _("This item has no such situation."))
    if (mode == CaseMode.ONLINE and not item.online) or (mode == CaseMode.PROXY and not item.proxy):
        errors.add("mode", _("This item is not handled in this mode."))
    implementation = (
        Implementation.objects.filter(item=item, division_id=authority_division)
        .select_related("department", "division")
        .first()
    )
    if implementation is None:
        errors.add("authority_division", _("The item is not implemented in this division."))
    elif implementation.department is None:
        errors.add("authority_division", _("The implementing department is not yet known here."))
    if scenario is not None:
        for name, message in form_errors(scenario.form_schema, form_data).items():
            errors.add(f"form_data.{name}", message)
    errors.raise_if_any()
    assert scenario is not None
    assert implementation is not None
    assert implementation.department is not None

    applicant, enterprise, clerk, receiving_division, window = _intake_parties(
        actor=actor,
        mode=mode,
        enterprise_uscc=enterprise_uscc,
        applicant_id_number=applicant_id_number,
        window_id=window_id,
    )
    flow = workflow.load(WORKFLOW_OF_MODE[CaseMode(mode)])
    now = timezone.now()
    with transaction.atomic():
        case = Case.objects.create(
            number=_next_number(implementation, item, timezone.localdate()),
            query_code="".join(secrets.choice(_QUERY_ALPHABET) for _ in range(8)),
            item=item,
            scenario=scenario,
            implementation=implementation,
            mode=mode,
            workflow=flow.name,
            state=flow.initial,
            applicant_person=None if enterprise else applicant,
            applicant_enterprise=enterprise,
            agent=applicant if enterprise else None,
            form_data=protect(scenario.form_schema, form_data),
            receiving_division_id=receiving_division,
            receiving_window=window,
            received_by=clerk,
            authority_division=implementation.division,
            authority_department=implementation.department,
            submitted_at=now,
            received_on=timezone.localdate(),
        )
        _append_event(
            case,
            actor=actor,
            role="window_clerk" if clerk else "applicant",
            action="submit",
            from_state="",
            to_state=flow.initial,
            payload={"mode": mode, "version": version.number, "scenario": scenario.key},
        )
    log.info("case.submitted", case_id=case.pk, mode=mode)
    return case


def _intake_parties(
    *,
    actor: Any,
    mode: str,
    enterprise_uscc: str | None,
    applicant_id_number: str | None,
    window_id: int | None,
) -> tuple[Person, Enterprise | None, Staff | None, str, Any]:
    if mode == CaseMode.PROXY:
        scope = staff_scope(actor, (StaffRole.WINDOW_CLERK,))
        applicant = person_find_by_id_number(id_number=applicant_id_number or "")
        if applicant is None:
            raise ValidationFailed(
                fields={"applicant_id_number": _("No registered person has this ID number.")}
            )
        if scope.staff is None:
            raise Forbidden(_("A window clerk's own staff record is needed to receive cases."))
        window = None
        if window_id is not None:
            from tongban.regions.models import Window

            window = Window.objects.filter(pk=window_id, active=True).select_related("hall").first()
            if window is None or not scope.covers_division(window.hall.division_id):
                raise ValidationFailed(
                    fields={"window_id": _("Not a window of your jurisdiction.")}
                )
        return applicant, None, scope.staff, scope.staff.jurisdiction_id, window
    person, enterprise = person_and_enterprise(user=actor, enterprise_uscc=enterprise_uscc or None)
    from django.conf import settings

    return person, enterprise, None, settings.TONGBAN_NODE_CODE, None


def _next_number(implementation: Implementation, item: ServiceItem, day: dt.date) -> str:
    """Implementation code (31) + yyyyMMdd + 4-digit daily sequence. While the department's
    USCC is unknown the first 18 characters are zeros (flagged by the catalogue)."""
    prefix = implementation.code or ("0" * 18 + "0" + item.code)
    row, _created = CaseSequence.objects.select_for_update().get_or_create(prefix=prefix, day=day)
    CaseSequence.objects.filter(pk=row.pk).update(last=F("last") + 1)
    row.refresh_from_db(fields=["last"])
    if row.last > 9999:
        raise Conflict(_("The daily case numbers of this implementation are exhausted."))
    return f"{prefix}{day:%Y%m%d}{row.last:04d}"


# Acting -------------------------------------------------------------------------------------


def case_act(
    *, actor: Any, number: str, action: str, payload: Mapping[str, Any] | None = None
) -> Case:
    """Take a workflow action on a case. 409 when the state does not allow it (the allowed
    actions are named), 403 for the wrong actor, 400 for missing details."""
    require_login(actor)
    payload = dict(payload or {})
    with transaction.atomic():
        case = (
            Case.objects.select_for_update(of=("self",))
            .select_related("implementation", "authority_department", "applicant_enterprise")
            .filter(number=number)
            .first()
        )
        if case is None:
            raise NotFound(_("No case has this number."))
        flow = workflow.load(case.workflow)
        step = flow.actions.get(action)
        if step is None:
            raise NotFound(_("This workflow has no such action."))
        role = _authorise(actor, case, step)
        if case.state not in step.sources:
            allowed = flow.allowed(case.state)
            raise Conflict(
                _("This action is not possible now. Possible: %(allowed)s")
                % {"allowed": "、".join(allowed) or "—"},
                code="action_not_allowed",
                fields={"allowed_actions": ",".join(allowed)},
            )
        _check_requires(step, payload)
        before = case.state
        today = timezone.localdate()
        _apply_clock(case, step, payload, today)
        if step.target is not None and step.target != before and step.clock != "stop":
            # Leaving a paused state any way (resume, withdrawal, a decision) ends the pause.
            _close_open_pause(case, today)
        if step.target is not None:
            case.state = step.target
        if step.side == "authority" and isinstance(role, Staff) and case.assignee_id is None:
            case.assignee = role
        if step.name == "forward" and case.received_by_id is None and isinstance(role, Staff):
            case.received_by = role
        if step.name == "deny":
            payload.setdefault("remedy", DENIAL_REMEDY)
        if flow.is_final(case.state):
            case.closed_at = timezone.now()
        case.save()
        _append_event(
            case,
            actor=actor,
            role=_role_label(role, step),
            action=step.name,
            from_state=before,
            to_state=case.state,
            payload=payload,
        )
    log.info("case.action", case_id=case.pk, action=action, state=case.state)
    return case


def _authorise(actor: Any, case: Case, step: workflow.Action) -> Staff | str:
    """The acting staff member, or "applicant"; Forbidden if this actor may not take the step."""
    if step.side == "applicant":
        person = person_for_user(actor)
        if person is None or not _acts_for_applicant(person, case):
            raise Forbidden(_("Only the applicant or their agent can do this."))
        return "applicant"
    scope: Scope = staff_scope(actor, step.roles)
    if step.side == "receiving":
        if not scope.covers_division(case.receiving_division_id):
            raise Forbidden(_("This case was received outside your jurisdiction."))
    else:
        if not scope.covers_division(case.authority_division_id) or (
            not scope.is_platform_admin
            and scope.staff is not None
            and scope.staff.department_id != case.authority_department_id
        ):
            raise Forbidden(_("Only the deciding department can do this."))
    return scope.staff if scope.staff is not None else "system"


def _acts_for_applicant(person: Person, case: Case) -> bool:
    if case.applicant_person_id == person.pk or case.agent_id == person.pk:
        return True
    if case.applicant_enterprise_id is not None:
        return person.memberships.filter(
            enterprise_id=case.applicant_enterprise_id,
            role__in=[MemberRole.LEGAL_REPRESENTATIVE, MemberRole.AUTHORISED_HANDLER],
        ).exists()
    return False


def _check_requires(step: workflow.Action, payload: dict[str, Any]) -> None:
    errors = FieldErrors()
    for name in step.requires:
        value = payload.get(name)
        if value is None or value is False or (isinstance(value, str | list) and not value):
            errors.add(name, _("This field is required."))
    if step.clock == "stop" and payload.get("kind") not in PauseKind.values:
        errors.add(
            "kind", _("Choose one of: %(choices)s.") % {"choices": ", ".join(PauseKind.values)}
        )
    errors.raise_if_any()


def _apply_clock(
    case: Case, step: workflow.Action, payload: dict[str, Any], today: dt.date
) -> None:
    if step.clock == "start":
        case.accepted_on = today
        implementation = case.implementation
        case.legal_days = implementation.legal_limit_days or STATUTORY_DAYS[CaseMode(case.mode)]
        case.promised_days = implementation.promised_limit_days or case.legal_days
        payload.setdefault("legal_days", case.legal_days)
        payload.setdefault("promised_days", case.promised_days)
    elif step.clock == "stop":
        CasePause.objects.create(
            case=case,
            kind=payload["kind"],
            reason=str(payload.get("reason", ""))[:255],
            started_on=today,
        )
    elif step.clock == "resume":
        _close_open_pause(case, today)
    elif step.clock == "extend":
        if case.extension_days:
            raise Conflict(
                _("The time limit has already been extended once."), code="already_extended"
            )
        case.extension_days = EXTENSION_DAYS
        payload.setdefault("days", EXTENSION_DAYS)
    elif step.clock == "decide":
        case.decided_at = timezone.now()
        if step.target == "approved":
            case.approved_on = today


def _close_open_pause(case: Case, today: dt.date) -> None:
    pause = case.pauses.filter(ended_on__isnull=True).order_by("-started_on").first()
    if pause is None:
        return
    # Both ends included: the pause covers up to yesterday; a same-day pause is void.
    last = today - dt.timedelta(days=1)
    if last < pause.started_on:
        pause.delete()
    else:
        pause.ended_on = last
        pause.save(update_fields=["ended_on"])


def _role_label(role: Staff | str, step: workflow.Action) -> str:
    if isinstance(role, str):
        return role
    held = sorted(role.roles & step.roles)
    return held[0] if held else "staff"


def _append_event(
    case: Case,
    *,
    actor: Any,
    role: str,
    action: str,
    from_state: str,
    to_state: str,
    payload: Mapping[str, Any],
) -> CaseEvent:
    """Append the next link of the case's chain (the case row is locked by the caller)."""
    last = CaseEvent.objects.filter(case=case).order_by("-seq").values_list("seq", "hash").first()
    seq, previous = (last[0] + 1, last[1]) if last else (1, chain.GENESIS)
    user = actor if getattr(actor, "pk", None) else None
    event = CaseEvent(
        case=case,
        seq=seq,
        at=timezone.now().replace(microsecond=0),
        actor=user,
        actor_label=user.get_username() if user is not None else "system",
        role=role,
        action=action,
        from_state=from_state,
        to_state=to_state,
        payload=dict(payload),
        prev_hash=previous,
    )
    event.hash = chain.link_hash(previous, event_body(event))
    event.save()
    return event


def event_body(event: CaseEvent) -> dict[str, Any]:
    """What an event's hash covers."""
    return {
        "case": event.case.number,
        "seq": event.seq,
        "at": event.at.isoformat(),
        "actor": event.actor_label,
        "role": event.role,
        "action": event.action,
        "from": event.from_state,
        "to": event.to_state,
        "payload": event.payload,
    }


def actions_for(*, actor: Any, case: Case) -> list[str]:
    """The actions this actor may take on the case in its current state (for the page and
    the API: exactly the buttons that would succeed, details aside)."""
    flow = workflow.load(case.workflow)
    allowed = []
    for name in flow.allowed(case.state):
        try:
            _authorise(actor, case, flow.actions[name])
        except DomainError:
            continue
        allowed.append(name)
    return allowed


# Materials ----------------------------------------------------------------------------------

# States in which the receiving side may still add papers.
_UPLOAD_STATES = frozenset({"submitted", "awaiting_supplement", "received"})


def material_upload(*, actor: Any, number: str, spec_key: str, upload: Any) -> Material:
    """Attach a file for one of the scenario's material specs.

    ``upload`` is a Django UploadedFile (``name``, ``size``, ``chunks()``). The file must be
    within the size limit, its first bytes must say PDF, JPEG, PNG or OFD, its extension must
    agree, and the spec must accept that kind. Stored under a path built from internal ids,
    with its SHA-256; the antivirus hook runs before the record is written.
    """
    require_login(actor)
    case = Case.objects.select_related("scenario").filter(number=number).first()
    if case is None:
        raise NotFound(_("No case has this number."))
    person = person_for_user(actor)
    is_applicant = person is not None and _acts_for_applicant(person, case)
    is_clerk = False
    if not is_applicant:
        try:
            scope = staff_scope(actor, (StaffRole.WINDOW_CLERK,))
            is_clerk = case.mode == CaseMode.PROXY and scope.covers_division(
                case.receiving_division_id
            )
        except DomainError:
            is_clerk = False
    if not (is_applicant or is_clerk):
        raise Forbidden(
            _("Only the applicant, their agent or the receiving window can add materials.")
        )
    if case.state not in _UPLOAD_STATES:
        raise Conflict(_("Materials can no longer be added to this case."), code="materials_closed")
    spec = case.scenario.materials.filter(key=spec_key).first()
    if spec is None:
        raise ValidationFailed(fields={"spec_key": _("This situation asks for no such material.")})

    limit = getattr(settings, "TONGBAN_MAX_UPLOAD_BYTES", 20 * 1024 * 1024)
    name = os.path.basename(str(getattr(upload, "name", "") or ""))[:255]
    if not upload or getattr(upload, "size", 0) <= 0:
        raise ValidationFailed(fields={"file": _("The file is empty.")})
    if upload.size > limit:
        raise ValidationFailed(
            fields={
                "file": _("The file is larger than %(mb)d MB.") % {"mb": limit // (1024 * 1024)}
            }
        )
    digest = hashlib.sha256()
    buffer = io.BytesIO()
    for chunk in upload.chunks():
        digest.update(chunk)
        buffer.write(chunk)
        if buffer.tell() > limit:  # the declared size lied
            raise ValidationFailed(
                fields={
                    "file": _("The file is larger than %(mb)d MB.") % {"mb": limit // (1024 * 1024)}
                }
            )
    content = buffer.getvalue()
    kind = files.sniff_bytes(content)
    claimed = files.extension_kind(name)
    if kind is None or claimed != kind:
        raise ValidationFailed(
            fields={
                "file": _("The file is not what its name says; send a PDF, JPEG, PNG or OFD file.")
            }
        )
    accepted = {files.EXTENSIONS.get(t, t) for t in spec.accepted_types}
    if accepted and kind not in accepted:
        raise ValidationFailed(
            fields={
                "file": _("This material accepts: %(types)s.")
                % {"types": ", ".join(spec.accepted_types)}
            }
        )

    relative = f"cases/{case.pk}/{uuid.uuid4().hex}.{kind}"
    stored = default_storage.save(relative, ContentFile(content))
    try:
        result = scanning.scanner().scan(Path(default_storage.path(stored)))
        if result.status == "infected":
            raise ValidationFailed(fields={"file": _("The file was refused by the virus scanner.")})
        with transaction.atomic():
            locked = Case.objects.select_for_update(of=("self",)).get(pk=case.pk)
            if locked.state not in _UPLOAD_STATES:
                raise Conflict(
                    _("Materials can no longer be added to this case."), code="materials_closed"
                )
            material = Material.objects.create(
                case=locked,
                spec=spec,
                source=MaterialSource.UPLOAD,
                path=stored,
                original_name=name,
                content_type=files.CONTENT_TYPES[kind],
                size=len(content),
                sha256=digest.hexdigest(),
                scan_status=result.status,
                original_to_post=spec.original_required,
                uploaded_by=actor,
            )
            _append_event(
                locked,
                actor=actor,
                role="applicant" if is_applicant else "window_clerk",
                action="attach",
                from_state=locked.state,
                to_state=locked.state,
                payload={"material": spec.key, "sha256": material.sha256, "size": material.size},
            )
    except BaseException:
        default_storage.delete(stored)  # no orphan file when the record is not written
        raise
    log.info("case.material_added", case_id=case.pk, material_id=material.pk)
    return material


# The periodic tick --------------------------------------------------------------------------

# 行政许可法 art. 32: no notice to supplement within 5 (working) days of receipt → accepted on
# the day of receipt.
DEEMED_ACCEPTANCE_DAYS = 5


def cases_deem_accepted(*, today: dt.date | None = None) -> list[str]:
    """Accept, as the law deems them accepted, cases left without a supplement notice or an
    intake decision for more than 5 working days since they (last) reached the authority."""
    from tongban.cases.selectors import work_calendar

    today = today or timezone.localdate()
    calendar = work_calendar()
    done = []
    for case in Case.objects.filter(state="submitted").order_by("pk"):
        arrived = (
            case.events.filter(to_state="submitted")
            .order_by("-seq")
            .values_list("at", flat=True)
            .first()
        )
        if arrived is None:
            continue
        received = timezone.localtime(arrived).date()
        try:
            deadline = calendar.due_date(received, DEEMED_ACCEPTANCE_DAYS)
        except workdays.CalendarGap as gap:
            log.error("case.calendar_gap", case_id=case.pk, year=gap.year)
            continue
        if today <= deadline:
            continue
        with transaction.atomic():
            locked = (
                Case.objects.select_for_update(of=("self",))
                .select_related("implementation")
                .get(pk=case.pk)
            )
            if locked.state != "submitted":
                continue
            flow = workflow.load(locked.workflow)
            step = flow.actions["accept"]
            _apply_clock(
                locked,
                step,
                payload := {"deemed": True, "received_on": received.isoformat()},
                received,
            )
            locked.state = step.target or locked.state
            locked.save()
            _append_event(
                locked,
                actor=SYSTEM,
                role="system",
                action="accept",
                from_state="submitted",
                to_state=locked.state,
                payload=payload,
            )
        done.append(locked.number)
        log.info("case.deemed_accepted", case_id=locked.pk)
    return done


def cases_raise_alerts(*, today: dt.date | None = None) -> int:
    """Record yellow and red deadline alerts for open cases (once per case and level)."""
    from tongban.cases.selectors import case_clock

    today = today or timezone.localdate()
    raised = 0
    open_cases = Case.objects.filter(
        accepted_on__isnull=False, decided_at__isnull=True, closed_at__isnull=True
    )
    for case in open_cases.prefetch_related("pauses").order_by("pk"):
        clock = case_clock(case, today=today)
        if clock.flag and clock.left is not None:
            _alert, created = CaseAlert.objects.get_or_create(
                case=case, level=clock.flag, defaults={"raised_on": today, "days_left": clock.left}
            )
            if created:
                raised += 1
                log.warning(
                    "case.deadline_alert", case_id=case.pk, level=clock.flag, days_left=clock.left
                )
    return raised
