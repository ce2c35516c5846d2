"""Seals for operators: read only (made with `tongban license seal create`, which writes the key
file and the audit entry); the certificate and the public key are what others rely on."""

from __future__ import annotations

from django.contrib import admin

from tongban.core.admin_forms import ReadOnlyAdmin
from tongban.licenses.models import Seal


@admin.register(Seal)
class SealAdmin(ReadOnlyAdmin):
    list_display = ("department", "kid", "algorithm", "not_before", "not_after", "retired_at")
    list_filter = ("retired_at",)
    list_select_related = ("department",)
    search_fields = ("kid", "department__name", "department__key")
