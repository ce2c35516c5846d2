from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from ninja import File, Form, Router, Schema
from ninja.files import UploadedFile
from ninja.responses import Status
from ninja.security import django_auth

from tongban.api.common import check_paging, json_body
from tongban.cases import selectors, services, workflow
from tongban.cases.models import Case, CaseEvent, Material
from tongban.cases.personal import reveal
from tongban.core.errors import ValidationFailed

router = Router(tags=["cases"])
public_router = Router(tags=["public"])


class CaseIn(Schema):
    item_code: str
    scenario_key: str
    authority_division: str
    form_data: dict[str, Any]
    mode: str = "ONLINE"
    enterprise_uscc: str | None = None
    applicant_id_number: str | None = None
    window_id: int | None = None
    origin_division: str | None = None
    # Apply as the agent of the person who gave you this authorisation (帮办代办).
    authorisation_id: int | None = None


class ClockOut(Schema):
    started_on: dt.date | None
    promised_due: dt.date | None
    legal_due: dt.date | None
    used: int | None
    left: int | None
    paused: bool
    flag: str
    problem: str


class CaseOut(Schema):
    number: str
    query_code: str
    item_code: str
    item_name: str
    mode: str
    state: str
    state_label: str
    applicant: str
    # Who acts for the applicant: an enterprise's handler, or an authorised agent (帮办代办).
    agent: str
    authorisation_id: int | None
    authority_division: str
    authority_department: str
    submitted_at: dt.datetime | None
    accepted_on: dt.date | None
    # Across provinces: the node deciding the case when it is not this one (this is a copy
    # kept in step), the node that received it when not this one, and its number there.
    authority_node: str
    receiving_node: str
    remote_number: str


class LegOut(Schema):
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


class MaterialOut(Schema):
    id: int
    spec_key: str
    spec_name: str
    source: str
    original_name: str
    content_type: str
    size: int
    sha256: str
    scan_status: str
    original_to_post: bool
    # "" for a file handed in here; for one handed in at another node: "pending" until it
    # is fetched, then "fetched" (or "failed": it did not match what was announced).
    transfer: str
    # For an electronic licence handed in instead of paper (source "license"): its identifier,
    # name, number and issuer, and when it was verified.
    reference: str
    license_name: str
    license_number: str
    license_issuer: str
    # For a data-sharing check instead of paper (source "datashare"): the call's id (in
    # ``reference``), the question the source answered yes to, the department and node that
    # answered it; ``verified_at`` when (for a licence too).
    check_question: str
    check_provider: str
    check_node: str
    verified_at: dt.datetime | None


def _material(material: Material) -> dict[str, Any]:
    return {
        "id": material.pk,
        "spec_key": material.spec.key,
        "spec_name": material.spec.name,
        "source": material.source,
        "original_name": material.original_name,
        "content_type": material.content_type,
        "size": material.size,
        "sha256": material.sha256,
        "scan_status": material.scan_status,
        "original_to_post": material.original_to_post,
        "transfer": material.transfer,
        "reference": material.reference,
        "license_name": material.license_name,
        "license_number": material.license_number,
        "license_issuer": material.license_issuer,
        "check_question": material.check_question,
        "check_provider": material.check_provider,
        "check_node": material.check_node,
        "verified_at": material.verified_at,
    }


class CaseDetailOut(CaseOut):
    scenario_key: str
    form_data: dict[str, Any]
    clock: ClockOut
    legs: list[LegOut]
    materials: list[MaterialOut]
    allowed_actions: list[dict[str, str]]


class CaseListOut(Schema):
    count: int
    items: list[CaseOut]


class EventOut(Schema):
    seq: int
    at: dt.datetime
    actor: str
    role: str
    action: str
    from_state: str
    to_state: str
    payload: dict[str, Any]
    hash: str


class TimelineEntry(Schema):
    at: dt.datetime
    action: str
    label: str
    state: str
    state_label: str


class PublicCaseOut(Schema):
    number: str
    item: str
    state: str
    state_label: str
    timeline: list[TimelineEntry]


