"""Assisted service appointments (预约服务): a window's weekly hours and closures, bookings of
its slots, the clerk's day, and reminders. Services (writes) and selectors (reads) of one
small domain, kept together because they share the slot rules.

Who may do what:
- a department admin sets hours and closures for the windows of halls in their jurisdiction
  that serve their department; a platform admin for every window of the node;
- a logged-in person books and cancels their own appointments;
- a window clerk (or platform admin) whose jurisdiction covers the hall sees its day, books
  for a person at the desk, checks people in, marks them attended or absent, and cancels
  with a reason; department admins also see the day and cancel.

Capacity: every booking of a slot increments that slot's ``SlotCounter`` row with
``UPDATE … SET booked = booked + 1 WHERE booked < capacity``. The database applies the guard
and the increment as one step under the row's lock (PostgreSQL re-checks the guard after a
concurrent writer commits; SQLite runs one writer at a time), so the last place goes to one
person. A person's own row is locked first, so their parallel requests cannot both pass the
double-booking and open-bookings checks.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import DateTimeField, ExpressionWrapper, F, Q, QuerySet
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

from tongban.accounts.models import Person
from tongban.accounts.permissions import require_login
from tongban.accounts.selectors import person_find_by_id_number, person_for_user, staff_for_user
from tongban.cases import access
from tongban.cases.selectors import work_calendar
from tongban.cases.workdays import CalendarGap, WorkCalendar
from tongban.catalog import selectors as catalog
from tongban.core.audit import audit_record
from tongban.core.errors import Conflict, FieldErrors, Forbidden, NotFound, ValidationFailed
from tongban.core.logging import get_logger
from tongban.core.validation import check_text
from tongban.delivery import slots
from tongban.delivery.models import (
    Appointment,
    AppointmentNotice,
    AppointmentPurpose,
    AppointmentState,
    NoticeKind,
    ScheduleKind,
    SlotCounter,
    WindowClosure,
    WindowSchedule,
)
from tongban.delivery.notifiers import notify
from tongban.regions import codes
from tongban.regions.models import ServiceHall, Window

log = get_logger(__name__)

OPEN_STATES = (AppointmentState.BOOKED, AppointmentState.CHECKED_IN)
# Letters and digits that cannot be mistaken for each other when read out at a window.
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8
REMINDERS = (
    # kind, how long before the start, the field that records it was sent
    (NoticeKind.REMINDER_DAY_BEFORE, dt.timedelta(hours=24), "reminded_day_before_at"),
    (NoticeKind.REMINDER_SOON, dt.timedelta(hours=2), "reminded_soon_at"),
)
REMINDER_BATCH = 500


class AppointmentEvent(StrEnum):
    """Audit action names of appointments."""

    SCHEDULE_SET = "appointment.schedule_set"
    WINDOW_CLOSED = "appointment.window_closed"
    WINDOW_REOPENED = "appointment.window_reopened"
    BOOKED = "appointment.booked"
    CANCELLED = "appointment.cancelled"
    CHECKED_IN = "appointment.checked_in"
    ATTENDED = "appointment.attended"
    NO_SHOW = "appointment.no_show"


PROBLEMS: dict[str, tuple[Any, dict[str, int]]] = {
    "weekday": (_("Weekdays are numbered 1 (Monday) to 7 (Sunday)."), {}),
    "order": (_("The hours must end after they start."), {}),
    "length": (
        _("A slot lasts %(low)d to %(high)d minutes and fits at least once into the hours."),
        {"low": slots.MIN_SLOT_MINUTES, "high": slots.MAX_SLOT_MINUTES},
    ),
    "capacity": (_("Between 1 and %(n)d people per slot."), {"n": slots.MAX_CAPACITY}),
    "kind_day": (
        _("Weekend hours are on Saturday or Sunday; the other kinds on weekdays."),
        {},
    ),
    "overlap": (_("Hours of the same day must not overlap."), {}),
}


# Reads --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SlotView:
    """A slot as people see it: when, which hours, and the places left."""

    starts_at: dt.datetime
    ends_at: dt.datetime
    kind: str
    capacity: int
    booked: int
    bookable: bool  # not started yet and within the booking horizon

    @property
    def remaining(self) -> int:
        return max(0, self.capacity - self.booked)

    @property
    def kind_label(self) -> str:
        return str(ScheduleKind(self.kind).label)

    @property
    def off_hours(self) -> bool:
        return self.kind != ScheduleKind.REGULAR


def horizon_days() -> int:
    return int(settings.TONGBAN_APPOINTMENT_HORIZON_DAYS)


def local_today() -> dt.date:
    return timezone.localdate()


def halls_for_booking() -> QuerySet[ServiceHall]:
    """The node's active halls that have windows with appointment hours."""
    node = settings.TONGBAN_NODE_CODE
    halls = ServiceHall.objects.filter(
        active=True,
        windows__active=True,
        windows__appointment_schedules__isnull=False,
    ).distinct()
    keys = [hall.pk for hall in halls if codes.contains(node, hall.division_id)]
    return ServiceHall.objects.filter(pk__in=keys).order_by("division_id", "key")


