"""Data sharing between agencies (数据共享): the resource catalogue, publishing a department's
resources, verifications and look-ups answered at the source, grants (deny by default), the
evidence log, disputes and the supervisors' monitoring.

Nothing here carries source data but the records a look-up returns to its caller: the evidence
log shows hashes, codes and the answer's summary. A refusal is a DomainError with the status of
its code (datashare/errors.py), logged by the services before it reaches the error mapping.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from ninja import Field, Router, Schema
from ninja.responses import Status
from ninja.security import django_auth

from tongban.accounts.selectors import staff_for_user
from tongban.api.common import check_paging
from tongban.core.errors import Forbidden, ValidationFailed
from tongban.datashare import selectors, services
from tongban.datashare.models import Call, CallKind, Dispute, Grant, Resource
from tongban.regions.models import Department
from tongban.regions.selectors import department_list

router = Router(tags=["datashare"])


# Resources ----------------------------------------------------------------------------------


class FieldOut(Schema):
    key: str
    name: str
    personal: bool = False


class QuestionOut(Schema):
    key: str
    name: str
    params: list[str]
    rule: dict[str, Any]


class ResourceOut(Schema):
    ref: str
    node: str
    key: str
    name: str
    description: str
    provider: str = Field(..., alias="department_name")
    subject_kind: str
    sensitivity: str
    fields: list[FieldOut]
    questions: list[QuestionOut]
    update_hours: int
    active: bool
    updated_at: dt.datetime
    fetched_at: dt.datetime | None


class ResourceIn(Schema):
    key: str
    name: str
    description: str = ""
    subject_kind: str
    sensitivity: str
    # [{"key", "name", "personal"}] and [{"key", "name", "params", "rule"}]: checked whole by
    # the services (datashare/questions.py), which word what is wrong.
    fields: list[dict[str, Any]]
    questions: list[dict[str, Any]] = []
    update_hours: int = 24
    active: bool = True
    # A platform admin publishes for a department; a department admin for their own only.
    department_key: str | None = None


@router.get("/resources", response=list[ResourceOut], auth=django_auth)
def list_resources(request: HttpRequest, node: str = "", q: str = "") -> list[Resource]:
    """The data resources this node knows, its own and its peers' (数据目录), for staff:
    ``node`` narrows to one node's, ``q`` searches names and providers."""
    return list(selectors.resource_list(actor=request.user, node=node or None, text=q))


@router.get("/resources/{ref}", response=ResourceOut, auth=django_auth)
def get_resource(request: HttpRequest, ref: str) -> Resource:
    """One resource by ``<node>.<key>`` (or its bare key: this node's)."""
    return selectors.resource_get(actor=request.user, ref=ref)


def _publishing_department(request: HttpRequest, department_key: str | None) -> Department:
    if department_key:
        found = department_list().filter(key=department_key).first()
        if found is None:
            raise ValidationFailed(fields={"department_key": _("There is no such department.")})
        return found
    staff = staff_for_user(request.user)
    if staff is None:
        raise Forbidden()
    return staff.department


@router.post("/resources", response=ResourceOut, auth=django_auth)
def publish_resource(request: HttpRequest, payload: ResourceIn) -> Resource:
    """Publish, or update, a resource of your department (its department admin): its fields,
    its sensitivity and the questions it answers. A key stays with its department (409
    ``key_taken``)."""
    values = payload.dict()
    department = _publishing_department(request, values.pop("department_key"))
    return services.resource_publish(actor=request.user, department=department, **values)


# Grants -------------------------------------------------------------------------------------


