"""The applicant's own account: real-name level and how to raise it, the enterprises they act
for (the legal representative manages its handlers), and agent authorisations (帮办代办)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from tongban.accounts import selectors as accounts
from tongban.accounts import services as account_services
from tongban.accounts import verification
from tongban.accounts.models import MemberRole, Person, RealNameLevel
from tongban.cases import selectors, services
from tongban.catalog import selectors as catalog
from tongban.core.errors import DomainError, Forbidden, NotFound
from tongban.portal.case_views import error_text, form_errors_of


def _person(request: HttpRequest) -> Person:
    person = accounts.person_for_user(request.user)
    if person is None:
        raise Forbidden(_("Only a registered person can do this."))
    return person


@login_required
def account(request: HttpRequest) -> HttpResponse:
    """My account: the real-name level with the ways to raise it, and my enterprises."""
    person = _person(request)
    top = max(RealNameLevel.values)
    return render(
        request,
        "portal/account/account.html",
        {
            "person": person,
            "level_label": RealNameLevel(person.real_name_level).label,
            "at_top": person.real_name_level >= top,
            "methods": [
                method
                for method in verification.methods().values()
                if method.level > person.real_name_level
            ],
            "verifications": accounts.verifications_of(person=person),
            "memberships": person.memberships.select_related("enterprise").order_by(
                "enterprise__name"
            ),
        },
    )


@require_POST
@login_required
def verification_start(request: HttpRequest, key: str) -> HttpResponse:
    """Off to the provider's page (a face check); it reports back to the callback."""
    try:
        start = account_services.person_verification_start(actor=request.user, method_key=key)
    except DomainError as error:
        messages.error(request, error_text(error))
        return redirect("portal:account")
    # The URL comes from the configured provider class, never from the request.
    return redirect(start.redirect_url)


@login_required
def enterprise(request: HttpRequest, uscc: str) -> HttpResponse:
    """One enterprise I act for: who acts for it; its legal representative adds and removes
    authorised handlers here."""
    person = _person(request)
    membership = (
        person.memberships.select_related("enterprise")
        .filter(enterprise__uscc=uscc.strip().upper())
        .order_by("role")
        .first()
    )
    if membership is None:
        raise NotFound(_("No enterprise has this code."))
    company = membership.enterprise
    is_representative = accounts.person_is_legal_representative(
        person=person, enterprise_id=company.pk
    )
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        try:
            account_services.enterprise_member_add(
                actor=request.user,
                enterprise=company,
                id_number=request.POST.get("id_number", ""),
                name=request.POST.get("name", ""),
                role=MemberRole.AUTHORISED_HANDLER,
            )
        except DomainError as error:
            status = error.status
            errors = form_errors_of(error)
        else:
            messages.success(request, _("The handler has been added."))
            return redirect("portal:enterprise", uscc=company.uscc)
    return render(
        request,
        "portal/account/enterprise.html",
        {
            "enterprise": company,
            "members": accounts.enterprise_members(actor=request.user, enterprise=company),
            "is_representative": is_representative,
            "errors": errors,
            "posted": request.POST if request.method == "POST" else {},
        },
        status=status,
    )


@require_POST
@login_required
def enterprise_member_remove(request: HttpRequest, uscc: str, person_id: int) -> HttpResponse:
    company = accounts.enterprise_get(uscc=uscc)
    try:
        account_services.enterprise_member_remove(
            actor=request.user,
            enterprise=company,
            person_id=person_id,
            reason=request.POST.get("reason", ""),
        )
    except DomainError as error:
        messages.error(request, error_text(error))
    else:
        messages.success(
            request, _("The handler has been removed and no longer acts for the enterprise.")
        )
    return redirect("portal:enterprise", uscc=company.uscc)


def parse_date(value: str) -> dt.date | None:
    """A date from a form field (YYYY-MM-DD); None if empty or not a date."""
    try:
        return dt.date.fromisoformat(value) if value else None
    except ValueError:
        return None


@login_required
def authorisations(request: HttpRequest) -> HttpResponse:
    """My authorisations: the ones I gave (revoke), the ones I hold, and a form to authorise
    someone to apply for me."""
    _person(request)
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        try:
            services.agent_authorisation_grant(
                actor=request.user,
                agent_id_number=request.POST.get("agent_id_number", ""),
                agent_name=request.POST.get("agent_name", ""),
                all_items=request.POST.get("scope") == "all",
                item_codes=request.POST.getlist("item_codes"),
                valid_from=parse_date(request.POST.get("valid_from", "")),
                valid_until=parse_date(request.POST.get("valid_until", "")),
            )
        except DomainError as error:
            status = error.status
            errors = form_errors_of(error)
        else:
            messages.success(
                request, _("Signed. Your agent can now apply for you within what you authorised.")
            )
            return redirect("portal:authorisations")
    today = timezone.localdate()
    version = catalog.version_current()
    return render(
        request,
        "portal/account/authorisations.html",
        {
            "given": _rows(selectors.authorisations_given(actor=request.user), today),
            "received": _rows(selectors.authorisations_received(actor=request.user), today),
            "items": sorted(
                catalog.item_list(version=version, filters=catalog.ItemFilters()),
                key=lambda item: item.name,
            ),
            "errors": errors,
            "posted": request.POST if request.method == "POST" else {},
            "chosen_items": set(request.POST.getlist("item_codes")),
            "today": today,
        },
        status=status,
    )


def _rows(queryset: Any, today: dt.date) -> list[dict[str, Any]]:
    return [
        {"authorisation": authorisation, "state": authorisation.state_on(today)}
        for authorisation in queryset
    ]


def revoke_and_say(request: HttpRequest, authorisation_id: int, done: str) -> None:
    """Revoke from a page's button; the outcome as a flash message (portal and workbench)."""
    try:
        services.agent_authorisation_revoke(
            actor=request.user,
            authorisation_id=authorisation_id,
            reason=request.POST.get("reason", ""),
        )
    except DomainError as error:
        messages.error(request, error_text(error))
    else:
        messages.success(request, done)


@require_POST
@login_required
def authorisation_revoke(request: HttpRequest, authorisation_id: int) -> HttpResponse:
    revoke_and_say(request, authorisation_id, _("Revoked. The agent can no longer act for you."))
    return redirect("portal:authorisations")
