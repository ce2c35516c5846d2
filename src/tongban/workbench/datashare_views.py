"""Data sharing at the workbench (数据共享): the resource catalogue and the request for access,
the grants of the department on both sides with their decisions and history, a verification
made at the window, the evidence log with its disputes, and the supervisors' monitoring.

Each staff member sees the tabs their roles can use (``tabs``); the selectors and services
check again, so a page reached by its address refuses what the tab would not have offered.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from tongban.accounts.models import StaffRole
from tongban.accounts.permissions import Scope
from tongban.catalog import selectors as catalog
from tongban.core.errors import DomainError, Forbidden, ValidationFailed
from tongban.datashare import selectors, services
from tongban.datashare.models import (
    CallKind,
    CallOutcome,
    CallSide,
    DisputeKind,
    DisputeState,
    Grant,
    GrantState,
    Resource,
    Sensitivity,
    SubjectKind,
)
from tongban.datashare.questions import SUBJECT_PARAM
from tongban.portal.account_views import parse_date
from tongban.portal.appointment_views import why
from tongban.portal.case_views import form_errors_of
from tongban.portal.views import query_without_page
from tongban.regions.models import Department
from tongban.workbench.views import staff_only

PAGE_SIZE = 25
MONITORING_DAYS = (7, 30, 90)

# The tabs, and the roles that can use each (the selectors and services decide the rest).
TAB_ROLES: dict[str, frozenset[str]] = {
    "catalogue": frozenset(selectors.STAFF),
    "grants": frozenset({StaffRole.DEPARTMENT_ADMIN, StaffRole.SUPERVISOR}),
    "verify": frozenset(services.CALLERS),
    "calls": frozenset(selectors.STAFF),
    "disputes": frozenset(selectors.STAFF),
    "monitoring": frozenset(selectors.OVERSEERS),
}

# How a question's parameters are labelled (a parameter that is also a field takes its name).
PARAM_LABELS: dict[str, Any] = {
    "id_number": gettext_lazy("ID number"),
    "uscc": gettext_lazy("Unified social credit code"),
    "from": gettext_lazy("From (YYYY-MM)"),
    "to": gettext_lazy("To (YYYY-MM)"),
}


def tabs(scope: Scope) -> dict[str, bool]:
    return {name: bool(scope.roles & roles) for name, roles in TAB_ROLES.items()}


def _open_tab(request: HttpRequest, name: str) -> Scope:
    """The scope, if the staff member may use the tab; Forbidden (403 page) otherwise."""
    scope: Scope = request.scope  # type: ignore[attr-defined]
    if not tabs(scope)[name]:
        raise Forbidden()
    return scope


def _render(
    request: HttpRequest, template: str, tab: str, context: dict[str, Any], status: int = 200
) -> HttpResponse:
    scope: Scope = request.scope  # type: ignore[attr-defined]
    context.update({"tab": tab, "tabs": tabs(scope)})
    return render(request, f"workbench/datashare/{template}", context, status=status)


def _is_admin_of(scope: Scope, resource: Resource) -> bool:
    """The providing department's admin, at the node that serves the resource."""
    return (
        resource.node == services.own_node()
        and resource.department is not None
        and StaffRole.DEPARTMENT_ADMIN in scope.roles
        and scope.covers_department(resource.department)
    )


def _is_holder(scope: Scope, grant: Grant) -> bool:
    return (
        StaffRole.DEPARTMENT_ADMIN in scope.roles
        and scope.staff is not None
        and grant.consumer_node == services.own_node()
        and grant.consumer_department_key == scope.staff.department.key
    )


# The catalogue --------------------------------------------------------------------------------


@staff_only
def catalogue(request: HttpRequest) -> HttpResponse:
    scope = _open_tab(request, "catalogue")
    text = request.GET.get("q", "").strip()[:64]
    node = request.GET.get("node", "").strip()[:6]
    found = selectors.resource_list(actor=request.user, node=node, text=text)
    page = Paginator(found, PAGE_SIZE).get_page(request.GET.get("page"))
    return _render(
        request,
        "catalogue.html",
        "catalogue",
        {
            "page": page,
            "query": text,
            "node": node,
            "own_node": services.own_node(),
            "qs": query_without_page(request),
            "may_publish": _may_publish(scope),
        },
    )