class GrantOut(Schema):
    uid: uuid.UUID
    resource: str
    resource_name: str
    provider: str
    consumer_node: str
    consumer_department_key: str
    consumer: str = Field(..., alias="consumer_department_name")
    purpose: str
    items: list[str]
    requested_questions: list[str]
    requested_fields: list[str]
    questions: list[str]
    fields: list[str]
    valid_from: dt.date | None
    valid_until: dt.date | None
    rate_limit: int
    state: str
    requested_by: str
    requested_at: dt.datetime
    decided_by: str
    decided_at: dt.datetime | None
    reason: str

    @staticmethod
    def resolve_resource(obj: Grant) -> str:
        return obj.resource.ref

    @staticmethod
    def resolve_resource_name(obj: Grant) -> str:
        return obj.resource.name

    @staticmethod
    def resolve_provider(obj: Grant) -> str:
        return obj.resource.department_name


class GrantListOut(Schema):
    count: int
    items: list[GrantOut]


class GrantIn(Schema):
    resource: str  # <node>.<key>
    purpose: str
    items: list[str]  # the catalogue items (basic codes) the purpose serves
    questions: list[str] = []
    fields: list[str] = []


class DecideIn(Schema):
    approve: bool
    # Within what was asked; all of it when absent.
    questions: list[str] | None = None
    fields: list[str] | None = None
    valid_from: dt.date | None = None
    valid_until: dt.date | None = None
    rate_limit: int | None = None  # calls per minute
    reason: str = ""


class ReasonIn(Schema):
    reason: str


@router.get("/grants", response=GrantListOut, auth=django_auth)
def list_grants(
    request: HttpRequest, side: str = "", state: str = "", limit: int = 50, offset: int = 0
) -> dict[str, Any]:
    """Grants of your department (department admins; supervisors see all): ``side`` ``held``
    (asked for by it) or ``provided`` (for its resources), both when absent."""
    check_paging(limit, offset)
    if side not in ("", "held", "provided"):
        raise ValidationFailed(fields={"side": _("Choose held or provided.")})
    rows = selectors.grant_list(actor=request.user, side=side, state=state)
    return {"count": rows.count(), "items": list(rows[offset : offset + limit])}


@router.get("/grants/{uid}", response=GrantOut, auth=django_auth)
def get_grant(request: HttpRequest, uid: uuid.UUID) -> Grant:
    return selectors.grant_get(actor=request.user, uid=uid)


@router.post("/grants", response={201: GrantOut}, auth=django_auth)
def request_grant(request: HttpRequest, payload: GrantIn) -> Status[Grant]:
    """Ask for access to a resource for your department (供需对接; its department admin), for a
    stated purpose serving catalogue items, naming the questions and fields needed."""
    resource = selectors.resource_get(actor=request.user, ref=payload.resource)
    grant = services.grant_request(
        actor=request.user,
        resource=resource,
        purpose=payload.purpose,
        items=payload.items,
        questions=payload.questions,
        fields=payload.fields,
    )
    return Status(201, grant)


@router.post("/grants/{uid}/decide", response=GrantOut, auth=django_auth)
def decide_grant(request: HttpRequest, uid: uuid.UUID, payload: DecideIn) -> Grant:
    """Approve a request for your department's resource, with a scope, a validity and a rate
    limit, or refuse it with a reason (the providing department's admin)."""
    grant = selectors.grant_get(actor=request.user, uid=uid)
    return services.grant_decide(actor=request.user, grant=grant, **payload.dict())


@router.post("/grants/{uid}/revoke", response=GrantOut, auth=django_auth)
def revoke_grant(request: HttpRequest, uid: uuid.UUID, payload: ReasonIn) -> Grant:
    """End an approved grant for your department's resource before its time, with a reason."""
    grant = selectors.grant_get(actor=request.user, uid=uid)
    return services.grant_revoke(actor=request.user, grant=grant, reason=payload.reason)


@router.post("/grants/{uid}/withdraw", response=GrantOut, auth=django_auth)
def withdraw_grant(request: HttpRequest, uid: uuid.UUID) -> Grant:
    """Withdraw your department's request, or give up its grant."""
    grant = selectors.grant_get(actor=request.user, uid=uid)
    return services.grant_withdraw(actor=request.user, grant=grant)


# The evidence log ---------------------------------------------------------------------------


