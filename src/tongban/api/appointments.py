"""Appointments at windows (预约服务): hours, closures, free slots, bookings and the desk."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest
from ninja import Router, Schema
from ninja.responses import Status
from ninja.security import django_auth

from tongban.delivery import appointments as svc
from tongban.delivery.models import (
    Appointment,
    AppointmentPurpose,
    ScheduleKind,
    WindowClosure,
    WindowSchedule,
)
from tongban.regions.models import Window

router = Router(tags=["appointments"])


class ChoiceOut(Schema):
    key: str
    label: str


class ScheduleIO(Schema):
    weekday: int
    start: str
    end: str
    slot_minutes: int
    capacity: int
    kind: str = ScheduleKind.REGULAR


class SchedulesIn(Schema):
    schedules: list[ScheduleIO]


class WindowOut(Schema):
    id: int
    number: str
    name: str
    off_hours: bool


class HallOut(Schema):
    key: str
    name: str
    division_code: str
    address: str
    windows: list[WindowOut]


class SlotOut(Schema):
    starts_at: dt.datetime
    ends_at: dt.datetime
    kind: str
    kind_label: str
    off_hours: bool
    capacity: int
    remaining: int
    bookable: bool


class DayOut(Schema):
    day: dt.date
    free: int
    kinds: list[str]


class ClosureIn(Schema):
    day: dt.date
    reason: str


class ClosureOut(Schema):
    day: dt.date
    reason: str


class ClosedOut(ClosureOut):
    cancelled: int


class BookIn(Schema):
    window_id: int
    starts_at: dt.datetime
    purpose: str
    item_code: str = ""
    id_number: str = ""  # a clerk booking for a person at the desk


class CancelIn(Schema):
    reason: str = ""


class AppointmentOut(Schema):
    code: str
    window_id: int
    window_number: str
    window_name: str
    hall_key: str
    hall_name: str
    hall_address: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    kind: str
    kind_label: str
    off_hours: bool
    purpose: str
    purpose_label: str
    item_code: str
    item_name: str
    state: str
    state_label: str
    assisted: bool
    cancel_reason: str
    can_cancel: bool
    person_name: str  # masked


class NoticeOut(Schema):
    code: str
    kind: str
    text: str
    created_at: dt.datetime


def _appointment(appointment: Appointment) -> dict[str, Any]:
    window = appointment.window
    return {
        "code": appointment.code,
        "window_id": window.pk,
        "window_number": window.number,
        "window_name": window.name,
        "hall_key": window.hall.key,
        "hall_name": window.hall.name,
        "hall_address": window.hall.address,
        "starts_at": appointment.starts_at,
        "ends_at": appointment.ends_at,
        "kind": appointment.kind,
        "kind_label": str(appointment.get_kind_display()),
        "off_hours": appointment.kind != ScheduleKind.REGULAR,
        "purpose": appointment.purpose,
        "purpose_label": str(appointment.get_purpose_display()),
        "item_code": appointment.item_code,
        "item_name": appointment.item_name,
        "state": appointment.state,
        "state_label": str(appointment.get_state_display()),
        "assisted": appointment.assisted,
        "cancel_reason": appointment.cancel_reason,
        "can_cancel": svc.can_cancel(appointment),
        "person_name": appointment.person.name_masked,
    }


def _schedule(schedule: WindowSchedule) -> dict[str, Any]:
    return svc.schedule_dict(schedule)


def _window(window: Window) -> dict[str, Any]:
    return {
        "id": window.pk,
        "number": window.number,
        "name": window.name,
        "off_hours": any(
            s.kind != ScheduleKind.REGULAR for s in window.appointment_schedules.all()
        ),
    }


@router.get("/purposes", response=list[ChoiceOut], auth=None)
def purposes(request: HttpRequest) -> list[dict[str, str]]:
    """What an appointment can be for."""
    return [{"key": key, "label": str(label)} for key, label in AppointmentPurpose.choices]


@router.get("/halls", response=list[HallOut], auth=None)
def halls(request: HttpRequest) -> list[dict[str, Any]]:
    """This node's halls with windows that take appointments."""
    return [
        {
            "key": hall.key,
            "name": hall.name,
            "division_code": hall.division_id,
            "address": hall.address,
            "windows": [_window(window) for window in svc.windows_for_booking(hall=hall)],
        }
        for hall in svc.halls_for_booking()
    ]


@router.get("/windows/{window_id}/schedules", response=list[ScheduleIO], auth=None)
def schedules(request: HttpRequest, window_id: int) -> list[dict[str, Any]]:
    window = svc.window_get(window_id=window_id)
    return [_schedule(s) for s in svc.schedules_of(window=window)]


