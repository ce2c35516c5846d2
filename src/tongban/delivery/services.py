"""Shipments for cases: the window posts originals to the deciding department; the department
posts the result to the applicant or back to the window for pickup. Each step is recorded with
its time; when the originals arrive, the case's time limit may start (cases.services)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tongban.accounts.permissions import require_login
from tongban.cases import access
from tongban.cases.models import Case, CaseMode
from tongban.cases.services import case_originals_received
from tongban.core.audit import System, audit_record
from tongban.core.errors import Conflict, FieldErrors, Forbidden, NotFound, ValidationFailed
from tongban.core.text import has_forbidden_characters
from tongban.delivery import carriers, federation
from tongban.delivery.models import Shipment, ShipmentEvent, ShipmentPurpose, ShipmentState
from tongban.regions.models import Division

# Results go out once the decision is made.
_RESULT_STATES = frozenset({"approved", "delivering", "denied", "completed"})
_DIVISION_CODE = re.compile(r"[0-9]{6}")


def _user(actor: Any) -> Any:
    """The user to store as author; None for the node itself (a carrier adapter polling)."""
    return None if isinstance(actor, System) else actor


def shipment_create(
    *,
    actor: Any,
    number: str,
    purpose: str,
    carrier: str,
    tracking_number: str,
    to_division: str | None = None,
) -> Shipment:
    """Register a parcel for a case. Originals: by the receiving window, of a PROXY case, to
    the deciding department. Result: by the deciding department once decided, to the receiving
    window (pickup) or to the division the applicant names (``to_division``)."""
    require_login(actor)
    case = access.require_case_visible(actor, Case.objects.filter(number=number).first())
    side = access.post_side(actor, case)
    errors = FieldErrors()
    if purpose not in ShipmentPurpose.values:
        errors.add("purpose", _("Choose originals or result."))
    if carrier not in carriers.CARRIERS:
        errors.add(
            "carrier",
            _("Choose one of: %(choices)s.") % {"choices": ", ".join(carriers.CARRIERS)},
        )
    tracking_number = (tracking_number or "").strip()
    if not carriers.tracking_number_ok(tracking_number) or has_forbidden_characters(
        tracking_number
    ):
        errors.add("tracking_number", _("6 to 40 letters, digits or hyphens."))
    errors.raise_if_any()
    if purpose == ShipmentPurpose.ORIGINALS:
        if side != "receiving" or case.mode != CaseMode.PROXY:
            raise Forbidden(_("Originals are posted by the window that received the case."))
        if case.state == "received":
            raise Conflict(_("Forward the case first; then post its originals."))
        source, target = case.receiving_division_id, case.authority_division_id
    else:
        if side != "authority":
            raise Forbidden(_("The result is posted by the deciding department."))
        if case.state not in _RESULT_STATES:
            raise Conflict(_("There is no result to post before the decision."))
        target = (to_division or case.receiving_division_id).strip()
        if (
            not _DIVISION_CODE.fullmatch(target)
            or not Division.objects.filter(code=target).exists()
        ):
            raise ValidationFailed(fields={"to_division": _("Unknown division code.")})
        source = case.authority_division_id
    with transaction.atomic():
        if Shipment.objects.filter(carrier=carrier, tracking_number=tracking_number).exists():
            raise Conflict(
                _("This tracking number is already registered."), code="duplicate_tracking"
            )
        try:
            with transaction.atomic():  # a concurrent registration of the same number
                shipment = Shipment.objects.create(
                    case=case,
                    purpose=purpose,
                    carrier=carrier,
                    tracking_number=tracking_number,
                    from_division_id=source,
                    to_division_id=target,
                    created_by=_user(actor),
                )
        except IntegrityError:
            raise Conflict(
                _("This tracking number is already registered."), code="duplicate_tracking"
            ) from None
        created = ShipmentEvent.objects.create(
            shipment=shipment,
            state=ShipmentState.CREATED,
            at=timezone.now(),
            recorded_by=_user(actor),
        )
        federation.tell(shipment, created)
        audit_record(
            actor=actor,
            action="shipment.created",
            target=shipment,
            changes={"case": case.number, "purpose": purpose, "tracking": tracking_number},
        )
    return shipment


def shipment_record(
    *,
    actor: Any,
    shipment_id: int,
    state: str,
    at: dt.datetime | None = None,
    note: str = "",
) -> Shipment:
    """Record the next step of a parcel (manual carriers: as read from the carrier). A
    delivered originals parcel tells the case that its originals have arrived."""
    require_login(actor)
    now = timezone.now()
    at = at or now
    if timezone.is_naive(at):
        at = timezone.make_aware(at)  # as read off a slip: the node's local time
    errors = FieldErrors()
    if state not in ShipmentState.values:
        errors.add("state", _("Unknown shipment state."))
    if at > now + dt.timedelta(minutes=5):
        errors.add("at", _("The time cannot be in the future."))
    note = (note or "").strip()
    if len(note) > 255 or has_forbidden_characters(note):
        errors.add("note", _("At most %(n)d characters.") % {"n": 255})
    errors.raise_if_any()
    with transaction.atomic():
        shipment = (
            Shipment.objects.select_for_update().select_related("case").filter(pk=shipment_id)
        ).first()
        if shipment is None or not access.case_visible(actor, shipment.case):
            raise NotFound(_("No such shipment."))
        access.post_side(actor, shipment.case)
        if not carriers.may_move(shipment.state, state):
            raise Conflict(
                _("A shipment that is %(now)s cannot become %(next)s.")
                % {"now": shipment.get_state_display(), "next": ShipmentState(state).label},
                code="shipment_state",
            )
        last = shipment.events.order_by("-at").values_list("at", flat=True).first()
        if last is not None and at < last:
            raise ValidationFailed(fields={"at": _("Earlier than the step before it.")})
        shipment.state = state
        if state == ShipmentState.DELIVERED:
            shipment.delivered_at = at
        shipment.save(update_fields=["state", "delivered_at"])
        step = ShipmentEvent.objects.create(
            shipment=shipment, state=state, at=at, note=note, recorded_by=_user(actor)
        )
        audit_record(
            actor=actor, action="shipment.updated", target=shipment, changes={"state": state}
        )
        federation.tell(shipment, step)
        if (
            state == ShipmentState.DELIVERED
            and shipment.purpose == ShipmentPurpose.ORIGINALS
            # On a copy of a case decided elsewhere, the deciding node records the arrival.
            and not shipment.case.authority_node
        ):
            case_originals_received(
                case_id=shipment.case_id, on=timezone.localtime(at).date(), actor=actor
            )
    return shipment