class CallOut(Schema):
    """One entry of the evidence log: what was asked and how it ended, never the parameters or
    the values answered (those only as hashes)."""

    uid: uuid.UUID
    side: str
    seq: int
    provider_node: str
    resource: str = Field(..., alias="resource_key")
    grant: uuid.UUID | None
    kind: str
    question: str
    fields: list[str]
    consumer_node: str
    consumer_department_key: str
    consumer: str = Field(..., alias="consumer_department_name")
    caller: str
    purpose: str
    case: str = Field(..., alias="case_number")
    request_hash: str
    response_hash: str
    outcome: str
    code: str
    summary: dict[str, Any]
    latency_ms: int
    at: dt.datetime
    prev_hash: str
    hash: str

    @staticmethod
    def resolve_grant(obj: Call) -> uuid.UUID | None:
        return obj.grant.uid if obj.grant is not None else None


class CallDetailOut(CallOut):
    # The signed request and answer as they travelled between nodes (empty for a call answered
    # here): the evidence a dispute turns on. Parameters and records inside are encrypted to
    # the receiving node's key.
    request_token: str
    response_token: str


class CallListOut(Schema):
    count: int
    items: list[CallOut]


class DisputeIn(Schema):
    kind: str
    reason: str


class DisputeOut(Schema):
    uid: uuid.UUID
    side: str
    call: uuid.UUID
    resource: str
    kind: str
    reason: str
    raised_by: str
    raised_node: str
    raised_department: str = Field(..., alias="raised_department_name")
    raised_at: dt.datetime
    state: str
    outcome: str
    resolved_by: str
    resolved_at: dt.datetime | None

    @staticmethod
    def resolve_call(obj: Dispute) -> uuid.UUID:
        return obj.call.uid

    @staticmethod
    def resolve_resource(obj: Dispute) -> str:
        return f"{obj.call.provider_node}.{obj.call.resource_key}"


class DisputeListOut(Schema):
    count: int
    items: list[DisputeOut]


class ResolveIn(Schema):
    upheld: bool
    outcome: str


@router.get("/calls", response=CallListOut, auth=django_auth)
def list_calls(
    request: HttpRequest,
    side: str = "",
    outcome: str = "",
    case: str = "",
    resource: str = "",
    limit: int = 50,
    offset: int = 0,
) -> dict[str, Any]:
    """The evidence log as you may read it (your department's calls; a department admin's also
    those answered for its resources; everything for supervisors), newest first. ``resource``
    is a resource key."""
    check_paging(limit, offset)
    rows = selectors.call_list(
        actor=request.user,
        side=side,
        outcome=outcome,
        case_number=case,
        resource_key=resource.rpartition(".")[2],
    )
    return {"count": rows.count(), "items": list(rows[offset : offset + limit])}


@router.get("/calls/{uid}", response=CallDetailOut, auth=django_auth)
def get_call(request: HttpRequest, uid: uuid.UUID, side: str = "") -> Call:
    """One entry of the evidence log; ``side`` picks the consumer's or the provider's record
    when this node holds both."""
    return selectors.call_get(actor=request.user, uid=uid, side=side)


@router.post("/calls/{uid}/disputes", response={201: DisputeOut}, auth=django_auth)
def raise_dispute(
    request: HttpRequest, uid: uuid.UUID, payload: DisputeIn, side: str = ""
) -> Status[Dispute]:
    """Dispute a call (争议处理): the calling department on a wrong or stale answer or a
    refusal; the answering department's admin on misuse."""
    call = selectors.call_get(actor=request.user, uid=uid, side=side)
    dispute = services.dispute_raise(
        actor=request.user, call=call, kind=payload.kind, reason=payload.reason
    )
    return Status(201, dispute)


