"""Parcels of a case shared with another province's node: every step recorded on one node
(``cn.tongban.shipment.recorded``) is recorded on the others holding the case, so the window
in Chongqing and the department in Sichuan follow the same parcel. A step that arrives after
a later one (each node records its own) is kept in the parcel's history; the state stays."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tongban.cases import federation as case_federation
from tongban.core.audit import SYSTEM
from tongban.core.errors import ValidationFailed
from tongban.delivery import carriers
from tongban.delivery.models import Shipment, ShipmentEvent, ShipmentPurpose, ShipmentState
from tongban.regions.models import Division

RECORDED = "cn.tongban.shipment.recorded"


def tell(shipment: Shipment, event: ShipmentEvent, *, skip: str = "") -> None:
    """After a step (in its transaction): the other nodes holding the case hear of it."""
    case = shipment.case
    nodes = [node for node in case_federation.other_nodes(case) if node and node != skip]
    if not nodes:
        return
    by = event.recorded_elsewhere or (
        f"{event.recorded_by.get_username()}@{case_federation.own_node()}"
        if event.recorded_by is not None
        else f"system@{case_federation.own_node()}"
    )
    data = {
        "shipment": {
            "uid": str(shipment.uid),
            "purpose": shipment.purpose,
            "carrier": shipment.carrier,
            "tracking_number": shipment.tracking_number,
            "from": shipment.from_division_id,
            "to": shipment.to_division_id,
        },
        "step": {"state": event.state, "at": event.at.isoformat(), "note": event.note, "by": by},
    }
    for node in nodes:
        case_federation.send_about(case, to=node, type=RECORDED, data=data)


def on_recorded(message: dict[str, Any]) -> None:
    data, source = message["data"], message["source"]
    case = case_federation.case_for_event(message)
    parcel, step = data.get("shipment") or {}, data.get("step") or {}
    if not isinstance(parcel, dict) or not isinstance(step, dict):
        raise ValidationFailed(_("The shipment step is malformed."))
    state = step.get("state")
    if state not in ShipmentState.values or parcel.get("purpose") not in ShipmentPurpose.values:
        raise ValidationFailed(_("Unknown shipment state."))
    try:
        uid = uuid.UUID(str(parcel.get("uid")))
        at = dt.datetime.fromisoformat(str(step.get("at")))
    except ValueError:
        raise ValidationFailed(_("The shipment step is malformed.")) from None
    if timezone.is_naive(at):
        at = timezone.make_aware(at)
    shipment = Shipment.objects.select_for_update().filter(uid=uid).first()
    if shipment is not None and shipment.case_id != case.pk:
        raise ValidationFailed(_("The shipment step is malformed."))
    if shipment is None:
        ends = {str(parcel.get("from", "")), str(parcel.get("to", ""))}
        if Division.objects.filter(code__in=ends).count() != len(ends):
            raise ValidationFailed(_("The shipment step is malformed."))
        carrier = str(parcel.get("carrier", ""))[:32]
        tracking = str(parcel.get("tracking_number", ""))[:40]
        if Shipment.objects.filter(carrier=carrier, tracking_number=tracking).exists():
            # Another parcel here has this number (a typo at one end): refused, not retried.
            raise ValidationFailed(
                _("This tracking number is already registered."), code="duplicate_tracking"
            )
        shipment = Shipment.objects.create(
            case=case,
            uid=uid,
            purpose=parcel["purpose"],
            carrier=carrier,
            tracking_number=tracking,
            from_division_id=str(parcel.get("from", "")),
            to_division_id=str(parcel.get("to", "")),
            state=ShipmentState.CREATED,
        )
    event = ShipmentEvent.objects.create(
        shipment=shipment,
        state=state,
        at=at,
        note=str(step.get("note", ""))[:255],
        recorded_elsewhere=str(step.get("by", ""))[:150] or f"?@{source}",
    )
    if state != ShipmentState.CREATED and carriers.may_move(shipment.state, state):
        shipment.state = state
        if state == ShipmentState.DELIVERED:
            shipment.delivered_at = at
        shipment.save(update_fields=["state", "delivered_at"])
        if (
            state == ShipmentState.DELIVERED
            and shipment.purpose == ShipmentPurpose.ORIGINALS
            and not case_federation.is_mirror(case)
        ):
            from tongban.cases.services import case_originals_received

            case_originals_received(case_id=case.pk, on=timezone.localtime(at).date(), actor=SYSTEM)
    if not case_federation.is_mirror(case):
        tell(shipment, event, skip=source)  # the deciding node passes it on to other copies


def register() -> None:
    from tongban.exchange import messaging

    messaging.register_handler(RECORDED, on_recorded)
