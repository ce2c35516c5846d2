"""Who may see and who may do what: cases, their materials and parcels, agent authorisations
and appointments, in one place, so that every page, API operation, command and task asks the
same questions and gets the same answers.

The rules:

- **Applicants** see and act on their own cases: the person who applied, the current legal
  representative and authorised handlers of an applicant enterprise, and the agent of the
  authorisation a case was filed under (who keeps seeing it, and acts only while the
  authorisation is in force for the case's item).
- **Staff** see the cases of their department within their jurisdiction: the deciding
  department, and a department doing a leg of a joint case. Each workflow step names the roles
  and the side (window, deciding department, current leg) that take it.
- **Window clerks** also see the PROXY cases received within their jurisdiction, including the
  copies (mirrors) of cases another province decides; they add papers and post originals.
- **Supervisors** see every case touching their jurisdiction, whichever department, and act on
  none.
- **Platform admins** configure the node (catalogue, staff, windows and hours, exchange); they
  see no case content: no case, material, parcel, appointment or authorisation that is not their
  own. So does a break-glass superuser without a staff record.
- **The node itself** (SYSTEM: tasks, messages from other nodes) sees everything.

What an actor may not see does not exist for them: reading it and acting on it both answer 404,
exactly as an unknown number or id does, so that guessing tells nothing. 403 is for what they do
see but may not do (a supervisor's or a reviewer's attempt at an approver's step, an agent whose
authorisation was revoked).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tongban.accounts.models import MemberRole, Person, Staff, StaffRole
from tongban.accounts.permissions import staff_scope
from tongban.accounts.selectors import person_for_user, staff_for_user
from tongban.cases.models import AgentAuthorisation, AuthorisationState, Case, CaseMode
from tongban.core.audit import System
from tongban.core.errors import DomainError, Forbidden, NotFound
from tongban.core.logging import get_logger
from tongban.regions import codes

if TYPE_CHECKING:
    from tongban.cases.models import CaseLeg
    from tongban.cases.workflow import Action

log = get_logger(__name__)

# Roles that see cases as staff. Platform admins are not among them: configuration, not content.
CASE_STAFF = (
    StaffRole.WINDOW_CLERK,
    StaffRole.REVIEWER,
    StaffRole.APPROVER,
    StaffRole.DEPARTMENT_ADMIN,
    StaffRole.SUPERVISOR,
)
# Who may open the workbench at all: case staff, and platform admins for its non-case pages.
WORKBENCH = (*CASE_STAFF, StaffRole.PLATFORM_ADMIN)
# Who records, looks up and revokes agent authorisations for people at a window.
AUTHORISATION_DESK = (StaffRole.WINDOW_CLERK,)
# Who posts a case's parcels: the receiving window (originals), the deciding department (result).
POSTERS = (StaffRole.WINDOW_CLERK, StaffRole.REVIEWER, StaffRole.APPROVER)
# Appointments: who reads a hall's bookings, who works the desk, who sets hours and closures.
APPOINTMENT_READERS = (StaffRole.WINDOW_CLERK, StaffRole.DEPARTMENT_ADMIN)
APPOINTMENT_DESK = (StaffRole.WINDOW_CLERK,)
APPOINTMENT_MANAGERS = (StaffRole.DEPARTMENT_ADMIN, StaffRole.PLATFORM_ADMIN)

NO_CASE = _("No case has this number.")


def staff_in(actor: Any, roles: Iterable[str]) -> Staff | None:
    """The actor's staff record if they act in one of ``roles`` (with a confirmed second
    factor on the web); None for everyone else, including SYSTEM and a break-glass superuser."""
    try:
        return staff_scope(actor, roles).staff
    except DomainError:
        return None


def within(staff: Staff, division: str | None) -> bool:
    """Whether ``division`` lies in the staff member's jurisdiction."""
    return bool(division) and codes.contains(staff.jurisdiction_id, division or "")