@router.get("/disputes", response=DisputeListOut, auth=django_auth)
def list_disputes(
    request: HttpRequest, state: str = "", limit: int = 50, offset: int = 0
) -> dict[str, Any]:
    """Disputes on the calls you may read, newest first."""
    check_paging(limit, offset)
    rows = selectors.dispute_list(actor=request.user, state=state)
    return {"count": rows.count(), "items": list(rows[offset : offset + limit])}


@router.post("/disputes/{uid}/resolve", response=DisputeOut, auth=django_auth)
def resolve_dispute(request: HttpRequest, uid: uuid.UUID, payload: ResolveIn) -> Dispute:
    """Decide a dispute with its outcome: the answering department's admin (misuse: a
    supervisor), or a supervisor."""
    dispute = selectors.dispute_get(actor=request.user, uid=uid)
    return services.dispute_resolve(
        actor=request.user, dispute=dispute, upheld=payload.upheld, outcome=payload.outcome
    )


class UsageOut(Schema):
    provider_node: str
    resource_key: str
    consumer: str
    calls: int
    answered: int
    refused: int
    failed: int
    avg_ms: float
    max_ms: int
    quality_flags: int


@router.get("/monitoring", response=list[UsageOut], auth=django_auth)
def datashare_monitoring(
    request: HttpRequest, since: dt.datetime | None = None
) -> list[selectors.UsageRow]:
    """Calls per resource and consuming department since ``since`` (default: 30 days), with
    refusals, failures, latency and data-quality disputes: for supervisors."""
    return selectors.monitoring(actor=request.user, since=since)


# Calls --------------------------------------------------------------------------------------
# Last, so that "/{resource}/..." never shadows the fixed paths above (/calls/{uid} and the
# rest are matched first).


class VerifyIn(Schema):
    question: str
    params: dict[str, Any]
    purpose: str
    case: str = ""  # the case number the call serves (its item must be one of the grant's)


class QueryIn(Schema):
    fields: list[str]
    params: dict[str, Any]
    purpose: str
    case: str = ""


class VerifyOut(Schema):
    call: uuid.UUID
    kind: str
    provider: str
    answer: bool
    request_hash: str
    response_hash: str


class QueryOut(Schema):
    call: uuid.UUID
    kind: str
    provider: str
    found: int
    # The source data, the granted fields only: the one place the API carries it.
    records: list[dict[str, Any]]
    request_hash: str
    response_hash: str


def _call(request: HttpRequest, ask: services.Request) -> dict[str, Any]:
    call, answer = services.call_make(actor=request.user, request=ask)
    return {
        **answer.as_dict(),
        "request_hash": call.request_hash,
        "response_hash": call.response_hash,
    }


@router.post("/{resource}/verify", response=VerifyOut, auth=django_auth)
def call_verify(request: HttpRequest, resource: str, payload: VerifyIn) -> dict[str, Any]:
    """Ask a resource a yes/no question about a person or an enterprise (核验), under your
    department's grant. Refusals: 403 ``no_grant``, ``grant_expired``, ``grant_not_in_force``,
    ``question_not_granted``, ``purpose_mismatch``; 429 ``rate_limited``; 400
    ``malformed_query`` (with the parameters at fault); 404 ``unknown_resource``,
    ``unknown_case``; 409 ``resource_inactive``; 502/503 across nodes. All are logged."""
    return _call(
        request,
        services.Request(
            resource=resource,
            kind=CallKind.VERIFY,
            question=payload.question,
            params=payload.params,
            purpose=payload.purpose,
            case_number=payload.case,
        ),
    )


@router.post("/{resource}/query", response=QueryOut, auth=django_auth)
def call_query(request: HttpRequest, resource: str, payload: QueryIn) -> dict[str, Any]:
    """Look up granted fields of the records about a person or an enterprise (查询), under
    your department's grant. Refusals as for ``verify``, with 403 ``field_not_granted``."""
    return _call(
        request,
        services.Request(
            resource=resource,
            kind=CallKind.QUERY,
            fields=payload.fields,
            params=payload.params,
            purpose=payload.purpose,
            case_number=payload.case,
        ),
    )
