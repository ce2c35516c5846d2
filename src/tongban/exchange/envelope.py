"""Messages between nodes: CloudEvents 1.0 (JSON), sealed as a compact JWS with the sender's
node key. Pure: no Django.

An event carries the CloudEvents attributes ``specversion``, ``id``, ``source`` (the sending
node's code), ``type`` (``cn.tongban.…``), ``subject`` (e.g. a case number), ``time``,
``datacontenttype`` and ``data``, plus two extension attributes: ``recipient`` (the node it is
for) and ``sequence`` (1, 2, 3 … per sender, recipient and subject, so the receiver applies a
case's events in order).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from collections.abc import Callable
from typing import Any

from tongban.core.text import forbidden_paths
from tongban.exchange.keys import (
    BadSignature,
    NodeKeyPair,
    sign,
    unverified_header,
    unverified_payload,
    verify,
)

TYP = "tongban-event+jws"
SPEC_VERSION = "1.0"
# The whole event, as signed. Receivers (joserfc) refuse a compact JWS whose payload is over
# 128,000 base64 characters, i.e. 96,000 bytes: what is sealed must stay under that.
MAX_DATA_BYTES = 90_000
MAX_DEPTH = 32  # nesting of arrays and objects in an event
MAX_SEQUENCE = 2**31 - 1
MAX_TYPE = 128

_NODE = re.compile(r"[1-9]\d{5}")
_TYPE = re.compile(r"cn\.tongban(\.[a-z][a-z0-9_]*){2,}")
_REQUIRED = ("specversion", "id", "source", "type", "subject", "time", "recipient", "sequence")


class EnvelopeError(ValueError):
    """A message that is not a well-formed, correctly signed event; ``reason`` is a code."""

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        super().__init__(f"{reason}: {detail}" if detail else reason)


def make_event(
    *,
    source: str,
    recipient: str,
    type: str,
    subject: str,
    sequence: int,
    data: dict[str, Any],
    time: dt.datetime,
    event_id: str | None = None,
) -> dict[str, Any]:
    event = {
        "specversion": SPEC_VERSION,
        "id": event_id or str(uuid.uuid4()),
        "source": source,
        "type": type,
        "subject": subject,
        "time": time.isoformat(),
        "datacontenttype": "application/json",
        "recipient": recipient,
        "sequence": sequence,
        "data": data,
    }
    check_event(event)
    return event


def check_event(event: Any) -> dict[str, Any]:
    """The event if well formed; EnvelopeError("malformed", …) naming the first problem."""
    if not isinstance(event, dict):
        raise EnvelopeError("malformed", "an event is a JSON object")
    if _depth(event) > MAX_DEPTH:
        raise EnvelopeError("malformed", f"nested deeper than {MAX_DEPTH}")
    bad = next(forbidden_paths(event), None)
    if bad is not None:
        raise EnvelopeError("malformed", f"control characters in {bad}")
    missing = [name for name in _REQUIRED if name not in event]
    if missing:
        raise EnvelopeError("malformed", f"missing {', '.join(missing)}")
    if event["specversion"] != SPEC_VERSION:
        raise EnvelopeError("malformed", "specversion must be 1.0")
    for name in ("id", "subject"):
        if not isinstance(event[name], str) or not 0 < len(event[name]) <= 128:
            raise EnvelopeError("malformed", f"{name} must be a short string")
    for name in ("source", "recipient"):
        if not isinstance(event[name], str) or not _NODE.fullmatch(event[name]):
            raise EnvelopeError("malformed", f"{name} must be a node code")
    if (
        not isinstance(event["type"], str)
        or len(event["type"]) > MAX_TYPE
        or not _TYPE.fullmatch(event["type"])
    ):
        raise EnvelopeError("malformed", "type must look like cn.tongban.<domain>.<event>")
    sequence = event["sequence"]
    if (
        not isinstance(sequence, int)
        or isinstance(sequence, bool)
        or not 1 <= sequence <= MAX_SEQUENCE
    ):
        raise EnvelopeError("malformed", "sequence must be a positive 32-bit integer")
    try:
        when = dt.datetime.fromisoformat(event["time"])
    except (TypeError, ValueError):
        raise EnvelopeError("malformed", "time must be RFC 3339") from None
    if when.tzinfo is None:
        raise EnvelopeError("malformed", "time needs an offset")
    if "data" in event and not isinstance(event["data"], dict):
        raise EnvelopeError("malformed", "data must be an object")
    return event


def canonical(event: dict[str, Any]) -> bytes:
    return json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def seal(event: dict[str, Any], pair: NodeKeyPair) -> str:
    body = canonical(check_event(event))
    if len(body) > MAX_DATA_BYTES:
        raise EnvelopeError("too_large", f"{len(body)} bytes")
    return sign(pair, body, typ=TYP)


KeyResolver = Callable[[str, str], dict[str, Any]]


def open_sealed(token: str, resolve: KeyResolver) -> dict[str, Any]:
    """The event inside ``token`` once its signature verifies with the key that ``resolve``
    (source code, kid) vouches for. ``resolve`` raises for unknown, revoked or expired keys;
    that error propagates unchanged."""
    header = unverified_header(token)
    if header.get("typ") != TYP:
        raise EnvelopeError("malformed", "not a tongban event")
    try:
        claimed = json.loads(unverified_payload(token))
    except (ValueError, UnicodeError, RecursionError):
        raise EnvelopeError("malformed", "the payload is not JSON") from None
    source = claimed.get("source") if isinstance(claimed, dict) else None
    if not isinstance(source, str) or not _NODE.fullmatch(source):
        raise EnvelopeError("malformed", "no source node")
    jwk = resolve(source, str(header.get("kid", "")))
    try:
        body = verify(token, jwk, typ=TYP)
    except BadSignature as error:
        raise EnvelopeError("bad_signature", str(error)) from None
    try:
        return check_event(json.loads(body))
    except (ValueError, RecursionError):
        raise EnvelopeError("malformed", "the payload is not JSON") from None


def _depth(value: Any) -> int:
    """How deeply arrays and objects nest (iteratively: no recursion limit to hit)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            if deepest > MAX_DEPTH:
                return deepest
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, level + 1) for child in children)
    return deepest
