"""Reads for shipments."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

from tongban.cases.models import Case
from tongban.cases.selectors import case_get
from tongban.core.errors import NotFound
from tongban.delivery.models import Shipment


def shipments_of(*, case: Case) -> list[Shipment]:
    """A case's parcels with their steps, oldest first."""
    return list(
        case.shipments.select_related("from_division", "to_division")
        .prefetch_related("events")
        .order_by("created_at", "id")
    )


def shipment_case(*, actor: Any, shipment_id: int, number: str | None = None) -> Case:
    """The case of a parcel, if ``actor`` may see it (and it is case ``number``, when given);
    NotFound otherwise, as for the case itself."""
    shipment = Shipment.objects.filter(pk=shipment_id).values_list("case__number", flat=True)
    found = shipment.first()
    if found is None or (number is not None and found != number):
        raise NotFound(_("No such shipment."))
    try:
        return case_get(actor=actor, number=found)
    except NotFound:  # the same answer as for an unknown parcel: the case's is no clue
        raise NotFound(_("No such shipment.")) from None
