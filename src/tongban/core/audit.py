"""Writing audit entries. Call inside the service's transaction so the entry and the change
commit or roll back together."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models

from tongban.core.models import AuditEntry


def audit_record(
    *,
    actor: Any | None,
    action: str,
    target: models.Model | None,
    changes: dict[str, Any] | None = None,
    actor_label: str = "",
    target_type: str = "",
) -> AuditEntry:
    """``actor`` is a user (or None for the system, e.g. ``tongban init``).

    Something that is no stored row, e.g. a failed sign-in under a name nobody has, is recorded
    with ``target=None`` and a ``target_type``; ``actor_label`` then says who tried (masked)
    instead of "system".
    """
    user = actor if actor is not None and not isinstance(actor, System) and actor.pk else None
    return AuditEntry.objects.create(
        node_code=settings.TONGBAN_NODE_CODE,
        actor=user,
        actor_label=actor_label or (user.get_username() if user is not None else "system"),
        action=action,
        target_type=target._meta.label_lower if target is not None else target_type,
        target_id=str(target.pk) if target is not None else "",
        changes=changes or {},
    )


def diff(old: dict[str, Any], new: dict[str, Any]) -> dict[str, list[Any]]:
    """``{field: [old, new]}`` for the fields whose value changed."""
    return {key: [old.get(key), value] for key, value in new.items() if old.get(key) != value}


class System:
    """The actor for changes made by the node itself (``tongban init``, loaders, tasks).

    Services take ``actor: User | System`` so that "no user" is always a decision, never an
    anonymous request slipping through."""

    pk = None
    is_authenticated = True

    def get_username(self) -> str:
        return "system"


SYSTEM = System()
