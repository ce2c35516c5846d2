from __future__ import annotations

import uuid

from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class ShipmentPurpose(models.TextChoices):
    ORIGINALS = "originals", _("originals from the window to the deciding department")
    RESULT = "result", _("the result to the applicant or the window")


class ShipmentState(models.TextChoices):
    # Its own context: the plain msgid "created" is the creation *time* of every model.
    CREATED = "created", pgettext_lazy("shipment state", "created")
    PICKED_UP = "picked_up", _("picked up")
    IN_TRANSIT = "in_transit", _("in transit")
    DELIVERED = "delivered", _("delivered")
    RETURNED = "returned", _("returned")
    LOST = "lost", _("lost")


class Shipment(models.Model):
    """One parcel for a case, with its carrier's tracking number and where it stands."""

    case = models.ForeignKey(
        "cases.Case", verbose_name=_("case"), on_delete=models.PROTECT, related_name="shipments"
    )
    # The parcel on every node holding a copy of its case.
    uid = models.UUIDField(_("shipment id (all nodes)"), default=uuid.uuid4, unique=True)
    purpose = models.CharField(_("purpose"), max_length=16, choices=ShipmentPurpose.choices)
    carrier = models.CharField(_("carrier"), max_length=32)
    tracking_number = models.CharField(_("tracking number"), max_length=40)
    from_division = models.ForeignKey(
        "regions.Division", verbose_name=_("from"), on_delete=models.PROTECT, related_name="+"
    )
    to_division = models.ForeignKey(
        "regions.Division", verbose_name=_("to"), on_delete=models.PROTECT, related_name="+"
    )
    state = models.CharField(
        _("state"), max_length=16, choices=ShipmentState.choices, default=ShipmentState.CREATED
    )
    delivered_at = models.DateTimeField(_("delivered"), null=True, blank=True)
    created_by = models.ForeignKey(
        "accounts.User",
        verbose_name=_("created by"),
        null=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("shipment")
        verbose_name_plural = _("shipments")
        ordering = ["case_id", "created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["carrier", "tracking_number"], name="shipment_tracking_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.carrier} {self.tracking_number}"


class ShipmentEvent(models.Model):
    """A step of a shipment as the carrier (or the staff entering it) reported it."""

    shipment = models.ForeignKey(
        Shipment, verbose_name=_("shipment"), on_delete=models.CASCADE, related_name="events"
    )
    state = models.CharField(_("state"), max_length=16, choices=ShipmentState.choices)
    at = models.DateTimeField(_("time"))
    note = models.CharField(_("note"), max_length=255, blank=True)
    # A step recorded at another node: who, there ("user@node"); blank for this node's own.
    recorded_elsewhere = models.CharField(
        _("recorded at another node by"), max_length=150, blank=True
    )
    recorded_by = models.ForeignKey(
        "accounts.User",
        verbose_name=_("recorded by"),
        null=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    recorded_at = models.DateTimeField(_("recorded"), auto_now_add=True)

    class Meta:
        verbose_name = _("shipment event")
        verbose_name_plural = _("shipment events")
        ordering = ["shipment_id", "at", "id"]

    def __str__(self) -> str:
        return f"{self.shipment_id} {self.state} {self.at:%Y-%m-%d %H:%M}"