@staff_only
def resource(request: HttpRequest, ref: str) -> HttpResponse:
    """One resource: its fields, sensitivity and questions, and for a consuming department's
    admin the request for access (``grant_request``)."""
    scope = _open_tab(request, "catalogue")
    found = selectors.resource_get(actor=request.user, ref=ref)
    may_request = (
        StaffRole.DEPARTMENT_ADMIN in scope.roles
        and scope.staff is not None
        and found.active
        and found.department_id != scope.staff.department_id
    )
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        if not may_request:
            raise Forbidden()
        try:
            grant = services.grant_request(
                actor=request.user,
                resource=found,
                purpose=request.POST.get("purpose", ""),
                items=request.POST.getlist("items"),
                questions=request.POST.getlist("questions"),
                fields=request.POST.getlist("fields"),
            )
        except DomainError as error:
            status = error.status
            errors = form_errors_of(error)
        else:
            messages.success(
                request,
                _("Access requested. The providing department decides on it."),
            )
            return redirect("workbench:datashare_grant", uid=grant.uid)
    items = (
        catalog.item_list(version=catalog.version_current(), filters=catalog.ItemFilters())
        if may_request
        else []
    )
    return _render(
        request,
        "resource.html",
        "catalogue",
        {
            "resource": found,
            "may_request": may_request,
            "may_edit": _may_publish_for(scope, found),
            "errors": errors,
            "posted": request.POST if request.method == "POST" else {},
            "chosen": {
                "items": set(request.POST.getlist("items")),
                "questions": set(request.POST.getlist("questions")),
                "fields": set(request.POST.getlist("fields")),
            },
            "items": sorted(items, key=lambda item: item.name),
        },
        status=status,
    )


# Grants ---------------------------------------------------------------------------------------


@staff_only
def grants(request: HttpRequest) -> HttpResponse:
    _open_tab(request, "grants")
    state = request.GET.get("state", "")
    state = state if state in GrantState.values else ""
    held = selectors.grant_list(actor=request.user, side="held", state=state)
    provided = selectors.grant_list(actor=request.user, side="provided", state=state)
    return _render(
        request,
        "grants.html",
        "grants",
        {
            "held": held[:200],
            "provided": provided[:200],
            "state": state,
            "states": GrantState.choices,
        },
    )


def _grant_context(request: HttpRequest, grant: Grant) -> dict[str, Any]:
    scope: Scope = request.scope  # type: ignore[attr-defined]
    provider_admin = _is_admin_of(scope, grant.resource)
    questions = {q["key"]: q.get("name", q["key"]) for q in grant.resource.questions}
    fields = {f["key"]: f.get("name", f["key"]) for f in grant.resource.fields}
    return {
        "grant": grant,
        "history": [
            {"entry": entry, "changes": _changes(entry.action, entry.changes)}
            for entry in selectors.grant_history(actor=request.user, grant=grant)
        ],
        "may_decide": provider_admin and grant.state == GrantState.REQUESTED,
        "may_revoke": provider_admin and grant.state == GrantState.APPROVED,
        "may_withdraw": _is_holder(scope, grant)
        and grant.state in (GrantState.REQUESTED, GrantState.APPROVED),
        "asked_questions": [(k, questions.get(k, k)) for k in grant.requested_questions],
        "asked_fields": [(k, fields.get(k, k)) for k in grant.requested_fields],
        "granted_questions": [questions.get(k, k) for k in grant.questions],
        "granted_fields": [fields.get(k, k) for k in grant.fields],
        "today": timezone.localdate(),
        "errors": {},
        "posted": {},
        "chosen": {
            "questions": set(grant.requested_questions),
            "fields": set(grant.requested_fields),
        },
    }


def _text(value: Any) -> str:
    if value is None or value == "" or value == []:
        return "—"
    if isinstance(value, list):
        return "、".join(str(v) for v in value)
    return str(value)