def _summary(case: Case) -> dict[str, Any]:
    flow = workflow.load(case.workflow)
    return {
        "number": case.number,
        "query_code": case.query_code,
        "item_code": case.item.code,
        "item_name": case.item.name,
        "mode": case.mode,
        "state": case.state,
        "state_label": flow.states.get(case.state, case.state),
        "applicant": selectors.case_applicant_label(case),
        "agent": selectors.case_agent_label(case),
        "authorisation_id": case.authorisation_id,
        "authority_division": case.authority_division_id,
        "authority_department": case.authority_department.name,
        "submitted_at": case.submitted_at,
        "accepted_on": case.accepted_on,
        "authority_node": case.authority_node,
        "receiving_node": case.receiving_node,
        "remote_number": case.remote_number,
    }


def _detail(case: Case, actor: Any) -> dict[str, Any]:
    flow = workflow.load(case.workflow)
    return {
        **_summary(case),
        "scenario_key": case.scenario.key,
        "form_data": reveal(case.scenario.form_schema, case.form_data),
        "clock": selectors.case_clock(case).__dict__,
        "legs": [leg.__dict__ for leg in selectors.case_legs(case)],
        "materials": [_material(m) for m in case.materials.select_related("spec")],
        "allowed_actions": [
            {"action": name, "label": flow.actions[name].label}
            for name in services.actions_for(actor=actor, case=case)
        ],
    }


@router.post("", response={201: CaseDetailOut}, auth=django_auth)
def submit_case(request: HttpRequest, payload: CaseIn) -> Status[dict[str, Any]]:
    """Apply online (ONLINE, for yourself, an enterprise you act for, or, with
    ``authorisation_id``, the person who authorised you), or, as a window clerk, receive a case
    for the person in front of you (PROXY). 403 ``real_name_level_too_low`` says which level
    the item needs and how to get it."""
    case = services.case_submit(actor=request.user, **payload.dict())
    return Status(201, _detail(case, request.user))


@router.get("", response=CaseListOut, auth=django_auth)
def list_cases(
    request: HttpRequest, state: str | None = None, limit: int = 20, offset: int = 0
) -> dict[str, Any]:
    """Your own cases, and for staff the cases of their jurisdiction (their queue)."""
    check_paging(limit, offset)
    queryset = selectors.visible_cases(actor=request.user).select_related(
        "applicant_person", "item", "authority_department"
    )
    if state:
        queryset = queryset.filter(state=state)
    return {
        "count": queryset.count(),
        "items": [_summary(case) for case in queryset[offset : offset + limit]],
    }


@router.get("/{number}", response=CaseDetailOut, auth=django_auth)
def get_case(request: HttpRequest, number: str) -> dict[str, Any]:
    return _detail(selectors.case_get(actor=request.user, number=number), request.user)


@router.post(
    "/{number}/actions/{action}",
    response=CaseDetailOut,
    auth=django_auth,
    openapi_extra={
        "requestBody": {
            "required": False,
            "content": {"application/json": {"schema": {"type": "object"}}},
            "description": 'The action\'s details, e.g. {"reasons": "…"}.',
        }
    },
)
def act_on_case(request: HttpRequest, number: str, action: str) -> dict[str, Any]:
    """Take a workflow action. 409 names the actions possible in the current state."""
    seen = selectors.case_get(actor=request.user, number=number)  # 404 if one cannot see it
    details = json_body(request, default={})
    if not isinstance(details, dict):
        raise ValidationFailed(fields={"body": _("Expected an object.")})
    case = services.case_act(actor=request.user, number=seen.number, action=action, payload=details)
    return _detail(case, request.user)


@router.post("/{number}/materials", response={201: MaterialOut}, auth=django_auth)
def upload_material(
    request: HttpRequest, number: str, spec_key: Form[str], file: File[UploadedFile]
) -> Status[dict[str, Any]]:
    """Upload a file for one of the scenario's materials (multipart: spec_key, file). PDF,
    JPEG, PNG or OFD; the content must match the extension."""
    seen = selectors.case_get(actor=request.user, number=number)  # 404 if one cannot see it
    material = services.material_upload(
        actor=request.user, number=seen.number, spec_key=spec_key, upload=file
    )
    return Status(201, _material(material))


class LicenseMaterialIn(Schema):
    spec_key: str
    identifier: str


