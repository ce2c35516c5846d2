from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from tongban.cases.models import AgentAuthorisation, CalendarEntry
from tongban.core.admin_forms import AuditedAdmin


@admin.register(CalendarEntry)
class CalendarEntryAdmin(AuditedAdmin):
    list_display = ("date", "is_workday", "note")
    list_filter = ("is_workday",)
    date_hierarchy = "date"
    search_fields = ("note",)


@admin.register(AgentAuthorisation)
class AgentAuthorisationAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Read only: authorisations are granted, recorded and revoked through the services (the
    portal, the workbench and the API), which check who may and audit it."""

    list_display = ("pk", "principal", "agent_person", "agent_staff", "valid_until", "state")
    list_filter = ("state", "power_of_attorney")
    list_select_related = ("principal", "agent_person", "agent_staff")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