def _changes(action: str, changes: Any) -> list[tuple[str, str]]:
    """An audit entry's changes as lines: "old → new" where the service recorded both."""
    if not isinstance(changes, dict):
        return []
    paired = action != "datashare.grant_requested"
    return [
        (
            name,
            f"{_text(value[0])} → {_text(value[1])}"
            if paired and isinstance(value, list) and len(value) == 2
            else _text(value),
        )
        for name, value in changes.items()
    ]


@staff_only
def grant(request: HttpRequest, uid: Any) -> HttpResponse:
    _open_tab(request, "grants")
    found = selectors.grant_get(actor=request.user, uid=uid)
    return _render(request, "grant.html", "grants", _grant_context(request, found))


def _int_or_none(value: str) -> int | None:
    value = value.strip()
    return int(value) if value.isdigit() and len(value) < 10 else None


@require_POST
@staff_only
def grant_act(request: HttpRequest, uid: Any, action: str) -> HttpResponse:
    """Decide (approve or refuse), revoke or withdraw: a refused decision is shown in its form,
    the others as a message above the grant."""
    _open_tab(request, "grants")
    found = selectors.grant_get(actor=request.user, uid=uid)
    try:
        if action == "decide":
            approve = request.POST.get("decision") == "approve"
            services.grant_decide(
                actor=request.user,
                grant=found,
                approve=approve,
                questions=request.POST.getlist("questions") if approve else None,
                fields=request.POST.getlist("fields") if approve else None,
                valid_from=parse_date(request.POST.get("valid_from", "")),
                valid_until=parse_date(request.POST.get("valid_until", "")),
                rate_limit=_int_or_none(request.POST.get("rate_limit", "")),
                reason=request.POST.get("reason", ""),
            )
            messages.success(
                request, _("Access approved.") if approve else _("The request is refused.")
            )
        elif action == "revoke":
            services.grant_revoke(
                actor=request.user, grant=found, reason=request.POST.get("reason", "")
            )
            messages.success(request, _("The grant is revoked."))
        elif action == "withdraw":
            services.grant_withdraw(actor=request.user, grant=found)
            messages.success(request, _("The request or grant is withdrawn."))
        else:
            messages.error(request, _("Unknown action."))
    except DomainError as error:
        if action != "decide":
            messages.error(request, why(error))
            return redirect("workbench:datashare_grant", uid=found.uid)
        found.refresh_from_db()
        context = _grant_context(request, found)
        context["errors"] = form_errors_of(error)
        context["posted"] = request.POST
        context["chosen"] = {
            "questions": set(request.POST.getlist("questions")),
            "fields": set(request.POST.getlist("fields")),
        }
        return _render(request, "grant.html", "grants", context, status=error.status)
    return redirect("workbench:datashare_grant", uid=found.uid)


# A verification at the window -------------------------------------------------------------------


def _chosen_call(
    held: list[Grant], grant_uid: str, question: str
) -> tuple[Grant | None, dict[str, Any] | None]:
    """The grant and question picked (``question`` "" for a look-up of granted fields)."""
    chosen = next((g for g in held if str(g.uid) == grant_uid), None)
    if chosen is None:
        return None, None
    if not question:
        return (chosen, None) if chosen.fields else (None, None)
    asked = chosen.resource.question(question)
    if asked is None or question not in chosen.questions:
        return None, None
    return chosen, asked


def _param_inputs(
    resource: Resource, params: list[str], posted: Any, errors: dict[str, str]
) -> list[dict[str, Any]]:
    fields = {f["key"]: f.get("name", f["key"]) for f in resource.fields}
    return [
        {
            "name": name,
            "label": PARAM_LABELS.get(name) or fields.get(name, name),
            "value": posted.get(f"params.{name}", ""),
            "error": errors.get(f"params.{name}", ""),
            "month": name in ("from", "to"),
        }
        for name in params
    ]


