"""Probe messages between two nodes: `tongban exchange probe NODE` sends numbered probes, the
peer records each as it applies it. For an operator, a quick check that messages get through;
for the crash test and `tongban bench exchange`, the evidence that every committed message
arrived exactly once and in order, and how long it took."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tongban.core.errors import ValidationFailed
from tongban.exchange import messaging
from tongban.exchange.models import Probe

TYPE = "cn.tongban.exchange.probe"


class RolledBack(Exception):
    """Raised on purpose inside a probe's transaction: that probe must never arrive."""


def probe_send(*, peer: str, n: int, subject: str, roll_back: bool = False) -> Probe | None:
    """One probe in its own transaction (rolled back on purpose when ``roll_back``)."""
    now = timezone.now()
    try:
        with transaction.atomic():
            message = messaging.message_send(
                recipient=peer,
                type=TYPE,
                subject=subject,
                data={"n": n, "sent_at": now.isoformat()},
            )
            probe = Probe.objects.create(
                direction="out",
                peer=peer,
                event_id=message.event_id,
                subject=subject,
                n=n,
                sent_at=now,
            )
            if roll_back:
                raise RolledBack()
    except RolledBack:
        return None
    return probe


def next_number(peer: str) -> int:
    """After the last probe sent to ``peer`` that was committed (a stream killed mid-way goes
    on from there)."""
    last = Probe.objects.filter(direction="out", peer=peer).aggregate(m=Max("n"))["m"]
    return (last or 0) + 1


@dataclass(frozen=True)
class Stream:
    peer: str
    count: int
    subjects: int = 10
    rollback_every: int = 0  # every k-th probe is rolled back (0: none)
    rate: float = 0.0  # probes per second (0: as fast as they commit)


def stream(spec: Stream) -> tuple[int, int]:
    """Send probes up to number ``count`` (going on after the last committed one); returns
    (committed, rolled back)."""
    committed = rolled = 0
    start = time.monotonic()
    first = next_number(spec.peer)
    for n in range(first, spec.count + 1):
        if spec.rate > 0:
            due = start + (n - first) / spec.rate
            time.sleep(max(0.0, due - time.monotonic()))
        roll_back = spec.rollback_every > 0 and n % spec.rollback_every == 0
        sent = probe_send(
            peer=spec.peer, n=n, subject=f"probe-{n % spec.subjects}", roll_back=roll_back
        )
        committed += sent is not None
        rolled += sent is None
    return committed, rolled


def _on_probe(event: dict[str, Any]) -> None:
    data = event.get("data") or {}
    n = data.get("n")
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 2**31 - 1:
        raise ValidationFailed(fields={"n": _("Expected a whole number.")})
    try:
        sent_at = dt.datetime.fromisoformat(str(data.get("sent_at")))
    except ValueError:
        raise ValidationFailed(fields={"sent_at": _("Expected a time.")}) from None
    Probe.objects.create(
        direction="in",
        peer=event["source"],
        event_id=uuid.UUID(event["id"]),
        subject=event["subject"],
        n=n,
        sent_at=sent_at,
    )


def register() -> None:
    messaging.register_handler(TYPE, _on_probe)
