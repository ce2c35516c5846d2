"""The trust list document, signed by the hub and verified by nodes (trust.py: pure)."""

from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from tongban.exchange import keys, trust
from tongban.exchange.trust import TrustedKey, TrustedNode, TrustError, TrustList

HUB = "100000"
T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


@pytest.fixture
def hub_pair(tmp_path: Path) -> keys.NodeKeyPair:
    return keys.generate(tmp_path / "hub")


@pytest.fixture
def node_pair(tmp_path: Path) -> keys.NodeKeyPair:
    return keys.generate(tmp_path / "node")


def key(
    pair: keys.NodeKeyPair,
    *,
    not_before: dt.datetime = T0 - DAY,
    not_after: dt.datetime | None = None,
    revoked: bool = False,
) -> TrustedKey:
    return TrustedKey(pair.kid, pair.public_jwk(), not_before, not_after, revoked)


def a_list(
    hub_pair: keys.NodeKeyPair,
    *nodes: TrustedNode,
    serial: int = 1,
    issuer: str = HUB,
    issued_at: dt.datetime = T0,
    days: int = 7,
) -> TrustList:
    hub = TrustedNode(HUB, "国家政务服务平台", "https://hub.example.cn", (key(hub_pair),))
    return TrustList(issuer, serial, issued_at, issued_at + days * DAY, (hub, *nodes))


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def signed_payload(pair: keys.NodeKeyPair, document: Any) -> str:
    raw = document if isinstance(document, bytes) else json.dumps(document).encode()
    return keys.sign(pair, raw, typ=trust.TYP)


def verify(token: str, hub_pair: keys.NodeKeyPair, at: dt.datetime = T0) -> TrustList:
    return trust.verify_list(token, hub_code=HUB, hub_keys=[hub_pair.public_jwk()], at=at)


def test_a_signed_list_verifies_with_the_hub_key_and_round_trips(
    hub_pair: keys.NodeKeyPair, node_pair: keys.NodeKeyPair
) -> None:
    sichuan = TrustedNode(
        "510000",
        "四川省",
        "https://sc.example.cn",
        (key(node_pair, not_after=T0 + 7 * DAY), key(hub_pair, revoked=True)),
    )
    listed = a_list(hub_pair, sichuan, serial=42)
    token = trust.sign_list(listed, hub_pair)
    assert keys.unverified_header(token)["typ"] == trust.TYP
    assert verify(token, hub_pair) == listed
    assert verify(token, hub_pair).node("510000") == sichuan


def test_the_signed_document_keeps_chinese_readable(hub_pair: keys.NodeKeyPair) -> None:
    token = trust.sign_list(a_list(hub_pair), hub_pair)
    assert "国家政务服务平台" in keys.unverified_payload(token).decode("utf-8")


def test_a_list_signed_by_another_key_is_refused(
    hub_pair: keys.NodeKeyPair, node_pair: keys.NodeKeyPair
) -> None:
    token = trust.sign_list(a_list(hub_pair), node_pair)
    with pytest.raises(TrustError) as refused:
        verify(token, hub_pair)
    assert refused.value.reason == "unknown_key"


def test_a_list_signed_by_another_key_under_the_hub_kid_is_refused(
    hub_pair: keys.NodeKeyPair, node_pair: keys.NodeKeyPair
) -> None:
    forger = keys.NodeKeyPair(kid=hub_pair.kid, private=node_pair.private)
    token = trust.sign_list(a_list(hub_pair), forger)
    with pytest.raises(TrustError) as refused:
        verify(token, hub_pair)
    assert refused.value.reason == "bad_signature"


def test_no_hub_keys_trust_nothing(hub_pair: keys.NodeKeyPair) -> None:
    token = trust.sign_list(a_list(hub_pair), hub_pair)
    with pytest.raises(TrustError) as refused:
        trust.verify_list(token, hub_code=HUB, hub_keys=[], at=T0)
    assert refused.value.reason == "unknown_key"


def test_a_list_issued_by_another_node_is_refused(hub_pair: keys.NodeKeyPair) -> None:
    token = trust.sign_list(a_list(hub_pair, issuer="510000"), hub_pair)
    with pytest.raises(TrustError) as refused:
        verify(token, hub_pair)
    assert refused.value.reason == "wrong_issuer"


