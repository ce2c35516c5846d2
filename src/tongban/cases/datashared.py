"""Data-sharing checks as case materials (免提交: verified at the source instead of handed in).

A material spec that names a check (``MaterialSpec.datashare_check``: ``<resource key>.<question
key>``, e.g. ``household.identity_match``) may be satisfied by asking that question of the
department that holds the data (datashare/) about the case's applicant, instead of a paper:

- the resource: an active one with that key which asks about the applicant's kind of subject
  (a person by ID number, an enterprise by USCC) and answers the question; the one served by the
  node of the applicant's province first, then this node's, then any other;
- the parameters: from the case's applicant only (a person's ID number and name, an enterprise's
  USCC and name), never typed in; a question that needs anything else (a period, say) cannot be
  asked for a case and the paper is handed in instead;
- who asks: the deciding department on the node that decides the case; on a case another node
  decides (a mirror, or a window's PROXY case not yet forwarded there), the department of the
  staff member at the window. The applicant cannot ask there: no department of this node
  stands behind the call;
- the purpose: the one stated in the grant in force for that department and resource (the
  provider checks the call against it), so without a grant nothing is asked.

A yes is recorded as a material: the call's id, the question, who answered and when; no original
is asked for it. A no is refused (the paper is needed), and every call, answered or refused, stays
in the evidence log (datashare/services.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tongban.accounts.models import StaffRole
from tongban.cases import access, federation
from tongban.cases.models import Case, Material
from tongban.catalog.models import MaterialSpec
from tongban.core.errors import Conflict, ValidationFailed
from tongban.datashare import selectors as datashare
from tongban.datashare.models import Grant, Resource, SubjectKind
from tongban.datashare.services import own_node
from tongban.regions.models import Department

# Deciding staff who may ask the source for a material, besides those who hand materials in.
DECIDERS = (StaffRole.REVIEWER, StaffRole.APPROVER)


@dataclass(frozen=True)
class Check:
    """One data-sharing check to make for a material of a case."""

    resource: Resource
    question: dict[str, Any]
    params: dict[str, str]
    department: Department
    purpose: str

    @property
    def question_name(self) -> str:
        return str(self.question.get("name") or self.question.get("key", ""))


def check_of(spec: MaterialSpec) -> tuple[str, str] | None:
    """The (resource key, question key) a spec names, or None when it takes paper only."""
    resource, dot, question = (spec.datashare_check or "").strip().rpartition(".")
    if not dot or not resource or not question:
        return None
    return resource, question


def applicant_subject(case: Case) -> tuple[str, dict[str, str]]:
    """The applicant as data sharing knows subjects: its kind and what can be asked about it."""
    if case.applicant_enterprise_id is not None:
        enterprise = case.applicant_enterprise
        assert enterprise is not None
        return SubjectKind.ENTERPRISE, {"uscc": enterprise.uscc, "name": enterprise.name}
    person = case.applicant_person
    assert person is not None  # a case has an applicant (a check constraint says so)
    return SubjectKind.PERSON, {"id_number": person.id_number, "name": person.name}


def province_node(subject_kind: str, params: dict[str, str]) -> str:
    """The node of the applicant's province: from the ID number's first two digits, or a
    USCC's third and fourth (the registering authority's division)."""
    if subject_kind == SubjectKind.ENTERPRISE:
        return f"{params.get('uscc', '')[2:4]}0000"
    return f"{params.get('id_number', '')[:2]}0000"


def _answerable(
    case: Case, spec: MaterialSpec
) -> list[tuple[Resource, dict[str, Any], dict[str, str]]]:
    """The resources that answer the spec's check about the case's applicant, best first (the
    applicant's province, this node, the others), each with the question and its parameters;
    ValidationFailed ``datashare_not_checkable`` when none can."""
    named = check_of(spec)
    if named is None:
        raise ValidationFailed(
            code="datashare_not_accepted",
            fields={
                "spec_key": _("This material cannot be verified by data sharing; upload the paper.")
            },
        )
    key, question_key = named
    subject_kind, known = applicant_subject(case)
    province = province_node(subject_kind, known)
    found: list[tuple[int, Resource, dict[str, Any]]] = []
    for resource in Resource.objects.filter(key=key, active=True, subject_kind=subject_kind):
        question = resource.question(question_key)
        if question is None or not set(question.get("params", [])) <= set(known):
            continue
        rank = 0 if resource.node == province else 1 if resource.node == own_node() else 2
        found.append((rank, resource, question))
    if not found:
        raise ValidationFailed(
            code="datashare_not_checkable",
            fields={
                "spec_key": _(
                    "No data source known here can verify this material for this applicant; "
                    "upload the paper."
                )
            },
        )
    found.sort(key=lambda row: (row[0], row[1].node))
    return [
        (resource, question, {name: known[name] for name in question.get("params", [])})
        for _rank, resource, question in found
    ]


def decided_here(case: Case) -> bool:
    """Whether this node decides the case: not a mirror, nor a window's PROXY case still to be
    forwarded to a department of another province."""
    return not federation.is_mirror(case) and (
        federation.node_of(case.authority_division_id) == federation.own_node()
    )


def consumer_department(actor: Any, case: Case) -> Department:
    """Who asks the source for this case: the deciding department where the case is decided
    here; otherwise (a mirror, or a PROXY case for another province not yet forwarded) the
    department of the staff member acting at the window."""
    if decided_here(case):
        return case.authority_department
    staff = access.staff_in(actor, (StaffRole.WINDOW_CLERK,))
    if staff is None:
        raise ValidationFailed(
            _(
                "This case is decided at another node; ask the window that received it to verify "
                "this material by data sharing, or upload the paper."
            ),
            code="datashare_not_here",
        )
    return staff.department


def grant_for(department: Department, resource: Resource, question: str, item: str) -> Grant:
    """The department's grant in force for the resource, the one covering the question and the
    case's item first; Conflict ``no_grant`` when there is none."""
    grants = datashare.grants_in_force(department_key=department.key, resource=resource)
    if not grants:
        raise Conflict(
            _(
                "%(department)s holds no data-sharing grant in force for %(resource)s; "
                "upload the paper, or ask the department's administrator to request access."
            )
            % {"department": department.name, "resource": resource.name},
            code="no_grant",
        )
    return min(
        grants,
        key=lambda g: (question not in g.questions, bool(g.items) and item not in g.items, g.pk),
    )


def check_for(*, actor: Any, case: Case, spec: MaterialSpec) -> Check:
    """Everything needed to ask the source about the spec for this case, checked: a 4xx saying
    why not otherwise (nothing has been asked yet)."""
    department = consumer_department(actor, case)
    candidates = _answerable(case, spec)
    # The best source the department holds a grant for: a province's bureau it has no grant
    # with is passed over for one it has (the first one's refusal says what is missing).
    granted = [
        candidate
        for candidate in candidates
        if datashare.grants_in_force(department_key=department.key, resource=candidate[0])
    ]
    resource, question, params = (granted or candidates)[0]
    grant = grant_for(department, resource, str(question.get("key")), case.item.code)
    return Check(
        resource=resource,
        question=question,
        params=params,
        department=department,
        purpose=grant.purpose,
    )


def may_verify(actor: Any, case: Case) -> str | None:
    """The role in which ``actor`` may verify a material of the case by data sharing (the
    state aside): whoever may hand materials in, and the deciding department's reviewers and
    approvers where the case is decided here; None otherwise."""
    role = access.uploader_role(actor, case)
    if role is not None:
        return role
    if not decided_here(case):
        return None
    staff = access.staff_in(actor, DECIDERS)
    if (
        staff is not None
        and staff.department_id == case.authority_department_id
        and access.within(staff, case.authority_division_id)
    ):
        chosen = StaffRole.REVIEWER if staff.has_role(StaffRole.REVIEWER) else StaffRole.APPROVER
        return str(chosen.value)
    return None


def checkable_specs(case: Case) -> set[str]:
    """The keys of the case's materials that name a data-sharing check (for the page)."""
    return {
        spec.key
        for spec in case.scenario.materials.exclude(datashare_check="")
        if check_of(spec) is not None
    }


def checklist_text(material: Material) -> str:
    """How the checklist shows a material a data-sharing check stands for."""
    verified = timezone.localtime(material.verified_at) if material.verified_at else None
    return str(
        _("Verified by data sharing: %(question)s (%(provider)s, node %(node)s, %(time)s)")
        % {
            "question": material.check_question or "—",
            "provider": material.check_provider or "—",
            "node": material.check_node or "—",
            "time": verified.strftime("%Y-%m-%d %H:%M") if verified else "—",
        }
    )