@router.post("/{number}/materials/license", response={201: MaterialOut}, auth=django_auth)
def attach_license(
    request: HttpRequest, number: str, payload: LicenseMaterialIn
) -> Status[dict[str, Any]]:
    """Hand in one of the applicant's electronic licences for a material instead of paper
    (免提交): whoever may upload to the case; the licence must be the applicant's, of a type the
    material accepts, and verify now. 404 ``unknown_license`` for a licence the applicant does
    not hold; 409 ``license_revoked`` / ``license_superseded`` / ``license_expired`` (and the
    other verification codes) for one that does not verify. The same licence again returns
    the material already there."""
    seen = selectors.case_get(actor=request.user, number=number)  # 404 if one cannot see it
    material = services.material_from_license(
        actor=request.user,
        number=seen.number,
        spec_key=payload.spec_key,
        identifier=payload.identifier,
    )
    return Status(201, _material(material))


class DatashareMaterialIn(Schema):
    spec_key: str


@router.post("/{number}/materials/datashare", response={201: MaterialOut}, auth=django_auth)
def attach_datashare(
    request: HttpRequest, number: str, payload: DatashareMaterialIn
) -> Status[dict[str, Any]]:
    """Verify a material at its source by data sharing instead of handing in the paper
    (免提交): whoever may upload to the case, and the deciding department's reviewers and
    approvers. The applicant's own particulars are asked about. 400
    ``datashare_not_accepted`` / ``datashare_not_checkable`` for a material no source here can
    verify; 409 ``no_grant`` when the asking department holds no grant in force, 409
    ``datashare_mismatch`` when the source does not confirm it (upload the paper); a refusal by
    the source keeps its own code. A material verified already is returned as it is."""
    seen = selectors.case_get(actor=request.user, number=number)  # 404 if one cannot see it
    material = services.material_from_datashare(
        actor=request.user, number=seen.number, spec_key=payload.spec_key
    )
    return Status(201, _material(material))


class ChecklistRowOut(Schema):
    key: str
    name: str
    required: bool
    # False where an electronic licence stands for the material: no original is posted.
    original_required: bool
    accepted_types: list[str]
    uploaded: int
    note: str
    # "电子证照 <name> <identifier>，已核验（<issuer>，<time>）" when a licence stands for it.
    license: str
    # "已通过数据共享核验：<question>（<provider>，…）" when a data-sharing check stands for it.
    datashare: str


class ChecklistOut(Schema):
    materials: list[ChecklistRowOut]
    identity_methods: dict[str, str]
    identity_documents: dict[str, str]
    identity_holders: dict[str, str]
    results: dict[str, str]


@router.get("/{number}/checklist", response=ChecklistOut, auth=django_auth)
def formal_review_checklist(request: HttpRequest, number: str) -> dict[str, Any]:
    """The window's formal review checklist (from the scenario's materials, with the files
    scanned in so far) and the choices for the identity check; `forward` takes
    {"identity": {"method", "document", "holder"}, "checklist": {material key: result}}."""
    case = selectors.case_get(actor=request.user, number=number)
    return {
        "materials": [row.__dict__ for row in services.formal_review_checklist(case)],
        "identity_methods": services.IDENTITY_METHODS,
        "identity_documents": services.IDENTITY_DOCUMENTS,
        "identity_holders": services.IDENTITY_HOLDERS,
        "results": services.CHECK_RESULTS,
    }


@router.get("/{number}/events", response=list[EventOut], auth=django_auth)
def case_events(request: HttpRequest, number: str) -> list[dict[str, Any]]:
    case = selectors.case_get(actor=request.user, number=number)
    events: list[CaseEvent] = list(case.events.order_by("seq"))
    return [
        {
            "seq": e.seq,
            "at": e.at,
            "actor": e.actor_label,
            "role": e.role,
            "action": e.action,
            "from_state": e.from_state,
            "to_state": e.to_state,
            "payload": e.payload,
            "hash": e.hash,
        }
        for e in events
    ]


@public_router.get("/cases/{number}", response=PublicCaseOut, auth=None)
def public_case(request: HttpRequest, number: str, code: str = "") -> dict[str, Any]:
    """办件查询: state and timeline of a case by number and query code, without login."""
    return selectors.public_view(number=number, code=code)
