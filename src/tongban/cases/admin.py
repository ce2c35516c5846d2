from django.contrib import admin

from tongban.cases.models import CalendarEntry
from tongban.core.admin_forms import AuditedAdmin


@admin.register(CalendarEntry)
class CalendarEntryAdmin(AuditedAdmin):
    list_display = ("date", "is_workday", "note")
    list_filter = ("is_workday",)
    date_hierarchy = "date"
    search_fields = ("note",)


# Agent authorisations are not here: they are case content, which platform admins do not see
# (cases/access.py); clerks find and revoke them in the workbench.
