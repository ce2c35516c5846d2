"""The appointments API: free slots, booking and every refusal as {code, message, fields} with
a 4xx status, cancelling, the desk, hours and closures by the right staff only."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import login
from tests.delivery.appointments_support import at, book
from tests.factories import PersonFactory, StaffFactory
from tongban.core.models import AuditEntry
from tongban.delivery.models import Appointment

pytestmark = pytest.mark.django_db
BASE = "/api/v1/appointments"


@pytest.fixture
def person(db: None) -> Any:
    return PersonFactory(with_login=True)


def post(client, path, body=None):
    return client.post(f"{BASE}{path}", body or {}, content_type="application/json")


def booking(window, starts_at, **extra):
    return {
        "window_id": window.pk,
        "starts_at": starts_at.isoformat(),
        "purpose": "assisted",
        **extra,
    }


def test_halls_days_and_slots_are_public(api, window) -> None:
    halls = api.get(f"{BASE}/halls").json()
    assert [(h["key"], [w["number"] for w in h["windows"]]) for h in halls] == [
        ("appt-hall", ["A01"])
    ]
    assert halls[0]["windows"][0]["off_hours"] is True
    days = api.get(f"{BASE}/windows/{window.pk}/days").json()
    listed = [row["day"] for row in days]
    assert "2026-09-25" not in listed
    assert "2026-10-01" not in listed
    assert listed[0] == "2026-09-22"
    assert listed[-1] == "2026-09-30"
    slots = api.get(f"{BASE}/windows/{window.pk}/slots", {"day": "2026-09-23"}).json()
    lunch = [s for s in slots if s["kind"] == "lunchtime"]
    assert lunch[0]["starts_at"] == "2026-09-23T12:00:00+08:00"
    assert lunch[0]["off_hours"] is True
    assert (lunch[0]["capacity"], lunch[0]["remaining"], lunch[0]["bookable"]) == (1, 1, True)
    purposes = {p["key"] for p in api.get(f"{BASE}/purposes").json()}
    assert purposes == {"assisted", "identity", "originals", "consultation"}


def test_book_see_and_cancel(api, window, person) -> None:
    login(api, person.user)
    response = post(api, "", booking(window, at(23, 12)))
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["state"], body["kind"], body["off_hours"], body["can_cancel"]) == (
        "booked",
        "lunchtime",
        True,
        True,
    )
    assert body["hall_name"].startswith("测试政务服务中心")
    code = body["code"]
    assert [a["code"] for a in api.get(f"{BASE}/mine").json()] == [code]
    assert api.get(f"{BASE}/{code}").json()["code"] == code
    slot = api.get(f"{BASE}/windows/{window.pk}/slots", {"day": "2026-09-23"}).json()
    assert next(s for s in slot if s["starts_at"].endswith("12:00:00+08:00"))["remaining"] == 0
    cancelled = post(api, f"/{code}/cancel")
    assert cancelled.status_code == 200
    assert cancelled.json()["state"] == "cancelled"


@pytest.mark.parametrize(
    ("body", "status", "code", "fields"),
    [
        ({"window_id": 999999}, 404, "unknown_window", set()),
        ({"starts_at": "2026-09-23T10:15:00+08:00"}, 400, "slot_not_offered", {"starts_at"}),
        ({"starts_at": "2026-10-01T09:00:00+08:00"}, 400, "slot_not_offered", {"starts_at"}),
        ({"starts_at": "2026-09-22T09:00:00+08:00"}, 400, "slot_past", {"starts_at"}),
        ({"starts_at": "2026-10-08T09:00:00+08:00"}, 400, "slot_too_far", {"starts_at"}),
        ({"purpose": "x", "item_code": "NOPE"}, 400, "validation_failed", {"purpose", "item_code"}),
        ({"starts_at": "tomorrow"}, 400, "validation_failed", {"starts_at"}),
    ],
)
def test_bad_bookings(api, window, person, body, status, code, fields) -> None:
    login(api, person.user)
    response = post(api, "", {**booking(window, at(23, 9)), **body})
    assert response.status_code == status
    payload = response.json()
    assert payload["code"] == code
    assert set(payload["fields"]) == fields
    assert payload["message"]
    assert not payload["message"].isascii()
    assert not Appointment.objects.exists()


def test_full_double_and_too_many_are_409(api, window, person) -> None:
    login(api, person.user)
    assert post(api, "", booking(window, at(23, 12))).status_code == 201
    assert post(api, "", booking(window, at(23, 12))).json()["code"] == "double_booking"
    other = login(type(api)(), PersonFactory(with_login=True).user)
    full = post(other, "", booking(window, at(23, 12)))
    assert (full.status_code, full.json()["code"]) == (409, "slot_full")
    for day in (24, 28):
        assert post(api, "", booking(window, at(day, 9))).status_code == 201
    many = post(api, "", booking(window, at(29, 9)))
    assert (many.status_code, many.json()["code"]) == (409, "too_many_appointments")


def test_english_on_request(api, window, person) -> None:
    login(api, person.user)
    response = api.post(
        BASE, booking(window, at(22, 9)), content_type="application/json", HTTP_ACCEPT_LANGUAGE="en"
    )
    assert response.json()["message"] == "This slot has already started."


def test_anonymous_and_strangers(api, window, person) -> None:
    assert post(api, "", booking(window, at(23, 9))).status_code == 401
    code = book(person, window, at(23, 9)).code
    stranger = login(api, PersonFactory(with_login=True).user)
    assert stranger.get(f"{BASE}/{code}").status_code == 404
    response = post(stranger, f"/{code}/cancel")
    assert (response.status_code, response.json()["code"]) == (404, "unknown_appointment")
    assert post(stranger, f"/{code}/check-in").status_code == 404


def test_cancel_after_start_is_409(api, window, person, frozen) -> None:
    code = book(person, window, at(22, 12)).code
    frozen.move_to(at(22, 12, 5))
    response = post(login(api, person.user), f"/{code}/cancel")
    assert (response.status_code, response.json()["code"]) == (409, "appointment_started")


def test_the_desk_over_the_api(api, window, frozen) -> None:
    clerk = StaffFactory(
        window_clerk=True, department_key="cq-big-data", jurisdiction_code="500103"
    )
    walk_in = PersonFactory()
    login(api, clerk.user)
    made = post(api, "", booking(window, at(22, 12), id_number=walk_in.id_number))
    assert made.status_code == 201
    assert made.json()["assisted"] is True
    code = made.json()["code"]
    day = api.get(f"{BASE}/day", {"day": "2026-09-22", "window_id": window.pk}).json()
    assert [row["code"] for row in day] == [code]
    assert api.get(f"{BASE}/day", {"day": "2026-09-22"}).status_code == 400
    assert post(api, f"/{code}/check-in").json()["state"] == "checked_in"
    frozen.move_to(at(22, 12, 20))
    api = login(type(api)(), clerk.user)  # hours idle ended the staff session: a new one
    assert post(api, f"/{code}/attended").json()["state"] == "attended"
    assert post(api, f"/{code}/no-show").json()["code"] == "appointment_state"
    assert AuditEntry.objects.filter(action__startswith="appointment.").count() == 4


def test_wrong_role_or_place_for_staff_is_403_or_404(api, window, person) -> None:
    code = book(person, window, at(23, 9)).code
    reviewer = login(api, StaffFactory(reviewer=True).user)
    assert (
        reviewer.get(f"{BASE}/day", {"day": "2026-09-23", "window_id": window.pk}).status_code
        == 403
    )
    assert post(reviewer, f"/{code}/check-in").status_code == 404  # not theirs to see
    chengdu = StaffFactory(
        window_clerk=True, department_key="cd-government-services", jurisdiction_code="510100"
    )
    other = login(type(api)(), chengdu.user)
    response = post(other, f"/{code}/cancel", {"reason": "x"})
    assert (response.status_code, response.json()["code"]) == (404, "unknown_appointment")


def test_hours_and_closures(api, window, person) -> None:
    code = book(person, window, at(24, 9)).code
    rows = [{"weekday": 4, "start": "09:00", "end": "10:00", "slot_minutes": 30, "capacity": 1}]
    clerk = login(type(api)(), StaffFactory(window_clerk=True).user)
    assert (
        clerk.put(
            f"{BASE}/windows/{window.pk}/schedules",
            {"schedules": rows},
            content_type="application/json",
        ).status_code
        == 403
    )
    admin = login(api, StaffFactory(department_admin=True, department_key="cq-hrss").user)
    bad = admin.put(
        f"{BASE}/windows/{window.pk}/schedules",
        {"schedules": [{**rows[0], "end": "08:00"}]},
        content_type="application/json",
    )
    assert bad.status_code == 400
    assert list(bad.json()["fields"]) == ["schedules.0"]
    saved = admin.put(
        f"{BASE}/windows/{window.pk}/schedules",
        {"schedules": rows},
        content_type="application/json",
    )
    assert saved.status_code == 200
    assert api.get(f"{BASE}/windows/{window.pk}/schedules").json() == [
        {**rows[0], "kind": "regular"}
    ]
    closed = post(admin, f"/windows/{window.pk}/closures", {"day": "2026-09-24", "reason": "停电"})
    assert closed.status_code == 201
    assert closed.json()["cancelled"] == 1
    assert Appointment.objects.get(code=code).state == "cancelled"
    again = post(admin, f"/windows/{window.pk}/closures", {"day": "2026-09-24", "reason": "停电"})
    assert (again.status_code, again.json()["code"]) == (409, "already_closed")
    assert api.get(f"{BASE}/windows/{window.pk}/closures").json() == [
        {"day": "2026-09-24", "reason": "停电"}
    ]
    assert admin.delete(f"{BASE}/windows/{window.pk}/closures/2026-09-24").status_code == 204
    assert admin.delete(f"{BASE}/windows/{window.pk}/closures/2026-09-24").status_code == 404
