"""Carriers behind one interface. Pure: no Django.

A carrier adapter turns a tracking number into the carrier's updates. The shipped adapter is
``manual``: staff enter each step from the carrier's own site or slip (no network call), which
is what a window without a carrier contract does today. An EMS or SF adapter implements
``Carrier.track`` against the carrier's API and is registered under its key.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Protocol

# Where a shipment may go next; delivered, returned and lost are final.
TRANSITIONS: dict[str, frozenset[str]] = {
    "created": frozenset({"picked_up", "lost"}),
    "picked_up": frozenset({"in_transit", "delivered", "returned", "lost"}),
    "in_transit": frozenset({"in_transit", "delivered", "returned", "lost"}),
    "delivered": frozenset(),
    "returned": frozenset(),
    "lost": frozenset(),
}
_TRACKING = re.compile(r"[A-Za-z0-9-]{6,40}")


@dataclass(frozen=True)
class TrackingUpdate:
    state: str
    at: dt.datetime
    note: str = ""


class Carrier(Protocol):
    @property
    def key(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def manual(self) -> bool:
        """True when staff enter the steps by hand."""
        ...

    def track(self, tracking_number: str) -> list[TrackingUpdate]: ...


@dataclass(frozen=True)
class ManualCarrier:
    """A carrier whose steps staff enter by hand; ``track`` has nothing to fetch."""

    key: str
    name: str
    manual: bool = True

    def track(self, tracking_number: str) -> list[TrackingUpdate]:
        return []


CARRIERS: dict[str, Carrier] = {
    carrier.key: carrier
    for carrier in (
        ManualCarrier("ems", "中国邮政 EMS"),
        ManualCarrier("sf", "顺丰速运"),
        ManualCarrier("jd", "京东物流"),
        ManualCarrier("other", "其他"),
    )
}


def tracking_number_ok(value: str) -> bool:
    return bool(_TRACKING.fullmatch(value))


def may_move(current: str, target: str) -> bool:
    return target in TRANSITIONS.get(current, frozenset())