def windows_for_booking(*, hall: ServiceHall) -> list[Window]:
    return list(
        hall.windows.filter(active=True, appointment_schedules__isnull=False)
        .distinct()
        .order_by("number")
    )


def hall_get(*, key: str) -> ServiceHall:
    hall = ServiceHall.objects.filter(key=key, active=True).first()
    if hall is None or not codes.contains(settings.TONGBAN_NODE_CODE, hall.division_id):
        raise NotFound(_("No service hall has this key."), code="unknown_hall")
    return hall


def window_get(*, window_id: int) -> Window:
    """An active window of an active hall of this node; NotFound otherwise."""
    window = (
        Window.objects.filter(pk=window_id, active=True, hall__active=True)
        .select_related("hall")
        .first()
    )
    if window is None or not codes.contains(settings.TONGBAN_NODE_CODE, window.hall.division_id):
        raise NotFound(_("No such window."), code="unknown_window")
    return window


def schedules_of(*, window: Window) -> list[WindowSchedule]:
    return list(window.appointment_schedules.order_by("weekday", "start"))


def _specs(schedules: Iterable[WindowSchedule]) -> list[slots.Schedule]:
    return [
        slots.Schedule(
            weekday=s.weekday,
            start=s.start,
            end=s.end,
            slot_minutes=s.slot_minutes,
            capacity=s.capacity,
            kind=slots.SlotKind(s.kind),
        )
        for s in schedules
    ]


def _day_type(calendar: WorkCalendar, day: dt.date) -> slots.DayType:
    try:
        return slots.day_type(calendar, day)
    except CalendarGap as gap:
        raise Conflict(
            _(
                "The working-day calendar of %(year)d has not been entered yet; appointments "
                "on that day cannot be offered."
            )
            % {"year": gap.year},
            code="calendar_gap",
        ) from None


def _slots_of_day(
    window: Window, day: dt.date, *, calendar: WorkCalendar | None = None
) -> list[slots.Slot]:
    closed = WindowClosure.objects.filter(window=window, day=day).exists()
    if closed:
        return []
    return slots.slots_on(
        day,
        kind_of_day=_day_type(calendar or work_calendar(), day),
        schedules=_specs(schedules_of(window=window)),
    )


def window_slots(
    *, window: Window, day: dt.date, calendar: WorkCalendar | None = None
) -> list[SlotView]:
    """A day's slots of a window with the places left, in time order."""
    tz = timezone.get_current_timezone()
    now = timezone.now()
    last_day = local_today() + dt.timedelta(days=horizon_days())
    computed = _slots_of_day(window, day, calendar=calendar)
    if not computed:
        return []
    counts = dict(
        SlotCounter.objects.filter(
            window=window,
            starts_at__gte=computed[0].starts_at(tz),
            starts_at__lte=computed[-1].starts_at(tz),
        ).values_list("starts_at", "booked")
    )
    return [
        SlotView(
            starts_at=slot.starts_at(tz),
            ends_at=slot.ends_at(tz),
            kind=str(slot.kind),
            capacity=slot.capacity,
            booked=counts.get(slot.starts_at(tz), 0),
            bookable=slot.starts_at(tz) > now and day <= last_day,
        )
        for slot in computed
    ]