@staff_only
def verify(request: HttpRequest) -> HttpResponse:
    """Make a call under one of the department's grants in force: pick the resource and the
    question (or a look-up), then give the parameters, the grant's purpose and the case."""
    _open_tab(request, "verify")
    held = selectors.grants_to_call(actor=request.user)
    source = request.POST if request.method == "POST" else request.GET
    chosen, question = _chosen_call(
        held, source.get("grant", ""), source.get("question", "").strip()
    )
    errors: dict[str, str] = {}
    status = 200
    result: dict[str, Any] | None = None
    if request.method == "POST" and chosen is None:
        errors = {"form": _("Choose a resource and a question your department holds a grant for.")}
        status = 400
    elif request.method == "POST" and chosen is not None:
        resource = chosen.resource
        params = (
            question["params"] if question is not None else [SUBJECT_PARAM[resource.subject_kind]]
        )
        call_request = services.Request(
            resource=resource.ref,
            kind=CallKind.VERIFY if question is not None else CallKind.QUERY,
            question=question["key"] if question is not None else "",
            fields=request.POST.getlist("fields") if question is None else [],
            params={name: request.POST.get(f"params.{name}", "") for name in params},
            purpose=request.POST.get("purpose", ""),
            case_number=request.POST.get("case_number", "").strip(),
        )
        try:
            call, answer = services.call_make(actor=request.user, request=call_request)
        except DomainError as error:
            status = error.status
            errors = form_errors_of(error)
            if error.fields:
                errors["form"] = str(error.message)
        else:
            names = {f["key"]: f.get("name", f["key"]) for f in resource.fields}
            asked = [k for k in resource.field_names() if k in call_request.fields]
            result = {
                "call": call,
                "answer": answer,
                "columns": [names[k] for k in asked],
                "rows": [[_text(record.get(k)) for k in asked] for record in answer.records or []],
            }
    context: dict[str, Any] = {
        "held": [
            {
                "grant": g,
                "questions": [
                    (q["key"], q.get("name", q["key"]))
                    for q in g.resource.questions
                    if q["key"] in g.questions
                ],
            }
            for g in held
        ],
        "chosen": chosen,
        "question": question,
        "errors": errors,
        "result": result,
    }
    if chosen is not None:
        resource = chosen.resource
        params = (
            question["params"] if question is not None else [SUBJECT_PARAM[resource.subject_kind]]
        )
        posted = request.POST if request.method == "POST" else {}
        field_names = {f["key"]: f.get("name", f["key"]) for f in resource.fields}
        context.update(
            {
                "params": _param_inputs(resource, params, posted, errors),
                "lookup_fields": [(k, field_names.get(k, k)) for k in chosen.fields],
                "chosen_fields": set(request.POST.getlist("fields")),
                "purpose": posted.get("purpose", chosen.purpose),
                "case_number": posted.get("case_number", ""),
            }
        )
    return _render(request, "verify.html", "verify", context, status=status)


# The evidence log and disputes ------------------------------------------------------------------


@staff_only
def calls(request: HttpRequest) -> HttpResponse:
    _open_tab(request, "calls")
    side = request.GET.get("side", "")
    side = side if side in CallSide.values else ""
    outcome = request.GET.get("outcome", "")
    outcome = outcome if outcome in CallOutcome.values else ""
    case_number = request.GET.get("case", "").strip()[:43]
    found = selectors.call_list(
        actor=request.user, side=side, outcome=outcome, case_number=case_number
    )
    page = Paginator(found, PAGE_SIZE).get_page(request.GET.get("page"))
    return _render(
        request,
        "calls.html",
        "calls",
        {
            "page": page,
            "filters": {"side": side, "outcome": outcome, "case": case_number},
            "sides": CallSide.choices,
            "outcomes": CallOutcome.choices,
            "qs": query_without_page(request),
        },
    )


@staff_only
def call(request: HttpRequest, uid: Any, side: str) -> HttpResponse:
    """One entry of the evidence log, its disputes, and the form to raise one."""
    _open_tab(request, "calls")
    found = selectors.call_get(actor=request.user, uid=uid, side=side)
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        try:
            services.dispute_raise(
                actor=request.user,
                call=found,
                kind=request.POST.get("kind", ""),
                reason=request.POST.get("reason", ""),
            )
        except DomainError as error:
            status = error.status
            errors = form_errors_of(error)
        else:
            messages.success(request, _("The dispute is raised."))
            return redirect("workbench:datashare_call", uid=found.uid, side=found.side)
    return _render(
        request,
        "call.html",
        "calls",
        {
            "call": found,
            "disputes": found.disputes.order_by("-raised_at", "-id"),
            "kinds": DisputeKind.choices,
            "errors": errors,
            "posted": request.POST if request.method == "POST" else {},
        },
        status=status,
    )


