"""The clerk's day: a window's (or hall's) appointments in time order, off-hours slots marked,
with check-in, attended, no-show and cancel; booking for a person at the desk; and closing a
window on a date (department and platform admins)."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from tongban.accounts.permissions import Scope
from tongban.cases import access
from tongban.core.errors import DomainError, Forbidden, NotFound
from tongban.delivery import appointments as svc
from tongban.delivery.models import AppointmentPurpose
from tongban.portal.appointment_views import why
from tongban.workbench.views import staff_only


def _day(value: str | None) -> dt.date:
    try:
        return dt.date.fromisoformat(value) if value else svc.local_today()
    except ValueError:
        return svc.local_today()


def _back(hall: str, window: str, day: str) -> HttpResponse:
    query = urlencode({k: v for k, v in (("hall", hall), ("window", window), ("day", day)) if v})
    return redirect(f"{reverse('workbench:appointments')}?{query}")


@staff_only
def day(request: HttpRequest) -> HttpResponse:
    scope: Scope = request.scope  # type: ignore[attr-defined]
    halls = [h for h in svc.halls_for_booking() if scope.covers_division(h.division_id)]
    chosen_day = _day(request.GET.get("day"))
    hall = next((h for h in halls if h.key == request.GET.get("hall")), halls[0] if halls else None)
    context: dict[str, Any] = {
        "halls": halls,
        "hall": hall,
        "day": chosen_day,
        "previous": chosen_day - dt.timedelta(days=1),
        "next": chosen_day + dt.timedelta(days=1),
        "purposes": AppointmentPurpose.choices,
        "at_desk": access.staff_in(request.user, access.APPOINTMENT_DESK) is not None,
        "manages": bool(scope.roles & set(access.APPOINTMENT_MANAGERS)) or scope.unrestricted,
        # Who booked is for clerks and department admins; platform admins set hours only.
        "reads": access.staff_in(request.user, access.APPOINTMENT_READERS) is not None,
        "rows": [],
    }
    if not (context["reads"] or context["manages"]):
        raise Forbidden(_("Appointments are for window clerks and department admins."))
    if hall is not None:
        windows = svc.windows_for_booking(hall=hall)
        window_id = request.GET.get("window", "")
        window = next((w for w in windows if str(w.pk) == window_id), None)
        context.update(windows=windows, window=window)
        found = []
        if context["reads"]:
            found = svc.appointments_day(
                actor=request.user,
                day=chosen_day,
                window_id=window.pk if window else None,
                hall_key=None if window else hall.key,
            )
        context["rows"] = [{"appointment": a, "can_cancel": svc.can_cancel(a)} for a in found]
        if window is not None:
            context["slots"] = [
                s for s in _slots(window, chosen_day, request) if s.bookable and s.remaining
            ]
    return render(request, "workbench/appointments.html", context)


def _slots(window: Any, day: dt.date, request: HttpRequest) -> list[svc.SlotView]:
    try:
        return svc.window_slots(window=window, day=day)
    except DomainError as error:
        messages.error(request, why(error))
        return []


@require_POST
@staff_only
def act(request: HttpRequest, code: str, action: str) -> HttpResponse:
    if action not in {*svc.DESK_ACTIONS, "cancel"}:
        raise NotFound()
    appointment = svc.appointment_get(actor=request.user, code=code)
    try:
        if action == "cancel":
            svc.appointment_cancel(
                actor=request.user, code=code, reason=request.POST.get("reason", "")
            )
        else:
            svc.DESK_ACTIONS[action](actor=request.user, code=code)
    except DomainError as error:
        messages.error(request, why(error))
    else:
        messages.success(request, _("Done."))
    day = svc.local_day_of(appointment).isoformat()
    return _back(appointment.window.hall.key, request.POST.get("window", ""), day)


@require_POST
@staff_only
def book(request: HttpRequest) -> HttpResponse:
    """A clerk books for the person in front of them (by ID number)."""
    hall, window, day = (request.POST.get(k, "") for k in ("hall", "window", "day"))
    try:
        appointment = svc.appointment_book(
            actor=request.user,
            window_id=int(window) if window.isdigit() else 0,
            starts_at=dt.datetime.fromisoformat(request.POST.get("starts_at", "")),
            purpose=request.POST.get("purpose", ""),
            item_code=request.POST.get("item_code", ""),
            id_number=request.POST.get("id_number", ""),
        )
    except ValueError:
        messages.error(request, _("Choose one of the window's free slots."))
    except DomainError as error:
        messages.error(request, why(error))
    else:
        messages.success(request, _("Booked: code %(code)s.") % {"code": appointment.code})
    return _back(hall, window, day)


@require_POST
@staff_only
def close(request: HttpRequest) -> HttpResponse:
    """Close the chosen window on a date; its bookings that day are cancelled and told."""
    hall, window, day = (request.POST.get(k, "") for k in ("hall", "window", "day"))
    try:
        _closure, cancelled = svc.window_close(
            actor=request.user,
            window_id=int(window) if window.isdigit() else 0,
            day=_day(request.POST.get("close_day") or day),
            reason=request.POST.get("reason", ""),
        )
    except DomainError as error:
        messages.error(request, why(error))
    else:
        messages.success(
            request,
            _("The window is closed on that date; %(n)d appointments were cancelled.")
            % {"n": len(cancelled)},
        )
    return _back(hall, window, day)
