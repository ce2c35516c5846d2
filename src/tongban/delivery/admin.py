"""Shipments for operators and supervisors: read-only (steps are recorded through the
workbench or the API, where the rules and the audit trail apply)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from tongban.delivery.models import Shipment, ShipmentEvent


class ShipmentEventInline(admin.TabularInline):  # type: ignore[type-arg]
    model = ShipmentEvent
    fields = ("state", "at", "note", "recorded_by")
    readonly_fields = fields
    extra = 0
    can_delete = False


@admin.register(Shipment)
class ShipmentAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("tracking_number", "carrier", "purpose", "case", "state", "delivered_at")
    list_filter = ("state", "purpose", "carrier")
    search_fields = ("tracking_number", "case__number")
    inlines = [ShipmentEventInline]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return [field.name for field in Shipment._meta.fields]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