def _disputes_page(
    request: HttpRequest,
    *,
    failed: str = "",
    errors: dict[str, str] | None = None,
    posted: Any = None,
    status: int = 200,
) -> HttpResponse:
    scope: Scope = request.scope  # type: ignore[attr-defined]
    state = request.GET.get("state", "")
    state = state if state in DisputeState.values else ""
    found = selectors.dispute_list(actor=request.user, state=state)
    page = Paginator(found, PAGE_SIZE).get_page(request.GET.get("page"))
    resolver = bool(scope.roles & {StaffRole.DEPARTMENT_ADMIN, StaffRole.SUPERVISOR})
    rows = []
    for dispute in page.object_list:
        resource = dispute.call.resource
        rows.append(
            {
                "dispute": dispute,
                "may_resolve": resolver
                and dispute.state == DisputeState.OPEN
                and dispute.side != CallSide.CONSUMER
                and resource is not None
                and resource.node == services.own_node(),
                "errors": (errors or {}) if str(dispute.uid) == failed else {},
                "posted": posted if str(dispute.uid) == failed else {},
            }
        )
    return _render(
        request,
        "disputes.html",
        "disputes",
        {
            "rows": rows,
            "page": page,
            "state": state,
            "states": DisputeState.choices,
            "qs": query_without_page(request),
        },
        status=status,
    )


@staff_only
def disputes(request: HttpRequest) -> HttpResponse:
    _open_tab(request, "disputes")
    return _disputes_page(request)


@require_POST
@staff_only
def dispute_resolve(request: HttpRequest, uid: Any) -> HttpResponse:
    _open_tab(request, "disputes")
    found = selectors.dispute_get(actor=request.user, uid=uid)
    decision = request.POST.get("decision", "")
    try:
        if decision not in ("upheld", "dismissed"):
            raise ValidationFailed(fields={"decision": _("Choose upheld or dismissed.")})
        services.dispute_resolve(
            actor=request.user,
            dispute=found,
            upheld=decision == "upheld",
            outcome=request.POST.get("outcome", ""),
        )
    except DomainError as error:
        return _disputes_page(
            request,
            failed=str(found.uid),
            errors=form_errors_of(error),
            posted=request.POST,
            status=error.status,
        )
    messages.success(request, _("The dispute is resolved."))
    return redirect("workbench:datashare_disputes")


# Monitoring ---------------------------------------------------------------------------------------


@staff_only
def monitoring(request: HttpRequest) -> HttpResponse:
    _open_tab(request, "monitoring")
    days = _int_or_none(request.GET.get("days", "")) or 30
    days = days if days in MONITORING_DAYS else 30
    rows = selectors.monitoring(actor=request.user, since=timezone.now() - dt.timedelta(days=days))
    return _render(
        request,
        "monitoring.html",
        "monitoring",
        {"rows": rows, "days": days, "choices": MONITORING_DAYS},
    )


# Publishing a resource --------------------------------------------------------------------------

# Empty rows offered after the filled ones (the form works without JavaScript).
SPARE_ROWS = 3
MAX_FIELD_ROWS = 100 + SPARE_ROWS
MAX_QUESTION_ROWS = 50 + SPARE_ROWS
# The inputs a publishing error can name; any other name is shown above the form.
PUBLISH_INPUTS = frozenset(
    {
        "department",
        "key",
        "name",
        "description",
        "subject_kind",
        "sensitivity",
        "update_hours",
        "fields",
        "questions",
    }
)


def _may_publish_for(scope: Scope, resource: Resource) -> bool:
    """A department admin of the providing department, or a platform admin, at the node that
    serves the resource."""
    return (
        resource.node == services.own_node()
        and resource.department is not None
        and bool(scope.roles & set(services.ADMINS) or scope.unrestricted)
        and scope.covers_department(resource.department)
    )


