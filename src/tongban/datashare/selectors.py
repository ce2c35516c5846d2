"""Reads of data sharing: the catalogue, grants for both sides, the evidence log, disputes and
the monitoring figures. Who may see what is checked here, so every page and endpoint agrees:

- the catalogue (resources, no source data) is open to every staff member;
- a department admin sees the grants, calls and disputes of their department, as consumer and
  as provider; the staff who make calls see their department's calls as consumer;
- a supervisor (and a platform admin) sees everything on the node, and the monitoring figures.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db.models import Avg, Count, Max, Q, QuerySet
from django.utils import timezone

from tongban.accounts.models import StaffRole
from tongban.accounts.permissions import Scope, staff_scope
from tongban.core.errors import NotFound
from tongban.core.models import AuditEntry
from tongban.datashare.models import (
    QUALITY_KINDS,
    Call,
    CallOutcome,
    Dispute,
    DisputeState,
    Grant,
    GrantState,
    Resource,
)
from tongban.datashare.services import CALLERS, own_node

STAFF = (*CALLERS, StaffRole.SUPERVISOR, StaffRole.PLATFORM_ADMIN)
OVERSEERS = (StaffRole.SUPERVISOR, StaffRole.PLATFORM_ADMIN)


def _sees_all(scope: Scope) -> bool:
    return scope.is_platform_admin or StaffRole.SUPERVISOR in scope.roles


def resource_list(
    *, actor: Any, node: str | None = None, text: str = "", include_inactive: bool = False
) -> QuerySet[Resource]:
    """The resources this node knows (its own and its peers'), for any staff member."""
    staff_scope(actor, (*STAFF, StaffRole.PLATFORM_ADMIN))
    rows = Resource.objects.select_related("department").order_by("node", "key")
    if node:
        rows = rows.filter(node=node)
    if text:
        rows = rows.filter(Q(name__icontains=text) | Q(department_name__icontains=text))
    if not include_inactive:
        rows = rows.filter(active=True)
    return rows


def resource_get(*, actor: Any, ref: str) -> Resource:
    staff_scope(actor, (*STAFF, StaffRole.PLATFORM_ADMIN))
    node, _dot, key = ref.rpartition(".")
    found = Resource.objects.filter(node=node or own_node(), key=key).first()
    if found is None:
        raise NotFound()
    return found


def grant_list(
    *, actor: Any, side: str = "", state: str = "", resource: Resource | None = None
) -> QuerySet[Grant]:
    """Grants the actor may see: ``side`` "held" (asked by their department), "provided"
    (for their department's resources) or "" (both)."""
    scope = staff_scope(
        actor, (StaffRole.DEPARTMENT_ADMIN, StaffRole.SUPERVISOR, StaffRole.PLATFORM_ADMIN)
    )
    rows = Grant.objects.select_related("resource", "resource__department").order_by(
        "-requested_at", "-id"
    )
    if not _sees_all(scope):
        assert scope.staff is not None
        department = scope.staff.department
        held = Q(consumer_node=own_node(), consumer_department_key=department.key)
        provided = Q(resource__department=department, resource__node=own_node())
        rows = rows.filter(
            held if side == "held" else provided if side == "provided" else held | provided
        )
    elif side == "held":
        rows = rows.filter(consumer_node=own_node())
    elif side == "provided":
        rows = rows.filter(resource__node=own_node())
    if state:
        rows = rows.filter(state=state)
    if resource is not None:
        rows = rows.filter(resource=resource)
    return rows


def grant_get(*, actor: Any, uid: Any) -> Grant:
    found = grant_list(actor=actor).filter(uid=str(uid)).first()
    if found is None:
        raise NotFound()
    return found


def grants_in_force(*, department_key: str, resource: Resource) -> list[Grant]:
    """The consuming department's grants for ``resource`` that are in force today."""
    today = timezone.localdate()
    return list(
        Grant.objects.filter(
            resource=resource,
            consumer_node=own_node(),
            consumer_department_key=department_key,
            state=GrantState.APPROVED,
        )
        .filter(Q(valid_from__isnull=True) | Q(valid_from__lte=today))
        .filter(Q(valid_until__isnull=True) | Q(valid_until__gte=today))
    )


def call_list(
    *,
    actor: Any,
    side: str = "",
    outcome: str = "",
    case_number: str = "",
    resource_key: str = "",
    since: dt.datetime | None = None,
) -> QuerySet[Call]:
    """The evidence log as the actor may read it: their department's calls as consumer; for a
    department admin also the calls answered for their department's resources; all for a
    supervisor. Newest first."""
    scope = staff_scope(actor, STAFF)
    rows = Call.objects.select_related("grant", "resource").order_by("-seq")
    if not _sees_all(scope):
        assert scope.staff is not None
        department = scope.staff.department
        asked = Q(consumer_node=own_node(), consumer_department_key=department.key)
        if StaffRole.DEPARTMENT_ADMIN in scope.roles:
            asked |= Q(resource__department=department, resource__node=own_node())
        rows = rows.filter(asked)
    if side:
        rows = rows.filter(side=side)
    if outcome:
        rows = rows.filter(outcome=outcome)
    if case_number:
        rows = rows.filter(case_number=case_number)
    if resource_key:
        rows = rows.filter(resource_key=resource_key)
    if since is not None:
        rows = rows.filter(at__gte=since)
    return rows


def call_get(*, actor: Any, uid: Any, side: str = "") -> Call:
    rows = call_list(actor=actor).filter(uid=str(uid))
    if side:
        rows = rows.filter(side=side)
    found = rows.first()
    if found is None:
        raise NotFound()
    return found


def dispute_list(*, actor: Any, state: str = "") -> QuerySet[Dispute]:
    """Disputes on the calls the actor may read (``call_list``)."""
    calls = call_list(actor=actor)
    rows = (
        Dispute.objects.filter(call__in=calls.values("pk"))
        .select_related("call", "call__resource")
        .order_by("-raised_at", "-id")
    )
    if state:
        rows = rows.filter(state=state)
    return rows


def dispute_get(*, actor: Any, uid: Any) -> Dispute:
    found = dispute_list(actor=actor).filter(uid=str(uid)).first()
    if found is None:
        raise NotFound()
    return found


@dataclass(frozen=True)
class UsageRow:
    """One line of the monitoring table: a resource × consuming department."""

    provider_node: str
    resource_key: str
    consumer: str
    calls: int
    answered: int
    refused: int
    failed: int
    avg_ms: float
    max_ms: int
    quality_flags: int


def monitoring(*, actor: Any, since: dt.datetime | None = None) -> list[UsageRow]:
    """Calls per resource and consumer since ``since`` (default: the last 30 days), with
    refusals, failures, latency and the data-quality flags raised on them: for supervisors."""
    staff_scope(actor, OVERSEERS)
    since = since or timezone.now() - dt.timedelta(days=30)
    calls = Call.objects.filter(at__gte=since)
    rows = (
        calls.values("provider_node", "resource_key", "consumer_department_name")
        .annotate(
            calls=Count("id"),
            answered=Count("id", filter=Q(outcome=CallOutcome.ANSWERED)),
            refused=Count("id", filter=Q(outcome=CallOutcome.REFUSED)),
            failed=Count("id", filter=Q(outcome=CallOutcome.FAILED)),
            avg_ms=Avg("latency_ms"),
            max_ms=Max("latency_ms"),
        )
        .order_by("provider_node", "resource_key", "consumer_department_name")
    )
    # Flags counted apart: a join to the disputes would count a call once per dispute.
    flags = {
        (
            row["call__provider_node"],
            row["call__resource_key"],
            row["call__consumer_department_name"],
        ): row["n"]
        for row in Dispute.objects.filter(call__at__gte=since, kind__in=QUALITY_KINDS)
        .values("call__provider_node", "call__resource_key", "call__consumer_department_name")
        .annotate(n=Count("id"))
        .order_by()
    }
    return [
        UsageRow(
            provider_node=row["provider_node"],
            resource_key=row["resource_key"],
            consumer=row["consumer_department_name"],
            calls=row["calls"],
            answered=row["answered"],
            refused=row["refused"],
            failed=row["failed"],
            avg_ms=round(float(row["avg_ms"] or 0), 1),
            max_ms=int(row["max_ms"] or 0),
            quality_flags=flags.get(
                (row["provider_node"], row["resource_key"], row["consumer_department_name"]), 0
            ),
        )
        for row in rows
    ]


def open_disputes_count(*, actor: Any) -> int:
    return dispute_list(actor=actor, state=DisputeState.OPEN).count()


def grant_history(*, actor: Any, grant: Grant) -> QuerySet[AuditEntry]:
    """The audit entries of a grant the actor may see (``grant_list``), oldest first: who asked,
    decided, revoked or withdrew it, with the values before and after."""
    if not grant_list(actor=actor).filter(pk=grant.pk).exists():
        raise NotFound()
    return AuditEntry.objects.filter(
        target_type=Grant._meta.label_lower, target_id=str(grant.pk)
    ).order_by("at", "id")


def grants_to_call(*, actor: Any) -> list[Grant]:
    """The grants in force today that the actor's department holds: what its staff may call
    under (any of the roles that make calls)."""
    scope = staff_scope(actor, CALLERS)
    if scope.staff is None:
        return []
    today = timezone.localdate()
    return list(
        Grant.objects.filter(
            consumer_node=own_node(),
            consumer_department_key=scope.staff.department.key,
            state=GrantState.APPROVED,
            resource__active=True,
        )
        .filter(Q(valid_from__isnull=True) | Q(valid_from__lte=today))
        .filter(Q(valid_until__isnull=True) | Q(valid_until__gte=today))
        .select_related("resource")
        .order_by("resource__name", "-requested_at")
    )
