"""Booking, cancelling and the desk: every refusal, capacity, closures, permissions, audit."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import override_settings

from tests.delivery.appointments_support import at, book, make_window
from tests.factories import PersonFactory, StaffFactory
from tongban.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from tongban.core.models import AuditEntry
from tongban.delivery import appointments as svc
from tongban.delivery.models import Appointment, AppointmentNotice, SlotCounter

pytestmark = pytest.mark.django_db


def _slot(window: Any, starts_at: dt.datetime) -> svc.SlotView:
    return next(
        s for s in svc.window_slots(window=window, day=starts_at.date()) if s.starts_at == starts_at
    )


def test_a_person_books_a_lunchtime_slot_and_is_told(
    window, citizen, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        appointment = book(citizen, window, at(23, 12, 30), item_code="")
    assert len(appointment.code) == 8
    assert appointment.code.isalnum()
    assert (appointment.state, appointment.kind, appointment.assisted) == (
        "booked",
        "lunchtime",
        False,
    )
    assert appointment.ends_at == at(23, 13)
    assert _slot(window, at(23, 12, 30)).remaining == 0
    entry = AuditEntry.objects.get(action="appointment.booked")
    assert entry.target_id == str(appointment.pk)
    assert entry.changes["code"] == appointment.code
    notice = AppointmentNotice.objects.get(appointment=appointment)
    assert notice.kind == "booked"
    assert appointment.code in notice.text
    assert "12:30–13:00" in notice.text


def test_a_catalogue_item_can_be_named(window, citizen) -> None:
    from tongban.catalog.models import ServiceItem
    from tongban.catalog.selectors import version_current

    item = ServiceItem.objects.filter(version=version_current()).first()
    appointment = book(citizen, window, at(23, 9), item_code=item.code.lower(), purpose="identity")
    assert (appointment.item_code, appointment.item_name) == (item.code, item.name)


def test_slots_show_the_places_left(window, citizen) -> None:
    assert _slot(window, at(23, 9)).remaining == 2
    book(citizen, window, at(23, 9))
    assert (_slot(window, at(23, 9)).booked, _slot(window, at(23, 9)).remaining) == (1, 1)
    today = svc.window_slots(window=window, day=dt.date(2026, 9, 22))
    assert [s.bookable for s in today if s.starts_at <= at(22, 10)] == [False, False, False]


@pytest.mark.parametrize(
    ("starts_at", "code"),
    [
        (at(23, 10, 15), "slot_not_offered"),  # not a slot boundary
        (at(1, 10, month=10), "slot_not_offered"),  # National Day
        (at(26, 10), "slot_not_offered"),  # Saturday inside Mid-autumn
        (at(22, 9, 30), "slot_past"),
        (at(8, 9, month=10), "slot_too_far"),  # 16 days ahead, beyond the 14-day horizon
    ],
)
def test_refused_times(window, citizen, starts_at, code) -> None:
    with pytest.raises(ValidationFailed) as refused:
        book(citizen, window, starts_at)
    assert refused.value.code == code
    assert not Appointment.objects.exists()
    assert not SlotCounter.objects.exists()


def test_off_hours_days_and_the_horizon_edge(window, frozen) -> None:
    frozen.move_to(at(14, 10))  # the Monday before
    person = PersonFactory(with_login=True)
    assert book(person, window, at(19, 9)).kind == "weekend"  # an ordinary Saturday
    assert book(person, window, at(20, 9)).kind == "regular"  # a make-up working Sunday
    assert book(person, window, at(28, 18)).kind == "evening"
    other = PersonFactory(with_login=True)
    with pytest.raises(ValidationFailed):
        book(other, window, at(26, 9))  # the Saturday of Mid-autumn: no weekend service
    with override_settings(TONGBAN_APPOINTMENT_HORIZON_DAYS=26):
        assert book(other, window, at(10, 9, month=10)).kind == "regular"  # make-up Saturday


def test_unknown_window_purpose_and_item(window, citizen) -> None:
    with pytest.raises(NotFound) as missing:
        svc.appointment_book(
            actor=citizen.user, window_id=999_999, starts_at=at(23, 9), purpose="assisted"
        )
    assert missing.value.code == "unknown_window"
    with pytest.raises(ValidationFailed) as invalid:
        book(citizen, window, at(23, 9), purpose="party", item_code="NO-SUCH-ITEM")
    assert set(invalid.value.fields) == {"purpose", "item_code"}


def test_a_full_slot(window, citizen) -> None:
    book(citizen, window, at(23, 12))
    with pytest.raises(Conflict) as full:
        book(PersonFactory(with_login=True), window, at(23, 12))
    assert full.value.code == "slot_full"
    assert SlotCounter.objects.get().booked == 1


def test_no_two_appointments_at_overlapping_times_even_at_two_windows(window, citizen) -> None:
    other = make_window(key="appt-hall-2", number="B01")
    book(citizen, window, at(23, 9))
    with pytest.raises(Conflict) as twice:
        book(citizen, other, at(23, 9))
    assert twice.value.code == "double_booking"
    book(citizen, other, at(23, 9, 30))  # right after: fine


def test_at_most_n_open_appointments(window, citizen) -> None:
    with override_settings(TONGBAN_APPOINTMENT_MAX_OPEN=2):
        book(citizen, window, at(23, 9))
        book(citizen, window, at(24, 9))
        with pytest.raises(Conflict) as many:
            book(citizen, window, at(28, 9))
        assert many.value.code == "too_many_appointments"
        svc.appointment_cancel(actor=citizen.user, code=Appointment.objects.first().code)
        book(citizen, window, at(28, 9))


def test_staff_without_a_person_cannot_book_for_themselves(window) -> None:
    reviewer = StaffFactory(reviewer=True)
    with pytest.raises(Forbidden):
        book(reviewer, window, at(23, 9))


# Cancelling ---------------------------------------------------------------------------------


def test_the_person_cancels_and_the_place_is_free_again(window, citizen) -> None:
    appointment = book(citizen, window, at(23, 12))
    cancelled = svc.appointment_cancel(actor=citizen.user, code=appointment.code.lower())
    assert cancelled.state == "cancelled"
    assert cancelled.closed_at is not None
    assert _slot(window, at(23, 12)).remaining == 1
    assert AuditEntry.objects.filter(action="appointment.cancelled").count() == 1
    assert svc.appointment_cancel(actor=citizen.user, code=appointment.code).state == "cancelled"
    assert AuditEntry.objects.filter(action="appointment.cancelled").count() == 1  # once
    book(PersonFactory(with_login=True), window, at(23, 12))


def test_nobody_cancels_someone_elses(window, citizen) -> None:
    appointment = book(citizen, window, at(23, 9))
    with pytest.raises(NotFound):
        svc.appointment_cancel(actor=PersonFactory(with_login=True).user, code=appointment.code)
    with pytest.raises(NotFound):
        svc.appointment_cancel(actor=citizen.user, code="ZZZZZZZZ")


def test_no_cancelling_once_the_slot_has_started(window, citizen, frozen) -> None:
    appointment = book(citizen, window, at(22, 12))
    frozen.move_to(at(22, 12, 1))
    with pytest.raises(Conflict) as late:
        svc.appointment_cancel(actor=citizen.user, code=appointment.code)
    assert late.value.code == "appointment_started"


def test_staff_cancel_with_a_reason_the_person_is_told(
    window, citizen, window_clerk, django_capture_on_commit_callbacks
) -> None:
    appointment = book(citizen, window, at(23, 9))
    with pytest.raises(ValidationFailed) as no_reason:
        svc.appointment_cancel(actor=window_clerk.user, code=appointment.code)
    assert set(no_reason.value.fields) == {"reason"}
    with django_capture_on_commit_callbacks(execute=True):
        svc.appointment_cancel(actor=window_clerk.user, code=appointment.code, reason="系统维护")
    assert "系统维护" in AppointmentNotice.objects.get(kind="cancelled").text


def test_staff_elsewhere_cannot_cancel(window, citizen) -> None:
    appointment = book(citizen, window, at(23, 9))
    chengdu = StaffFactory(
        window_clerk=True, department_key="cd-government-services", jurisdiction_code="510100"
    )
    with pytest.raises(NotFound) as refused:  # not theirs to see: as if there were none
        svc.appointment_cancel(actor=chengdu.user, code=appointment.code, reason="x")
    assert refused.value.code == "unknown_appointment"


# Closures -----------------------------------------------------------------------------------


def test_closing_a_day_cancels_its_bookings_and_tells_people(
    window, citizen, django_capture_on_commit_callbacks
) -> None:
    kept = book(citizen, window, at(24, 9))
    hit = [book(PersonFactory(with_login=True), window, at(23, hour)) for hour in (9, 12)]
    hrss_admin = StaffFactory(department_admin=True, department_key="cq-hrss")
    with django_capture_on_commit_callbacks(execute=True):
        svc.window_close(
            actor=hrss_admin.user, window_id=window.pk, day=dt.date(2026, 9, 23), reason="设备检修"
        )
    assert svc.window_slots(window=window, day=dt.date(2026, 9, 23)) == []
    states = dict(Appointment.objects.values_list("code", "state"))
    assert [states[a.code] for a in hit] == ["cancelled", "cancelled"]
    assert states[kept.code] == "booked"
    assert AppointmentNotice.objects.filter(kind="cancelled").count() == 2
    with pytest.raises(Conflict):
        svc.window_close(
            actor=hrss_admin.user, window_id=window.pk, day=dt.date(2026, 9, 23), reason="x"
        )
    svc.window_reopen(actor=hrss_admin.user, window_id=window.pk, day=dt.date(2026, 9, 23))
    assert _slot(window, at(23, 9)).remaining == 2  # the cancelled places are free again
    with pytest.raises(NotFound):
        svc.window_reopen(actor=hrss_admin.user, window_id=window.pk, day=dt.date(2026, 9, 23))


def test_a_closure_needs_a_reason_and_a_coming_date(window) -> None:
    with pytest.raises(ValidationFailed) as invalid:
        svc.window_close(
            actor=StaffFactory(platform_admin=True).user,
            window_id=window.pk,
            day=dt.date(2026, 9, 21),
            reason="",
        )
    assert set(invalid.value.fields) == {"reason", "day"}


# Hours --------------------------------------------------------------------------------------


def test_who_sets_the_hours(window) -> None:
    rows = [{"weekday": 1, "start": "09:00", "end": "10:00", "slot_minutes": 20, "capacity": 3}]
    hrss_admin = StaffFactory(department_admin=True, department_key="cq-hrss")
    saved = svc.schedule_replace(actor=hrss_admin.user, window_id=window.pk, schedules=rows)
    assert [(s.weekday, s.kind, s.capacity) for s in saved] == [(1, "regular", 3)]
    entry = AuditEntry.objects.filter(action="appointment.schedule_set").latest("id")
    assert entry.changes["schedules"][1] == [
        {
            "weekday": 1,
            "start": "09:00",
            "end": "10:00",
            "slot_minutes": 20,
            "capacity": 3,
            "kind": "regular",
        }
    ]
    other_department = StaffFactory(department_admin=True, department_key="cq-justice")
    chengdu_admin = StaffFactory(
        department_admin=True, department_key="cd-hrss", jurisdiction_code="510100"
    )
    for actor in (other_department, chengdu_admin, StaffFactory(window_clerk=True)):
        with pytest.raises(Forbidden):
            svc.schedule_replace(actor=actor.user, window_id=window.pk, schedules=[])
    with pytest.raises(Forbidden):
        svc.schedule_replace(
            actor=PersonFactory(with_login=True).user, window_id=window.pk, schedules=[]
        )


def test_bad_hours_are_refused_field_by_field(window) -> None:
    admin = StaffFactory(platform_admin=True)
    with pytest.raises(ValidationFailed) as invalid:
        svc.schedule_replace(
            actor=admin.user,
            window_id=window.pk,
            schedules=[
                {"weekday": 1, "start": "09:00", "end": "12:00", "slot_minutes": 30, "capacity": 2},
                {
                    "weekday": 1,
                    "start": "11:00",
                    "end": "13:00",
                    "slot_minutes": 30,
                    "capacity": 2,
                    "kind": "lunchtime",
                },
                {"weekday": 6, "start": "09:00", "end": "12:00", "slot_minutes": 30, "capacity": 2},
            ],
        )
    assert set(invalid.value.fields) == {"schedules.1", "schedules.2"}
    with pytest.raises(ValidationFailed) as malformed:
        svc.schedule_replace(
            actor=admin.user, window_id=window.pk, schedules=[{"weekday": "x", "start": "9"}]
        )
    assert set(malformed.value.fields) == {"schedules.0"}
    assert len(svc.schedules_of(window=window)) == 16  # unchanged


# The desk -----------------------------------------------------------------------------------


def test_a_clerk_books_for_a_person_at_the_desk(window, window_clerk) -> None:
    walk_in = PersonFactory()  # registered at a window, no login
    appointment = book(window_clerk, window, at(23, 17, 30), id_number=walk_in.id_number)
    assert (appointment.person_id, appointment.assisted, appointment.booked_by_id) == (
        walk_in.pk,
        True,
        window_clerk.user.pk,
    )
    with pytest.raises(ValidationFailed) as unknown:
        book(window_clerk, window, at(23, 18), id_number="11010119900307999X")
    assert set(unknown.value.fields) == {"id_number"}
    chengdu = StaffFactory(
        window_clerk=True, department_key="cd-government-services", jurisdiction_code="510100"
    )
    with pytest.raises(Forbidden):
        book(chengdu, window, at(23, 18), id_number=walk_in.id_number)


def test_check_in_attended_and_no_show(window, citizen, window_clerk, frozen) -> None:
    first = book(citizen, window, at(22, 12))
    second = book(PersonFactory(with_login=True), window, at(22, 12, 30))
    tomorrow = book(PersonFactory(with_login=True), window, at(23, 9))
    with pytest.raises(Conflict) as early:
        svc.appointment_mark_no_show(actor=window_clerk.user, code=second.code)
    assert early.value.code == "appointment_not_started"
    with pytest.raises(Conflict) as not_today:
        svc.appointment_check_in(actor=window_clerk.user, code=tomorrow.code)
    assert not_today.value.code == "not_today"
    assert svc.appointment_check_in(actor=window_clerk.user, code=first.code).state == "checked_in"
    assert svc.appointment_check_in(actor=window_clerk.user, code=first.code).state == "checked_in"
    frozen.move_to(at(22, 12, 40))
    assert (
        svc.appointment_mark_attended(actor=window_clerk.user, code=first.code).state == "attended"
    )
    assert (
        svc.appointment_mark_no_show(actor=window_clerk.user, code=second.code).state == "no_show"
    )
    with pytest.raises(Conflict):
        svc.appointment_check_in(actor=window_clerk.user, code=second.code)
    with pytest.raises(Conflict) as attended:
        svc.appointment_cancel(actor=citizen.user, code=first.code)
    assert attended.value.code == "appointment_state"
    actions = list(
        AuditEntry.objects.filter(action__startswith="appointment.").values_list(
            "action", flat=True
        )
    )
    assert actions.count("appointment.checked_in") == 1
    assert {"appointment.attended", "appointment.no_show"} <= set(actions)
    with pytest.raises(NotFound):  # a reviewer does not see bookings
        svc.appointment_check_in(actor=StaffFactory(reviewer=True).user, code=tomorrow.code)
    with pytest.raises(Forbidden):  # a department admin sees them, and does not work the desk
        svc.appointment_check_in(actor=StaffFactory(department_admin=True).user, code=tomorrow.code)


def test_the_clerks_day(window, citizen, window_clerk) -> None:
    other = make_window(key="appt-hall-2", number="B01")
    book(citizen, window, at(23, 17, 30))
    book(PersonFactory(with_login=True), window, at(23, 9))
    book(PersonFactory(with_login=True), other, at(23, 12))
    day = svc.appointments_day(
        actor=window_clerk.user, day=dt.date(2026, 9, 23), window_id=window.pk
    )
    assert [(a.starts_at, a.kind) for a in day] == [
        (at(23, 9), "regular"),
        (at(23, 17, 30), "evening"),
    ]
    hall = svc.appointments_day(
        actor=window_clerk.user, day=dt.date(2026, 9, 23), hall_key="appt-hall"
    )
    assert len(hall) == 2
    with pytest.raises(Forbidden):
        svc.appointments_day(
            actor=StaffFactory(reviewer=True).user, day=dt.date(2026, 9, 23), window_id=window.pk
        )


def test_a_calendar_gap_is_a_clear_refusal(window, citizen) -> None:
    import time_machine

    from tests.delivery.appointments_support import SHANGHAI

    with time_machine.travel(dt.datetime(2099, 1, 5, 8, tzinfo=SHANGHAI), tick=False):
        with pytest.raises(Conflict) as gap:
            book(citizen, window, dt.datetime(2099, 1, 5, 9, tzinfo=SHANGHAI))
        assert gap.value.code == "calendar_gap"
        assert svc.booking_days(window=window) == []


def test_closing_the_rest_of_today_leaves_the_mornings_bookings(window, frozen) -> None:
    frozen.move_to(at(22, 8))
    morning = book(PersonFactory(with_login=True), window, at(22, 9))
    frozen.move_to(at(22, 10))
    lunch = book(PersonFactory(with_login=True), window, at(22, 12))
    _closure, cancelled = svc.window_close(
        actor=StaffFactory(platform_admin=True).user,
        window_id=window.pk,
        day=dt.date(2026, 9, 22),
        reason="临时停电",
    )
    assert [a.code for a in cancelled] == [lunch.code]
    morning.refresh_from_db()
    assert morning.state == "booked"  # the clerk records whether they came