@dataclass(frozen=True)
class DayView:
    day: dt.date
    free: int  # places left in bookable slots
    kinds: frozenset[str]  # the kinds of hours open that day

    @property
    def off_hours(self) -> bool:
        return any(kind != ScheduleKind.REGULAR for kind in self.kinds)


def booking_days(*, window: Window) -> list[DayView]:
    """Today and the days of the booking horizon that have slots at this window."""
    calendar = work_calendar()
    days = []
    for offset in range(horizon_days() + 1):
        day = local_today() + dt.timedelta(days=offset)
        try:
            views = window_slots(window=window, day=day, calendar=calendar)
        except Conflict:  # a calendar gap: the day is not offered
            continue
        if views:
            days.append(
                DayView(
                    day=day,
                    free=sum(v.remaining for v in views if v.bookable),
                    kinds=frozenset(v.kind for v in views),
                )
            )
    return days


def appointments_of_person(*, actor: Any, limit: int = 100) -> list[Appointment]:
    """The actor's own appointments: the open ones still ahead, soonest first; then the rest
    (past, attended, cancelled), latest first."""
    require_login(actor)
    person = person_for_user(actor)
    if person is None:
        return []
    mine = Appointment.objects.filter(person=person).select_related("window__hall", "person")
    ahead = Q(state__in=OPEN_STATES, ends_at__gt=timezone.now())
    coming = list(mine.filter(ahead).order_by("starts_at", "id")[:limit])
    rest = list(mine.exclude(ahead).order_by("-starts_at", "-id")[: max(0, limit - len(coming))])
    return coming + rest


def notices_of(*, actor: Any, limit: int = 20) -> list[AppointmentNotice]:
    require_login(actor)
    person = person_for_user(actor)
    if person is None:
        return []
    return list(
        AppointmentNotice.objects.filter(person=person).select_related("appointment")[:limit]
    )


def appointments_day(
    *, actor: Any, day: dt.date, window_id: int | None = None, hall_key: str | None = None
) -> list[Appointment]:
    """A window's (or a whole hall's) appointments of a day, in time order, for staff whose
    jurisdiction covers the hall."""
    if window_id is not None:
        window = window_get(window_id=window_id)
        hall, query = window.hall, Q(window=window)
    elif hall_key:
        hall = hall_get(key=hall_key)
        query = Q(window__hall=hall)
    else:
        raise ValidationFailed(fields={"window_id": _("Choose a window or a hall.")})
    access.hall_staff(actor, hall.division_id, access.APPOINTMENT_READERS)
    start = dt.datetime.combine(day, dt.time.min, tzinfo=timezone.get_current_timezone())
    return list(
        Appointment.objects.filter(
            query, starts_at__gte=start, starts_at__lt=start + dt.timedelta(days=1)
        )
        .select_related("window__hall", "person")
        .order_by("starts_at", "window__number", "id")
    )


def appointment_get(*, actor: Any, code: str) -> Appointment:
    """An appointment its person, or clerks and department admins covering its hall, may see;
    NotFound for anyone else (a guessed code tells nothing)."""
    require_login(actor)
    appointment = (
        Appointment.objects.filter(code=(code or "").strip().upper())
        .select_related("window__hall", "person")
        .first()
    )
    if appointment is None or not _visible(actor, appointment):
        raise NotFound(_("No such appointment."), code="unknown_appointment")
    return appointment


def _visible(actor: Any, appointment: Appointment) -> bool:
    return access.appointment_visible(
        actor, person_id=appointment.person_id, hall_division=appointment.window.hall.division_id
    )


def local_day_of(appointment: Appointment) -> dt.date:
    return timezone.localtime(appointment.starts_at).date()


