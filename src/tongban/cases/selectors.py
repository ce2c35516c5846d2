"""Reads for cases."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tongban.accounts.models import Staff
from tongban.accounts.permissions import staff_scope
from tongban.accounts.selectors import person_for_user, person_matching, staff_for_user
from tongban.cases import access, workflow
from tongban.cases.models import (
    AgentAuthorisation,
    AuthorisationState,
    CalendarEntry,
    Case,
    CaseEvent,
)
from tongban.cases.personal import reveal
from tongban.cases.workdays import CalendarGap, Pause, WorkCalendar
from tongban.core import chain
from tongban.core.errors import NotFound


def work_calendar() -> WorkCalendar:
    """The working-day calendar: chinese-calendar plus the administrators' table."""
    return WorkCalendar(dict(CalendarEntry.objects.values_list("date", "is_workday")))


# Cases --------------------------------------------------------------------------------------


# Who may open the workbench (platform admins for its pages without case content).
STAFF_ROLES = access.WORKBENCH


# What case_agent_label reads, fetched with the case.
_AGENT_RELATED = ("agent", "authorisation__agent_person", "authorisation__agent_staff__department")


def case_applicant_label(case: Case) -> str:
    """The applicant as pages and the API name it: the enterprise, or the person masked."""
    if case.applicant_enterprise_id and case.applicant_enterprise:
        return case.applicant_enterprise.name
    return case.applicant_person.name_masked if case.applicant_person else ""


def case_agent_label(case: Case) -> str:
    """Who acted for the applicant, masked: the agent of an authorisation (a person, or a staff
    helper named with their department), else an enterprise's handler; "" when none."""
    if case.authorisation_id is not None and case.authorisation is not None:
        return case.authorisation.agent_label
    return case.agent.name_masked if case.agent_id and case.agent else ""


def cases_of_applicant(*, actor: Any) -> QuerySet[Case]:
    """The cases a person filed, has filed for them, or acts in for an enterprise."""
    return (
        Case.objects.select_related(
            "item", "authority_department", "applicant_enterprise", *_AGENT_RELATED
        )
        .prefetch_related("pauses")
        .filter(access.applicant_q(actor))
        .distinct()
        .order_by("-submitted_at", "-id")
    )


def visible_cases(*, actor: Any) -> QuerySet[Case]:
    """The cases an actor may see (the rules: access.py)."""
    queryset = Case.objects.select_related(
        "item", "authority_department", "applicant_enterprise", *_AGENT_RELATED
    )
    query = access.cases_q(actor)
    return queryset if query is None else queryset.filter(query).distinct()


QUEUE_VIEWS = ("todo", "open", "closed")
_WORKFLOWS = ("online", "proxy", "joint")


def staff_queue(
    *,
    actor: Any,
    view: str = "todo",
    state: str | None = None,
    mode: str | None = None,
    flag: str | None = None,
) -> QuerySet[Case]:
    """A staff member's queue. ``todo``: cases in a state where one of their roles has an
    action on their side (window, deciding department, or the current leg of a JOINT case);
    ``open`` / ``closed``: everything they can see. Oldest first, so the queue is worked in
    order; ``flag`` keeps the cases with a red or yellow deadline alert."""
    staff_scope(actor, STAFF_ROLES)  # Forbidden for anyone who may not open the workbench
    queryset = (
        visible_cases(actor=actor).select_related("applicant_person").prefetch_related("pauses")
    )
    if view == "closed":
        queryset = queryset.filter(closed_at__isnull=False).order_by("-closed_at", "-id")
    else:
        queryset = queryset.filter(closed_at__isnull=True).order_by("submitted_at", "id")
    if view == "todo":
        queryset = queryset.filter(_todo_q(access.staff_in(actor, access.CASE_STAFF)))
    if state:
        queryset = queryset.filter(state=state)
    if mode:
        queryset = queryset.filter(mode=mode)
    if flag:
        queryset = queryset.filter(alerts__level=flag, decided_at__isnull=True)
    return queryset.distinct()


def _todo_q(staff: Staff | None) -> Q:
    """Cases in a state where one of the staff member's roles has a step on their side."""
    todo = Q(pk__in=[])
    if staff is None:
        return todo
    sides = {
        "receiving": access.received_here_q(staff),
        "authority": access.decided_here_q(staff),
        "leg": access.leg_here_q(staff, active=True),
    }
    roles = staff.roles
    for name in _WORKFLOWS:
        for action in workflow.load(name).actions.values():
            if action.side in sides and action.roles & roles:
                todo |= Q(workflow=name, state__in=action.sources) & sides[action.side]
    return todo


