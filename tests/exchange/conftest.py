"""Shared set-up for the exchange tests: a key directory per test, a cold cache of verified
trust lists, the hub's identity, and a foreign node that builds its own registrations."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.utils import timezone

from tongban.exchange import keys, services, trust
from tongban.exchange.models import Node

HUB = "100000"
SICHUAN = "510000"
# Before any time a test travels to: keys made by fixtures are valid in every test.
KEYS_SINCE = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _cold_trust_list_cache() -> Iterator[None]:
    # Verified lists are cached per process; a test's rolled-back database must not leave its
    # lists behind for the next test.
    services._verified.clear()
    yield
    services._verified.clear()


@pytest.fixture(autouse=True)
def _own_key_files(settings: Any, tmp_path: Path) -> None:
    settings.TONGBAN_NODE_KEY_DIR = tmp_path / "node-keys"
    settings.TONGBAN_HUB_KEYS_FILE = tmp_path / "hub-keys.json"


@pytest.fixture
def hub(db: None, settings: Any) -> Node:
    """This node is the national hub, with its identity (as `tongban init` creates it)."""
    settings.TONGBAN_NODE_CODE = HUB
    with time_machine.travel(KEYS_SINCE, tick=False):
        node, _created = services.node_identity_ensure(
            name="国家政务服务平台", base_url="https://hub.example.cn"
        )
    return node


def iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


@dataclass
class ForeignNode:
    """A node running elsewhere (its own database and key files): builds the registration that
    its `registration_token` would sign, by hand, so the hub's checks can be probed one by one."""

    code: str
    directory: Path
    name: str = "四川省"
    url: str = "https://sc.example.cn"
    entries: list[dict[str, Any]] = field(default_factory=list)
    pairs: list[keys.NodeKeyPair] = field(default_factory=list)

    def new_key(
        self,
        *,
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
        revoked: bool = False,
    ) -> keys.NodeKeyPair:
        pair = keys.generate(self.directory)
        self.pairs.append(pair)
        self.entries.append(
            {
                "kid": pair.kid,
                "jwk": pair.public_jwk(),
                "not_before": iso(not_before or timezone.now()),
                "not_after": iso(not_after),
                "revoked": revoked,
            }
        )
        return pair

    def entry(self, kid: str) -> dict[str, Any]:
        return next(entry for entry in self.entries if entry["kid"] == kid)

    def payload(
        self, *, enrolment: str | None = None, at: dt.datetime | None = None
    ) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": self.name,
            "url": self.url,
            "keys": [dict(entry) for entry in self.entries],
            "time": (at or timezone.now()).isoformat(),
            **({"enrolment": enrolment} if enrolment else {}),
        }

    def token(
        self,
        *,
        enrolment: str | None = None,
        signer: keys.NodeKeyPair | None = None,
        at: dt.datetime | None = None,
        payload: Any = None,
        typ: str = services.REGISTRATION_TYP,
    ) -> str:
        if isinstance(payload, bytes):
            data = payload
        else:
            body = payload if payload is not None else self.payload(enrolment=enrolment, at=at)
            data = json.dumps(body, ensure_ascii=False, sort_keys=True).encode("utf-8")
        return keys.sign(signer or self.pairs[-1], data, typ=typ)


@pytest.fixture
def sichuan(tmp_path: Path) -> ForeignNode:
    node = ForeignNode(SICHUAN, tmp_path / "sichuan-keys")
    node.new_key(not_before=KEYS_SINCE)
    return node


def hub_public_keys() -> list[dict[str, Any]]:
    """The hub's public keys, as `tongban exchange public-keys` prints them."""
    return [key.jwk for key in services.self_node().keys.filter(revoked_at__isnull=True)]


def verified(copy_token: str, *, at: dt.datetime | None = None) -> trust.TrustList:
    return trust.verify_list(
        copy_token, hub_code=HUB, hub_keys=hub_public_keys(), at=at or timezone.now()
    )
