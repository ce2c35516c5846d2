"""The staff workbench: the queue with deadline flags, one case with exactly the actions this
staff member may take, the window's identity check and formal review, and window intake."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from tongban.accounts import services as account_services
from tongban.accounts.models import StaffRole
from tongban.accounts.permissions import Scope, staff_scope
from tongban.accounts.selectors import person_find_by_id_number
from tongban.accounts.verification import IDENTITY_DOCUMENTS
from tongban.cases import access, legs, selectors, services, workflow
from tongban.cases.models import Case, CaseMode, PauseKind
from tongban.cases.personal import reveal
from tongban.catalog import selectors as catalog
from tongban.core.errors import DomainError, Forbidden
from tongban.datashare.selectors import STAFF as DATASHARE_STAFF
from tongban.delivery import carriers
from tongban.delivery import services as delivery
from tongban.delivery.models import ShipmentPurpose, ShipmentState
from tongban.delivery.selectors import shipment_case, shipments_of
from tongban.portal import schema_form
from tongban.portal.account_views import parse_date, revoke_and_say
from tongban.portal.case_views import (
    FORM_PREFIX,
    case_context,
    done_message,
    error_text,
    form_errors_of,
    places,
)
from tongban.portal.views import query_without_page
from tongban.regions.models import Window

PAGE_SIZE = 25

# The details an action may require (workflow "requires"), as form inputs.
DETAIL_INPUTS: dict[str, tuple[str, Any]] = {
    "reasons": ("textarea", gettext_lazy("Reasons")),
    "apply_instead": ("text", gettext_lazy("Where the applicant should apply instead")),
    "missing": ("lines", gettext_lazy("Everything to supplement, one item per line")),
    "kind": ("pause_kind", gettext_lazy("Special procedure")),
    "reason": ("text", gettext_lazy("Reason")),
}


def staff_only(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Logged-in staff only: others are sent to the staff login, or refused (403 page)."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            # The whole path, query string included, encoded: back to the same filtered queue.
            return redirect_to_login(request.get_full_path(), reverse("workbench:login"))
        scope = staff_scope(request.user, selectors.STAFF_ROLES)  # Forbidden → 403 page
        request.scope = scope  # type: ignore[attr-defined]
        # The menu offers what the staff member can open.
        request.menu = {  # type: ignore[attr-defined]
            "appointments": scope.unrestricted
            or bool(scope.roles & {*access.APPOINTMENT_READERS, *access.APPOINTMENT_MANAGERS}),
            "licenses": bool(scope.roles & {StaffRole.APPROVER, StaffRole.DEPARTMENT_ADMIN}),
            "datashare": bool(scope.roles & set(DATASHARE_STAFF)),
        }
        return view(request, *args, **kwargs)

    return wrapped


@staff_only
def queue(request: HttpRequest) -> HttpResponse:
    view = request.GET.get("view", "todo")
    view = view if view in selectors.QUEUE_VIEWS else "todo"
    state = request.GET.get("state") or None
    mode = request.GET.get("mode") or None
    flag = request.GET.get("flag") or None
    cases = selectors.staff_queue(
        actor=request.user,
        view=view,
        state=state,
        mode=mode if mode in CaseMode.values else None,
        flag=flag if flag in ("red", "yellow") else None,
    )
    page = Paginator(cases, PAGE_SIZE).get_page(request.GET.get("page"))
    rows = []
    calendar = selectors.work_calendar()
    for case in page.object_list:
        flow = workflow.load(case.workflow)
        rows.append(
            {
                "case": case,
                "state_label": flow.states.get(case.state, case.state),
                "clock": selectors.case_clock(case, calendar=calendar),
                "applicant": selectors.case_applicant_label(case),
                "agent": selectors.case_agent_label(case),
            }
        )
    scope: Scope = request.scope  # type: ignore[attr-defined]
    return render(
        request,
        "workbench/queue.html",
        {
            "rows": rows,
            "page": page,
            "qs": query_without_page(request),
            "view": view,
            "filters": {"state": state or "", "mode": mode or "", "flag": flag or ""},
            "states": selectors.all_state_labels(),
            "staff": scope.staff,
            "can_receive": StaffRole.WINDOW_CLERK in scope.roles,
            # Platform admins configure the node and see no case (cases/access.py).
            "sees_cases": access.staff_in(request.user, access.CASE_STAFF) is not None,
        },
    )


@staff_only
def case_page(request: HttpRequest, number: str) -> HttpResponse:
    case = selectors.case_get(actor=request.user, number=number)
    return render(request, "workbench/case.html", _staff_context(request, case))


def _staff_context(
    request: HttpRequest,
    case: Case,
    *,
    failed: str = "",
    error: DomainError | None = None,
    posted: dict[str, Any] | None = None,
) -> dict[str, Any]:
    context = case_context(request, case)
    active = next((leg for leg in context["legs"] if leg.state == "active"), None)
    leg_schema = _leg_schema(case, active.key) if active else None
    forms = []
    for name, step in context["actions"]:
        errors = {k: str(v) for k, v in error.fields.items()} if error and name == failed else {}
        values = posted if name == failed and posted else {}
        inputs = [
            {
                "name": detail,
                "widget": DETAIL_INPUTS.get(detail, ("text", detail))[0],
                "label": DETAIL_INPUTS.get(detail, ("text", detail))[1],
                "value": values.get(detail, ""),
                "error": errors.get(detail, ""),
            }
            for detail in step.requires
            if name != "forward"
        ]
        result_fields = (
            schema_form.fields(
                leg_schema,
                values.get("result", {}),
                {k.removeprefix("result."): v for k, v in errors.items()},
                prefix="result.",
            )
            if step.legs == "advance" and leg_schema
            else []
        )
        forms.append(
            {
                "name": name,
                "step": step,
                "inputs": inputs,
                "result_fields": result_fields,
                "message": error.message if error and name == failed else "",
                "other_errors": [
                    v
                    for k, v in errors.items()
                    if k not in step.requires and not k.startswith("result.")
                ],
            }
        )
    forward_event = case.events.filter(action="forward").order_by("-seq").first()
    # An action refused for an actor or state that offers no form for it (a double submit, a
    # stale page, the wrong desk): the reason goes on top of the page, not into a hidden form.
    page_error = (
        error.message if error is not None and failed not in {f["name"] for f in forms} else ""
    )
    context.update(
        {
            "forms": forms,
            "page_error": page_error,
            "active_leg": active,
            "pause_kinds": PauseKind.choices,
            "form_rows": form_rows(case),
            "identity_check": _identity_view(forward_event.payload) if forward_event else None,
            "forwarded_by": forward_event.actor_label if forward_event else "",
            "back": "workbench",
            "shipments": [
                {
                    "shipment": shipment,
                    "carrier": _carrier_name(shipment.carrier),
                    "next": _next_steps(shipment.state),
                }
                for shipment in shipments_of(case=case)
            ],
            "carriers": [(c.key, c.name) for c in carriers.CARRIERS.values()],
            "purposes": ShipmentPurpose.choices,
        }
    )
    return context


def _carrier_name(key: str) -> str:
    carrier = carriers.CARRIERS.get(key)
    return carrier.name if carrier is not None else key


def _next_steps(state: str) -> list[tuple[str, str]]:
    return [
        (value, str(label))
        for value, label in ShipmentState.choices
        if carriers.may_move(state, value)
    ]


def form_rows(case: Case) -> list[tuple[str, Any]]:
    """The application form as (title, value) rows, personal fields decrypted for staff."""
    properties = case.scenario.form_schema.get("properties") or {}
    return [
        (properties.get(key, {}).get("title", key), value)
        for key, value in reveal(case.scenario.form_schema, case.form_data).items()
    ]


def _leg_schema(case: Case, key: str) -> dict[str, Any] | None:
    plan = legs.plan_for_item(case.item.name)
    step = next((s for s in plan.legs if s.key == key), None) if plan else None
    return step.schema if step else None


def _identity_view(payload: dict[str, Any]) -> dict[str, Any]:
    identity = payload.get("identity") or {}
    return {
        "method": services.IDENTITY_METHODS.get(identity.get("method", ""), ""),
        "document": services.IDENTITY_DOCUMENTS.get(identity.get("document", ""), ""),
        "holder": services.IDENTITY_HOLDERS.get(identity.get("holder", ""), ""),
        "originals": payload.get("originals_to_post") or [],
    }


@require_POST
@staff_only
def case_action(request: HttpRequest, number: str, action: str) -> HttpResponse:
    case = selectors.case_get(actor=request.user, number=number)
    flow = workflow.load(case.workflow)
    step = flow.actions.get(action)
    payload: dict[str, Any] = {}
    if step is not None:
        for detail in step.requires:
            raw = request.POST.get(detail, "").strip()
            if DETAIL_INPUTS.get(detail, ("",))[0] == "lines":
                # Ticked materials of the checklist first, then anything typed in.
                picked = [name for name in request.POST.getlist(f"{detail}.pick") if name]
                typed = [line.strip() for line in raw.splitlines() if line.strip()]
                payload[detail] = picked + [line for line in typed if line not in picked]
            elif raw:
                payload[detail] = raw
        if step.legs == "advance":
            active = next((leg for leg in selectors.case_legs(case) if leg.state == "active"), None)
            schema = _leg_schema(case, active.key) if active else None
            payload["result"] = schema_form.read(schema or {}, request.POST, prefix="result.")
        note = request.POST.get("note", "").strip()
        if note:
            payload["note"] = note[:500]
    try:
        case = services.case_act(
            actor=request.user, number=case.number, action=action, payload=payload
        )
    except DomainError as error:
        case.refresh_from_db()
        context = _staff_context(request, case, failed=action, error=error, posted=payload)
        return render(request, "workbench/case.html", context, status=error.status)
    messages.success(
        request,
        done_message(case, _("%(action)s: done.") % {"action": step.label if step else action}),
    )
    return redirect("workbench:case", number=case.number)


@staff_only
def forward(request: HttpRequest, number: str) -> HttpResponse:
    """身份核验与形式审查: the clerk records how the identity was checked, goes through the
    checklist generated from the material specs (scanning papers in), then forwards."""
    case = selectors.case_get(actor=request.user, number=number)
    errors: dict[str, str] = {}
    message = ""
    posted: dict[str, Any] = {"identity": {}, "checklist": {}}
    status = 200
    checklist = services.formal_review_checklist(case)
    if request.method == "POST":
        posted = {
            "identity": {
                name: request.POST.get(f"identity.{name}", "")
                for name in ("method", "document", "holder")
            },
            "checklist": {
                row.key: request.POST.get(f"checklist.{row.key}", "") for row in checklist
            },
        }
        try:
            services.case_act(
                actor=request.user, number=case.number, action="forward", payload=posted
            )
        except DomainError as error:
            errors = {k: str(v) for k, v in error.fields.items()}
            message = str(error.message)
            status = error.status
        else:
            messages.success(request, _("Forwarded to the deciding department."))
            return redirect("workbench:case", number=number)
    context = case_context(request, case)
    context.update(
        {
            "rows": [
                {
                    "row": row,
                    # What a verified electronic licence stands for is present: nothing to
                    # look for on the desk.
                    "value": posted["checklist"].get(row.key, "present" if row.license else ""),
                    "error": errors.get(f"checklist.{row.key}", ""),
                }
                for row in checklist
            ],
            "identity": posted["identity"],
            "methods": services.IDENTITY_METHODS,
            "documents": services.IDENTITY_DOCUMENTS,
            "holders": services.IDENTITY_HOLDERS,
            "results": services.CHECK_RESULTS,
            "errors": errors,
            "message": message,
            "form_rows": form_rows(case),
            "back": "forward",
        }
    )
    return render(request, "workbench/forward.html", context, status=status)


@staff_only
def receive(request: HttpRequest) -> HttpResponse:
    """Window intake (异地代收): the clerk files a PROXY case for the person at the window,
    for an authority elsewhere; materials are scanned in on the next page."""
    scope: Scope = request.scope  # type: ignore[attr-defined]
    if StaffRole.WINDOW_CLERK not in scope.roles:
        raise Forbidden(_("Only window clerks receive applications."))
    version = catalog.version_current()
    items = [
        item
        for item in catalog.item_list(version=version, filters=catalog.ItemFilters(mode="PROXY"))
    ]
    code = request.POST.get("item") or request.GET.get("item") or ""
    item = next((i for i in items if i.code == code), None)
    context: dict[str, Any] = {"items": items, "item": item, "errors": {}, "message": ""}
    if item is None:
        return render(request, "workbench/receive.html", context)
    item = catalog.item_get(version=version, code=item.code)
    scenario = item.scenarios.first()
    windows = [
        window
        for window in Window.objects.filter(active=True).select_related("hall")
        if scope.covers_division(window.hall.division_id)
    ]
    context.update(
        {
            "item": item,
            "scenario": scenario,
            "places": places(item),
            "windows": windows,
            "chosen": {
                "authority_division": request.POST.get("authority_division", ""),
                "window_id": request.POST.get("window_id", ""),
                "applicant_id_number": request.POST.get("applicant_id_number", ""),
                "verify_in_person": request.POST.get("verify_in_person") == "1",
                "document_checked": request.POST.get("document_checked", "resident_id_card"),
            },
            "identity_documents": IDENTITY_DOCUMENTS,
        }
    )
    values: dict[str, Any] = {}
    form_errors: dict[str, Any] = {}
    status = 200
    if request.method == "POST" and scenario is not None:
        values = schema_form.read(scenario.form_schema, request.POST, prefix=FORM_PREFIX)
        window_id = request.POST.get("window_id", "")
        applicant_id_number = request.POST.get("applicant_id_number", "").strip().upper()
        try:
            if context["chosen"]["verify_in_person"]:
                _verify_applicant(request, applicant_id_number)
            case = services.case_submit(
                actor=request.user,
                item_code=item.code,
                scenario_key=scenario.key,
                authority_division=request.POST.get("authority_division", ""),
                form_data=values,
                mode="PROXY",
                applicant_id_number=applicant_id_number,
                window_id=int(window_id) if window_id.isdigit() else None,
            )
        except DomainError as error:
            status = error.status
            context["message"] = error.message
            form_errors, context["errors"] = schema_form.split_errors(error.fields)
        else:
            messages.success(
                request,
                _("Received as %(number)s. Check the identity and the materials, then forward.")
                % {"number": case.number},
            )
            return redirect("workbench:forward", number=case.number)
    if scenario is not None:
        context["fields"] = schema_form.fields(
            scenario.form_schema, values, form_errors, prefix=FORM_PREFIX
        )
    return render(request, "workbench/receive.html", context, status=status)


def _verify_applicant(request: HttpRequest, id_number: str) -> None:
    """The clerk ticked "checked in person": record it for the registered applicant (an
    unknown ID number is reported by case_submit, with the other fields)."""
    person = person_find_by_id_number(id_number=id_number)
    if person is not None:
        account_services.person_verify_in_person(
            actor=request.user,
            person=person,
            document_checked=request.POST.get("document_checked", ""),
        )


@staff_only
def verify(request: HttpRequest) -> HttpResponse:
    """In-person real-name verification (L3): the clerk finds the person by ID number and
    name, checks the document face to face and records it."""
    _require_clerk(request)
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        try:
            person, record = account_services.person_verify_at_window(
                actor=request.user,
                id_number=request.POST.get("id_number", ""),
                name=request.POST.get("name", ""),
                document_checked=request.POST.get("document_checked", ""),
                note=request.POST.get("note", ""),
            )
        except DomainError as error:
            status = error.status
            errors = form_errors_of(error)
        else:
            if record is None:
                messages.info(
                    request,
                    _("%(name)s was already at L%(level)d; nothing changed.")
                    % {"name": person.name_masked, "level": person.real_name_level},
                )
            else:
                messages.success(
                    request,
                    _("Recorded: %(name)s is now at L%(level)d (verified in person).")
                    % {"name": person.name_masked, "level": record.level_after},
                )
            return redirect("workbench:verify")
    return render(
        request,
        "workbench/verify.html",
        {
            "errors": errors,
            "posted": request.POST if request.method == "POST" else {},
            "identity_documents": IDENTITY_DOCUMENTS,
        },
        status=status,
    )


def _require_clerk(request: HttpRequest) -> Scope:
    scope: Scope = request.scope  # type: ignore[attr-defined]
    if access.staff_in(request.user, access.AUTHORISATION_DESK) is None:
        raise Forbidden(_("Only window clerks do this."))
    return scope


@staff_only
def authorisations(request: HttpRequest) -> HttpResponse:
    """Agent authorisations at the window: record one from a signed paper power of attorney
    (scanned in), or find a person's to revoke one at their request."""
    _require_clerk(request)
    errors: dict[str, str] = {}
    status = 200
    found: list[Any] | None = None
    lookup = {"id_number": "", "name": ""}
    if request.method == "POST" and request.POST.get("form") == "record":
        try:
            authorisation = services.agent_authorisation_record(
                actor=request.user,
                principal_id_number=request.POST.get("principal_id_number", ""),
                principal_name=request.POST.get("principal_name", ""),
                agent_id_number=request.POST.get("agent_id_number", ""),
                agent_name=request.POST.get("agent_name", ""),
                agent_employee_number=request.POST.get("agent_employee_number", ""),
                all_items=request.POST.get("scope") == "all",
                item_codes=request.POST.getlist("item_codes"),
                valid_from=parse_date(request.POST.get("valid_from", "")),
                valid_until=parse_date(request.POST.get("valid_until", "")),
                upload=request.FILES.get("file"),
            )
        except DomainError as error:
            status = error.status
            errors = form_errors_of(error)
        else:
            messages.success(
                request,
                _("Authorisation #%(id)d recorded.") % {"id": authorisation.pk},
            )
            return redirect("workbench:authorisations")
    elif request.method == "POST" and request.POST.get("form") == "lookup":
        # Posted, so the ID number never lands in an access log.
        lookup = {
            "id_number": request.POST.get("id_number", ""),
            "name": request.POST.get("name", ""),
        }
        try:
            found = list(selectors.authorisations_of_person(actor=request.user, **lookup))
        except DomainError as error:
            errors = {"lookup": error_text(error)}
    today = timezone.localdate()
    return render(
        request,
        "workbench/authorisations.html",
        {
            "errors": errors,
            "posted": request.POST if request.POST.get("form") == "record" else {},
            "chosen_items": set(request.POST.getlist("item_codes")),
            "items": sorted(
                catalog.item_list(version=catalog.version_current(), filters=catalog.ItemFilters()),
                key=lambda item: item.name,
            ),
            "lookup": lookup,
            "found": None
            if found is None
            else [{"authorisation": a, "state": a.state_on(today)} for a in found],
            "today": today,
        },
        status=status,
    )