def _prefix_q(field: str, staff: Staff) -> Q:
    return Q(**{f"{field}__code__startswith": codes.shared_prefix(staff.jurisdiction_id)})


def jurisdiction_q(field: str, staff: Staff) -> Q:
    """A filter on ``field`` (a division) for the staff member's jurisdiction: what
    ``within`` says of one division, for a query."""
    return _prefix_q(field, staff)


# Seeing cases -------------------------------------------------------------------------------


def applicant_q(actor: Any) -> Q:
    """The applicant's side: the applicant, the current members of the applicant enterprise
    (a removed handler sees nothing more), and the agent of a case's authorisation."""
    mine = Q(pk__in=[])
    person = person_for_user(actor)
    if person is not None:
        mine = (
            Q(applicant_person=person)
            | Q(applicant_enterprise__members__person=person)
            | Q(authorisation__agent_person=person)
        )
    staff = staff_for_user(actor)
    if staff is not None:
        mine |= Q(authorisation__agent_staff=staff)
    return mine


def cases_q(actor: Any) -> Q | None:
    """The cases ``actor`` may see, as a filter on Case (it may need ``distinct()``); None for
    the node itself, which sees them all."""
    if isinstance(actor, System):
        return None
    mine = applicant_q(actor)
    staff = staff_in(actor, CASE_STAFF)
    if staff is None:
        return mine
    if staff.has_role(StaffRole.SUPERVISOR):
        return (
            mine
            | _prefix_q("receiving_division", staff)
            | _prefix_q("authority_division", staff)
            | _prefix_q("legs__division", staff)
        )
    # A department sees what it decides or has a leg of; other staff of the receiving province
    # do not see a case just because it was received there.
    area = decided_here_q(staff) | leg_here_q(staff)
    if staff.has_role(StaffRole.WINDOW_CLERK):
        area |= received_here_q(staff)
    return mine | area


# Where a staff member works, as filters on Case (the queue's "waiting for me" adds states).


def received_here_q(staff: Staff) -> Q:
    """PROXY cases received within their jurisdiction (only PROXY cases are received at a
    window: an ONLINE case's receiving division is the node's own, no window's business)."""
    return Q(mode=CaseMode.PROXY) & _prefix_q("receiving_division", staff)


def decided_here_q(staff: Staff) -> Q:
    """Cases their department decides within their jurisdiction."""
    return Q(authority_department_id=staff.department_id) & _prefix_q("authority_division", staff)


def leg_here_q(staff: Staff, *, active: bool = False) -> Q:
    """JOINT cases with a leg (with ``active``: the current leg) of their department within
    their jurisdiction. Used inside one ``filter()``, the conditions meet on the same leg."""
    here = Q(legs__department_id=staff.department_id) & _prefix_q("legs__division", staff)
    return here & Q(legs__state="active") if active else here


def case_visible(actor: Any, case: Case) -> bool:
    query = cases_q(actor)
    return (
        query is None
        or Case.objects.filter(query, pk=case.pk).values_list("pk", flat=True).first() is not None
    )


def require_case_visible(actor: Any, case: Case | None) -> Case:
    """``case`` if the actor may see it; 404 (as for an unknown number) otherwise."""
    if case is None or not case_visible(actor, case):
        raise NotFound(NO_CASE)
    return case


# Acting on cases ----------------------------------------------------------------------------


def step_actor(actor: Any, case: Case, step: Action, leg: CaseLeg | None = None) -> Staff | str:
    """Who takes a workflow step: the acting staff member, "applicant", or "system" for the
    node itself; Forbidden if this actor may not take it. The caller has checked that the actor
    sees the case."""
    if step.side == "applicant":
        if not acts_for_applicant(actor, case):
            raise Forbidden(_("Only the applicant or their agent can do this."))
        return "applicant"
    if isinstance(actor, System):
        return "system"
    roles = step.roles
    if step.side == "leg" and leg is not None and step.legs is not None:
        roles = step.roles & frozenset(leg.roles)
    staff = staff_scope(actor, roles).staff  # Forbidden: not in one of the step's roles
    if staff is None:
        raise Forbidden(_("Platform administrators configure the node; they do not act on cases."))
    if step.side == "receiving":
        if not within(staff, case.receiving_division_id):
            raise Forbidden(_("This case was received outside your jurisdiction."))
    elif step.side == "leg":
        if leg is None or not _department_within(staff, leg.division_id, leg.department_id):
            raise Forbidden(_("Only the department doing the current step can do this."))
    elif not _department_within(staff, case.authority_division_id, case.authority_department_id):
        raise Forbidden(_("Only the deciding department can do this."))
    return staff


