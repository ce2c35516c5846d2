"""Data sharing for operators: read only. Resources are published, grants decided and disputes
resolved through the services (workbench and API), which check who acts and write the audit
entries; the evidence log is append-only by design."""

from __future__ import annotations

from django.contrib import admin

from tongban.core.admin_forms import ReadOnlyAdmin
from tongban.datashare.models import Call, Dispute, Grant, Resource


@admin.register(Resource)
class ResourceAdmin(ReadOnlyAdmin):
    list_display = ("node", "key", "name", "department_name", "sensitivity", "active", "updated_at")
    list_filter = ("node", "sensitivity", "active")
    search_fields = ("key", "name", "department_name")


@admin.register(Grant)
class GrantAdmin(ReadOnlyAdmin):
    list_display = (
        "uid",
        "resource",
        "consumer_department_name",
        "state",
        "valid_until",
        "rate_limit",
    )
    list_filter = ("state",)
    list_select_related = ("resource",)
    search_fields = ("uid", "consumer_department_name", "purpose")


@admin.register(Call)
class CallAdmin(ReadOnlyAdmin):
    list_display = (
        "seq",
        "at",
        "side",
        "resource_key",
        "consumer_department_name",
        "outcome",
        "code",
    )
    list_filter = ("side", "outcome", "kind")
    search_fields = ("uid", "case_number", "consumer_department_name")


@admin.register(Dispute)
class DisputeAdmin(ReadOnlyAdmin):
    list_display = ("uid", "kind", "state", "raised_by", "raised_at", "resolved_at")
    list_filter = ("kind", "state")