@require_POST
@staff_only
def authorisation_revoke(request: HttpRequest, authorisation_id: int) -> HttpResponse:
    _require_clerk(request)
    revoke_and_say(request, authorisation_id, _("Revoked at the principal's request."))
    return redirect("workbench:authorisations")


@require_POST
@staff_only
def shipment_create(request: HttpRequest, number: str) -> HttpResponse:
    """Register a parcel for the case (originals from the window, or the result)."""
    case = selectors.case_get(actor=request.user, number=number)
    try:
        delivery.shipment_create(
            actor=request.user,
            number=case.number,
            purpose=request.POST.get("purpose", ""),
            carrier=request.POST.get("carrier", ""),
            tracking_number=request.POST.get("tracking_number", ""),
            to_division=request.POST.get("to_division") or None,
        )
    except DomainError as error:
        messages.error(request, error_text(error))
    else:
        messages.success(request, _("The parcel is registered."))
    return redirect("workbench:case", number=number)


@require_POST
@staff_only
def shipment_step(request: HttpRequest, number: str, shipment_id: int) -> HttpResponse:
    """Record a parcel's next step as read from the carrier."""
    # 404 for a case one cannot see, and for a parcel of another case than the page's.
    shipment_case(actor=request.user, shipment_id=shipment_id, number=number)
    try:
        delivery.shipment_record(
            actor=request.user,
            shipment_id=shipment_id,
            state=request.POST.get("state", ""),
            note=request.POST.get("note", ""),
        )
    except DomainError as error:
        messages.error(request, error_text(error))
    else:
        messages.success(request, _("The parcel's step is recorded."))
    return redirect("workbench:case", number=number)
