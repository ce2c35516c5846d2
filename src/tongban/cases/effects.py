"""What a workflow action issues besides its own state change (``issues`` in the workflow data),
done by the domain that owns it. Cases know no licences: the licences domain registers its
handler here when it starts, and the engine calls it inside the action's transaction, so the
approval and the licence are written together or not at all."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tongban.cases.models import Case

Handler = Callable[..., object]  # what it returns is ignored
_handlers: dict[str, Handler] = {}


def register(kind: str, handler: Handler) -> None:
    _handlers[kind] = handler


def run(kind: str, *, case: Case, actor: Any) -> None:
    """Do what ``kind`` stands for; nothing when no domain handles it on this node."""
    handler = _handlers.get(kind)
    if handler is not None:
        handler(case=case, actor=actor)