@router.put("/windows/{window_id}/schedules", response=list[ScheduleIO], auth=django_auth)
def set_schedules(
    request: HttpRequest, window_id: int, payload: SchedulesIn
) -> list[dict[str, Any]]:
    """Replace the window's weekly hours (department admin of a department the window serves,
    within their jurisdiction; or platform admin). Kinds: regular, lunchtime (错时), evening
    (延时), weekend."""
    saved = svc.schedule_replace(
        actor=request.user,
        window_id=window_id,
        schedules=[row.dict() for row in payload.schedules],
    )
    return [_schedule(s) for s in saved]


@router.get("/windows/{window_id}/days", response=list[DayOut], auth=None)
def days(request: HttpRequest, window_id: int) -> list[dict[str, Any]]:
    """The coming days with slots, within the booking horizon, and the places left."""
    window = svc.window_get(window_id=window_id)
    return [
        {"day": d.day, "free": d.free, "kinds": sorted(d.kinds)}
        for d in svc.booking_days(window=window)
    ]


@router.get("/windows/{window_id}/slots", response=list[SlotOut], auth=None)
def slots(request: HttpRequest, window_id: int, day: dt.date) -> list[svc.SlotView]:
    window = svc.window_get(window_id=window_id)
    return svc.window_slots(window=window, day=day)


@router.get("/windows/{window_id}/closures", response=list[ClosureOut], auth=None)
def closures(request: HttpRequest, window_id: int) -> list[WindowClosure]:
    return svc.closures_of(window=svc.window_get(window_id=window_id))


@router.post("/windows/{window_id}/closures", response={201: ClosedOut}, auth=django_auth)
def close(request: HttpRequest, window_id: int, payload: ClosureIn) -> Status[dict[str, Any]]:
    """Close the window for appointments on a date; its bookings that day are cancelled with
    the reason and their people told."""
    closure, cancelled = svc.window_close(
        actor=request.user, window_id=window_id, day=payload.day, reason=payload.reason
    )
    return Status(201, {"day": closure.day, "reason": closure.reason, "cancelled": len(cancelled)})


@router.delete("/windows/{window_id}/closures/{day}", response={204: None}, auth=django_auth)
def reopen(request: HttpRequest, window_id: int, day: dt.date) -> Status[None]:
    svc.window_reopen(actor=request.user, window_id=window_id, day=day)
    return Status(204, None)


@router.get("/day", response=list[AppointmentOut], auth=django_auth)
def day_list(
    request: HttpRequest, day: dt.date, window_id: int | None = None, hall: str | None = None
) -> list[dict[str, Any]]:
    """Staff: a window's or a hall's appointments of a day, in time order."""
    found = svc.appointments_day(actor=request.user, day=day, window_id=window_id, hall_key=hall)
    return [_appointment(a) for a in found]


@router.post("", response={201: AppointmentOut}, auth=django_auth)
def book(request: HttpRequest, payload: BookIn) -> Status[dict[str, Any]]:
    """Book a slot (a person for themselves; a clerk for the person with `id_number`)."""
    appointment = svc.appointment_book(actor=request.user, **payload.dict())
    return Status(201, _appointment(appointment))


@router.get("/mine", response=list[AppointmentOut], auth=django_auth)
def mine(request: HttpRequest) -> list[dict[str, Any]]:
    return [_appointment(a) for a in svc.appointments_of_person(actor=request.user)]


@router.get("/notices", response=list[NoticeOut], auth=django_auth)
def notices(request: HttpRequest) -> list[dict[str, Any]]:
    """Messages about the actor's appointments (confirmations, reminders, cancellations)."""
    return [
        {"code": n.appointment.code, "kind": n.kind, "text": n.text, "created_at": n.created_at}
        for n in svc.notices_of(actor=request.user)
    ]


@router.get("/{code}", response=AppointmentOut, auth=django_auth)
def get(request: HttpRequest, code: str) -> dict[str, Any]:
    return _appointment(svc.appointment_get(actor=request.user, code=code))


@router.post("/{code}/cancel", response=AppointmentOut, auth=django_auth)
def cancel(request: HttpRequest, code: str, payload: CancelIn) -> dict[str, Any]:
    """Cancel before the slot starts: the person; or staff with a reason."""
    return _appointment(
        svc.appointment_cancel(actor=request.user, code=code, reason=payload.reason)
    )


@router.post("/{code}/check-in", response=AppointmentOut, auth=django_auth)
def check_in(request: HttpRequest, code: str) -> dict[str, Any]:
    return _desk(request, code, "check-in")


@router.post("/{code}/attended", response=AppointmentOut, auth=django_auth)
def attended(request: HttpRequest, code: str) -> dict[str, Any]:
    return _desk(request, code, "attended")


@router.post("/{code}/no-show", response=AppointmentOut, auth=django_auth)
def no_show(request: HttpRequest, code: str) -> dict[str, Any]:
    return _desk(request, code, "no-show")


def _desk(request: HttpRequest, code: str, action: str) -> dict[str, Any]:
    svc.appointment_get(actor=request.user, code=code)  # 404 for appointments one cannot see
    return _appointment(svc.DESK_ACTIONS[action](actor=request.user, code=code))