@pytest.mark.parametrize("late", [dt.timedelta(0), dt.timedelta(seconds=1), 30 * DAY])
def test_an_expired_list_is_refused(hub_pair: keys.NodeKeyPair, late: dt.timedelta) -> None:
    token = trust.sign_list(a_list(hub_pair, days=7), hub_pair)
    assert verify(token, hub_pair, at=T0 + 7 * DAY - dt.timedelta(seconds=1)).serial == 1
    with pytest.raises(TrustError) as refused:
        verify(token, hub_pair, at=T0 + 7 * DAY + late)
    assert refused.value.reason == "trust_list_expired"


def test_a_tampered_list_is_refused(hub_pair: keys.NodeKeyPair) -> None:
    token = trust.sign_list(a_list(hub_pair), hub_pair)
    header, _payload, signature = token.split(".")
    document = json.loads(keys.unverified_payload(token))
    document["serial"] = 99
    document["nodes"][0]["url"] = "https://evil.example.com"
    forged = ".".join([header, b64(json.dumps(document).encode()), signature])
    with pytest.raises(TrustError) as refused:
        verify(forged, hub_pair)
    assert refused.value.reason == "bad_signature"


def test_a_list_under_another_typ_is_refused(hub_pair: keys.NodeKeyPair) -> None:
    payload = json.dumps(trust.document(a_list(hub_pair))).encode()
    token = keys.sign(hub_pair, payload, typ="tongban-registration+jws")
    with pytest.raises(TrustError) as refused:
        verify(token, hub_pair)
    assert refused.value.reason == "bad_signature"


@pytest.mark.parametrize("token", ["", "garbage", "a.b.c", "é.é.é", "e30.e30."])
def test_garbage_is_a_trust_error(hub_pair: keys.NodeKeyPair, token: str) -> None:
    with pytest.raises(TrustError):
        verify(token, hub_pair)


DELETE = object()


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("nodes", DELETE),
        ("serial", DELETE),
        ("issuer", DELETE),
        ("issued_at", DELETE),
        ("expires_at", DELETE),
        ("serial", "1"),
        ("serial", True),
        ("serial", 1.0),
        ("serial", -1),
        ("issuer", 100000),
        ("nodes", {}),
        ("nodes.0", "100000"),
        ("nodes.0.keys", None),
        ("nodes.0.keys.0", "kid"),
        ("nodes.0.keys.0.jwk", "jwk"),
        ("nodes.0.keys.0.jwk", DELETE),
        ("nodes.0.keys.0.not_before", DELETE),
        ("nodes.0.keys.0.not_before", "2026-03-01T09:00:00"),
        ("nodes.0.keys.0.not_before", "yesterday"),
        ("nodes.0.keys.0.not_before", 1772355600),
        ("nodes.0.keys.0.not_after", "2026-03-09"),
        ("nodes.0.keys.0.not_before", "0001-01-01T00:00:00+14:00"),
        ("issued_at", "2026-03-02T09:00:00"),
        ("expires_at", "2026-03-09T09:00:00"),
        ("expires_at", "9999-12-31T23:59:59-14:00"),
    ],
)
def test_malformed_documents_are_refused(hub_pair: keys.NodeKeyPair, path: str, value: Any) -> None:
    document = trust.document(a_list(hub_pair))
    *parents, last = path.split(".")
    target: Any = document
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target[part]
    index: Any = int(last) if isinstance(target, list) else last
    if value is DELETE:
        del target[index]
    else:
        target[index] = value
    with pytest.raises(TrustError) as refused:
        verify(signed_payload(hub_pair, document), hub_pair)
    assert refused.value.reason == "malformed"


@pytest.mark.parametrize(
    "payload", [b"not json", b"\xff\xfe", b"[]", b"null", b"[" * 5000 + b"]" * 5000]
)
def test_a_payload_that_is_not_a_list_object_is_refused(
    hub_pair: keys.NodeKeyPair, payload: bytes
) -> None:
    with pytest.raises(TrustError) as refused:
        verify(signed_payload(hub_pair, payload), hub_pair)
    assert refused.value.reason == "malformed"


def test_timestamps_are_read_in_utc() -> None:
    parsed = trust.parse_time("2026-03-02T17:00:00+08:00", "t")
    assert parsed == T0
    assert parsed.utcoffset() == dt.timedelta(0)


# key_of ------------------------------------------------------------------------------------


@pytest.fixture
def listed(hub_pair: keys.NodeKeyPair, tmp_path: Path) -> tuple[TrustList, dict[str, str]]:
    pairs = {name: keys.generate(tmp_path / name) for name in ("valid", "revoked", "old", "next")}
    node = TrustedNode(
        "510000",
        "四川省",
        "https://sc.example.cn",
        (
            key(pairs["valid"], not_before=T0 - DAY, not_after=T0 + DAY),
            key(pairs["revoked"], revoked=True),
            key(pairs["old"], not_before=T0 - 9 * DAY, not_after=T0 - DAY),
            key(pairs["next"], not_before=T0 + DAY),
        ),
    )
    return a_list(hub_pair, node), {name: pair.kid for name, pair in pairs.items()}


