"""Reminders the day before and two hours before: each exactly once, none for cancelled
appointments, none that would only repeat a booking just made."""

from __future__ import annotations

import threading
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection, connections

from tests.delivery.appointments_support import at, book
from tests.factories import PersonFactory
from tongban.delivery import appointments as svc
from tongban.delivery.models import Appointment, AppointmentNotice

pytestmark = pytest.mark.django_db


def reminders(appointment: Appointment) -> list[str]:
    return list(
        AppointmentNotice.objects.filter(appointment=appointment)
        .exclude(kind="booked")
        .order_by("created_at", "id")
        .values_list("kind", flat=True)
    )


def test_each_reminder_goes_once(window, citizen, frozen) -> None:
    appointment = book(citizen, window, at(24, 9))  # Thursday 09:00, booked Tuesday 10:00
    assert svc.appointments_send_reminders() == 0
    frozen.move_to(at(23, 8, 59))
    assert svc.appointments_send_reminders() == 0
    frozen.move_to(at(23, 9, 5))
    assert svc.appointments_send_reminders() == 1
    assert svc.appointments_send_reminders() == 0
    frozen.move_to(at(24, 7, 5))
    assert svc.appointments_send_reminders() == 1
    assert svc.appointments_send_reminders() == 0
    frozen.move_to(at(24, 9, 1))
    assert svc.appointments_send_reminders() == 0
    assert reminders(appointment) == ["reminder_day_before", "reminder_soon"]
    text = AppointmentNotice.objects.get(kind="reminder_soon").text
    assert appointment.code in text
    assert "2026-09-24 09:00–09:30" in text
    appointment.refresh_from_db()
    assert appointment.reminded_day_before_at == at(23, 9, 5)


def test_none_for_cancelled_appointments(window, citizen, frozen) -> None:
    appointment = book(citizen, window, at(24, 9))
    svc.appointment_cancel(actor=citizen.user, code=appointment.code)
    frozen.move_to(at(24, 8))
    assert svc.appointments_send_reminders() == 0
    assert reminders(appointment) == []


def test_a_late_booking_gets_only_the_reminders_still_ahead(window, frozen) -> None:
    frozen.move_to(at(23, 8))
    tomorrow_morning = book(PersonFactory(with_login=True), window, at(24, 9))  # 25 h ahead
    frozen.move_to(at(23, 12, 5))
    soon = book(PersonFactory(with_login=True), window, at(23, 17, 30))  # 5 h ahead
    frozen.move_to(at(23, 15, 45))
    assert svc.appointments_send_reminders() == 2
    assert reminders(soon) == ["reminder_soon"]
    assert reminders(tomorrow_morning) == ["reminder_day_before"]
    frozen.move_to(at(23, 16, 10))
    just_now = book(PersonFactory(with_login=True), window, at(23, 18))
    frozen.move_to(at(23, 16, 15))
    svc.appointments_send_reminders()
    assert reminders(just_now) == []  # booked inside the 2 hours: the confirmation says it all
    frozen.move_to(at(24, 7, 30))
    svc.appointments_send_reminders()
    assert reminders(tomorrow_morning) == ["reminder_day_before", "reminder_soon"]


def test_the_tick_command(window, citizen, frozen) -> None:
    book(citizen, window, at(24, 9))
    frozen.move_to(at(23, 9, 5))
    out = StringIO()
    call_command("appointments", "tick", stdout=out)
    assert out.getvalue().strip() == "reminders sent: 1"


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL")
def test_concurrent_workers_send_each_reminder_once(window, frozen) -> None:
    booked = [book(PersonFactory(with_login=True), window, at(23, 9 + hour)) for hour in range(3)]
    frozen.move_to(at(23, 8))
    barrier = threading.Barrier(4)
    counts: list[int] = []

    def worker() -> None:
        try:
            barrier.wait(timeout=10)
            counts.append(svc.appointments_send_reminders())
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sum(counts) == len(booked)
    for appointment in booked:
        assert len(reminders(appointment)) == 1


def test_the_nodes_tick_runs_case_work_and_reminders_in_one_process(
    window, citizen, frozen
) -> None:
    book(citizen, window, at(24, 9))
    frozen.move_to(at(23, 9, 5))
    out = StringIO()
    call_command("tick", stdout=out)
    assert out.getvalue().splitlines() == [
        "deemed accepted: 0; new alerts: 0",
        "reminders sent: 1",
    ]