def _row_count(posted: Any, name: str, most: int) -> int:
    return min(_int_or_none(posted.get(name, "")) or 0, most)


def _field_rows(posted: Any) -> list[dict[str, Any]]:
    """The filled field rows of the form, in order (a row without key and name is empty)."""
    rows = []
    for index in range(_row_count(posted, "field_rows", MAX_FIELD_ROWS)):
        row = {
            "key": posted.get(f"fields-{index}-key", "").strip(),
            "name": posted.get(f"fields-{index}-name", "").strip(),
            "personal": bool(posted.get(f"fields-{index}-personal")),
        }
        if row["key"] or row["name"]:
            rows.append(row)
    return rows


def _question_rows(posted: Any) -> list[dict[str, Any]]:
    """The filled question rows of the form, in order: parameters as typed (comma-separated)."""
    rows = []
    for index in range(_row_count(posted, "question_rows", MAX_QUESTION_ROWS)):
        row = {
            name: posted.get(f"questions-{index}-{name}", "").strip()
            for name in ("key", "name", "params", "op", "field", "value")
        }
        if any(row[name] for name in ("key", "name", "params", "field", "value")):
            rows.append(row)
    return rows


def _params_of(text: str) -> list[str]:
    return [p.strip() for p in text.replace("，", ",").replace("、", ",").split(",") if p.strip()]


def _question_of(row: dict[str, Any]) -> dict[str, Any]:
    """A question row as the definition takes it: the rule holds only what its op uses."""
    rule: dict[str, Any] = {"op": row["op"] or "match"}
    if rule["op"] in ("equals", "covers"):
        rule["field"] = row["field"]
    if rule["op"] == "equals":
        rule["value"] = row["value"]
    return {
        "key": row["key"],
        "name": row["name"],
        "params": _params_of(row["params"]),
        "rule": rule,
    }


def _question_row(question: dict[str, Any]) -> dict[str, Any]:
    rule = question.get("rule") or {}
    return {
        "key": question.get("key", ""),
        "name": question.get("name", ""),
        "params": ", ".join(question.get("params", [])),
        "op": rule.get("op", "match"),
        "field": rule.get("field", ""),
        "value": rule.get("value", ""),
    }


def _with_errors(
    rows: list[dict[str, Any]], prefix: str, errors: dict[str, str]
) -> list[dict[str, Any]]:
    """The rows and the spare empty ones, each with its index and the error naming it."""
    empty: dict[str, Any] = {"op": "match"} if prefix == "questions" else {}
    out = [*rows, *[dict(empty) for _n in range(SPARE_ROWS)]]
    return [
        {**row, "index": index, "error": errors.get(f"{prefix}.{index}", "")}
        for index, row in enumerate(out)
    ]


def _publish_form(found: Resource | None, posted: Any, scope: Scope) -> dict[str, Any]:
    """What the form shows: the resource as it is, or what was typed."""
    if posted:
        return {
            "department": posted.get("department", ""),
            "key": found.key if found is not None else posted.get("key", "").strip(),
            "name": posted.get("name", ""),
            "description": posted.get("description", ""),
            "subject_kind": posted.get("subject_kind", ""),
            "sensitivity": posted.get("sensitivity", ""),
            "update_hours": posted.get("update_hours", ""),
            "active": bool(posted.get("active")),
            "fields": _field_rows(posted),
            "questions": _question_rows(posted),
        }
    if found is not None:
        return {
            "department": str(found.department_id or ""),
            "key": found.key,
            "name": found.name,
            "description": found.description,
            "subject_kind": found.subject_kind,
            "sensitivity": found.sensitivity,
            "update_hours": str(found.update_hours),
            "active": found.active,
            "fields": [
                {"key": f.get("key", ""), "name": f.get("name", ""), "personal": f.get("personal")}
                for f in found.fields
            ],
            "questions": [_question_row(q) for q in found.questions],
        }
    return {
        "department": str(scope.staff.department_id) if scope.staff is not None else "",
        "key": "",
        "name": "",
        "description": "",
        "subject_kind": SubjectKind.PERSON,
        "sensitivity": "",
        "update_hours": "24",
        "active": True,
        "fields": [],
        "questions": [],
    }


