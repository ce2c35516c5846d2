"""Read-only views of the exchange for operators: nodes and keys, trust lists, the outbox (with
a retry button for dead letters), the inbox and the evidence log. Nothing here is edited by
hand: keys and registrations change through `tongban exchange`, messages through services."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from tongban.core.admin_forms import ReadOnlyAdmin
from tongban.core.errors import DomainError
from tongban.exchange import messaging
from tongban.exchange.models import (
    EvidenceEntry,
    InboxMessage,
    Node,
    NodeKey,
    OutboxMessage,
    OutboxState,
    TrustListCopy,
)


class NodeKeyInline(admin.TabularInline):  # type: ignore[type-arg]
    model = NodeKey
    fields = ("kid", "not_before", "not_after", "revoked_at")
    readonly_fields = fields
    extra = 0
    can_delete = False


@admin.register(Node)
class NodeAdmin(ReadOnlyAdmin):
    list_display = ("code", "name", "base_url", "is_self", "registered_at")
    inlines = [NodeKeyInline]


@admin.register(TrustListCopy)
class TrustListAdmin(ReadOnlyAdmin):
    list_display = ("serial", "issuer", "issued_at", "expires_at", "stored_at")


# What messages say (cases, people) stays out of the operators' pages: platform admins see who
# sent what kind of message when, and whether it arrived, never its content (cases/access.py).
CONTENT = frozenset({"token", "event"})


def _envelope(model: Any) -> tuple[str, ...]:
    return tuple(field.name for field in model._meta.fields if field.name not in CONTENT | {"id"})


@admin.register(OutboxMessage)
class OutboxAdmin(ReadOnlyAdmin):
    list_display = ("id", "type", "recipient", "subject", "sequence", "state", "attempts")
    list_filter = ("state", "recipient", "type")
    search_fields = ("subject", "event_id")
    fields = _envelope(OutboxMessage)
    actions = ["retry"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.is_superuser)  # for the retry action only; fields are read-only

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return [field.name for field in OutboxMessage._meta.fields if field.name not in CONTENT]

    @admin.action(description=_("Send the selected dead letters again"))
    def retry(self, request: HttpRequest, queryset: QuerySet[OutboxMessage]) -> None:
        retried = 0
        for message in queryset.filter(state=OutboxState.DEAD):
            try:
                messaging.outbox_retry(actor=request.user, message_id=message.pk)
            except DomainError as error:
                self.message_user(request, str(error.message), messages.ERROR)
            else:
                retried += 1
        self.message_user(
            request, _("%(n)d message(s) queued again.") % {"n": retried}, messages.SUCCESS
        )


@admin.register(InboxMessage)
class InboxAdmin(ReadOnlyAdmin):
    list_display = ("id", "type", "source", "subject", "sequence", "state", "received_at")
    list_filter = ("state", "source", "type")
    search_fields = ("subject", "event_id")
    fields = _envelope(InboxMessage)


@admin.register(EvidenceEntry)
class EvidenceAdmin(ReadOnlyAdmin):
    list_display = ("seq", "direction", "peer", "event_id", "at")
    list_filter = ("direction", "peer")
    fields = _envelope(EvidenceEntry)
