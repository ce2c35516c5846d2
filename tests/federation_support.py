"""Two nodes in one test database: this node plays Chongqing (federated, its own key files),
a hub elsewhere signs the trust lists it accepts, and a test plays Sichuan for a while by
switching TONGBAN_NODE_CODE, handing the outbox's events to the handlers as the inbox would.
Shared by the tests of cases and of shipments across nodes."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from tongban.exchange import keys, trust
from tongban.exchange import services as exchange
from tongban.exchange.models import OutboxMessage

HUB = "100000"
CHONGQING = "500000"
SICHUAN = "510000"
GUIZHOU = "520000"
URLS = {
    CHONGQING: "https://cq.example.cn",
    SICHUAN: "https://sc.example.cn",
    GUIZHOU: "https://gz.example.cn",
}


class RemoteHub:
    """The national hub in another process: its key pinned here out of band, and the trust
    lists it signs (which this node accepts as it would one fetched from the hub). Keeps the
    key of every other node it lists, so a test can sign as that node."""

    def __init__(self, directory: Path, pin_file: Path) -> None:
        self.directory = directory
        self.pair = keys.generate(directory / "hub")
        pin_file.parent.mkdir(parents=True, exist_ok=True)
        pin_file.write_text(json.dumps({"keys": [self.pair.public_jwk()]}))
        self.serial = 0
        self.since = timezone.now() - dt.timedelta(days=1)
        self.pairs: dict[str, keys.NodeKeyPair] = {}

    def _node(self, code: str, url: str) -> trust.TrustedNode:
        if code == CHONGQING:  # this node: the key it registered
            own = exchange.self_node().keys.all()
            listed = tuple(trust.TrustedKey(k.kid, k.jwk, k.not_before, None) for k in own)
        else:
            if code not in self.pairs:
                self.pairs[code] = keys.generate(self.directory / code)
            pair = self.pairs[code]
            listed = (trust.TrustedKey(pair.kid, pair.public_jwk(), self.since, None),)
        return trust.TrustedNode(code, f"node {code}", url, listed)

    def publish(self, nodes: dict[str, str]) -> None:
        """A new list naming the hub and ``nodes`` (code → URL), put in force here."""
        self.serial += 1
        now = timezone.now()
        listed = trust.TrustList(
            HUB,
            self.serial,
            now,
            now + dt.timedelta(days=7),
            (
                self._node(HUB, "https://hub.example.cn"),
                *(self._node(code, url) for code, url in sorted(nodes.items())),
            ),
        )
        exchange.trust_list_accept(token=trust.sign_list(listed, self.pair))


@pytest.fixture(autouse=True)
def chongqing(db: None, settings: Any, tmp_path: Path) -> Iterator[None]:
    """This node: Chongqing, federated, with its own key files and its own media directory."""
    settings.TONGBAN_HUB_URL = "http://127.0.0.1:9"
    settings.TONGBAN_NODE_CODE = CHONGQING
    settings.TONGBAN_NODE_KEY_DIR = tmp_path / "node-keys"
    settings.TONGBAN_HUB_KEYS_FILE = tmp_path / "hub-keys.json"
    settings.MEDIA_ROOT = tmp_path / "media"
    # Verified lists are cached per process: none of another test's may be in force here.
    exchange._verified.clear()
    exchange.node_identity_ensure(name="重庆市", base_url=URLS[CHONGQING])
    yield
    exchange._verified.clear()


def remote_hub(settings: Any, tmp_path: Path) -> RemoteHub:
    return RemoteHub(tmp_path / "keys-elsewhere", Path(settings.TONGBAN_HUB_KEYS_FILE))


@contextmanager
def node(settings: Any, code: str) -> Iterator[None]:
    """Play node ``code`` for a while (the same database, another TONGBAN_NODE_CODE)."""
    before = settings.TONGBAN_NODE_CODE
    settings.TONGBAN_NODE_CODE = code
    try:
        yield
    finally:
        settings.TONGBAN_NODE_CODE = before


def incoming(source: str, type: str, data: dict[str, Any]) -> dict[str, Any]:
    """An event as the inbox hands it to its handler: from ``source``, about the case
    ``data["uid"]`` (the event's subject)."""
    return {"source": source, "type": type, "subject": str(data.get("uid")), "data": data}


def sent(type: str, *, subject: Any = None, to: str | None = None) -> list[dict[str, Any]]:
    """The events of ``type`` in the outbox (decoded CloudEvents), oldest first."""
    rows = OutboxMessage.objects.filter(type=type).order_by("id")
    if subject is not None:
        rows = rows.filter(subject=str(subject))
    if to is not None:
        rows = rows.filter(recipient=to)
    return [json.loads(keys.unverified_payload(row.token)) for row in rows]