def test_key_of_vouches_for_a_valid_key(listed: tuple[TrustList, dict[str, str]]) -> None:
    trust_list, kids = listed
    assert trust_list.key_of("510000", kids["valid"], at=T0).kid == kids["valid"]


@pytest.mark.parametrize(
    ("code", "name", "at", "reason"),
    [
        ("520000", "valid", T0, "unknown_node"),
        ("510000", "nobody", T0, "unknown_key"),
        ("100000", "valid", T0, "unknown_key"),  # another node's key
        ("510000", "revoked", T0, "revoked_key"),
        ("510000", "old", T0, "expired_key"),
        ("510000", "next", T0, "key_not_yet_valid"),
        ("510000", "valid", T0 + DAY, "expired_key"),  # not_after is exclusive
        ("510000", "valid", T0 - DAY - dt.timedelta(seconds=1), "key_not_yet_valid"),
        ("510000", "valid", T0 + 7 * DAY, "trust_list_expired"),
    ],
)
def test_key_of_refuses_with_a_reason(
    listed: tuple[TrustList, dict[str, str]], code: str, name: str, at: dt.datetime, reason: str
) -> None:
    trust_list, kids = listed
    with pytest.raises(TrustError) as refused:
        trust_list.key_of(code, kids.get(name, name), at=at)
    assert refused.value.reason == reason


def test_not_before_is_inclusive(listed: tuple[TrustList, dict[str, str]]) -> None:
    trust_list, kids = listed
    assert trust_list.key_of("510000", kids["valid"], at=T0 - DAY).kid == kids["valid"]


# hub_keys_in -------------------------------------------------------------------------------


def test_hub_keys_in_names_the_hub_keys_valid_at_that_time(
    hub_pair: keys.NodeKeyPair, tmp_path: Path
) -> None:
    following = keys.generate(tmp_path / "h2")
    revoked = keys.generate(tmp_path / "h3")
    old = keys.generate(tmp_path / "h4")
    hub = TrustedNode(
        HUB,
        "国家政务服务平台",
        "https://hub.example.cn",
        (
            key(hub_pair, not_after=T0 + 2 * DAY),
            key(following, not_before=T0 + DAY),
            key(revoked, revoked=True),
            key(old, not_after=T0),
        ),
    )
    trust_list = TrustList(HUB, 3, T0, T0 + 7 * DAY, (hub,))
    kids = [jwk["kid"] for jwk in trust.hub_keys_in(trust_list, at=T0)]
    assert kids == [hub_pair.kid]
    assert [jwk["kid"] for jwk in trust.hub_keys_in(trust_list, at=T0 + DAY)] == [
        hub_pair.kid,
        following.kid,
    ]
    assert [jwk["kid"] for jwk in trust.hub_keys_in(trust_list, at=T0 + 3 * DAY)] == [following.kid]
    assert trust.hub_keys_in(trust_list, at=T0)[0] == hub_pair.public_jwk()


def test_hub_keys_in_a_list_without_its_issuer_is_empty(node_pair: keys.NodeKeyPair) -> None:
    node = TrustedNode("510000", "四川省", "", (key(node_pair),))
    assert trust.hub_keys_in(TrustList(HUB, 1, T0, T0 + DAY, (node,)), at=T0) == []


def test_the_next_list_verifies_with_a_hub_key_the_previous_one_named(
    hub_pair: keys.NodeKeyPair, tmp_path: Path
) -> None:
    following = keys.generate(tmp_path / "h2")
    hub = TrustedNode(HUB, "国家政务服务平台", "", (key(hub_pair), key(following, not_before=T0)))
    first = TrustList(HUB, 1, T0, T0 + 7 * DAY, (hub,))
    second = TrustList(HUB, 2, T0 + DAY, T0 + 8 * DAY, (hub,))
    trusted = [hub_pair.public_jwk()]
    verify(trust.sign_list(first, hub_pair), hub_pair)
    with pytest.raises(TrustError):
        trust.verify_list(
            trust.sign_list(second, following), hub_code=HUB, hub_keys=trusted, at=T0 + DAY
        )
    trusted += trust.hub_keys_in(first, at=T0 + DAY)
    token = trust.sign_list(second, following)
    assert trust.verify_list(token, hub_code=HUB, hub_keys=trusted, at=T0 + DAY) == second