def can_cancel(appointment: Appointment, *, now: dt.datetime | None = None) -> bool:
    return appointment.state == AppointmentState.BOOKED and appointment.starts_at > (
        now or timezone.now()
    )


# Hours and closures -------------------------------------------------------------------------


def _manage(actor: Any, window: Window) -> None:
    access.hall_manager(
        actor, window.hall.division_id, window.departments.values_list("pk", flat=True)
    )


def _parse_schedules(raw: Iterable[Mapping[str, Any]]) -> list[slots.Schedule]:
    errors = FieldErrors()
    parsed: list[slots.Schedule] = []
    for index, item in enumerate(raw):
        where = f"schedules.{index}"
        try:
            parsed.append(
                slots.Schedule(
                    weekday=int(item["weekday"]),
                    start=_time(item["start"]),
                    end=_time(item["end"]),
                    slot_minutes=int(item["slot_minutes"]),
                    capacity=int(item["capacity"]),
                    kind=slots.SlotKind(str(item.get("kind", ScheduleKind.REGULAR))),
                )
            )
        except (KeyError, TypeError, ValueError):
            errors.add(
                where,
                _(
                    "Give weekday (1–7), start and end (HH:MM), slot_minutes, capacity and "
                    "kind (regular, lunchtime, evening or weekend)."
                ),
            )
    errors.raise_if_any()
    for index, problem in slots.schedule_problems(parsed).items():
        message, values = PROBLEMS[problem]
        errors.add(f"schedules.{index}", message % values if values else message)
    errors.raise_if_any()
    return parsed


def _time(value: Any) -> dt.time:
    moment = value if isinstance(value, dt.time) else dt.time.fromisoformat(str(value))
    if moment.second or moment.microsecond or moment.tzinfo is not None:
        raise ValueError("hours are whole minutes, local time")
    return moment


def schedule_replace(
    *, actor: Any, window_id: int, schedules: Iterable[Mapping[str, Any]]
) -> list[WindowSchedule]:
    """Set a window's weekly appointment hours (all of them; an empty list stops taking
    appointments). Bookings already made are kept: people were promised those times."""
    window = window_get(window_id=window_id)
    _manage(actor, window)
    parsed = _parse_schedules(schedules)
    with transaction.atomic():
        # Two managers saving at once: one after the other, each replacing the whole week.
        Window.objects.select_for_update().filter(pk=window.pk).first()
        old = [schedule_dict(s) for s in schedules_of(window=window)]
        window.appointment_schedules.all().delete()
        rows = WindowSchedule.objects.bulk_create(
            WindowSchedule(
                window=window,
                weekday=spec.weekday,
                start=spec.start,
                end=spec.end,
                slot_minutes=spec.slot_minutes,
                capacity=spec.capacity,
                kind=str(spec.kind),
            )
            for spec in sorted(parsed, key=lambda s: (s.weekday, s.start))
        )
        new = [schedule_dict(s) for s in rows]
        if old != new:
            audit_record(
                actor=actor,
                action=AppointmentEvent.SCHEDULE_SET,
                target=window,
                changes={"schedules": [old, new]},
            )
    return schedules_of(window=window)


def schedule_dict(schedule: WindowSchedule) -> dict[str, Any]:
    return {
        "weekday": schedule.weekday,
        "start": schedule.start.strftime("%H:%M"),
        "end": schedule.end.strftime("%H:%M"),
        "slot_minutes": schedule.slot_minutes,
        "capacity": schedule.capacity,
        "kind": schedule.kind,
    }