def _department_within(staff: Staff, division: str, department: int | None) -> bool:
    return within(staff, division) and staff.department_id == department


def acts_for_applicant(actor: Any, case: Case) -> bool:
    """Whether the actor may act on the applicant's side of the case now: the applicant, a
    current legal representative or authorised handler of the applicant enterprise, or the agent
    of the case's authorisation while it is in force for the case's item. An agent whose
    authorisation no longer allows it is refused with the reason (Forbidden
    ``authorisation_revoked`` / ``authorisation_expired`` / ``authorisation_not_for_item``)."""
    person = person_for_user(actor)
    if person is not None:
        if case.applicant_person_id == person.pk:
            return True
        if (
            case.applicant_enterprise_id is not None
            and person.memberships.filter(
                enterprise_id=case.applicant_enterprise_id,
                role__in=[MemberRole.LEGAL_REPRESENTATIVE, MemberRole.AUTHORISED_HANDLER],
            ).exists()
        ):
            return True
    if case.authorisation_id is None:
        return False
    # Read afresh, never from a copy cached with the case: a revocation counts at once.
    authorisation = AgentAuthorisation.objects.get(pk=case.authorisation_id)
    if not is_agent_of(actor, person, authorisation):
        return False
    authorisation_check(authorisation, item_code=case.item.code, case=case)
    return True


def is_agent_of(actor: Any, person: Person | None, authorisation: AgentAuthorisation) -> bool:
    if authorisation.agent_person_id is not None:
        return person is not None and authorisation.agent_person_id == person.pk
    staff = staff_for_user(actor)
    return staff is not None and authorisation.agent_staff_id == staff.pk


def authorisation_check(
    authorisation: AgentAuthorisation,
    *,
    item_code: str,
    case: Case | None = None,
    today: dt.date | None = None,
) -> None:
    """Forbidden, with the reason as its code, unless the authorisation is in force today and
    covers the item; each refusal is logged."""
    today = today or timezone.localdate()
    problem: tuple[str, Any] | None = None
    if authorisation.state == AuthorisationState.REVOKED:
        problem = (
            "authorisation_revoked",
            _("The authorisation was revoked on %(day)s; the agent can no longer act.")
            % {
                "day": timezone.localdate(authorisation.revoked_at).isoformat()
                if authorisation.revoked_at
                else ""
            },
        )
    elif authorisation.state_on(today) == AuthorisationState.EXPIRED:
        problem = (
            "authorisation_expired",
            _("The authorisation expired after %(day)s; the principal can grant a new one.")
            % {"day": authorisation.valid_until.isoformat()},
        )
    elif today < authorisation.valid_from:
        problem = (
            "authorisation_not_yet_valid",
            _("The authorisation is valid from %(day)s.")
            % {"day": authorisation.valid_from.isoformat()},
        )
    elif not authorisation.covers(item_code):
        problem = (
            "authorisation_not_for_item",
            _("The authorisation does not cover this item."),
        )
    if problem is None:
        return
    log.warning(
        "case.authorisation_refused",
        code=problem[0],
        authorisation_id=authorisation.pk,
        case_id=case.pk if case is not None else None,
        item=item_code,
    )
    raise Forbidden(problem[1], code=problem[0])


# Materials and parcels ----------------------------------------------------------------------


