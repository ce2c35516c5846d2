"""Hash chains (责任追溯): each case's events, the exchange's evidence log. Pure: no Django.

Each link stores the SHA-256 of the link before it; its own hash covers its canonical encoding
together with that previous hash. Changing, inserting or deleting any link breaks every link
after it, which ``verify`` finds.

Canonical encoding: JSON with sorted keys, no whitespace, UTF-8, datetimes as ISO-8601 with
offset, decimals and dates as strings.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

GENESIS = "0" * 64


def canonical(value: Mapping[str, Any]) -> bytes:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_default
    ).encode()


def _default(value: Any) -> str:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    raise TypeError(f"cannot encode {type(value).__name__} in a chain link")


def link_hash(previous: str, body: Mapping[str, Any]) -> str:
    return hashlib.sha256(previous.encode() + b"\n" + canonical(body)).hexdigest()


@dataclass(frozen=True)
class Link:
    seq: int
    prev_hash: str
    hash: str
    body: Mapping[str, Any]


@dataclass(frozen=True)
class Break:
    seq: int
    reason: str


def verify(links: Iterable[Link]) -> Break | None:
    """The first broken link of one chain (in sequence order), or None if it holds."""
    previous, expected_seq = GENESIS, 1
    for link in links:
        if link.seq != expected_seq:
            return Break(link.seq, f"expected event {expected_seq}, found {link.seq}")
        if link.prev_hash != previous:
            return Break(link.seq, "previous-hash does not match the event before it")
        if link_hash(previous, link.body) != link.hash:
            return Break(link.seq, "the event's content does not match its hash")
        previous, expected_seq = link.hash, expected_seq + 1
    return None
