"""Shipments (邮政寄递) of a case: the window's originals, the department's result."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest
from ninja import Router, Schema
from ninja.responses import Status
from ninja.security import django_auth

from tongban.cases import selectors as cases
from tongban.delivery import carriers, services
from tongban.delivery.models import Shipment
from tongban.delivery.selectors import shipment_case, shipments_of

router = Router(tags=["shipments"])


class ShipmentIn(Schema):
    purpose: str
    carrier: str
    tracking_number: str
    to_division: str | None = None


class StepIn(Schema):
    state: str
    at: dt.datetime | None = None
    note: str = ""


class StepOut(Schema):
    state: str
    at: dt.datetime
    note: str


class ShipmentOut(Schema):
    id: int
    purpose: str
    carrier: str
    carrier_name: str
    tracking_number: str
    from_division: str
    to_division: str
    state: str
    state_label: str
    delivered_at: dt.datetime | None
    steps: list[StepOut]


class CarrierOut(Schema):
    key: str
    name: str
    manual: bool


def _out(shipment: Shipment) -> dict[str, Any]:
    carrier = carriers.CARRIERS.get(shipment.carrier)
    return {
        "id": shipment.pk,
        "purpose": shipment.purpose,
        "carrier": shipment.carrier,
        "carrier_name": carrier.name if carrier else shipment.carrier,
        "tracking_number": shipment.tracking_number,
        "from_division": shipment.from_division_id,
        "to_division": shipment.to_division_id,
        "state": shipment.state,
        "state_label": str(shipment.get_state_display()),
        "delivered_at": shipment.delivered_at,
        "steps": [
            {"state": e.state, "at": e.at, "note": e.note}
            for e in shipment.events.order_by("at", "id")
        ],
    }


@router.get("/carriers", response=list[CarrierOut], auth=None)
def list_carriers(request: HttpRequest) -> list[dict[str, Any]]:
    return [{"key": c.key, "name": c.name, "manual": c.manual} for c in carriers.CARRIERS.values()]


@router.get("/cases/{number}/shipments", response=list[ShipmentOut], auth=django_auth)
def case_shipments(request: HttpRequest, number: str) -> list[dict[str, Any]]:
    case = cases.case_get(actor=request.user, number=number)
    return [_out(shipment) for shipment in shipments_of(case=case)]


@router.post("/cases/{number}/shipments", response={201: ShipmentOut}, auth=django_auth)
def create_shipment(
    request: HttpRequest, number: str, payload: ShipmentIn
) -> Status[dict[str, Any]]:
    """Register a parcel: `originals` (the receiving window, after forwarding a PROXY case) or
    `result` (the deciding department, after the decision)."""
    case = cases.case_get(actor=request.user, number=number)  # 404 for cases one cannot see
    shipment = services.shipment_create(actor=request.user, number=case.number, **payload.dict())
    return Status(201, _out(shipment))


@router.post("/shipments/{shipment_id}/steps", response=ShipmentOut, auth=django_auth)
def record_step(request: HttpRequest, shipment_id: int, payload: StepIn) -> dict[str, Any]:
    """Record the next step (picked_up, in_transit, delivered, returned, lost). Delivered
    originals let the deciding department's time limit start."""
    shipment_case(actor=request.user, shipment_id=shipment_id)  # 404 for cases one cannot see
    shipment = services.shipment_record(
        actor=request.user, shipment_id=shipment_id, **payload.dict()
    )
    return _out(shipment)
