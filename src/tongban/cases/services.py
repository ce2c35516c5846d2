"""Writes for cases: submitting, and taking workflow actions. One state change = one call:
lock the case row, check actor and state, write, append the chained event, work after commit."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
import secrets
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tongban.accounts import verification
from tongban.accounts.models import Enterprise, Person, RealNameLevel, Staff, StaffRole
from tongban.accounts.permissions import require_login, staff_scope
from tongban.accounts.selectors import (
    person_and_enterprise,
    person_find_by_id_number,
    person_for_user,
    person_matching,
)
from tongban.accounts.services import known_person
from tongban.cases import (
    access,
    datashared,
    effects,
    federation,
    files,
    legs,
    licensed,
    scanning,
    workdays,
    workflow,
)
from tongban.cases.events import CaseAuditEvent
from tongban.cases.models import (
    AgentAuthorisation,
    AuthorisationState,
    Case,
    CaseAlert,
    CaseEvent,
    CaseLeg,
    CaseMode,
    CasePause,
    CaseSequence,
    LegState,
    Material,
    MaterialSource,
    PauseKind,
    PowerOfAttorney,
)
from tongban.cases.personal import protect
from tongban.catalog.forms import form_errors
from tongban.catalog.models import Implementation, ServiceItem
from tongban.catalog.selectors import version_current
from tongban.core import chain
from tongban.core.audit import SYSTEM, audit_record
from tongban.core.errors import (
    Conflict,
    DomainError,
    FieldErrors,
    Forbidden,
    NotFound,
    ValidationFailed,
)
from tongban.core.logging import get_logger
from tongban.core.validation import check_text
from tongban.regions.codes import ancestors, province_of

log = get_logger(__name__)

# 行政许可法 art. 42 (20 working days) and art. 26 (45 for joint handling) where the
# implementation does not state a legal limit; the extension of art. 42 is 10 working days.
STATUTORY_DAYS = {CaseMode.ONLINE: 20, CaseMode.PROXY: 20, CaseMode.JOINT: 45}
EXTENSION_DAYS = 10
MODES = frozenset(CaseMode.values)
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
    origin_division: str | None = None,
    authorisation_id: int | None = None,
) -> Case:
    """File a case under the catalogue version in force.

    ONLINE: the actor applies for themselves (or for an enterprise they act for), or, naming
    an ``authorisation_id``, as the agent of the person who authorised them (帮办代办): that
    person is the applicant. PROXY: a window clerk files it for the applicant in front of them
    (named by ID number), in the clerk's own jurisdiction; the authority elsewhere decides.
    JOINT: the applicant applies at the destination (``authority_division``) and names the
    other place (``origin_division``); the item's leg plan lays out who does what where.

    The person at the keyboard (for an enterprise its handler, for a principal their agent, at
    a window the applicant) must hold the item's real-name level: Forbidden
    ``real_name_level_too_low`` otherwise, before anything is written.
    """
    require_login(actor)
    errors = FieldErrors()
    if mode not in MODES:
        raise ValidationFailed(fields={"mode": _("Choose ONLINE, PROXY or JOINT.")})
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
    if (
        (mode == CaseMode.ONLINE and not item.online)
        or (mode == CaseMode.PROXY and not item.proxy)
        or (mode == CaseMode.JOINT and not item.joint)
    ):
        errors.add("mode", _("This item is not handled in this mode."))
    plan = None
    places: dict[str, tuple[str, Implementation]] = {}
    if mode == CaseMode.JOINT:
        plan = legs.plan_for_item(item.name)
        if plan is None:
            errors.add("mode", _("No joint procedure is defined for this item yet."))
        implementation = _joint_places(item, authority_division, origin_division, errors, places)
    else:
        implementation = (
            Implementation.objects.filter(item=item, division_id=authority_division)
            .select_related("department", "division")
            .first()
        )
        if implementation is None:
            errors.add("authority_division", _("The item is not implemented in this division."))
        elif implementation.department is None:
            errors.add(
                "authority_division", _("The implementing department is not yet known here.")
            )
    if scenario is not None:
        for name, message in form_errors(scenario.form_schema, form_data).items():
            errors.add(f"form_data.{name}", message)
    if mode == CaseMode.PROXY:
        # Clerks only (nobody else may learn who is registered), then with the other fields.
        staff_scope(actor, (StaffRole.WINDOW_CLERK,))
        if person_find_by_id_number(id_number=applicant_id_number or "") is None:
            errors.add("applicant_id_number", _("No registered person has this ID number."))
    if authorisation_id is not None and (mode == CaseMode.PROXY or enterprise_uscc):
        errors.add(
            "authorisation_id",
            _("Apply on someone's behalf online, for a person, not for an enterprise."),
        )
    errors.raise_if_any()
    assert scenario is not None
    assert implementation is not None
    assert implementation.department is not None

    authorisation = None
    if authorisation_id is not None:
        authorisation = _authorisation_for_submit(actor, authorisation_id, item)
        agent = authorisation.agent_person
        applicant, enterprise, clerk, receiving_division, window = (
            authorisation.principal,
            None,
            None,
            settings.TONGBAN_NODE_CODE,
            None,
        )
        acting = agent  # None for a staff helper, who is known as staff
    else:
        applicant, enterprise, clerk, receiving_division, window = _intake_parties(
            actor=actor,
            mode=mode,
            enterprise_uscc=enterprise_uscc,
            applicant_id_number=applicant_id_number,
            window_id=window_id,
        )
        agent = applicant if enterprise else None
        acting = applicant
    if acting is not None:
        _check_real_name_level(actor, acting, item)
    flow = workflow.load(workflow.name_for(item.workflow, mode))
    decided_at = _remote_nodes(mode, implementation, places, enterprise)
    now = timezone.now()
    with transaction.atomic():
        if authorisation is not None:
            # Locked and checked again: a revocation committed since the check above wins.
            access.authorisation_check(
                AgentAuthorisation.objects.select_for_update().get(pk=authorisation.pk),
                item_code=item.code,
            )
        case = Case.objects.create(
            number=next_number(
                implementation,
                item,
                timezone.localdate(),
                receipt=federation.node_of(implementation.division_id) != federation.own_node(),
            ),
            query_code="".join(secrets.choice(_QUERY_ALPHABET) for _ in range(8)),
            item=item,
            scenario=scenario,
            implementation=implementation,
            mode=mode,
            workflow=flow.name,
            state=flow.initial,
            applicant_person=None if enterprise else applicant,
            applicant_enterprise=enterprise,
            agent=agent,
            authorisation=authorisation,
            form_data=protect(scenario.form_schema, form_data),
            receiving_division_id=receiving_division,
            receiving_window=window,
            received_by=clerk,
            authority_division=implementation.division,
            authority_department=implementation.department,
            submitted_at=now,
            received_on=timezone.localdate(),
            authority_node=decided_at,
        )
        if plan is not None:
            _plan_legs(case, plan, places)
        append_event(
            case,
            actor=actor,
            role="window_clerk" if clerk else "applicant",
            action="submit",
            from_state="",
            to_state=flow.initial,
            payload={
                "mode": mode,
                "version": version.number,
                "scenario": scenario.key,
                **({"legs": plan.name} if plan is not None else {}),
                **(
                    {"authorisation": authorisation.pk, "agent": authorisation.agent_label}
                    if authorisation is not None
                    else {}
                ),
            },
        )
        # Across provinces: the deciding node gets the case (this one keeps a mirror), or,
        # deciding here, the nodes of the other legs get theirs.
        if decided_at:
            federation.hand_over(case, to=decided_at)
        else:
            leg_nodes = {federation.node_of(leg.division_id) for leg in case.legs.all()}
            for node in sorted(leg_nodes - {federation.own_node()}):
                federation.hand_over(case, to=node)
    log.info("case.submitted", case_id=case.pk, mode=mode)
    return case


def _check_real_name_level(actor: Any, person: Person, item: ServiceItem) -> None:
    """Refuse a person below the item's real-name level, saying which level and how to get it
    (the configured verification methods); the refusal is logged and audited."""
    needed = item.min_real_name_level
    held = person.real_name_level
    if held >= needed:
        return
    ways = "；".join(
        f"{method.label}：{method.instructions}" for method in verification.methods_reaching(needed)
    )
    log.warning(
        "case.real_name_level_too_low",
        person_id=person.pk,
        item=item.code,
        needed=needed,
        held=held,
    )
    audit_record(
        actor=actor,
        action=CaseAuditEvent.REFUSED_REAL_NAME_LEVEL,
        target=person,
        changes={"item": item.code, "needed": needed, "held": held},
    )
    raise Forbidden(
        _(
            "This item needs real-name level L%(needed)d (%(label)s); yours is L%(held)d. "
            "Raise your level first: %(ways)s"
        )
        % {
            "needed": needed,
            "label": RealNameLevel(needed).label,
            "held": held,
            "ways": ways or _("ask a service hall which verification it offers."),
        },
        code="real_name_level_too_low",
        fields={"real_name_level": _("At least L%(needed)d is needed.") % {"needed": needed}},
    )


def _remote_nodes(
    mode: str,
    implementation: Implementation,
    places: dict[str, tuple[str, Implementation]],
    enterprise: Enterprise | None,
) -> str:
    """The node that decides a new ONLINE or JOINT case if it is not this one ("" if it is);
    ValidationFailed when a node the case needs cannot be reached. (A PROXY case is handed
    over when the window forwards it.)"""
    own = federation.own_node()
    decided_at = federation.node_of(implementation.division_id)
    if mode == CaseMode.PROXY:
        return ""
    needed = {decided_at: "authority_division"}
    for place, (division, _impl) in places.items():
        needed.setdefault(
            federation.node_of(division),
            "origin_division" if place == "origin" else "authority_division",
        )
    needed.pop(own, None)
    if needed and enterprise is not None:
        raise ValidationFailed(
            fields={
                "enterprise_uscc": _(
                    "Enterprise cases cannot yet be handed to another province's node."
                )
            }
        )
    for node, field in sorted(needed.items()):
        federation.check_reachable(node, field=field)
    return "" if decided_at == own else decided_at


def implementation_near(item: ServiceItem, division: str) -> Implementation | None:
    """The implementation serving a place: at the division itself, else at the nearest
    division above it (a district's case is decided by its city or province)."""
    found = {
        impl.division_id: impl
        for impl in Implementation.objects.filter(
            item=item, division_id__in=ancestors(division)
        ).select_related("department", "division")
    }
    return next((found[code] for code in ancestors(division) if code in found), None)


def _joint_places(
    item: ServiceItem,
    destination: str,
    origin: str | None,
    errors: FieldErrors,
    places: dict[str, tuple[str, Implementation]],
) -> Implementation | None:
    """Check both ends of a JOINT case; fill ``places`` with (division, implementation)."""
    from tongban.regions.models import Division

    given = {"destination": (destination or "").strip(), "origin": (origin or "").strip()}
    fields = {"destination": "authority_division", "origin": "origin_division"}
    known = set(Division.objects.filter(code__in=given.values()).values_list("code", flat=True))
    for place, code in given.items():
        if not code:
            errors.add(fields[place], _("This field is required."))
        elif code not in known:
            errors.add(fields[place], _("Unknown division code."))
        else:
            implementation = implementation_near(item, code)
            if implementation is None or implementation.department is None:
                errors.add(
                    fields[place], _("No department handles this item there on this platform.")
                )
            else:
                places[place] = (code, implementation)
    if given["origin"] and given["origin"] == given["destination"]:
        errors.add("origin_division", _("The two places of a joint case must differ."))
    return places["destination"][1] if "destination" in places else None


def _plan_legs(
    case: Case, plan: legs.LegPlan, places: dict[str, tuple[str, Implementation]]
) -> None:
    """The legs of a new JOINT case, all waiting until the case is accepted."""
    CaseLeg.objects.bulk_create(
        CaseLeg(
            case=case,
            seq=seq,
            key=step.key,
            label=step.label,
            place=step.place,
            division_id=places[step.place][0],
            department=places[step.place][1].department,
            node=province_of(places[step.place][0]),
            roles=list(step.roles),
        )
        for seq, step in enumerate(plan.legs, start=1)
    )


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


def next_number(
    implementation: Implementation, item: ServiceItem, day: dt.date, *, receipt: bool = False
) -> str:
    """Implementation code (31) + yyyyMMdd + 4-digit daily sequence. While the department's
    USCC is unknown the first 18 characters are zeros (flagged by the catalogue).

    A ``receipt`` number is what this node gives a case decided at another node (which numbers
    its own copy): counted down from 9999, so it does not meet that node's numbers."""
    prefix = implementation.code or ("0" * 18 + "0" + item.code)
    key = prefix + ("R" if receipt else "")
    row, _created = CaseSequence.objects.select_for_update().get_or_create(prefix=key, day=day)
    CaseSequence.objects.filter(pk=row.pk).update(last=F("last") + 1)
    row.refresh_from_db(fields=["last"])
    if row.last > 9999:
        raise Conflict(_("The daily case numbers of this implementation are exhausted."))
    sequence = 10000 - row.last if receipt else row.last
    return f"{prefix}{day:%Y%m%d}{sequence:04d}"


# Acting -------------------------------------------------------------------------------------


def case_act(
    *, actor: Any, number: str, action: str, payload: Mapping[str, Any] | None = None
) -> Case:
    """Take a workflow action on a case. 409 when the state does not allow it (the allowed
    actions are named), 403 for the wrong actor, 400 for missing details.

    On a mirror (a case decided at another node) the deciding department's actions are
    refused; the others are checked here and sent to the deciding node, which applies them
    and reports back (federation.py): the mirror's state changes when that report arrives."""
    require_login(actor)
    payload = dict(payload or {})
    with transaction.atomic():
        case = (
            Case.objects.select_for_update(of=("self",))
            .select_related(
                "implementation", "authority_department", "applicant_enterprise", "scenario"
            )
            .filter(number=number)
            .first()
        )
        case = access.require_case_visible(actor, case)
        flow = workflow.load(case.workflow)
        step = flow.actions.get(action)
        if step is None:
            raise NotFound(_("This workflow has no such action."))
        if federation.is_mirror(case) and step.side == "authority":
            raise Conflict(
                _("This case is decided at node %(node)s; its department acts there.")
                % {"node": case.authority_node},
                code="decided_elsewhere",
            )
        leg = _active_leg(case) if step.side == "leg" else None
        if step.side == "leg" and (
            leg is None or federation.node_of(leg.division_id) != federation.own_node()
        ):
            raise _not_now(flow, case)
        role = access.step_actor(actor, case, step, leg)
        if federation.is_mirror(case):
            _check_request(case, flow, step, leg, payload)
            federation.request_action(
                case,
                action=step.name,
                payload=payload,
                actor=actor,
                role=_role_label(role, step, leg),
                leg=leg,
            )
            log.info("case.action_requested", case_id=case.pk, action=action)
            return case
        _perform(case, flow, step, leg, role, payload, actor=actor)
        if step.name == "forward":
            _hand_to_authority(case)
    log.info("case.action", case_id=case.pk, action=action, state=case.state)
    return case


def _hand_to_authority(case: Case) -> None:
    """A PROXY case forwarded to a department of another province: that node decides it from
    now on; this one keeps a mirror."""
    node = federation.node_of(case.authority_division_id)
    if node == federation.own_node():
        return
    federation.check_reachable(node, field="authority_division")
    case.authority_node = node
    case.save(update_fields=["authority_node", "updated_at"])
    federation.hand_over(case, to=node)


def _check_request(
    case: Case,
    flow: workflow.Workflow,
    step: workflow.Action,
    leg: CaseLeg | None,
    payload: dict[str, Any],
) -> None:
    """What a mirror checks before sending a request: what the deciding node would check
    first, so a request that cannot succeed is refused here, at once."""
    if case.state not in step.sources:
        raise _not_now(flow, case)
    _check_requires(step, payload)
    _check_no_strangers(step, payload)
    if step.legs == "advance" and leg is not None:
        _leg_result(case, leg, payload)


def perform_remote(
    case: Case,
    *,
    source: str,
    action: str,
    payload: dict[str, Any],
    actor_label: str,
    role: str,
    leg_key: Any,
) -> None:
    """On the deciding node: apply an action taken on the mirror at node ``source`` (called
    by federation.py, in the inbox transaction, the case locked). The mirror's node vouches
    for its actor; this node checks that the node may ask: the applicant's actions come from
    the node that received the case, a leg's from the node of that leg."""
    flow = workflow.load(case.workflow)
    step = flow.actions.get(action)
    if step is None:
        raise NotFound(_("This workflow has no such action."))
    leg = _active_leg(case) if step.side == "leg" else None
    if step.side == "applicant":
        allowed = source == case.receiving_node
    elif step.side == "leg":
        allowed = (
            leg is not None and leg.key == leg_key and federation.node_of(leg.division_id) == source
        )
    else:
        allowed = False
    if not allowed:
        raise Forbidden(
            _("Node %(node)s may not take this action on this case.") % {"node": source}
        )
    # The role recorded is the one the action calls for, whatever the mirror named.
    if step.side == "applicant":
        role = "applicant"
    elif leg is not None and role not in step.roles & frozenset(leg.roles):
        role = "staff"
    _perform(case, flow, step, leg, role, payload, actor=None, actor_label=actor_label)


def _perform(
    case: Case,
    flow: workflow.Workflow,
    step: workflow.Action,
    leg: CaseLeg | None,
    role: Staff | str,
    payload: dict[str, Any],
    *,
    actor: Any,
    actor_label: str | None = None,
) -> None:
    """The action itself, once the actor is known to be entitled (the case row locked)."""
    if case.state not in step.sources:
        raise _not_now(flow, case)
    _check_requires(step, payload)
    _check_no_strangers(step, payload)
    if step.clock == "start" and awaits_originals(case):
        raise Conflict(
            _(
                "The originals posted by the window have not arrived yet; the time limit "
                "starts when they do."
            ),
            code="awaiting_originals",
        )
    if step.name == "forward":
        _check_formal_review(case, payload)
    before = case.state
    today = timezone.localdate()
    # A leg that hands over to a next one leaves the case where it is (in_legs).
    moves = _apply_legs(case, step, leg, role, payload)
    if moves:
        _apply_clock(case, step, payload, today)
    if moves and step.target is not None and step.target != before and step.clock != "stop":
        # Leaving a paused state any way (resume, withdrawal, a decision) ends the pause.
        _close_open_pause(case, today)
    if moves and step.target is not None:
        case.state = step.target
    if step.side == "authority" and isinstance(role, Staff) and case.assignee_id is None:
        case.assignee = role
    if step.name == "forward" and case.received_by_id is None and isinstance(role, Staff):
        case.received_by = role
    if step.clock == "decide" and step.target == "denied":
        payload.setdefault("remedy", DENIAL_REMEDY)
    if flow.is_final(case.state):
        case.closed_at = timezone.now()
    if case.state in _ENDS_LEGS:
        case.legs.filter(state__in=[LegState.WAITING, LegState.ACTIVE]).update(
            state=LegState.CANCELLED, finished_at=timezone.now()
        )
    case.save()
    append_event(
        case,
        actor=actor,
        actor_label=actor_label,
        role=_role_label(role, step, leg),
        action=step.name,
        from_state=before,
        to_state=case.state,
        payload=payload,
    )
    if moves and step.issues:
        effects.run(step.issues, case=case, actor=actor)


# Formal review at the window (PROXY) -------------------------------------------------------

# How the clerk checked who is in front of them, and on which document.
IDENTITY_METHODS = {
    "id_card_reader": "居民身份证阅读器读取",
    "face_match": "人证比对（人脸识别）",
    "visual_check": "人工核对证件",
}
IDENTITY_DOCUMENTS = verification.IDENTITY_DOCUMENTS
IDENTITY_HOLDERS = {"applicant": "申请人本人", "agent": "代理人"}
CHECK_RESULTS = {"present": "已收取", "missing": "缺少", "not_applicable": "本情形不需要"}


def _check_formal_review(case: Case, payload: dict[str, Any]) -> None:
    """Before forwarding: the identity check is recorded (method, document, whose) and every
    material of the scenario has a checklist result; required ones must be present, and
    present ones scanned in. Adds the list of originals to post to the payload."""
    errors = FieldErrors()
    identity = payload.get("identity")
    if not isinstance(identity, dict):
        errors.add("identity", _("Record how the identity was checked."))
        identity = {}
    for name, choices in (
        ("method", IDENTITY_METHODS),
        ("document", IDENTITY_DOCUMENTS),
        ("holder", IDENTITY_HOLDERS),
    ):
        if not _one_of(identity.get(name), choices):
            errors.add(
                f"identity.{name}",
                _("Choose one of: %(choices)s.") % {"choices": ", ".join(choices)},
            )
    checklist = payload.get("checklist")
    if not isinstance(checklist, dict):
        errors.add("checklist", _("Go through the formal review checklist."))
        checklist = {}
    rows = {row.key: row for row in formal_review_checklist(case)}
    for key in sorted(set(checklist) - set(rows)):
        errors.add(f"checklist.{key}", _("This situation asks for no such material."))
    for key, row in rows.items():
        result = checklist.get(key)
        if not _one_of(result, CHECK_RESULTS):
            errors.add(
                f"checklist.{key}",
                _("Choose one of: %(choices)s.") % {"choices": ", ".join(CHECK_RESULTS)},
            )
        elif row.required and result != "present":
            errors.add(
                f"checklist.{key}",
                _("A required material is missing; the case cannot be forwarded without it."),
            )
        elif result == "present" and not (row.uploaded or row.license or row.datashare):
            errors.add(f"checklist.{key}", _("Scan and upload this material first."))
    errors.raise_if_any()
    payload["identity"] = {name: identity[name] for name in ("method", "document", "holder")}
    payload["checklist"] = {key: checklist[key] for key in rows}
    payload["originals_to_post"] = [
        key for key, row in rows.items() if row.original_required and checklist[key] == "present"
    ]


def _one_of(value: Any, choices: Mapping[str, str]) -> bool:
    # Only strings can be choices; a list or an object from the JSON body is not hashable.
    return isinstance(value, str) and value in choices


@dataclass(frozen=True)
class ChecklistRow:
    key: str
    name: str
    required: bool
    # Whether the original must be posted: never for what an electronic licence or a
    # data-sharing check stands for.
    original_required: bool
    accepted_types: list[str]
    uploaded: int  # files handed in
    note: str
    # The electronic licence handed in instead of the paper, as the checklist says it ("").
    license: str = ""
    # The data-sharing check that stands for the paper, as the checklist says it ("").
    datashare: str = ""


def formal_review_checklist(case: Case) -> list[ChecklistRow]:
    """The window's formal review checklist, generated from the scenario's material specs,
    with how many files have been scanned in for each, and the electronic licence or the
    data-sharing check that stands for it, if there is one (免提交: then no original is asked
    for)."""
    counts: dict[int, int] = {}
    licences: dict[int, Material] = {}
    checks: dict[int, Material] = {}
    for material in Material.objects.filter(case=case).order_by("uploaded_at", "id"):
        if material.source == MaterialSource.LICENSE:
            licences[material.spec_id] = material  # the last one picked
        elif material.source == MaterialSource.DATASHARE:
            checks[material.spec_id] = material
        else:
            counts[material.spec_id] = counts.get(material.spec_id, 0) + 1
    return [
        ChecklistRow(
            key=spec.key,
            name=spec.name,
            required=spec.required,
            original_required=spec.original_required
            and spec.pk not in licences
            and spec.pk not in checks,
            accepted_types=list(spec.accepted_types),
            uploaded=counts.get(spec.pk, 0),
            note=spec.note,
            license=licensed.checklist_text(licences[spec.pk]) if spec.pk in licences else "",
            datashare=datashared.checklist_text(checks[spec.pk]) if spec.pk in checks else "",
        )
        for spec in case.scenario.materials.order_by("order", "pk")
    ]


def awaits_originals(case: Case) -> bool:
    """A PROXY case forwarded with originals to post, which have not yet arrived."""
    if case.mode != CaseMode.PROXY or case.originals_received_on is not None:
        return False
    forward = case.events.filter(action="forward").order_by("-seq").first()
    return bool(forward and forward.payload.get("originals_to_post"))


def case_originals_received(*, case_id: int, on: dt.date, actor: Any) -> Case:
    """Record the day the posted originals reached the deciding department (called by the
    delivery domain when the shipment is delivered); appended to the case's chain."""
    with transaction.atomic():
        case = Case.objects.select_for_update(of=("self",)).get(pk=case_id)
        if case.originals_received_on is None:
            case.originals_received_on = on
            case.save(update_fields=["originals_received_on", "updated_at"])
            append_event(
                case,
                actor=actor,
                role="system",
                action="originals_received",
                from_state=case.state,
                to_state=case.state,
                payload={"on": on.isoformat()},
            )
    return case


# States after which no leg of a JOINT case goes on.
_ENDS_LEGS = frozenset({"denied", "withdrawn", "rejected_intake", "completed"})


def _not_now(flow: workflow.Workflow, case: Case) -> Conflict:
    allowed = flow.allowed(case.state)
    return Conflict(
        _("This action is not possible now. Possible: %(allowed)s")
        % {"allowed": "、".join(flow.actions[name].label for name in allowed) or "—"},
        code="action_not_allowed",
        fields={"allowed_actions": ",".join(allowed)},
    )


def _active_leg(case: Case, *, lock: bool = True) -> CaseLeg | None:
    legs_qs = CaseLeg.objects.filter(case=case, state=LegState.ACTIVE)
    if lock:
        legs_qs = legs_qs.select_for_update()
    return legs_qs.select_related("division", "department").order_by("seq").first()


def _apply_legs(
    case: Case,
    step: workflow.Action,
    leg: CaseLeg | None,
    role: Staff | str,
    payload: dict[str, Any],
) -> bool:
    """Do what the action does to the legs of a JOINT case; False when the case stays put
    because the next leg takes over."""
    now = timezone.now()
    if step.legs == "open":
        first = CaseLeg.objects.filter(case=case).order_by("seq").first()
        if first is not None:
            first.state = LegState.ACTIVE
            first.started_at = now
            first.save(update_fields=["state", "started_at"])
        return True
    if leg is None or step.legs is None:
        return True
    staff = role if isinstance(role, Staff) else None
    payload["leg"] = leg.key
    if step.legs == "refuse":
        leg.state = LegState.REFUSED
        leg.finished_at, leg.finished_by = now, staff
        leg.save(update_fields=["state", "finished_at", "finished_by"])
        return True
    plan_step, result = _leg_result(case, leg, payload)
    leg.state = LegState.DONE
    # Personal fields of the record (x-personal) are kept encrypted, in the leg and the event.
    leg.output = protect(plan_step.schema, result)
    payload["result"] = leg.output
    leg.finished_at, leg.finished_by = now, staff
    leg.save(update_fields=["state", "output", "finished_at", "finished_by"])
    following = CaseLeg.objects.filter(case=case, seq__gt=leg.seq).order_by("seq").first()
    if following is None:
        return True
    done = CaseLeg.objects.filter(case=case, state=LegState.DONE).order_by("seq")
    following.state = LegState.ACTIVE
    following.started_at = now
    following.input = legs.handed_over([d.output for d in done])
    following.save(update_fields=["state", "started_at", "input"])
    payload["next_leg"] = following.key
    return False


def _leg_result(
    case: Case, leg: CaseLeg, payload: dict[str, Any]
) -> tuple[legs.LegStep, dict[str, Any]]:
    """The leg's step of the plan and the record given for it, checked against its schema."""
    plan = legs.plan_for_item(case.item.name)
    plan_step = next((s for s in plan.legs if s.key == leg.key), None) if plan else None
    if plan_step is None:
        raise Conflict(_("The joint procedure of this case is no longer defined."))
    result = payload.get("result", {})
    if not isinstance(result, dict):
        raise ValidationFailed(fields={"result": _("Expected an object.")})
    problems = form_errors(plan_step.schema, result)
    if problems:
        raise ValidationFailed(fields={f"result.{name}": msg for name, msg in problems.items()})
    return plan_step, result


# Free text in an action's details: long enough for reasons, short enough for a chain link.
MAX_DETAIL_CHARS = 2000


def _check_no_strangers(step: workflow.Action, payload: dict[str, Any]) -> None:
    """An action takes its required details, an optional note and (for a leg) its result;
    anything else is refused rather than written into the audit chain unread."""
    known = set(step.requires) | {"note"} | ({"result"} if step.legs == "advance" else set())
    errors = FieldErrors()
    for name in sorted(set(payload) - known):
        errors.add(name, _("This field is not part of the form."))
    for name, value in payload.items():
        if isinstance(value, str) and len(value) > MAX_DETAIL_CHARS:
            errors.add(name, _("At most %(n)d characters.") % {"n": MAX_DETAIL_CHARS})
    errors.raise_if_any()


# Details that are lists of items (one per line when given as text).
_LIST_DETAILS = ("missing",)


def _check_requires(step: workflow.Action, payload: dict[str, Any]) -> None:
    for name in _LIST_DETAILS:
        if isinstance(payload.get(name), str):
            payload[name] = [line.strip() for line in payload[name].splitlines() if line.strip()]
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


def _role_label(role: Staff | str, step: workflow.Action, leg: CaseLeg | None = None) -> str:
    if isinstance(role, str):
        return role
    roles = step.roles & frozenset(leg.roles) if leg is not None and step.legs else step.roles
    held = sorted(role.roles & roles)
    return held[0] if held else "staff"


def append_event(
    case: Case,
    *,
    actor: Any,
    role: str,
    action: str,
    from_state: str,
    to_state: str,
    payload: Mapping[str, Any],
    actor_label: str | None = None,
    at: dt.datetime | None = None,
    copied: bool = False,
) -> CaseEvent:
    """Append the next link of the case's chain (the case row is locked by the caller). On an
    authoritative case with mirrors, the link goes to them too, unless it is itself ``copied``
    from another node's chain (``actor_label`` and ``at`` then say who and when, there)."""
    last = CaseEvent.objects.filter(case=case).order_by("-seq").values_list("seq", "hash").first()
    seq, previous = (last[0] + 1, last[1]) if last else (1, chain.GENESIS)
    user = actor if getattr(actor, "pk", None) else None
    event = CaseEvent(
        case=case,
        seq=seq,
        at=(at or timezone.now()).replace(microsecond=0),
        actor=user,
        actor_label=actor_label or (user.get_username() if user is not None else "system"),
        role=role,
        action=action,
        from_state=from_state,
        to_state=to_state,
        payload=dict(payload),
        prev_hash=previous,
    )
    event.hash = chain.link_hash(previous, event_body(event))
    event.save()
    if case.peers and not copied:
        federation.tell_peers(case, event)
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
    leg = _active_leg(case, lock=False) if case.workflow == "joint" else None
    allowed = []
    for name in flow.allowed(case.state):
        try:
            access.step_actor(actor, case, flow.actions[name], leg)
        except DomainError:
            continue
        allowed.append(name)
    return allowed


# Materials ----------------------------------------------------------------------------------

# States in which the receiving side may still add papers.
UPLOAD_STATES = _UPLOAD_STATES = frozenset({"submitted", "awaiting_supplement", "received"})


def can_verify_by_datashare(*, actor: Any, case: Case) -> bool:
    """Whether the page should offer data-sharing checks of materials to this actor now."""
    if case.state not in _UPLOAD_STATES:
        return False
    try:
        return datashared.may_verify(actor, case) is not None
    except DomainError:  # an agent whose authorisation ended: the page offers nothing
        return False


def can_upload(*, actor: Any, case: Case) -> bool:
    """Whether the page should offer uploads to this actor now."""
    if case.state not in _UPLOAD_STATES:
        return False
    try:
        return access.uploader_role(actor, case) is not None
    except DomainError:  # an agent whose authorisation ended: the page offers nothing
        return False


@dataclass(frozen=True)
class CheckedUpload:
    name: str
    content: bytes
    kind: str
    sha256: str

    def stored_fields(self, path: str, scanned: Any) -> dict[str, Any]:
        """The columns a record of a stored file keeps (materials, powers of attorney)."""
        return {
            "path": path,
            "original_name": self.name,
            "content_type": files.CONTENT_TYPES[self.kind],
            "size": len(self.content),
            "sha256": self.sha256,
            "scan_status": scanned.status,
        }


def read_upload(upload: Any, *, accepted_types: list[str] | tuple[str, ...] = ()) -> CheckedUpload:
    """Read an uploaded file (``name``, ``size``, ``chunks()``) and check it: not empty, within
    the size limit (whatever size it declared), its first bytes say PDF, JPEG, PNG or OFD and
    its extension agrees, and it is one of ``accepted_types`` when given."""
    limit = getattr(settings, "TONGBAN_MAX_UPLOAD_BYTES", 20 * 1024 * 1024)
    too_large = _("The file is larger than %(mb)d MB.") % {"mb": limit // (1024 * 1024)}
    name = os.path.basename(str(getattr(upload, "name", "") or ""))[:255]
    if not upload or getattr(upload, "size", 0) <= 0:
        raise ValidationFailed(fields={"file": _("The file is empty.")})
    if upload.size > limit:
        raise ValidationFailed(fields={"file": too_large})
    digest = hashlib.sha256()
    buffer = io.BytesIO()
    for chunk in upload.chunks():
        digest.update(chunk)
        buffer.write(chunk)
        if buffer.tell() > limit:  # the declared size lied
            raise ValidationFailed(fields={"file": too_large})
    content = buffer.getvalue()
    kind = files.sniff_bytes(content)
    if kind is None or files.extension_kind(name) != kind:
        raise ValidationFailed(
            fields={
                "file": _("The file is not what its name says; send a PDF, JPEG, PNG or OFD file.")
            }
        )
    accepted = {files.EXTENSIONS.get(t, t) for t in accepted_types}
    if accepted and kind not in accepted:
        raise ValidationFailed(
            fields={
                "file": _("This material accepts: %(types)s.")
                % {"types": ", ".join(accepted_types)}
            }
        )
    return CheckedUpload(name=name, content=content, kind=kind, sha256=digest.hexdigest())


@contextmanager
def stored_upload(checked: CheckedUpload, *, folder: str) -> Iterator[tuple[str, Any]]:
    """Store a checked file under ``folder`` (a path of internal ids, never the upload's name),
    run the antivirus hook, and give (stored path, scan result) to the block that writes its
    record; the file is deleted again if the block fails, so no file is left without one."""
    stored = default_storage.save(
        f"{folder}/{uuid.uuid4().hex}.{checked.kind}", ContentFile(checked.content)
    )
    try:
        result = scanning.scanner().scan(Path(default_storage.path(stored)))
        if result.status == "infected":
            raise ValidationFailed(fields={"file": _("The file was refused by the virus scanner.")})
        yield stored, result
    except BaseException:
        default_storage.delete(stored)
        raise


def material_upload(*, actor: Any, number: str, spec_key: str, upload: Any) -> Material:
    """Attach a file for one of the scenario's material specs.

    ``upload`` is a Django UploadedFile (``name``, ``size``, ``chunks()``). The file must be
    within the size limit, its first bytes must say PDF, JPEG, PNG or OFD, its extension must
    agree, and the spec must accept that kind. Stored under a path built from internal ids,
    with its SHA-256; the antivirus hook runs before the record is written.
    """
    require_login(actor)
    case = access.require_case_visible(
        actor, Case.objects.select_related("scenario").filter(number=number).first()
    )
    uploader = access.uploader_role(actor, case)
    if uploader is None:
        raise Forbidden(
            _("Only the applicant, their agent or the receiving window can add materials.")
        )
    is_applicant = uploader == "applicant"
    if case.state not in _UPLOAD_STATES:
        raise Conflict(_("Materials can no longer be added to this case."), code="materials_closed")
    spec = case.scenario.materials.filter(key=spec_key).first()
    if spec is None:
        raise ValidationFailed(fields={"spec_key": _("This situation asks for no such material.")})

    checked = read_upload(upload, accepted_types=spec.accepted_types)
    with (
        stored_upload(checked, folder=f"cases/{case.pk}") as (stored, result),
        transaction.atomic(),
    ):
        locked = Case.objects.select_for_update(of=("self",)).get(pk=case.pk)
        if locked.state not in _UPLOAD_STATES:
            raise Conflict(
                _("Materials can no longer be added to this case."), code="materials_closed"
            )
        material = Material.objects.create(
            case=locked,
            spec=spec,
            source=MaterialSource.UPLOAD,
            **checked.stored_fields(stored, result),
            original_to_post=spec.original_required,
            uploaded_by=actor,
            ref=uuid.uuid4().hex,
        )
        if federation.is_mirror(locked):
            # The deciding node fetches the file and appends the link; it comes back.
            federation.material_added(
                locked, material, role="applicant" if is_applicant else "window_clerk"
            )
        else:
            append_event(
                locked,
                actor=actor,
                role="applicant" if is_applicant else "window_clerk",
                action="attach",
                from_state=locked.state,
                to_state=locked.state,
                payload={
                    "material": spec.key,
                    "sha256": material.sha256,
                    "size": material.size,
                },
            )
    log.info("case.material_added", case_id=case.pk, material_id=material.pk)
    return material


def material_from_license(*, actor: Any, number: str, spec_key: str, identifier: str) -> Material:
    """Hand in one of the applicant's electronic licences for a material instead of paper
    (免提交、免核验原件).

    Whoever may upload to the case now may do it; the licence is the case's applicant's (an
    agent picks the principal's, a window clerk the applicant's), of a type the material
    accepts, and verified now (cases/licensed.py): otherwise a 4xx saying why, and nothing is
    written. The material records the licence's identifier, name, number and issuer and when it
    was verified; no original is posted for it. Picking the same licence for the same material
    again returns the material already there and records nothing new.
    """
    require_login(actor)
    case = access.require_case_visible(
        actor, Case.objects.select_related("scenario").filter(number=number).first()
    )
    uploader = access.uploader_role(actor, case)
    if uploader is None:
        raise Forbidden(
            _("Only the applicant, their agent or the receiving window can add materials.")
        )
    if case.state not in _UPLOAD_STATES:
        raise Conflict(_("Materials can no longer be added to this case."), code="materials_closed")
    spec = case.scenario.materials.filter(key=spec_key).first()
    if spec is None:
        raise ValidationFailed(fields={"spec_key": _("This situation asks for no such material.")})
    found, outcome = licensed.license_to_hand_in(case=case, spec=spec, identifier=identifier)
    verified_at = timezone.now()
    with transaction.atomic():
        locked = Case.objects.select_for_update(of=("self",)).get(pk=case.pk)
        if locked.state not in _UPLOAD_STATES:
            raise Conflict(
                _("Materials can no longer be added to this case."), code="materials_closed"
            )
        already = Material.objects.filter(
            case=locked, spec=spec, source=MaterialSource.LICENSE, reference=found.identifier
        ).first()
        if already is not None:
            return already
        material = Material.objects.create(
            case=locked,
            spec=spec,
            source=MaterialSource.LICENSE,
            reference=found.identifier,
            license_name=found.name,
            license_number=found.number,
            license_issuer=outcome.issuer or found.issuer.name,
            verified_at=verified_at,
            scan_status="",
            original_to_post=False,
            uploaded_by=actor,
            ref=uuid.uuid4().hex,
        )
        _attached(locked, material, actor=actor, role=uploader, payload=license_payload(material))
    log.info(
        "case.license_material_added",
        case_id=case.pk,
        material_id=material.pk,
        license_id=found.pk,
        status_source=outcome.status_source,
    )
    return material


def _attached(
    case: Case, material: Material, *, actor: Any, role: str, payload: dict[str, Any]
) -> None:
    """Record a material that stands for paper (a licence, a data-sharing check) in the case's
    chain, in the caller's transaction: on a mirror the deciding node records it from the
    message and appends the link, which comes back; here, an "attach" event."""
    if federation.is_mirror(case):
        federation.material_added(case, material, role=role)
    else:
        append_event(
            case,
            actor=actor,
            role=role,
            action="attach",
            from_state=case.state,
            to_state=case.state,
            payload=payload,
        )


def license_payload(material: Material) -> dict[str, Any]:
    """What the case's chain records of a material a licence stands for."""
    return {
        "material": material.spec.key,
        "license": material.reference,
        "issuer": material.license_issuer,
        "verified_at": material.verified_at.isoformat() if material.verified_at else None,
    }


def material_from_datashare(*, actor: Any, number: str, spec_key: str) -> Material:
    """Verify a material at its source by data sharing instead of handing in the paper (免提交).

    Whoever may upload to the case now may do it, and so may the deciding department's
    reviewers and approvers; the material must name a check (``MaterialSpec.datashare_check``)
    that a data source known here answers about the case's applicant, and the asking department
    must hold a grant in force (cases/datashared.py). The call is made with the applicant's own
    particulars; a yes is recorded as the material (the call's id, the question, who answered
    and when; no original is posted for it). A no is Conflict ``datashare_mismatch``: the paper
    is needed. A refusal by data sharing propagates as it is (it is in the evidence log). Nothing
    is written to the case unless the answer is yes; a material verified already is returned
    as it is and nothing is asked again.
    """
    from tongban.datashare.models import CallKind
    from tongban.datashare.services import Request, call_make

    require_login(actor)
    case = access.require_case_visible(
        actor,
        Case.objects.select_related(
            "scenario", "item", "authority_department", "applicant_person", "applicant_enterprise"
        )
        .filter(number=number)
        .first(),
    )
    role = datashared.may_verify(actor, case)
    if role is None:
        raise Forbidden(
            _(
                "Only the applicant, their agent, the receiving window or the deciding department "
                "can verify materials by data sharing."
            )
        )
    if case.state not in _UPLOAD_STATES:
        raise Conflict(_("Materials can no longer be added to this case."), code="materials_closed")
    spec = case.scenario.materials.filter(key=spec_key).first()
    if spec is None:
        raise ValidationFailed(fields={"spec_key": _("This situation asks for no such material.")})
    already = Material.objects.filter(case=case, spec=spec, source=MaterialSource.DATASHARE).first()
    if already is not None:
        return already
    check = datashared.check_for(actor=actor, case=case, spec=spec)
    call, answer = call_make(
        actor=actor,
        request=Request(
            resource=check.resource.ref,
            kind=CallKind.VERIFY,
            question=str(check.question["key"]),
            params=dict(check.params),
            purpose=check.purpose,
            case_number=case.number,
        ),
        department=check.department,
    )
    if answer.answer is not True:
        log.info("case.datashare_mismatch", case_id=case.pk, spec=spec.key, call=str(call.uid))
        raise Conflict(
            _(
                "The data source did not confirm this material (%(question)s); "
                "upload the paper instead."
            )
            % {"question": check.question_name},
            code="datashare_mismatch",
        )
    with transaction.atomic():
        locked = Case.objects.select_for_update(of=("self",)).get(pk=case.pk)
        if locked.state not in _UPLOAD_STATES:
            raise Conflict(
                _("Materials can no longer be added to this case."), code="materials_closed"
            )
        already = Material.objects.filter(
            case=locked, spec=spec, source=MaterialSource.DATASHARE
        ).first()
        if already is not None:  # verified meanwhile by someone else
            return already
        material = Material.objects.create(
            case=locked,
            spec=spec,
            source=MaterialSource.DATASHARE,
            reference=str(call.uid),
            check_question=check.question_name[:128],
            check_provider=(answer.provider or check.resource.department_name)[:128],
            check_node=check.resource.node,
            verified_at=answer.at or call.at,
            scan_status="",
            original_to_post=False,
            uploaded_by=actor,
            ref=uuid.uuid4().hex,
        )
        _attached(locked, material, actor=actor, role=role, payload=datashare_payload(material))
    log.info(
        "case.datashare_material_added",
        case_id=case.pk,
        material_id=material.pk,
        call=str(call.uid),
        resource=check.resource.ref,
    )
    return material


def datashare_payload(material: Material) -> dict[str, Any]:
    """What the case's chain records of a material a data-sharing check stands for."""
    return {
        "material": material.spec.key,
        "datashare_call": material.reference,
        "question": material.check_question,
        "provider": material.check_provider,
        "node": material.check_node,
        "verified_at": material.verified_at.isoformat() if material.verified_at else None,
    }


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
    # Mirrors follow their deciding node, which runs its own clock.
    for case in Case.objects.filter(state="submitted", authority_node="").order_by("pk"):
        arrived = (
            case.events.filter(to_state="submitted")
            .order_by("-seq")
            .values_list("at", flat=True)
            .first()
        )
        if arrived is None:
            continue
        received = timezone.localtime(arrived).date()
        if awaits_originals(case):
            continue  # the clock waits for the originals
        if case.originals_received_on and case.originals_received_on > received:
            received = case.originals_received_on
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
            payload = {"deemed": True, "received_on": received.isoformat()}
            # A JOINT case accepted by law starts its first leg, as one accepted by staff does.
            _apply_legs(locked, step, None, "system", payload)
            _apply_clock(locked, step, payload, received)
            locked.state = step.target or locked.state
            locked.save()
            append_event(
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
    from tongban.cases.selectors import case_clock, work_calendar

    today = today or timezone.localdate()
    raised = 0
    open_cases = Case.objects.filter(
        accepted_on__isnull=False,
        decided_at__isnull=True,
        closed_at__isnull=True,
        authority_node="",  # a mirror's deadline is watched where the case is decided
    )
    calendar = work_calendar()
    for case in open_cases.prefetch_related("pauses").order_by("pk"):
        clock = case_clock(case, today=today, calendar=calendar)
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


# Agent authorisations (帮办代办) -------------------------------------------------------------

# How long one power of attorney may run; a longer arrangement is renewed, so the principal
# confirms it at least once a year.
MAX_AUTHORISATION_DAYS = 366
MAX_AUTHORISED_ITEMS = 50


def _authorisation_for_submit(
    actor: Any, authorisation_id: int, item: ServiceItem
) -> AgentAuthorisation:
    """The authorisation an agent applies under: theirs (else 404, so ids of others' tell
    nothing), in force, covering the item."""
    authorisation = (
        AgentAuthorisation.objects.select_related("principal", "agent_person", "agent_staff")
        .filter(pk=authorisation_id)
        .first()
    )
    if authorisation is None or not access.is_agent_of(
        actor, person_for_user(actor), authorisation
    ):
        raise NotFound(_("You hold no authorisation with this id."), code="authorisation_not_found")
    access.authorisation_check(authorisation, item_code=item.code)
    return authorisation


def _check_period(
    valid_from: dt.date | None, valid_until: dt.date | None, errors: FieldErrors
) -> tuple[dt.date, dt.date | None]:
    today = timezone.localdate()
    start = valid_from or today
    if start < today:
        errors.add("valid_from", _("An authorisation cannot start in the past."))
    if valid_until is None:
        errors.add("valid_until", _("This field is required."))
    elif valid_until < start:
        errors.add("valid_until", _("The last day cannot come before the first."))
    elif (valid_until - start).days >= MAX_AUTHORISATION_DAYS:
        errors.add(
            "valid_until",
            _("An authorisation runs for at most %(days)d days; renew it after that.")
            % {"days": MAX_AUTHORISATION_DAYS},
        )
    return start, valid_until


def _check_items(all_items: bool, item_codes: Any, errors: FieldErrors) -> list[str]:
    """The item codes an authorisation covers: known in the catalogue in force, none twice."""
    if all_items:
        return []
    if not isinstance(item_codes, list | tuple) or not all(
        isinstance(code, str) for code in item_codes
    ):
        errors.add("item_codes", _("Expected a list of item codes."))
        return []
    codes = sorted({code.strip().upper() for code in item_codes if code.strip()})
    if not codes:
        errors.add("item_codes", _("Choose the items, or all items."))
    elif len(codes) > MAX_AUTHORISED_ITEMS:
        errors.add(
            "item_codes",
            _("At most %(n)d items; choose all items instead.") % {"n": MAX_AUTHORISED_ITEMS},
        )
    else:
        known = set(
            ServiceItem.objects.filter(version=version_current(), code__in=codes).values_list(
                "code", flat=True
            )
        )
        unknown = [code for code in codes if code not in known]
        if unknown:
            errors.add(
                "item_codes",
                _("No service item has these codes: %(codes)s.") % {"codes": ", ".join(unknown)},
            )
    return codes


def _authorisation_audit(
    actor: Any, action: str, authorisation: AgentAuthorisation, **changes: Any
) -> None:
    audit_record(
        actor=actor,
        action=action,
        target=authorisation,
        changes={
            "principal": authorisation.principal_id,
            "agent_person": authorisation.agent_person_id,
            "agent_staff": authorisation.agent_staff_id,
            **changes,
        },
    )
    log.info(action, authorisation_id=authorisation.pk)


def agent_authorisation_grant(
    *,
    actor: Any,
    agent_id_number: str,
    agent_name: str,
    all_items: bool = False,
    item_codes: Any = (),
    valid_from: dt.date | None = None,
    valid_until: dt.date | None = None,
) -> AgentAuthorisation:
    """The logged-in person authorises another registered person to apply for them, signing
    the power of attorney online (the record of this logged-in act is the signature). The agent
    is named by ID number and name; anything that does not match says only "no match"."""
    require_login(actor)
    principal = person_for_user(actor)
    if principal is None:
        raise Forbidden(_("Only a registered person can do this."))
    errors = FieldErrors()
    agent = person_matching(id_number=agent_id_number or "", name=agent_name or "")
    if agent is None:
        errors.add("agent_id_number", _("No registered person matches this ID number and name."))
    elif agent.pk == principal.pk:
        errors.add("agent_id_number", _("You cannot authorise yourself."))
    codes = _check_items(all_items, item_codes, errors)
    start, until = _check_period(valid_from, valid_until, errors)
    errors.raise_if_any()
    assert until is not None
    with transaction.atomic():
        authorisation = AgentAuthorisation.objects.create(
            principal=principal,
            agent_person=agent,
            all_items=all_items,
            item_codes=codes,
            valid_from=start,
            valid_until=until,
            power_of_attorney=PowerOfAttorney.SIGNED_ONLINE,
            created_by=actor,
        )
        _authorisation_audit(
            actor,
            CaseAuditEvent.AUTHORISATION_GRANTED,
            authorisation,
            items="all" if all_items else codes,
            valid=[start.isoformat(), until.isoformat()],
            signed="online",
        )
    return authorisation


def agent_authorisation_record(
    *,
    actor: Any,
    principal_id_number: str,
    principal_name: str,
    upload: Any,
    agent_id_number: str = "",
    agent_name: str = "",
    agent_employee_number: str = "",
    all_items: bool = False,
    item_codes: Any = (),
    valid_from: dt.date | None = None,
    valid_until: dt.date | None = None,
) -> AgentAuthorisation:
    """A window clerk records a paper power of attorney the principal signed, scanned in
    (PDF, JPEG, PNG or OFD). The agent is a registered person (ID number and name) or a staff
    helper (employee number)."""
    access.require_authorisation_desk(actor)
    errors = FieldErrors()
    principal = known_person(
        id_number=principal_id_number,
        name=principal_name,
        id_field="principal_id_number",
        name_field="principal_name",
        errors=errors,
    )
    agent_person = None
    agent_staff = None
    if agent_employee_number.strip():
        agent_staff = Staff.objects.filter(
            employee_number=agent_employee_number.strip(), active=True
        ).first()
        if agent_staff is None:
            errors.add("agent_employee_number", _("No active staff member has this number."))
    else:
        agent_person = known_person(
            id_number=agent_id_number,
            name=agent_name,
            id_field="agent_id_number",
            name_field="agent_name",
            errors=errors,
        )
        if agent_person is not None and principal is not None and agent_person.pk == principal.pk:
            errors.add("agent_id_number", _("The principal cannot be their own agent."))
    codes = _check_items(all_items, item_codes, errors)
    start, until = _check_period(valid_from, valid_until, errors)
    if upload is None:
        errors.add("file", _("Scan in the signed power of attorney."))
    errors.raise_if_any()
    assert principal is not None
    assert until is not None
    checked = read_upload(upload)
    with (
        stored_upload(checked, folder=f"authorisations/{principal.pk}") as (stored, result),
        transaction.atomic(),
    ):
        authorisation = AgentAuthorisation.objects.create(
            principal=principal,
            agent_person=agent_person,
            agent_staff=agent_staff,
            all_items=all_items,
            item_codes=codes,
            valid_from=start,
            valid_until=until,
            power_of_attorney=PowerOfAttorney.UPLOADED,
            **checked.stored_fields(stored, result),
            created_by=actor,
        )
        _authorisation_audit(
            actor,
            CaseAuditEvent.AUTHORISATION_RECORDED,
            authorisation,
            items="all" if all_items else codes,
            valid=[start.isoformat(), until.isoformat()],
            sha256=checked.sha256,
        )
    return authorisation


def agent_authorisation_revoke(
    *, actor: Any, authorisation_id: int, reason: str = ""
) -> AgentAuthorisation:
    """The principal revokes an authorisation (or a window clerk at their request, giving the
    reason). From the commit on, the agent can neither apply nor act on cases filed under it."""
    require_login(actor)
    person = person_for_user(actor)
    authorisation = AgentAuthorisation.objects.filter(pk=authorisation_id).first()
    is_principal = (
        authorisation is not None and person is not None and authorisation.principal_id == person.pk
    )
    if authorisation is None or not access.authorisation_visible(actor, authorisation):
        raise NotFound(_("No authorisation has this id."), code="authorisation_not_found")
    if not is_principal and access.staff_in(actor, access.AUTHORISATION_DESK) is None:
        raise Forbidden(
            _("Only the principal, or a window clerk at their request, revokes an authorisation.")
        )
    errors = FieldErrors()
    clean_reason = check_text(
        reason, field="reason", errors=errors, max_length=255, required=not is_principal
    )
    errors.raise_if_any()
    with transaction.atomic():
        locked = AgentAuthorisation.objects.select_for_update().get(pk=authorisation_id)
        if locked.state == AuthorisationState.REVOKED:
            return locked  # nothing changes: no write, no audit entry
        before = locked.state
        locked.state = AuthorisationState.REVOKED
        locked.revoked_at = timezone.now()
        locked.revoked_by = actor
        locked.revoke_reason = clean_reason
        locked.save(update_fields=["state", "revoked_at", "revoked_by", "revoke_reason"])
        _authorisation_audit(
            actor,
            CaseAuditEvent.AUTHORISATION_REVOKED,
            locked,
            state=[before, locked.state],
            reason=clean_reason,
        )
    return locked


def authorisations_expire(*, today: dt.date | None = None) -> int:
    """Mark as expired the active authorisations whose last day has passed (the periodic tick;
    checks read the dates anyway, so this only keeps lists and filters honest)."""
    today = today or timezone.localdate()
    expired = 0
    for authorisation in AgentAuthorisation.objects.filter(
        state=AuthorisationState.ACTIVE, valid_until__lt=today
    ).order_by("pk"):
        with transaction.atomic():
            changed = AgentAuthorisation.objects.filter(
                pk=authorisation.pk, state=AuthorisationState.ACTIVE
            ).update(state=AuthorisationState.EXPIRED)
            if changed:
                _authorisation_audit(
                    SYSTEM,
                    CaseAuditEvent.AUTHORISATION_EXPIRED,
                    authorisation,
                    state=[AuthorisationState.ACTIVE, AuthorisationState.EXPIRED],
                )
                expired += changed
    return expired