def all_state_labels() -> list[tuple[str, str]]:
    """Every state of the shipped workflows, for filters."""
    labels: dict[str, str] = {}
    for name in _WORKFLOWS:
        for key, label in workflow.load(name).states.items():
            labels.setdefault(key, label)
    return list(labels.items())


def case_get(*, actor: Any, number: str) -> Case:
    """A case this actor may see, by its number here or, for a case shared with another
    node, by its number there."""
    visible = visible_cases(actor=actor)
    case = visible.filter(number=number).first() or (
        visible.filter(remote_number=number).order_by("-created_at").first() if number else None
    )
    if case is None:
        raise NotFound(_("No case has this number."))
    return case


@dataclass(frozen=True)
class Clock:
    started_on: dt.date | None
    promised_due: dt.date | None
    legal_due: dt.date | None
    used: int | None
    left: int | None
    paused: bool
    flag: str  # "", "yellow", "red"
    problem: str = ""  # e.g. the calendar lacks a year


def case_clock(
    case: Case, *, today: dt.date | None = None, calendar: WorkCalendar | None = None
) -> Clock:
    """Promised and legal due dates, working days used and left, and the warning flag. Lists
    pass one ``calendar`` for all their rows."""
    pauses = [Pause(p.started_on, p.ended_on) for p in case.pauses.all()]
    paused = any(p.end is None for p in pauses)
    if case.accepted_on is None or case.legal_days is None:
        return Clock(None, None, None, None, None, paused, "")
    calendar = calendar or work_calendar()
    today = today or timezone.localdate()
    end = (
        case.decided_at.astimezone(timezone.get_current_timezone()).date()
        if case.decided_at
        else today
    )
    legal = case.legal_days + case.extension_days
    promised = (case.promised_days or case.legal_days) + case.extension_days
    try:
        used = calendar.working_days_between(case.accepted_on, end, pauses)
    except CalendarGap as gap:
        return Clock(case.accepted_on, None, None, None, None, paused, "", _gap(gap))
    try:
        promised_due = calendar.due_date(case.accepted_on, promised, pauses)
        legal_due = calendar.due_date(case.accepted_on, legal, pauses)
    except CalendarGap as gap:
        # Days used and left are still known; only the dates wait for next year's calendar.
        left = promised - used
        return Clock(case.accepted_on, None, None, used, left, paused, _flag(case, left), _gap(gap))
    left = promised - used
    return Clock(case.accepted_on, promised_due, legal_due, used, left, paused, _flag(case, left))


def _flag(case: Case, left: int) -> str:
    warn = getattr(settings, "TONGBAN_CASE_WARN_DAYS", 3)
    return "" if case.decided_at else ("red" if left < 0 else "yellow" if left <= warn else "")


# Events that are not workflow actions.
_EVENT_LABELS = {
    "submit": "提交申请",
    "attach": "提交材料",
    "originals_received": "原件已送达",
    # Across provinces (federation.py).
    "handover_received": "办理地已接收",
    "request_refused": "办理地未执行请求",
}


def _gap(gap: CalendarGap) -> str:
    return str(
        _(
            "The holidays of %(year)s are not in the working-day calendar yet, so the due "
            "date cannot be computed; an administrator must enter them (工作日历)."
        )
        % {"year": gap.year}
    )


def public_view(*, number: str, code: str) -> dict[str, Any]:
    """办件查询 without login: state and timeline, no personal data. A wrong code is a 404,
    exactly like an unknown number."""
    # Either number: a copy kept at the receiving node answers for the deciding node's
    # number too, and the deciding node for the receiving node's receipt number.
    # (Two cases may carry one number, one as its own and one as the other node's: the
    # query code tells them apart.)
    number = (number or "").strip()
    given = (code or "").strip().upper()
    case = None
    if number and given:
        candidates = Case.objects.select_related("item").filter(
            Q(number=number) | Q(remote_number=number), query_code=given
        )
        # Compared once more in constant time (the database compares as it likes).
        case = next((c for c in candidates[:5] if secrets_equal(c.query_code, given)), None)
    if case is None:
        raise NotFound(_("No case matches this number and query code."))
    flow = workflow.load(case.workflow)
    timeline = [
        {
            "at": event.at,
            "action": event.action,
            "label": event_label(flow, event, leg_labels),
            "state": event.to_state,
            "state_label": flow.states.get(event.to_state, event.to_state),
        }
        for leg_labels in [dict(case.legs.values_list("key", "label"))]
        for event in case.events.order_by("seq")
    ]
    return {
        "number": number,
        "item": case.item.name,
        "state": case.state,
        "state_label": flow.states.get(case.state, case.state),
        "timeline": timeline,
    }