def _department_for(request: HttpRequest, scope: Scope, found: Resource | None) -> Department:
    """Whom the resource is published for: its own department when editing, the chosen one
    for a platform admin, else the admin's own."""
    if found is not None and found.department is not None:
        return found.department
    if scope.is_platform_admin:
        pk = _int_or_none(request.POST.get("department", ""))
        chosen = Department.objects.filter(pk=pk, active=True).first() if pk else None
        if chosen is None:
            raise ValidationFailed(
                fields={"department": _("Choose the department that provides the resource.")}
            )
        return chosen
    if scope.staff is None:
        raise Forbidden()
    return scope.staff.department


def _publish(request: HttpRequest, scope: Scope, found: Resource | None) -> Resource:
    form = _publish_form(found, request.POST, scope)
    department = _department_for(request, scope, found)
    if (
        found is None
        and Resource.objects.filter(node=services.own_node(), key=form["key"]).exists()
    ):
        raise ValidationFailed(
            fields={"key": _("A resource with this key exists already: edit it instead.")}
        )
    hours = _int_or_none(form["update_hours"])
    return services.resource_publish(
        actor=request.user,
        department=department,
        key=form["key"],
        name=form["name"],
        subject_kind=form["subject_kind"],
        sensitivity=form["sensitivity"],
        fields=[
            {"key": f["key"], "name": f["name"], "personal": f["personal"]} for f in form["fields"]
        ],
        questions=[_question_of(row) for row in form["questions"]],
        description=form["description"],
        update_hours=hours if hours is not None else 0,
        active=form["active"],
    )


def _publish_page(request: HttpRequest, found: Resource | None) -> HttpResponse:
    scope = _open_tab(request, "catalogue")
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        try:
            published = _publish(request, scope, found)
        except DomainError as error:
            if error.status in (403, 404):
                raise
            status = error.status
            errors = form_errors_of(error)
            if error.code == "key_taken":
                errors = {"key": str(error.message)}
        else:
            messages.success(
                request,
                _("The resource is published.") if found is None else _("The resource is saved."),
            )
            return redirect("workbench:datashare_resource", ref=published.ref)
    form = _publish_form(found, request.POST if request.method == "POST" else {}, scope)
    rows = {"fields", "questions"}
    return _render(
        request,
        "publish.html",
        "catalogue",
        {
            "resource": found,
            "form": form,
            "field_rows": _with_errors(form["fields"], "fields", errors),
            "question_rows": _with_errors(form["questions"], "questions", errors),
            "errors": errors,
            "other_errors": [
                text
                for name, text in errors.items()
                if name not in PUBLISH_INPUTS and name.partition(".")[0] not in rows
            ],
            "departments": (
                Department.objects.filter(active=True).select_related("division").order_by("name")
                if found is None and scope.is_platform_admin
                else []
            ),
            "subject_kinds": SubjectKind.choices,
            "sensitivities": Sensitivity.choices,
            "ops": [
                ("match", _("match: the parameters equal the record's fields")),
                ("equals", _("equals: the field has the value")),
                ("covers", _("covers: the field's months cover from–to")),
            ],
            "subject_params": SUBJECT_PARAM,
        },
        status=status,
    )


def _may_publish(scope: Scope) -> bool:
    return scope.unrestricted or bool(scope.roles & set(services.ADMINS))


@staff_only
def resource_new(request: HttpRequest) -> HttpResponse:
    """Publish a new resource of this node: a department admin for their department, a
    platform admin for the department they choose."""
    scope = _open_tab(request, "catalogue")
    if not _may_publish(scope):
        raise Forbidden()
    return _publish_page(request, None)


@staff_only
def resource_edit(request: HttpRequest, ref: str) -> HttpResponse:
    """Edit one of this node's resources: its department's admin, or a platform admin."""
    scope = _open_tab(request, "catalogue")
    if not _may_publish(scope):
        raise Forbidden()
    found = selectors.resource_get(actor=request.user, ref=ref)
    if not _may_publish_for(scope, found):
        raise Forbidden()
    return _publish_page(request, found)
