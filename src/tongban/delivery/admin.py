"""Shipments for operators and supervisors: read-only (steps are recorded through the
workbench or the API, where the rules and the audit trail apply)."""

from __future__ import annotations

from django.contrib import admin

from tongban.core.admin_forms import ReadOnlyAdmin
from tongban.delivery.models import Shipment, ShipmentEvent


class ShipmentEventInline(admin.TabularInline):  # type: ignore[type-arg]
    model = ShipmentEvent
    fields = ("state", "at", "note", "recorded_by")
    readonly_fields = fields
    extra = 0
    can_delete = False


@admin.register(Shipment)
class ShipmentAdmin(ReadOnlyAdmin):
    list_display = ("tracking_number", "carrier", "purpose", "case", "state", "delivered_at")
    list_filter = ("state", "purpose", "carrier")
    search_fields = ("tracking_number", "case__number")
    inlines = [ShipmentEventInline]