def event_label(flow: workflow.Workflow, event: CaseEvent, leg_labels: dict[str, str]) -> str:
    """What an event is called on timelines: the action's label, with the leg it concerns."""
    label = _EVENT_LABELS.get(event.action) or (
        flow.actions[event.action].label if event.action in flow.actions else event.action
    )
    leg = event.payload.get("leg") if isinstance(event.payload, dict) else None
    if leg in leg_labels:
        label = f"{label}：{leg_labels[leg]}"
    return label


@dataclass(frozen=True)
class LegView:
    seq: int
    key: str
    label: str
    place: str
    place_label: str
    division: str
    division_name: str
    department: str
    node: str
    state: str
    state_label: str
    input: dict[str, Any]
    output: dict[str, Any]
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    input_rows: list[tuple[str, Any]]
    output_rows: list[tuple[str, Any]]


def case_legs(case: Case) -> list[LegView]:
    """The legs of a JOINT case in order (empty for other modes)."""
    from tongban.cases.legs import plan_for_item

    plan = plan_for_item(case.item.name) if case.mode == "JOINT" else None
    titles = plan.titles() if plan else {}
    record: dict[str, Any] = plan.record_schema() if plan else {}
    return [
        LegView(
            seq=leg.seq,
            key=leg.key,
            label=leg.label,
            place=leg.place,
            place_label=plan.place_label(leg.place) if plan else leg.place,
            division=leg.division_id,
            division_name=leg.division.name,
            department=leg.department.name,
            node=leg.node,
            state=leg.state,
            state_label=str(leg.get_state_display()),
            input=reveal(record, leg.input, masked=False),
            output=reveal(record, leg.output, masked=False),
            started_at=leg.started_at,
            finished_at=leg.finished_at,
            input_rows=_rows(titles, reveal(record, leg.input, masked=False)),
            output_rows=_rows(titles, reveal(record, leg.output, masked=False)),
        )
        for leg in case.legs.select_related("division", "department").order_by("seq")
    ]


def _rows(titles: dict[str, str], data: dict[str, Any]) -> list[tuple[str, Any]]:
    return [(titles.get(key, key), value) for key, value in data.items()]


def secrets_equal(a: str, b: str) -> bool:
    import hmac

    return hmac.compare_digest(a.encode(), b.encode())


def chain_break(case: Case) -> chain.Break | None:
    """The first broken link of a case's event chain, or None."""
    from tongban.cases.services import event_body

    events = CaseEvent.objects.filter(case=case).select_related("case").order_by("seq")
    return chain.verify(
        chain.Link(seq=e.seq, prev_hash=e.prev_hash, hash=e.hash, body=event_body(e))
        for e in events
    )


def _notice_event(case: Case, flow: workflow.Workflow, kind: str) -> CaseEvent | None:
    """The event of the action that produced the notice, and only when the action took effect
    (a leg handing over to the next leg is not yet the decision)."""
    for candidate in case.events.filter(
        action__in=[name for name, action in flow.actions.items() if action.notice == kind]
    ).order_by("-seq"):
        if candidate.to_state == flow.actions[candidate.action].target:
            return candidate
    return None


def case_notices_available(case: Case) -> list[tuple[str, str]]:
    """(kind, title) of the notices the case has so far, in the order they were issued."""
    flow = workflow.load(case.workflow)
    found = []
    for kind, default in NOTICE_TITLES.items():
        title = (flow.notices or {}).get(kind, default)
        event = _notice_event(case, flow, kind)
        if event is not None:
            found.append((event.seq, kind, title))
    return [(kind, title) for _seq, kind, title in sorted(found)]


NOTICE_TITLES = {
    "acceptance": "受理通知书",
    "rejection": "不予受理通知书",
    "supplement": "补正材料通知书",
    "approval": "准予行政许可决定书",
    "denial": "不予行政许可决定书",
}


