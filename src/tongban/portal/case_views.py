"""The applicant's pages for cases: apply, my cases, one case (timeline, due dates, materials,
notices, the actions the applicant may take)."""

from __future__ import annotations

import dataclasses
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from tongban.accounts import selectors as accounts
from tongban.accounts import verification
from tongban.accounts.models import MemberRole, RealNameLevel, StaffRole
from tongban.cases import datashared, legs, licensed, selectors, services, workflow
from tongban.cases.models import Case, MaterialSource
from tongban.catalog import selectors as catalog
from tongban.catalog.models import ServiceItem
from tongban.core.errors import DomainError, Forbidden, ValidationFailed
from tongban.portal import schema_form
from tongban.portal.views import query_without_page
from tongban.regions.models import Division

FORM_PREFIX = "f."
PAGE_SIZE = 20


@login_required
def apply(request: HttpRequest, code: str) -> HttpResponse:
    """The application form of an item: drawn from the scenario's JSON Schema, checked by the
    same service the API uses; after filing, the case page takes the materials."""
    version = catalog.version_current()
    item = catalog.item_get(version=version, code=code)
    person = accounts.person_for_user(request.user)
    if person is None:
        raise Forbidden(
            _("Applications are made with a personal account; staff use the workbench.")
        )
    scenarios = list(item.scenarios.all())
    chosen = request.POST.get("scenario") or request.GET.get("scenario") or ""
    scenario = next((s for s in scenarios if s.key == chosen), scenarios[0] if scenarios else None)
    plan = legs.plan_for_item(item.name)
    modes = [
        mode
        for mode, possible in (("ONLINE", item.online), ("JOINT", item.joint and plan is not None))
        if possible
    ]
    context: dict[str, Any] = {
        "item": item,
        "scenarios": scenarios,
        "scenario": scenario,
        "modes": modes,
        "plan": plan,
        "places": places(item),
        "divisions": list(Division.objects.order_by("code").values_list("code", "name")),
        "applicants": applicant_choices(request.user, person, item),
        "chosen": {
            "mode": request.POST.get("mode", modes[0] if modes else ""),
            "authority_division": request.POST.get("authority_division", ""),
            "origin_division": request.POST.get("origin_division", ""),
            "applicant": request.POST.get("applicant", request.GET.get("applicant", "")),
        },
        "errors": {},
        **level_context(person, item.min_real_name_level),
    }
    if scenario is None or not modes or not context["level_ok"]:
        # Below the item's level: the page says how to step up instead of a form that fails.
        return render(request, "portal/cases/apply.html", context)
    # The form starts with the applicant's own details: the person's, or, applying for a
    # principal, the principal's (the choice reloads the page).
    applicant = person
    kind, _colon, key = context["chosen"]["applicant"].partition(":")
    if kind == "authorisation":
        usable = {
            str(a.pk): a
            for a in selectors.authorisations_usable(actor=request.user, item_code=item.code)
        }
        if key in usable:
            applicant = usable[key].principal
    values: dict[str, Any] = {
        "applicant_name": applicant.name,
        "id_number": applicant.id_number,
        "phone": applicant.phone,
    }
    form_errors: dict[str, Any] = {}
    status = 200
    if request.method == "POST":
        values = schema_form.read(scenario.form_schema, request.POST, prefix=FORM_PREFIX)
        kind, _colon, key = request.POST.get("applicant", "").partition(":")
        try:
            case = services.case_submit(
                actor=request.user,
                item_code=item.code,
                scenario_key=scenario.key,
                authority_division=request.POST.get("authority_division", ""),
                form_data=values,
                mode=request.POST.get("mode", ""),
                enterprise_uscc=key if kind == "enterprise" and key else None,
                authorisation_id=int(key) if kind == "authorisation" and key.isdigit() else None,
                origin_division=request.POST.get("origin_division") or None,
            )
        except ValidationFailed as error:
            status = 400
            form_errors, context["errors"] = schema_form.split_errors(error.fields)
            context["message"] = error.message
        except DomainError as error:
            # Refused as a whole (an authorisation revoked meanwhile, the level): say why.
            status = error.status
            context["message"] = error.message
        else:
            messages.success(
                request,
                _("Your application %(number)s has been filed. Now hand in the materials.")
                % {"number": case.number},
            )
            return redirect("portal:case", number=case.number)
    context["fields"] = schema_form.fields(
        scenario.form_schema, values, form_errors, prefix=FORM_PREFIX
    )
    return render(request, "portal/cases/apply.html", context, status=status)