def window_close(
    *, actor: Any, window_id: int, day: dt.date, reason: str
) -> tuple[WindowClosure, list[Appointment]]:
    """Close a window for appointments on a date: its open bookings that day are cancelled
    with the reason, and their people told. Returns the closure and those bookings."""
    window = window_get(window_id=window_id)
    _manage(actor, window)
    errors = FieldErrors()
    reason = check_text(reason, field="reason", errors=errors, max_length=255)
    if day < local_today():
        errors.add("day", _("The date has passed."))
    errors.raise_if_any()
    with transaction.atomic():
        try:
            with transaction.atomic():
                closure = WindowClosure.objects.create(
                    window=window, day=day, reason=reason, created_by=_user(actor)
                )
        except IntegrityError:
            raise Conflict(
                _("The window is already closed on this date."), code="already_closed"
            ) from None
        affected = _open_on(window, day)
        for appointment in affected:
            _cancel(appointment, actor=actor, reason=reason)
        audit_record(
            actor=actor,
            action=AppointmentEvent.WINDOW_CLOSED,
            target=window,
            changes={"day": day.isoformat(), "reason": reason, "cancelled": len(affected)},
        )
    log.info("appointment.window_closed", window=window.pk, day=str(day), cancelled=len(affected))
    return closure, affected


def _open_on(window: Window, day: dt.date) -> list[Appointment]:
    start = dt.datetime.combine(day, dt.time.min, tzinfo=timezone.get_current_timezone())
    return list(
        Appointment.objects.select_for_update()
        .filter(
            window=window,
            state__in=OPEN_STATES,
            # Closing for the rest of today leaves the morning's bookings to the clerk.
            starts_at__gte=max(start, timezone.now()),
            starts_at__lt=start + dt.timedelta(days=1),
        )
        .order_by("starts_at", "id")
    )


def window_reopen(*, actor: Any, window_id: int, day: dt.date) -> None:
    """Take appointments on a closed date again (bookings cancelled by the closure stay
    cancelled: their people have been told)."""
    window = window_get(window_id=window_id)
    _manage(actor, window)
    with transaction.atomic():
        deleted, _rows = WindowClosure.objects.filter(window=window, day=day).delete()
        if not deleted:
            raise NotFound(_("The window is not closed on this date."), code="not_closed")
        audit_record(
            actor=actor,
            action=AppointmentEvent.WINDOW_REOPENED,
            target=window,
            changes={"day": day.isoformat()},
        )


def closures_of(*, window: Window, since: dt.date | None = None) -> list[WindowClosure]:
    return list(window.closures.filter(day__gte=since or local_today()).order_by("day"))


# Bookings -----------------------------------------------------------------------------------


def _user(actor: Any) -> Any:
    return actor if getattr(actor, "pk", None) else None


def _booking_person(actor: Any, window: Window, id_number: str) -> tuple[Person, bool]:
    """(the person booked for, whether a clerk books for them at the desk)."""
    require_login(actor)
    if staff_for_user(actor) is not None or (id_number and getattr(actor, "is_superuser", False)):
        access.hall_staff(actor, window.hall.division_id, access.APPOINTMENT_DESK)
        person = person_find_by_id_number(id_number=id_number or "")
        if person is None:
            raise ValidationFailed(
                fields={
                    "id_number": _(
                        "No person with this ID number is registered; register them at the "
                        "window first."
                    )
                }
            )
        return person, True
    person = person_for_user(actor)
    if person is None:
        raise Forbidden(
            _("Appointments are booked with a personal account; staff use the workbench."),
            code="not_a_person",
        )
    return person, False


def _local(moment: dt.datetime) -> dt.datetime:
    if timezone.is_naive(moment):
        return timezone.make_aware(moment)  # as typed at a desk: the node's local time
    return timezone.localtime(moment)