def case_notice(*, case: Case, kind: str) -> dict[str, Any]:
    """What a printable notice says: taken from the event of the action that produces it (the
    workflow data names it); NotFound until that action has happened."""
    flow = workflow.load(case.workflow)
    event = _notice_event(case, flow, kind)
    if kind not in NOTICE_TITLES or event is None:
        raise NotFound(_("This case has no such notice yet."))
    applicant = (
        case.applicant_enterprise.name
        if case.applicant_enterprise is not None
        else case.applicant_person.name
        if case.applicant_person is not None
        else ""
    )
    return {
        "title": (flow.notices or {}).get(kind, NOTICE_TITLES[kind]),
        "kind": kind,
        "case": case,
        "applicant": applicant,
        "item": case.item.name,
        "department": case.authority_department.name,
        "date": timezone.localtime(event.at).date(),
        "payload": event.payload,
        "clock": case_clock(case),
        "seq": event.seq,
        "hash": event.hash,
    }


@dataclass(frozen=True)
class Sharing:
    """How a case is shared with another province's node, for the case pages."""

    mirror: bool  # this node keeps a copy; the other node decides
    node: str
    node_name: str
    other_number: str
    # Files handed in at the other node not fetched yet, and those that failed the check.
    pending_files: int
    failed_files: int


def case_sharing(case: Case) -> Sharing | None:
    """None for a case that lives on this node alone."""
    node = case.authority_node or case.receiving_node
    if not node:
        return None
    from tongban.regions.models import Division

    name = Division.objects.filter(code=node).values_list("name", flat=True).first() or node
    transfers = list(case.materials.exclude(transfer="").values_list("transfer", flat=True))
    return Sharing(
        mirror=bool(case.authority_node),
        node=node,
        node_name=name,
        other_number=case.remote_number,
        pending_files=transfers.count("pending"),
        failed_files=transfers.count("failed"),
    )


# Agent authorisations -----------------------------------------------------------------------


def _authorisations() -> QuerySet[AgentAuthorisation]:
    return AgentAuthorisation.objects.select_related(
        "principal", "agent_person", "agent_staff__department"
    ).order_by("-created_at", "-id")


def authorisations_given(*, actor: Any) -> QuerySet[AgentAuthorisation]:
    """The authorisations the logged-in person gave (newest first)."""
    person = person_for_user(actor)
    if person is None:
        return AgentAuthorisation.objects.none()
    return _authorisations().filter(principal=person)


def authorisations_received(*, actor: Any) -> QuerySet[AgentAuthorisation]:
    """The authorisations the actor holds as agent: as a person, or as a staff helper."""
    person = person_for_user(actor)
    staff = staff_for_user(actor)
    query = Q(pk__in=[])
    if person is not None:
        query |= Q(agent_person=person)
    if staff is not None:
        query |= Q(agent_staff=staff)
    return _authorisations().filter(query)


def authorisations_usable(*, actor: Any, item_code: str) -> list[AgentAuthorisation]:
    """The actor's authorisations in force today that cover the item (the apply page's
    "on behalf of" choices)."""
    today = timezone.localdate()
    return [
        authorisation
        for authorisation in authorisations_received(actor=actor).filter(
            state=AuthorisationState.ACTIVE, valid_from__lte=today, valid_until__gte=today
        )
        if authorisation.covers(item_code)
    ]


def authorisations_of_person(
    *, actor: Any, id_number: str, name: str
) -> QuerySet[AgentAuthorisation]:
    """For a window clerk: the authorisations the person with this ID number and name gave or
    holds (to revoke one at their request). Window clerks only, checked before any look-up."""
    access.require_authorisation_desk(actor)
    person = person_matching(id_number=id_number, name=name)
    if person is None:
        raise NotFound(
            _("No registered person matches this ID number and name."), code="person_not_found"
        )
    return _authorisations().filter(Q(principal=person) | Q(agent_person=person))


def authorisation_get(*, actor: Any, authorisation_id: int) -> AgentAuthorisation:
    """One authorisation, for its principal, its agent or a window clerk; 404 for anyone else."""
    authorisation = _authorisations().filter(pk=authorisation_id).first()
    if authorisation is not None and access.authorisation_visible(actor, authorisation):
        return authorisation
    raise NotFound(_("No authorisation has this id."), code="authorisation_not_found")


def authorisation_view(authorisation: AgentAuthorisation, *, today: dt.date | None = None) -> str:
    """The state as it reads today: active, revoked or expired."""
    return authorisation.state_on(today or timezone.localdate())
