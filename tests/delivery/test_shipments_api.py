"""The shipment endpoints: the happy path, and the one error shape {"code","message","fields"}."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.test import Client

from tests.conftest import login
from tests.delivery.conftest import forward, receive
from tests.factories import PersonFactory, StaffFactory
from tongban.cases.models import Case
from tongban.delivery.models import Shipment, ShipmentEvent

pytestmark = pytest.mark.django_db
TRACKING = "EA123456789CN"


def _post(client: Client, path: str, body: Any = None) -> Any:
    return client.post(path, data=json.dumps(body or {}), content_type="application/json")


def _error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"code", "message", "fields"}
    assert body["code"] == code
    assert isinstance(body["message"], str)
    assert body["message"]
    assert isinstance(body["fields"], dict)
    return body


def shipments(number: str) -> str:
    return f"/api/v1/cases/{number}/shipments"


def steps(shipment_id: int) -> str:
    return f"/api/v1/shipments/{shipment_id}/steps"


ORIGINALS = {"purpose": "originals", "carrier": "ems", "tracking_number": TRACKING}


def test_carriers_are_listed_without_logging_in() -> None:
    response = Client().get("/api/v1/carriers")
    assert response.status_code == 200
    listed = response.json()
    assert [c["key"] for c in listed] == ["ems", "sf", "jd", "other"]
    assert listed[0] == {"key": "ems", "name": "中国邮政 EMS", "manual": True}


def test_the_originals_travel_and_the_case_is_accepted_over_the_api(
    api, window_clerk, reviewer, forwarded
) -> None:
    number = forwarded.number
    login(api, window_clerk.user)
    response = _post(api, shipments(number), ORIGINALS)
    assert response.status_code == 201, response.content
    parcel = response.json()
    assert parcel["purpose"] == "originals"
    assert (parcel["carrier"], parcel["carrier_name"]) == ("ems", "中国邮政 EMS")
    assert (parcel["from_division"], parcel["to_division"]) == ("500103", "500000")
    assert parcel["state"] == "created"
    # Not the creation *time* (the plain msgid "created" is every model's created_at field).
    assert parcel["state_label"] not in {"创建时间", ""}
    assert parcel["delivered_at"] is None
    assert [s["state"] for s in parcel["steps"]] == ["created"]
    shipment_id = parcel["id"]

    login(api, reviewer.user)
    _error(_post(api, f"/api/v1/cases/{number}/actions/accept"), 409, "awaiting_originals")
    listed = api.get(shipments(number))
    assert listed.status_code == 200
    assert [p["id"] for p in listed.json()] == [shipment_id]

    login(api, window_clerk.user)
    response = _post(api, steps(shipment_id), {"state": "picked_up", "note": "营业厅揽收"})
    assert response.status_code == 200, response.content
    assert response.json()["state"] == "picked_up"
    login(api, reviewer.user)
    response = _post(api, steps(shipment_id), {"state": "delivered"})
    assert response.status_code == 200, response.content
    delivered = response.json()
    assert delivered["state"] == "delivered"
    assert delivered["delivered_at"] is not None
    assert [(s["state"], s["note"]) for s in delivered["steps"]] == [
        ("created", ""),
        ("picked_up", "营业厅揽收"),
        ("delivered", ""),
    ]

    response = _post(api, f"/api/v1/cases/{number}/actions/accept")
    assert response.status_code == 200, response.content
    assert response.json()["state"] == "accepted"
    events = [e["action"] for e in api.get(f"/api/v1/cases/{number}/events").json()]
    assert events[-2:] == ["originals_received", "accept"]


def test_the_applicant_follows_the_parcels_of_their_case(api, window_clerk, forwarded) -> None:
    login(api, window_clerk.user)
    assert _post(api, shipments(forwarded.number), ORIGINALS).status_code == 201
    login(api, forwarded.applicant_person.user)
    listed = api.get(shipments(forwarded.number))
    assert listed.status_code == 200
    assert [p["tracking_number"] for p in listed.json()] == [TRACKING]
    # ... but records no steps.
    shipment_id = listed.json()[0]["id"]
    _error(_post(api, steps(shipment_id), {"state": "picked_up"}), 403, "forbidden")


def test_a_result_goes_to_the_named_division(api, reviewer, decided) -> None:
    login(api, reviewer.user)
    body = {"purpose": "result", "carrier": "sf", "tracking_number": "SF1234567890"}
    response = _post(api, shipments(decided.number), {**body, "to_division": "510100"})
    assert response.status_code == 201, response.content
    assert (response.json()["from_division"], response.json()["to_division"]) == (
        "500000",
        "510100",
    )
    response = _post(api, shipments(decided.number), {**body, "tracking_number": "SF1234567891"})
    assert response.json()["to_division"] == "500103"  # back to the receiving window
    bad = _post(
        api, shipments(decided.number), {**body, "tracking_number": "SF9", "to_division": "1"}
    )
    assert set(_error(bad, 400, "validation_failed")["fields"]) == {"tracking_number"}
    bad = _post(
        api,
        shipments(decided.number),
        {**body, "tracking_number": "SF1234567892", "to_division": "999999"},
    )
    assert set(_error(bad, 400, "validation_failed")["fields"]) == {"to_division"}


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({**ORIGINALS, "tracking_number": "EA 123"}, {"tracking_number"}),
        ({**ORIGINALS, "tracking_number": "A" * 41}, {"tracking_number"}),
        ({**ORIGINALS, "carrier": "ups", "purpose": "gift"}, {"carrier", "purpose"}),
        ({"purpose": "originals", "carrier": "ems"}, {"tracking_number"}),  # missing
        ({**ORIGINALS, "tracking_number": 12345678}, {"tracking_number"}),  # not text
    ],
)
def test_bad_registrations_are_400s_naming_the_fields(
    api, window_clerk, forwarded, body, fields
) -> None:
    login(api, window_clerk.user)
    response = _post(api, shipments(forwarded.number), body)
    assert set(_error(response, 400, "validation_failed")["fields"]) == fields
    assert not Shipment.objects.exists()


def test_control_characters_are_refused_before_the_service(api, window_clerk, forwarded) -> None:
    login(api, window_clerk.user)
    response = _post(api, shipments(forwarded.number), {**ORIGINALS, "tracking_number": "EA\x00"})
    assert response.status_code == 400
    assert set(response.json()) == {"code", "message", "fields"}
    assert "tracking_number" in response.json()["fields"]
    assert not Shipment.objects.exists()


def test_conflicts_and_forbidden_registrations(
    api, window_clerk, reviewer, citizen, item, forwarded
) -> None:
    login(api, window_clerk.user)
    received = receive(window_clerk, citizen, item)
    _error(_post(api, shipments(received.number), ORIGINALS), 409, "conflict")  # not forwarded
    assert _post(api, shipments(forwarded.number), ORIGINALS).status_code == 201
    _error(_post(api, shipments(forwarded.number), ORIGINALS), 409, "duplicate_tracking")
    result = {**ORIGINALS, "purpose": "result", "tracking_number": "SF1234567890"}
    _error(_post(api, shipments(forwarded.number), result), 403, "forbidden")
    login(api, reviewer.user)
    _error(_post(api, shipments(forwarded.number), result), 409, "conflict")  # no decision yet
    other = {**ORIGINALS, "tracking_number": "EA000000001CN"}
    _error(_post(api, shipments(forwarded.number), other), 403, "forbidden")
    assert Shipment.objects.count() == 1


@pytest.fixture
def parcel(window_clerk, forwarded) -> Shipment:
    from tongban.delivery import services

    return services.shipment_create(
        actor=window_clerk.user,
        number=forwarded.number,
        tracking_number=TRACKING,
        purpose="originals",
        carrier="ems",
    )


@pytest.mark.parametrize(
    ("body", "status", "code", "fields"),
    [
        ({"state": "flying"}, 400, "validation_failed", {"state"}),
        ({}, 400, "validation_failed", {"state"}),
        ({"state": "picked_up", "at": "yesterday"}, 400, "validation_failed", {"at"}),
        (
            {"state": "picked_up", "at": "2999-01-01T10:00:00+08:00"},
            400,
            "validation_failed",
            {"at"},
        ),
        (
            {"state": "picked_up", "at": "2020-01-01T10:00:00+08:00"},
            400,
            "validation_failed",
            {"at"},
        ),
        ({"state": "picked_up", "note": "x" * 256}, 400, "validation_failed", {"note"}),
        ({"state": "delivered"}, 409, "shipment_state", set()),
        ({"state": "created"}, 409, "shipment_state", set()),
    ],
)
def test_bad_steps_have_the_error_shape(
    api, window_clerk, parcel, body, status, code, fields
) -> None:
    login(api, window_clerk.user)
    response = _post(api, steps(parcel.pk), body)
    assert set(_error(response, status, code)["fields"]) == fields
    parcel.refresh_from_db()
    assert parcel.state == "created"
    assert ShipmentEvent.objects.filter(shipment=parcel).count() == 1


def test_a_step_time_without_a_zone_is_local_time(api, window_clerk, parcel) -> None:
    from django.utils import timezone

    login(api, window_clerk.user)
    local = timezone.localtime().replace(microsecond=0) + dt.timedelta(minutes=1)
    response = _post(
        api, steps(parcel.pk), {"state": "picked_up", "at": f"{local:%Y-%m-%dT%H:%M:%S}"}
    )
    assert response.status_code == 200, response.content
    recorded = dt.datetime.fromisoformat(response.json()["steps"][-1]["at"])
    assert recorded == local


def test_a_delivered_parcel_moves_no_more(api, window_clerk, reviewer, parcel) -> None:
    login(api, window_clerk.user)
    assert _post(api, steps(parcel.pk), {"state": "picked_up"}).status_code == 200
    assert _post(api, steps(parcel.pk), {"state": "delivered"}).status_code == 200
    body = _error(_post(api, steps(parcel.pk), {"state": "in_transit"}), 409, "shipment_state")
    assert "已送达" in body["message"]


def test_cases_and_parcels_one_cannot_see_are_404s(api, parcel, forwarded) -> None:
    for outsider in (
        PersonFactory(with_login=True).user,
        StaffFactory(
            window_clerk=True, department_key="cq-big-data", jurisdiction_code="500104"
        ).user,
        StaffFactory(reviewer=True, department_key="cd-justice", jurisdiction_code="510100").user,
    ):
        login(api, outsider)
        _error(api.get(shipments(forwarded.number)), 404, "not_found")
        _error(_post(api, shipments(forwarded.number), ORIGINALS), 404, "not_found")
        _error(_post(api, steps(parcel.pk), {"state": "picked_up"}), 404, "not_found")
    _error(_post(api, steps(987654), {"state": "picked_up"}), 404, "not_found")
    _error(api.get(shipments("X" * 20)), 404, "not_found")
    parcel.refresh_from_db()
    assert parcel.state == "created"


def test_other_staff_of_the_province_do_not_see_a_proxy_case_or_its_post(
    api, parcel, forwarded
) -> None:
    """A PROXY case is seen by its window's clerks and its deciding department, not by every
    staff member of the province (cases.selectors)."""
    login(api, StaffFactory(reviewer=True, department_key="cq-hrss").user)
    assert api.get(shipments(forwarded.number)).status_code == 404
    other = {**ORIGINALS, "tracking_number": "EA000000001CN"}
    _error(_post(api, shipments(forwarded.number), other), 404, "not_found")
    _error(_post(api, steps(parcel.pk), {"state": "picked_up"}), 404, "not_found")
    assert Shipment.objects.count() == 1


def test_anonymous_callers_are_401(parcel, forwarded) -> None:
    anonymous = Client()
    _error(anonymous.get(shipments(forwarded.number)), 401, "not_authenticated")
    _error(_post(anonymous, shipments(forwarded.number), ORIGINALS), 401, "not_authenticated")
    _error(_post(anonymous, steps(parcel.pk), {"state": "picked_up"}), 401, "not_authenticated")


def test_another_proxy_case_of_the_same_window(api, window_clerk, citizen, item) -> None:
    case: Case = forward(window_clerk, receive(window_clerk, citizen, item))
    login(api, window_clerk.user)
    assert _post(api, shipments(case.number), ORIGINALS).status_code == 201