def appointment_book(
    *,
    actor: Any,
    window_id: int,
    starts_at: dt.datetime,
    purpose: str,
    item_code: str = "",
    id_number: str = "",
) -> Appointment:
    """Book the slot of ``window_id`` that starts at ``starts_at`` for the actor (a person),
    or, by a clerk at the desk, for the person with ``id_number``.

    Refused: an unknown window (404), a slot the window does not offer (400), one that has
    started or lies beyond the horizon (400), a full one, a person's overlapping or
    too many open bookings (409).
    """
    window = window_get(window_id=window_id)
    person, assisted = _booking_person(actor, window, id_number)
    errors = FieldErrors()
    if purpose not in AppointmentPurpose.values:
        errors.add("purpose", _("Choose one of: %(choices)s.") % {"choices": _purposes()})
    item_code = (item_code or "").strip().upper()
    item_name = ""
    if item_code:
        try:
            item_name = catalog.item_get(version=catalog.version_current(), code=item_code).name
        except NotFound:
            errors.add("item_code", _("No service item has this code."))
    errors.raise_if_any()
    start = _local(starts_at)
    slot = next(
        (s for s in _slots_of_day(window, start.date()) if s.start == start.time()),
        None,
    )
    if slot is None:
        raise ValidationFailed(
            _("The window offers no appointment at this time."),
            code="slot_not_offered",
            fields={"starts_at": _("Choose one of the window's free slots.")},
        )
    tz = timezone.get_current_timezone()
    start, end = slot.starts_at(tz), slot.ends_at(tz)
    now = timezone.now()
    if start <= now:
        raise ValidationFailed(
            _("This slot has already started."),
            code="slot_past",
            fields={"starts_at": _("Choose a later time.")},
        )
    if start.date() > local_today() + dt.timedelta(days=horizon_days()):
        raise ValidationFailed(
            _("Appointments can be booked at most %(n)d days ahead.") % {"n": horizon_days()},
            code="slot_too_far",
            fields={"starts_at": _("Choose an earlier day.")},
        )
    with transaction.atomic():
        # One booking of a person at a time, so the checks below hold when it commits.
        Person.objects.select_for_update().filter(pk=person.pk).first()
        mine = Appointment.objects.filter(person=person, state__in=OPEN_STATES, ends_at__gt=now)
        if mine.filter(starts_at__lt=end, ends_at__gt=start).exists():
            raise Conflict(
                _("You already have an appointment at this time."), code="double_booking"
            )
        limit = int(settings.TONGBAN_APPOINTMENT_MAX_OPEN)
        if mine.count() >= limit:
            raise Conflict(
                _("At most %(n)d open appointments at a time; cancel one first.") % {"n": limit},
                code="too_many_appointments",
            )
        counter, _created = SlotCounter.objects.get_or_create(window=window, starts_at=start)
        taken = SlotCounter.objects.filter(pk=counter.pk, booked__lt=slot.capacity).update(
            booked=F("booked") + 1
        )
        if not taken:
            raise Conflict(_("This slot is fully booked."), code="slot_full")
        appointment = _create(
            window=window,
            person=person,
            starts_at=start,
            ends_at=end,
            kind=str(slot.kind),
            purpose=purpose,
            item_code=item_code,
            item_name=item_name,
            booked_by=actor,
            assisted=assisted,
        )
        audit_record(
            actor=actor,
            action=AppointmentEvent.BOOKED,
            target=appointment,
            changes={
                "code": appointment.code,
                "window": window.pk,
                "starts_at": start.isoformat(),
                "purpose": purpose,
                "item_code": item_code,
                "assisted": assisted,
            },
        )
        transaction.on_commit(lambda: _tell(appointment, NoticeKind.BOOKED))
    log.info("appointment.booked", appointment=appointment.code, window=window.pk)
    return appointment


def _purposes() -> str:
    return ", ".join(AppointmentPurpose.values)


def _create(**fields: Any) -> Appointment:
    """Insert with a fresh code; a collision (one in 10^12 per pair) draws again."""
    for _attempt in range(5):
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        try:
            with transaction.atomic():
                return Appointment.objects.create(code=code, **fields)
        except IntegrityError:
            continue
    raise RuntimeError("could not draw a free booking code")


def _locked(code: str) -> Appointment:
    appointment = (
        Appointment.objects.select_for_update()
        .filter(code=(code or "").strip().upper())
        .select_related("window__hall")
        .first()
    )
    if appointment is None:
        raise NotFound(_("No such appointment."), code="unknown_appointment")
    return appointment