def uploader_role(actor: Any, case: Case) -> str | None:
    """ "applicant" or "window_clerk" if this actor may add materials to the case (the state
    aside); None otherwise. An agent whose authorisation ended is refused with the reason."""
    if acts_for_applicant(actor, case):
        return "applicant"
    staff = staff_in(actor, (StaffRole.WINDOW_CLERK,))
    if (
        staff is not None
        and case.mode == CaseMode.PROXY
        and within(staff, case.receiving_division_id)
    ):
        return "window_clerk"
    return None


def post_side(actor: Any, case: Case) -> str:
    """Which side of a case's post the actor handles: "receiving" (a clerk where a PROXY case
    was received: originals) or "authority" (staff of the deciding department: the result);
    "system" for the node itself (a carrier adapter reporting steps); Forbidden for anyone else
    who sees the case."""
    if isinstance(actor, System):
        return "system"
    staff = staff_in(actor, POSTERS)
    if staff is not None:
        if (
            case.mode == CaseMode.PROXY
            and staff.has_role(StaffRole.WINDOW_CLERK)
            and within(staff, case.receiving_division_id)
        ):
            return "receiving"
        if _department_within(staff, case.authority_division_id, case.authority_department_id):
            return "authority"
    raise Forbidden(_("Only the receiving window or the deciding department handles its post."))


# Agent authorisations -----------------------------------------------------------------------


def authorisation_visible(actor: Any, authorisation: AgentAuthorisation) -> bool:
    """Its principal, its agent, and window clerks (who record and revoke authorisations for
    the people in front of them) see an authorisation."""
    person = person_for_user(actor)
    if person is not None and person.pk in (
        authorisation.principal_id,
        authorisation.agent_person_id,
    ):
        return True
    staff = staff_for_user(actor)
    if staff is not None and staff.pk == authorisation.agent_staff_id:
        return True
    return staff_in(actor, AUTHORISATION_DESK) is not None


def require_authorisation_desk(actor: Any) -> Staff:
    """The window clerk recording or looking up authorisations for a person; Forbidden for
    anyone else (platform admins included: a power of attorney is case content)."""
    staff = staff_scope(actor, AUTHORISATION_DESK).staff
    if staff is None:
        raise Forbidden(_("Only window clerks do this."))
    return staff


# Appointments -------------------------------------------------------------------------------


def hall_staff(actor: Any, hall_division: str, roles: Iterable[str]) -> Staff:
    """Staff in one of ``roles`` whose jurisdiction covers a service hall (a hall's bookings,
    its desk); Forbidden otherwise: the halls are public, so refusing tells nothing."""
    staff = staff_scope(actor, roles).staff
    if staff is None:
        raise Forbidden(_("Platform administrators do not see the people who booked."))
    if not within(staff, hall_division):
        raise Forbidden(
            _("This service hall is outside your jurisdiction."), code="outside_jurisdiction"
        )
    return staff


def hall_manager(actor: Any, hall_division: str, window_departments: Iterable[int]) -> None:
    """A platform admin, or a department admin of a department the window serves within their
    jurisdiction, sets a window's hours and closures; Forbidden otherwise."""
    scope = staff_scope(actor, APPOINTMENT_MANAGERS)
    if scope.is_platform_admin:
        return
    staff = scope.staff
    assert staff is not None  # a department admin acts through their staff record
    if not within(staff, hall_division):
        raise Forbidden(
            _("This service hall is outside your jurisdiction."), code="outside_jurisdiction"
        )
    if staff.department_id not in set(window_departments):
        raise Forbidden(
            _("This window does not serve your department."), code="outside_jurisdiction"
        )


def appointment_visible(actor: Any, *, person_id: int, hall_division: str) -> bool:
    """A booking is seen by its person and by the clerks and department admins whose
    jurisdiction covers its hall."""
    person = person_for_user(actor)
    if person is not None and person.pk == person_id:
        return True
    staff = staff_in(actor, APPOINTMENT_READERS)
    return staff is not None and within(staff, hall_division)