def applicant_choices(actor: Any, person: Any, item: ServiceItem) -> list[tuple[str, str]]:
    """Whom the person can apply for: themselves, the enterprises they act for, and the people
    whose authorisation in force covers this item (value, label)."""
    choices = [("", _("Myself"))]
    choices += [
        (f"enterprise:{member.enterprise.uscc}", member.enterprise.name)
        for member in person.memberships.filter(
            role__in=[MemberRole.LEGAL_REPRESENTATIVE, MemberRole.AUTHORISED_HANDLER]
        ).select_related("enterprise")
    ]
    choices += [
        (
            f"authorisation:{authorisation.pk}",
            _("%(principal)s, as their agent (authorised until %(until)s)")
            % {
                "principal": authorisation.principal.name_masked,
                "until": authorisation.valid_until.isoformat(),
            },
        )
        for authorisation in selectors.authorisations_usable(actor=actor, item_code=item.code)
    ]
    return choices


def level_context(person: Any, needed: int) -> dict[str, Any]:
    """The real-name level an item needs, the person's, and how to step up."""
    return {
        "level_needed": needed,
        "level_needed_label": RealNameLevel(needed).label,
        "level_held": person.real_name_level,
        "level_ok": person.real_name_level >= needed,
        "step_up_methods": verification.methods_reaching(needed),
    }


def places(item: ServiceItem) -> list[tuple[str, str]]:
    """Where an item can be decided: (division code, "division · department")."""
    return [
        (impl.division_id, f"{impl.division.name} · {impl.department.name}")
        for impl in item.implementations.all()
        if impl.department is not None
    ]


@login_required
def my_cases(request: HttpRequest) -> HttpResponse:
    queryset = selectors.cases_of_applicant(actor=request.user)
    page = Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))
    rows = [
        {
            "case": case,
            "state_label": workflow.load(case.workflow).states.get(case.state, case.state),
            "clock": selectors.case_clock(case, calendar=calendar),
        }
        for calendar in [selectors.work_calendar()]
        for case in page.object_list
    ]
    return render(
        request,
        "portal/cases/mine.html",
        {"page": page, "rows": rows, "qs": query_without_page(request)},
    )


@login_required
def case_page(request: HttpRequest, number: str) -> HttpResponse:
    case = selectors.case_get(actor=request.user, number=number)
    return render(request, "portal/cases/case.html", case_context(request, case))


def done_message(case: Case, done: Any) -> Any:
    """What to say after an action: on a copy of a case decided at another node, that the
    request went there (the page changes when the answer comes back)."""
    if case.authority_node:
        return _(
            "Sent to the deciding node (%(node)s); the case here changes as soon as it answers."
        ) % {"node": case.authority_node}
    return done


def case_context(request: HttpRequest, case: Case) -> dict[str, Any]:
    """What the applicant's case page and the workbench's case page both show."""
    flow = workflow.load(case.workflow)
    legs_view = selectors.case_legs(case)
    leg_labels = {leg.key: leg.label for leg in legs_view}
    events = list(case.events.select_related("actor").order_by("seq"))
    allowed = services.actions_for(actor=request.user, case=case)
    return {
        "case": case,
        "flow": flow,
        "applicant_label": selectors.case_applicant_label(case),
        "agent_label": selectors.case_agent_label(case),
        "state_label": flow.states.get(case.state, case.state),
        "clock": selectors.case_clock(case),
        "legs": legs_view,
        "timeline": [
            {
                "event": event,
                "label": selectors.event_label(flow, event, leg_labels),
                "state_label": flow.states.get(event.to_state, event.to_state),
            }
            for event in events
        ],
        **materials_context(request, case),
        "notices": selectors.case_notices_available(case),
        "actions": [(name, flow.actions[name]) for name in allowed],
        "is_final": flow.is_final(case.state),
        "sharing": selectors.case_sharing(case),
    }


def _asker(role: str, label: str) -> str:
    """Who asked the source, as the case page says it: the applicant or their agent by their
    part in the case (their login name means nothing to anyone), staff by role and login."""
    if role == "applicant":
        return str(_("the applicant"))
    if role == "agent":
        return str(_("the applicant's agent"))
    if role in StaffRole.values:
        return f"{StaffRole(role).label} {label}"
    return label


