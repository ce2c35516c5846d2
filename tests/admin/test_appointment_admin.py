"""Appointment hours in the admin: the service's rules, audited edits; closures through the
service (bookings cancelled); bookings read-only."""

from __future__ import annotations

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from tests.admin_forms import form_data
from tests.delivery.appointments_support import NOW, at, book
from tests.factories import PersonFactory
from tongban.core.models import AuditEntry
from tongban.delivery.models import Appointment, WindowClosure

pytestmark = pytest.mark.django_db


def test_hours_are_checked_and_audited(admin_ui: Client, window) -> None:
    url = reverse("admin:delivery_appointmentwindow_change", args=[window.pk])
    data = form_data(admin_ui.get(url))
    assert data["appointment_schedules-TOTAL_FORMS"] == "16"
    data["appointment_schedules-0-capacity"] = "4"
    data["appointment_schedules-1-start"] = "11:00"  # now overlaps the morning
    response = admin_ui.post(url, data)
    assert response.status_code == 200  # shown again with the error
    assert "同一天的时间段不能重叠" in response.content.decode()
    data["appointment_schedules-1-start"] = "12:00"
    assert admin_ui.post(url, data).status_code == 302
    entry = AuditEntry.objects.get(action="windowschedule.updated")
    assert entry.changes == {"inline": "delivery.windowschedule", "capacity": 4}


def test_a_closure_added_in_the_admin_cancels_the_days_bookings(admin_ui: Client, window) -> None:
    with time_machine.travel(NOW, tick=False):
        booked = book(PersonFactory(with_login=True), window, at(24, 9))
        response = admin_ui.post(
            reverse("admin:delivery_windowclosure_add"),
            {"window": window.pk, "day": "2026-09-24", "reason": "消防演练"},
        )
    assert response.status_code == 302
    booked.refresh_from_db()
    assert (booked.state, booked.cancel_reason) == ("cancelled", "消防演练")
    closure = WindowClosure.objects.get()
    with time_machine.travel(NOW, tick=False):
        response = admin_ui.post(
            reverse("admin:delivery_windowclosure_delete", args=[closure.pk]), {"post": "yes"}
        )
    assert response.status_code == 302
    assert not WindowClosure.objects.exists()
    assert AuditEntry.objects.filter(action="appointment.window_reopened").count() == 1


def test_bookings_are_read_only(admin_ui: Client, window) -> None:
    with time_machine.travel(NOW, tick=False):
        appointment = book(PersonFactory(with_login=True), window, at(24, 9))
    assert admin_ui.get(reverse("admin:delivery_appointment_changelist")).status_code == 200
    assert admin_ui.get(reverse("admin:delivery_appointment_add")).status_code == 403
    page = admin_ui.get(reverse("admin:delivery_appointment_change", args=[appointment.pk]))
    assert appointment.code in page.content.decode()
    assert Appointment.objects.count() == 1