def appointment_cancel(*, actor: Any, code: str, reason: str = "") -> Appointment:
    """Cancel before the slot starts: by its person, or by staff covering the hall with a
    reason (which the person is told)."""
    require_login(actor)
    with transaction.atomic():
        appointment = _locked(code)
        person = person_for_user(actor)
        own = person is not None and appointment.person_id == person.pk
        if not own and not _visible(actor, appointment):
            raise NotFound(_("No such appointment."), code="unknown_appointment")
        errors = FieldErrors()
        # Staff give the reason the person is told; a person may give one for the record.
        reason = check_text(reason, field="reason", errors=errors, max_length=255, required=not own)
        errors.raise_if_any()
        if appointment.state == AppointmentState.CANCELLED:
            return appointment  # nothing changes
        if appointment.state != AppointmentState.BOOKED:
            raise Conflict(
                _("An appointment that is %(state)s cannot be cancelled.")
                % {"state": appointment.get_state_display()},
                code="appointment_state",
            )
        if appointment.starts_at <= timezone.now():
            raise Conflict(
                _("The appointment has started; it can no longer be cancelled."),
                code="appointment_started",
            )
        _cancel(appointment, actor=actor, reason=reason, tell=not own)
    return appointment


def _cancel(appointment: Appointment, *, actor: Any, reason: str, tell: bool = True) -> None:
    """Cancel a locked open appointment and free its place; the person is told after commit
    unless they cancelled it themselves."""
    old = appointment.state
    appointment.state = AppointmentState.CANCELLED
    appointment.closed_at = timezone.now()
    appointment.cancel_reason = reason
    appointment.changed_by = _user(actor)
    appointment.save(update_fields=["state", "closed_at", "cancel_reason", "changed_by"])
    SlotCounter.objects.filter(
        window_id=appointment.window_id, starts_at=appointment.starts_at, booked__gt=0
    ).update(booked=F("booked") - 1)
    audit_record(
        actor=actor,
        action=AppointmentEvent.CANCELLED,
        target=appointment,
        changes={"state": [old, appointment.state], "reason": reason},
    )
    if tell:
        transaction.on_commit(lambda: _tell(appointment, NoticeKind.CANCELLED))


# The clerk's desk: check-in, attended, no-show ------------------------------------------------

_MOVES: dict[str, tuple[frozenset[str], AppointmentEvent]] = {
    AppointmentState.CHECKED_IN: (
        frozenset({AppointmentState.BOOKED}),
        AppointmentEvent.CHECKED_IN,
    ),
    AppointmentState.ATTENDED: (
        frozenset({AppointmentState.BOOKED, AppointmentState.CHECKED_IN}),
        AppointmentEvent.ATTENDED,
    ),
    AppointmentState.NO_SHOW: (
        frozenset({AppointmentState.BOOKED}),
        AppointmentEvent.NO_SHOW,
    ),
}


def _desk_move(*, actor: Any, code: str, state: str) -> Appointment:
    sources, event = _MOVES[state]
    with transaction.atomic():
        appointment = _locked(code)
        if not _visible(actor, appointment):
            raise NotFound(_("No such appointment."), code="unknown_appointment")
        access.hall_staff(actor, appointment.window.hall.division_id, access.APPOINTMENT_DESK)
        if appointment.state == state:
            return appointment  # nothing changes
        if appointment.state not in sources:
            raise Conflict(
                _("An appointment that is %(now)s cannot become %(next)s.")
                % {
                    "now": appointment.get_state_display(),
                    "next": AppointmentState(state).label,
                },
                code="appointment_state",
            )
        now = timezone.now()
        if timezone.localtime(appointment.starts_at).date() != timezone.localdate(now):
            raise Conflict(
                _("This can only be recorded on the day of the appointment."),
                code="not_today",
            )
        if state == AppointmentState.NO_SHOW and now < appointment.starts_at:
            raise Conflict(
                _("A person can be marked absent only once their slot has started."),
                code="appointment_not_started",
            )
        old = appointment.state
        appointment.state = state
        appointment.changed_by = _user(actor)
        fields = ["state", "changed_by"]
        if state == AppointmentState.CHECKED_IN:
            appointment.checked_in_at = now
            fields.append("checked_in_at")
        else:
            appointment.closed_at = now
            fields.append("closed_at")
        appointment.save(update_fields=fields)
        audit_record(actor=actor, action=event, target=appointment, changes={"state": [old, state]})
    return appointment


