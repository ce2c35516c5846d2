"""The applicant's appointment pages: book a slot (hall → window → day → slot, off-hours slots
labelled) and "my appointments" with codes, messages and a cancel button."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from tongban.core.errors import Conflict, DomainError, ValidationFailed
from tongban.delivery import appointments as svc
from tongban.delivery.models import AppointmentPurpose
from tongban.portal.case_views import error_text


def why(error: DomainError) -> str:
    """A refusal as one line: its own message when it has one (slot full, already started…),
    else its field messages."""
    if error.code == "validation_failed":
        return error_text(error)
    return str(error.message)


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


def _day(value: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if value else None
    except ValueError:
        return None


@login_required
def book(request: HttpRequest) -> HttpResponse:
    """One page, narrowed step by step through its query string (works without JavaScript)."""
    context: dict[str, Any] = {
        "halls": list(svc.halls_for_booking()),
        "purposes": AppointmentPurpose.choices,
        "horizon": svc.horizon_days(),
        "chosen": {
            "purpose": request.POST.get("purpose", request.GET.get("purpose", "")),
            "item_code": request.POST.get("item_code", request.GET.get("item", "")),
        },
    }
    # A service item chosen on its guide page travels along the steps.
    item = context["chosen"]["item_code"][:64]
    context["carry"] = urlencode({"item": item}) if item else ""
    hall_key = request.GET.get("hall") or ""
    hall = next((h for h in context["halls"] if h.key == hall_key), None)
    context["hall"] = hall
    if hall is not None:
        context["windows"] = svc.windows_for_booking(hall=hall)
        window_id = _int(request.GET.get("window") or request.POST.get("window"))
        window = next((w for w in context["windows"] if w.pk == window_id), None)
        context["window"] = window
        if window is not None:
            context["days"] = svc.booking_days(window=window)
            day = _day(request.GET.get("day"))
            context["day"] = day
            if day is not None:
                try:
                    context["slots"] = svc.window_slots(window=window, day=day)
                except DomainError as error:
                    context["slots"] = []
                    messages.error(request, why(error))
    if request.method == "POST":
        try:
            starts_at = dt.datetime.fromisoformat(request.POST.get("starts_at", ""))
        except ValueError:
            messages.error(request, _("Choose one of the window's free slots."))
        else:
            try:
                appointment = svc.appointment_book(
                    actor=request.user,
                    window_id=_int(request.POST.get("window")) or 0,
                    starts_at=starts_at,
                    purpose=request.POST.get("purpose", ""),
                    item_code=request.POST.get("item_code", ""),
                )
            except DomainError as error:
                messages.error(request, why(error))
            else:
                messages.success(
                    request,
                    _("Booked. Your booking code is %(code)s; show it at the window.")
                    % {"code": appointment.code},
                )
                return redirect("portal:my_appointments")
        return render(request, "portal/appointments/book.html", context, status=400)
    return render(request, "portal/appointments/book.html", context)


@login_required
def mine(request: HttpRequest) -> HttpResponse:
    rows = [
        {"appointment": a, "can_cancel": svc.can_cancel(a), "place": svc.place_of(a)}
        for a in svc.appointments_of_person(actor=request.user, limit=50)
    ]
    return render(
        request,
        "portal/appointments/mine.html",
        {"rows": rows, "notices": svc.notices_of(actor=request.user, limit=10)},
    )


@require_POST
@login_required
def cancel(request: HttpRequest, code: str) -> HttpResponse:
    try:
        svc.appointment_cancel(actor=request.user, code=code, reason=request.POST.get("reason", ""))
    except (Conflict, ValidationFailed) as error:  # someone else's: the 404 page
        messages.error(request, why(error))
    else:
        messages.success(request, _("The appointment has been cancelled."))
    return redirect("portal:my_appointments")
