"""The issuing department's licence register: find a licence its department issued, see its
versions and state, and revoke it or issue a new version, each with a reason (approvers and
department admins)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from tongban.core.errors import DomainError
from tongban.licenses import selectors, services
from tongban.licenses.models import LicenseState
from tongban.portal.appointment_views import why
from tongban.portal.views import query_without_page
from tongban.workbench.views import staff_only

PAGE_SIZE = 25


@staff_only
def register(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "")
    state = request.GET.get("state", "")
    found = selectors.licenses_issued(request.user, query=query, state=state)
    page = Paginator(found, PAGE_SIZE).get_page(request.GET.get("page"))
    context: dict[str, Any] = {
        "page": page,
        "query": query,
        "state": state,
        "states": LicenseState.choices,
        "qs": query_without_page(request),
    }
    return render(request, "workbench/licenses.html", context)


@staff_only
@require_POST
def act(request: HttpRequest, identifier: str, action: str) -> HttpResponse:
    """Revoke, or re-issue as a new version: the reason is required and audited."""
    reason = request.POST.get("reason", "")
    shown = identifier
    try:
        if action == "revoke":
            done = services.license_revoke(actor=request.user, identifier=identifier, reason=reason)
            messages.success(request, _("Licence %(id)s revoked.") % {"id": done.identifier})
        elif action == "reissue":
            done = services.license_reissue(
                actor=request.user, identifier=identifier, reason=reason
            )
            messages.success(
                request,
                _("Version %(v)d issued: %(id)s. The previous version is superseded.")
                % {"v": done.version, "id": done.identifier},
            )
            shown = done.number  # both versions, the new one first
        else:
            messages.error(request, _("Unknown action."))
    except DomainError as error:
        messages.error(request, why(error))
    return redirect(f"{reverse('workbench:licenses')}?{urlencode({'q': shown})}")