def appointment_check_in(*, actor: Any, code: str) -> Appointment:
    """The person has arrived at the hall (on the day)."""
    return _desk_move(actor=actor, code=code, state=AppointmentState.CHECKED_IN)


def appointment_mark_attended(*, actor: Any, code: str) -> Appointment:
    """The person was served."""
    return _desk_move(actor=actor, code=code, state=AppointmentState.ATTENDED)


def appointment_mark_no_show(*, actor: Any, code: str) -> Appointment:
    """The person did not come (once the slot has started)."""
    return _desk_move(actor=actor, code=code, state=AppointmentState.NO_SHOW)


DESK_ACTIONS = {
    "check-in": appointment_check_in,
    "attended": appointment_mark_attended,
    "no-show": appointment_mark_no_show,
}


# Messages and reminders ---------------------------------------------------------------------


def place_of(appointment: Appointment) -> str:
    window = appointment.window
    return f"{window.hall.name} {window.number} {window.name}"


def when_of(appointment: Appointment) -> str:
    start = timezone.localtime(appointment.starts_at)
    end = timezone.localtime(appointment.ends_at)
    return f"{start:%Y-%m-%d %H:%M}–{end:%H:%M}"


def notice_text(appointment: Appointment, kind: str) -> str:
    """The message in the node's language (an SMS is one text for everyone)."""
    values = {
        "code": appointment.code,
        "place": place_of(appointment),
        "when": when_of(appointment),
        "reason": appointment.cancel_reason,
    }
    with translation.override(settings.LANGUAGE_CODE):
        if kind == NoticeKind.BOOKED:
            text = _("Appointment booked: %(place)s, %(when)s. Booking code %(code)s.")
        elif kind == NoticeKind.CANCELLED:
            text = _(
                "Your appointment %(code)s at %(place)s, %(when)s, has been cancelled: %(reason)s"
            )
        else:
            text = _(
                "Reminder: your appointment at %(place)s, %(when)s. Booking code %(code)s; "
                "bring your ID card."
            )
        return str(text) % values


def _tell(appointment: Appointment, kind: str) -> None:
    fresh = Appointment.objects.select_related("window__hall").get(pk=appointment.pk)
    notify(appointment=fresh, kind=kind, text=notice_text(fresh, kind))


def appointments_send_reminders(*, now: dt.datetime | None = None) -> int:
    """Send the reminders that are due: the day before (24 h ahead) and shortly before
    (2 h ahead), each once per appointment still booked. Safe to run from several workers at
    once: each reminder is claimed by a guarded update before it is sent, in one transaction
    with the message."""
    now = now or timezone.now()
    sent = 0
    soon_lead = REMINDERS[-1][1]
    for kind, lead, field in REMINDERS:
        due = Appointment.objects.filter(
            state=AppointmentState.BOOKED,
            starts_at__gt=now,
            starts_at__lte=now + lead,
            # Booked after the moment this reminder was due: it would only repeat the
            # confirmation just received.
            created_at__lte=ExpressionWrapper(F("starts_at") - lead, output_field=DateTimeField()),
            **{f"{field}__isnull": True},
        )
        if kind == NoticeKind.REMINDER_DAY_BEFORE:
            due = due.filter(starts_at__gt=now + soon_lead)  # the later one is due instead
        for pk in list(due.order_by("starts_at").values_list("pk", flat=True)[:REMINDER_BATCH]):
            with transaction.atomic():
                claimed = Appointment.objects.filter(
                    pk=pk, state=AppointmentState.BOOKED, **{f"{field}__isnull": True}
                ).update(**{field: now})
                if not claimed:
                    continue  # another worker sent it, or it was cancelled meanwhile
                appointment = Appointment.objects.select_related("window__hall").get(pk=pk)
                notify(appointment=appointment, kind=kind, text=notice_text(appointment, kind))
            sent += 1
    if sent:
        log.info("appointment.reminders_sent", count=sent)
    return sent