def materials_context(request: HttpRequest, case: Case) -> dict[str, Any]:
    """The materials part of a case page: the checklist (with, where an electronic licence can
    stand for a material, the applicant's licences that fit it, and where a data-sharing check
    can, the button to make it) and what was handed in (with the current state of each licence
    this node issued, and what each data-sharing check verified, where, when and by whom)."""
    can_upload = services.can_upload(actor=request.user, case=case)
    choices = licensed.license_choices(request.user, case) if can_upload else {}
    can_verify = services.can_verify_by_datashare(actor=request.user, case=case)
    checkable = datashared.checkable_specs(case) if can_verify else set()
    materials = list(case.materials.select_related("spec").order_by("uploaded_at", "id"))
    states = licensed.license_states(
        [m.reference for m in materials if m.source == MaterialSource.LICENSE]
    )
    # Who asked the source, as the case's chain records it (also for a check made at the node
    # that received the case, whose user this node does not have).
    askers = {
        str(event.payload.get("datashare_call")): _asker(event.role, event.actor_label)
        for event in case.events.filter(action="attach").order_by("seq")
        if event.payload.get("datashare_call")
    }
    return {
        "materials": materials,
        "material_rows": [
            {
                "material": m,
                "is_license": m.source == MaterialSource.LICENSE,
                "is_datashare": m.source == MaterialSource.DATASHARE,
                "asked_by": askers.get(m.reference, ""),
                "license_state": states.get(m.reference, ""),
            }
            for m in materials
        ],
        "checklist": [
            {
                **dataclasses.asdict(row),
                "takes_license": row.key in choices,
                "fitting": choices.get(row.key, []),
                "takes_datashare": row.key in checkable,
            }
            for row in services.formal_review_checklist(case)
        ],
        "can_upload": can_upload,
        "can_verify": can_verify,
    }


@require_POST
@login_required
def case_action(request: HttpRequest, number: str, action: str) -> HttpResponse:
    """The applicant's buttons: withdraw, hand in the supplement. Staff act in the workbench."""
    if action not in {"withdraw", "supplement"}:
        raise Forbidden(_("Staff act on cases in the workbench."))
    seen = selectors.case_get(actor=request.user, number=number)
    case = services.case_act(actor=request.user, number=seen.number, action=action)
    messages.success(request, done_message(case, _("Done.")))
    return redirect("portal:case", number=number)


@require_POST
@login_required
def case_upload(request: HttpRequest, number: str) -> HttpResponse:
    """Hand in a material without JavaScript (the page uses the API with a progress bar when it
    can): a file, or with ``license`` one of the applicant's electronic licences instead, or
    with ``datashare`` a check at the data's source instead."""
    number = selectors.case_get(actor=request.user, number=number).number
    upload = request.FILES.get("file")
    spec_key = request.POST.get("spec_key", "")
    try:
        if request.POST.get("hand_in") == "license":
            identifier = request.POST.get("license", "")
            if not identifier:
                raise ValidationFailed(fields={"identifier": _("Choose a licence.")})
            services.material_from_license(
                actor=request.user, number=number, spec_key=spec_key, identifier=identifier
            )
            done = _("The electronic licence was verified and stands for the material.")
        elif request.POST.get("hand_in") == "datashare":
            material = services.material_from_datashare(
                actor=request.user, number=number, spec_key=spec_key
            )
            done = _(
                "Verified by data sharing: %(question)s (%(provider)s). No paper is needed."
            ) % {
                "question": material.check_question,
                "provider": material.check_provider,
            }
        else:
            if upload is None:
                raise ValidationFailed(fields={"file": _("Choose a file.")})
            services.material_upload(
                actor=request.user, number=number, spec_key=spec_key, upload=upload
            )
            done = _("The file has been received.")
    except DomainError as error:
        messages.error(request, error_text(error))
    else:
        messages.success(request, done)
    # Back to the page the form was on; a fixed choice, never a URL from the request.
    back = {"workbench": "workbench:case", "forward": "workbench:forward"}.get(
        request.POST.get("back", ""), "portal:case"
    )
    return redirect(back, number=number)


def form_errors_of(error: DomainError) -> dict[str, str]:
    """A refusal as a form shows it: the field messages, else the message on top ("form")."""
    return {name: str(text) for name, text in error.fields.items()} or {"form": str(error.message)}


def error_text(error: DomainError) -> str:
    """A domain error as one line for a flash message: its field messages, else its message."""
    return "；".join(str(text) for text in error.fields.values()) or str(error.message)
