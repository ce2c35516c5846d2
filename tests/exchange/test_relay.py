"""The hub's relay: nodes that cannot reach each other directly (a province whose network links
only to the national hub) send through the hub, which checks the sender's signature, queues the
token unchanged and delivers it to the URL the recipient registered."""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import transaction
from django.test import Client
from django.utils import timezone

from tests.exchange.conftest import HUB, KEYS_SINCE, SICHUAN, ForeignNode, verified
from tongban.core.audit import SYSTEM
from tongban.core.errors import DomainError, Forbidden
from tongban.exchange import envelope, keys, messaging, services, transport, trust, views
from tongban.exchange.models import (
    EvidenceEntry,
    InboxMessage,
    InboxState,
    Node,
    OutboxMessage,
    OutboxState,
    TrustListCopy,
)

pytestmark = pytest.mark.django_db

CHONGQING = "500000"
GUIZHOU = "520000"
TYPE = "cn.tongban.test.noted"
JOSE = "application/jose"
RELAY = "/federation/v1/relay"
HUB_URL = "https://hub.example.cn"
SC_URL = "https://sc.example.cn"
CQ_URL = "https://cq.example.cn"
GZ_URL = "https://gz.example.cn"


# Set-up -------------------------------------------------------------------------------------


@pytest.fixture
def chongqing(tmp_path: Path) -> ForeignNode:
    node = ForeignNode(CHONGQING, tmp_path / "chongqing-keys", name="重庆市", url=CQ_URL)
    node.new_key(not_before=KEYS_SINCE)
    return node


@pytest.fixture
def guizhou(tmp_path: Path) -> ForeignNode:
    node = ForeignNode(GUIZHOU, tmp_path / "guizhou-keys", name="贵州省", url=GZ_URL)
    node.new_key(not_before=KEYS_SINCE)
    return node


def register(node: ForeignNode, *, reach: str | None = None, enrol: bool = True) -> Node:
    """The hub registers ``node`` (a new one with an enrolment code), with "reach" in its
    registration when given."""
    code = services.enrolment_create(actor=SYSTEM, node_code=node.code) if enrol else None
    # A second registration must be signed later than the first one the hub accepted.
    payload = node.payload(
        enrolment=code, at=timezone.now() + dt.timedelta(seconds=0 if enrol else 1)
    )
    if reach is not None:
        payload["reach"] = reach
    return services.node_register(token=node.token(payload=payload))


def newest_list() -> trust.TrustList:
    copy = TrustListCopy.objects.order_by("-serial").first()
    assert copy is not None
    return verified(copy.token)


@pytest.fixture
def federation(hub: Node, sichuan: ForeignNode, chongqing: ForeignNode) -> None:
    """Sichuan is reached directly; Chongqing only through the hub."""
    register(sichuan)
    register(chongqing, reach="hub")


@pytest.fixture
def wire(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, bytes | None]]:
    """Every HTTP call this node makes, answered 202."""
    calls: list[tuple[str, str, bytes | None]] = []

    def call(method: str, url: str, body: bytes | None = None, **options: Any) -> tuple[int, bytes]:
        calls.append((method, url, body))
        lines = (body or b"").split(b"\n")
        if len(lines) > 1:  # a batch: a result per token, as an inbox answers
            return 200, json.dumps({"results": [{"status": 202}] * len(lines)}).encode()
        return 202, b"{}"

    monkeypatch.setattr(transport, "call", call)
    return calls


@pytest.fixture
def client() -> Client:
    return Client(raise_request_exception=False)


@pytest.fixture
def applied() -> Iterator[list[dict[str, Any]]]:
    seen: list[dict[str, Any]] = []
    messaging.register_handler(TYPE, seen.append)
    yield seen
    messaging._handlers.pop(TYPE, None)


def sealed(
    node: ForeignNode,
    *,
    recipient: str = CHONGQING,
    subject: str = "CASE-1",
    sequence: int = 1,
    signer: keys.NodeKeyPair | None = None,
    **overrides: Any,
) -> str:
    """An event signed by ``node`` (as its own outbox would seal it)."""
    event = envelope.make_event(
        source=node.code,
        recipient=recipient,
        type=TYPE,
        subject=subject,
        sequence=sequence,
        data={"n": sequence},
        time=timezone.now(),
        **overrides,
    )
    return envelope.seal(event, signer or node.pairs[-1])


def post(client: Client, body: str | bytes) -> Any:
    return client.post(RELAY, data=body, content_type=JOSE)


def stored() -> dict[str, int]:
    return {
        "outbox": OutboxMessage.objects.count(),
        "inbox": InboxMessage.objects.count(),
        "evidence": EvidenceEntry.objects.count(),
    }


NOTHING = {"outbox": 0, "inbox": 0, "evidence": 0}


# Registration: "reach" ------------------------------------------------------------------------


def test_a_node_reached_through_the_hub_is_listed_without_its_url(
    hub: Node, sichuan: ForeignNode
) -> None:
    node = register(sichuan, reach="hub")
    assert node.relay_only is True
    assert Node.objects.get(code=SICHUAN).base_url == SC_URL  # the hub keeps it for itself
    entry = newest_list().node(SICHUAN)
    assert entry is not None
    assert entry.url == ""
    # Its keys are still vouched for: what it signs verifies everywhere.
    assert [key.kid for key in entry.keys] == [sichuan.pairs[0].kid]
    assert entry.keys[0].jwk == sichuan.pairs[0].public_jwk()


@pytest.mark.parametrize("reach", ["direct", None], ids=["direct", "missing"])
def test_a_node_reached_directly_is_listed_with_its_url(
    hub: Node, sichuan: ForeignNode, reach: str | None
) -> None:
    node = register(sichuan, reach=reach)
    assert node.relay_only is False
    entry = newest_list().node(SICHUAN)
    assert entry is not None
    assert entry.url == SC_URL
    assert [key.kid for key in entry.keys] == [sichuan.pairs[0].kid]


def test_a_node_can_change_how_it_is_reached(hub: Node, sichuan: ForeignNode) -> None:
    register(sichuan, reach="hub")
    assert newest_list().node(SICHUAN).url == ""  # type: ignore[union-attr]
    register(sichuan, reach="direct", enrol=False)
    assert Node.objects.get(code=SICHUAN).relay_only is False
    assert newest_list().node(SICHUAN).url == SC_URL  # type: ignore[union-attr]
    register(sichuan, reach="hub", enrol=False)
    assert Node.objects.get(code=SICHUAN).relay_only is True
    assert newest_list().node(SICHUAN).url == ""  # type: ignore[union-attr]


@pytest.mark.parametrize(("setting", "reach"), [("hub", "hub"), ("direct", "direct")])
def test_a_registration_says_how_the_node_is_reached(
    db: None, settings: Any, setting: str, reach: str
) -> None:
    settings.TONGBAN_NODE_CODE = CHONGQING
    settings.TONGBAN_NODE_REACH = setting
    services.node_identity_ensure(name="重庆市", base_url=CQ_URL)
    payload = json.loads(keys.unverified_payload(services.registration_token()))
    assert payload["reach"] == reach
    assert payload["url"] == CQ_URL


# Relaying -------------------------------------------------------------------------------------


def test_the_hub_queues_a_relayed_event_unchanged(
    client: Client, federation: None, sichuan: ForeignNode
) -> None:
    token = sealed(sichuan)
    response = post(client, token)
    assert response.status_code == 202, response.content
    message = OutboxMessage.objects.get()
    assert response.json()["id"] == str(message.event_id)
    assert message.origin == SICHUAN
    assert message.recipient == CHONGQING
    assert (message.type, message.subject, message.sequence) == (TYPE, "CASE-1", 1)
    assert message.token == token
    assert message.state == OutboxState.PENDING
    assert keys.unverified_header(message.token)["kid"] == sichuan.pairs[-1].kid
    entries = list(EvidenceEntry.objects.order_by("seq"))
    assert [(e.direction, e.peer, e.event_id, e.token) for e in entries] == [
        ("in", SICHUAN, message.event_id, token),
        ("out", CHONGQING, message.event_id, token),
    ]
    assert messaging.evidence_verify() is None
    assert InboxMessage.objects.count() == 0


def test_a_repeated_relay_changes_nothing(
    client: Client, federation: None, sichuan: ForeignNode
) -> None:
    token = sealed(sichuan)
    first = post(client, token)
    before = stored()
    again = post(client, token)
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json()["id"] == first.json()["id"]
    assert stored() == before == {"outbox": 1, "inbox": 0, "evidence": 2}


def test_relay_accept_returns_the_message_and_whether_it_is_new(
    federation: None, sichuan: ForeignNode
) -> None:
    token = sealed(sichuan)
    message, new = messaging.relay_accept(token=token)
    again, new_again = messaging.relay_accept(token=token)
    assert (new, new_again) == (True, False)
    assert again.pk == message.pk


def test_the_hub_delivers_a_relayed_token_to_the_registered_url_of_a_relay_only_node(
    client: Client, federation: None, sichuan: ForeignNode, wire: list[Any]
) -> None:
    assert newest_list().node(CHONGQING).url == ""  # type: ignore[union-attr]
    token = sealed(sichuan)
    assert post(client, token).status_code == 202
    assert messaging.outbox_deliver() == 1
    assert wire == [("POST", CQ_URL + "/federation/v1/inbox", token.encode("ascii"))]
    message = OutboxMessage.objects.get()
    assert message.state == OutboxState.SENT
    assert message.sent_at is not None
    assert message.last_error == ""
    # What Chongqing gets verifies as Sichuan's, with the keys the trust list publishes.
    listed = newest_list()
    event = envelope.open_sealed(
        wire[0][2].decode("ascii"),
        lambda source, kid: listed.key_of(source, kid, at=timezone.now()).jwk,
    )
    assert (event["source"], event["recipient"]) == (SICHUAN, CHONGQING)


def test_a_relay_only_node_sends_through_the_hub_to_a_node_reached_directly(
    client: Client, federation: None, sichuan: ForeignNode, chongqing: ForeignNode, wire: list[Any]
) -> None:
    assert newest_list().node(SICHUAN).url == SC_URL  # type: ignore[union-attr]
    token = sealed(chongqing, recipient=SICHUAN)  # signed by the relay-only node
    assert post(client, token).status_code == 202
    message = OutboxMessage.objects.get()
    assert (message.origin, message.recipient, message.token) == (CHONGQING, SICHUAN, token)
    assert messaging.outbox_deliver() == 1
    assert wire == [("POST", SC_URL + "/federation/v1/inbox", token.encode("ascii"))]


def test_a_relayed_token_is_never_sealed_again_even_after_the_hubs_key_rotates(
    client: Client, hub: Node, federation: None, sichuan: ForeignNode, wire: list[Any]
) -> None:
    token = sealed(sichuan)
    assert post(client, token).status_code == 202
    old_kid = services.signing_pair().kid
    services.node_key_rotate(actor=SYSTEM)
    assert services.signing_pair().kid != old_kid
    assert messaging.outbox_deliver() == 1
    assert [body for _method, _url, body in wire] == [token.encode("ascii")]
    message = OutboxMessage.objects.get()
    assert message.token == token
    assert keys.unverified_header(message.token)["kid"] == sichuan.pairs[-1].kid
    assert message.state == OutboxState.SENT
    assert EvidenceEntry.objects.count() == 2  # no re-sealed copy logged


def test_a_failed_relay_delivery_is_retried_with_the_same_token(
    client: Client, federation: None, sichuan: ForeignNode, monkeypatch: pytest.MonkeyPatch
) -> None:
    bodies: list[bytes | None] = []

    def refuse(method: str, url: str, body: bytes | None = None, **kw: Any) -> tuple[int, bytes]:
        bodies.append(body)
        return 503, b"busy"

    monkeypatch.setattr(transport, "call", refuse)
    token = sealed(sichuan)
    post(client, token)
    assert messaging.outbox_deliver() == 0
    message = OutboxMessage.objects.get()
    assert (message.state, message.attempts) == (OutboxState.PENDING, 1)
    assert "503" in message.last_error
    assert message.token == token
    assert bodies == [token.encode("ascii")]


# Refusals: nothing is stored ----------------------------------------------------------------


def _flip_signature(token: str) -> str:
    return token[:-6] + ("AAAAAA" if not token.endswith("AAAAAA") else "BBBBBB")


def test_a_tampered_signature_is_refused(
    client: Client, federation: None, sichuan: ForeignNode
) -> None:
    response = post(client, _flip_signature(sealed(sichuan)))
    assert response.status_code == 403
    assert response.json()["code"] == "bad_signature"
    assert stored() == NOTHING


def test_a_payload_changed_after_signing_is_refused(
    client: Client, federation: None, sichuan: ForeignNode
) -> None:
    header, _payload, signature = sealed(sichuan).split(".")
    other = keys.unverified_payload(sealed(sichuan, sequence=2))
    forged = ".".join([header, base64.urlsafe_b64encode(other).rstrip(b"=").decode(), signature])
    response = post(client, forged)
    assert response.status_code == 403
    assert stored() == NOTHING


def test_an_event_signed_by_an_untrusted_key_is_refused(
    client: Client, federation: None, sichuan: ForeignNode, tmp_path: Path
) -> None:
    stranger = keys.generate(tmp_path / "stranger")
    response = post(client, sealed(sichuan, signer=stranger))
    assert response.status_code == 403
    assert response.json()["code"] == "unknown_key"
    unregistered = ForeignNode(GUIZHOU, tmp_path / "gz")
    unregistered.new_key(not_before=KEYS_SINCE)
    response = post(client, sealed(unregistered))
    assert response.status_code == 403
    assert response.json()["code"] == "unknown_node"
    assert stored() == NOTHING


def test_an_event_for_a_node_not_registered_is_refused(
    client: Client, federation: None, sichuan: ForeignNode
) -> None:
    response = post(client, sealed(sichuan, recipient=GUIZHOU))
    assert 400 <= response.status_code < 500
    assert response.json()["code"] == "no_route"
    assert stored() == NOTHING
    with pytest.raises(DomainError) as refused:
        messaging.relay_accept(token=sealed(sichuan, recipient=GUIZHOU))
    assert refused.value.code == "no_route"
    assert stored() == NOTHING


@pytest.mark.parametrize(
    "body",
    ["", "garbage", "a.b.c", "eyJhbGciOiJub25lIn0.e30."],
    ids=["empty", "garbage", "three-dots", "alg-none"],
)
def test_a_malformed_body_is_a_400(client: Client, federation: None, body: str) -> None:
    response = post(client, body)
    assert response.status_code == 400
    assert set(response.json()) == {"code", "message", "fields"}
    assert stored() == NOTHING


@pytest.mark.parametrize(
    "change", [{"sequence": 0}, {"id": "not-a-uuid"}, {"type": "ping"}], ids=str
)
def test_a_signed_but_malformed_event_is_a_400(
    client: Client, federation: None, sichuan: ForeignNode, change: dict[str, Any]
) -> None:
    event = envelope.make_event(
        source=SICHUAN,
        recipient=CHONGQING,
        type=TYPE,
        subject="CASE-1",
        sequence=1,
        data={},
        time=timezone.now(),
    )
    event.update(change)
    token = keys.sign(sichuan.pairs[-1], envelope.canonical(event), typ=envelope.TYP)
    response = post(client, token)
    assert response.status_code == 400
    assert response.json()["code"] == "malformed_event"
    assert stored() == NOTHING


def test_a_body_over_the_size_limit_is_a_413(
    client: Client, federation: None, sichuan: ForeignNode
) -> None:
    response = post(client, "x" * (views.MAX_MESSAGE_BYTES + 1))
    assert response.status_code == 413
    assert response.json()["code"] == "too_large"
    # A valid token made too long (whitespace the relay would strip) is refused as well.
    token = sealed(sichuan)
    padded = token + " " * (views.MAX_MESSAGE_BYTES + 1 - len(token))
    assert post(client, padded).status_code == 413
    assert stored() == NOTHING
    assert post(client, token).status_code == 202  # the same token, within the limit


def _event_of_size(size: int) -> dict[str, Any]:
    """An event from Sichuan to Chongqing whose canonical JSON is ``size`` bytes."""
    event = envelope.make_event(
        source=SICHUAN,
        recipient=CHONGQING,
        type=TYPE,
        subject="CASE-1",
        sequence=1,
        data={"pad": ""},
        time=timezone.now(),
    )
    event["data"]["pad"] = "x" * (size - len(envelope.canonical(event)))
    assert len(envelope.canonical(event)) == size
    return event


def test_the_largest_event_a_node_can_seal_goes_through_the_relay(
    client: Client, federation: None, sichuan: ForeignNode
) -> None:
    token = envelope.seal(_event_of_size(envelope.MAX_DATA_BYTES), sichuan.pairs[-1])
    assert post(client, token).status_code == 202
    assert OutboxMessage.objects.get().token == token


def test_an_event_larger_than_receivers_accept_is_never_sealed(sichuan: ForeignNode) -> None:
    # Receivers (joserfc) refuse compact JWS payloads over 96,000 bytes; the sender's limit
    # keeps every sealed event under that, so nothing is sealed that no node would open.
    with pytest.raises(envelope.EnvelopeError) as refused:
        envelope.seal(_event_of_size(envelope.MAX_DATA_BYTES + 1), sichuan.pairs[-1])
    assert refused.value.reason == "too_large"
    assert envelope.MAX_DATA_BYTES < 96_000


def test_only_the_hub_relays(client: Client, db: None, settings: Any) -> None:
    settings.TONGBAN_NODE_CODE = CHONGQING
    services.node_identity_ensure(name="重庆市", base_url=CQ_URL)
    event = envelope.make_event(
        source=CHONGQING,
        recipient=SICHUAN,
        type=TYPE,
        subject="CASE-1",
        sequence=1,
        data={},
        time=timezone.now(),
    )
    token = envelope.seal(event, services.signing_pair())
    response = post(client, token)
    assert response.status_code == 403
    assert response.json()["code"] == "not_a_relay"
    with pytest.raises(Forbidden) as refused:
        messaging.relay_accept(token=token)
    assert refused.value.code == "not_a_relay"
    assert stored() == NOTHING


def test_a_relay_needs_a_post(client: Client, federation: None) -> None:
    assert client.get(RELAY).status_code == 405
    assert stored() == NOTHING


def test_another_event_with_a_relayed_events_sequence_is_a_conflict(
    client: Client, federation: None, sichuan: ForeignNode
) -> None:
    first = sealed(sichuan)
    assert post(client, first).status_code == 202
    before = stored()
    clash = sealed(sichuan)  # a new event id, the same origin, recipient, subject and sequence
    response = post(client, clash)
    assert response.status_code == 409
    assert response.json()["code"] == "sequence_taken"
    assert stored() == before
    assert OutboxMessage.objects.get().token == first


# Events for the hub itself ------------------------------------------------------------------


def test_an_event_relayed_for_the_hub_lands_in_its_inbox(
    client: Client, federation: None, sichuan: ForeignNode, applied: list[Any]
) -> None:
    token = sealed(sichuan, recipient=HUB)
    response = post(client, token)
    assert response.status_code == 202
    received = InboxMessage.objects.get()
    assert response.json()["id"] == str(received.event_id)
    assert (received.source, received.subject, received.sequence) == (SICHUAN, "CASE-1", 1)
    assert received.token == token
    assert received.state == InboxState.APPLIED
    assert [e["source"] for e in applied] == [SICHUAN]
    assert OutboxMessage.objects.count() == 0
    assert list(EvidenceEntry.objects.values_list("direction", "peer")) == [("in", SICHUAN)]
    assert post(client, token).status_code == 200
    assert stored() == {"outbox": 0, "inbox": 1, "evidence": 1}
    assert len(applied) == 1


# The hub's own messages and relayed ones -----------------------------------------------------


def test_the_hubs_own_message_numbers_ignore_relayed_ones(
    client: Client, federation: None, sichuan: ForeignNode
) -> None:
    relayed = sealed(sichuan, subject="CASE-1", sequence=1)
    assert post(client, relayed).status_code == 202
    with transaction.atomic():
        own = messaging.message_send(recipient=CHONGQING, type=TYPE, subject="CASE-1", data={})
    assert own.sequence == 1
    assert own.origin == ""
    assert keys.unverified_header(own.token)["kid"] == services.signing_pair().kid
    rows = sorted(OutboxMessage.objects.values_list("origin", "recipient", "subject", "sequence"))
    assert rows == [("", CHONGQING, "CASE-1", 1), (SICHUAN, CHONGQING, "CASE-1", 1)]
    second = messaging.message_send(recipient=CHONGQING, type=TYPE, subject="CASE-1", data={})
    assert second.sequence == 2


def test_a_relayed_message_may_take_a_sequence_the_hub_already_used(
    client: Client, federation: None, sichuan: ForeignNode, wire: list[Any]
) -> None:
    own = messaging.message_send(recipient=CHONGQING, type=TYPE, subject="CASE-1", data={})
    relayed = sealed(sichuan, subject="CASE-1", sequence=1)
    assert post(client, relayed).status_code == 202
    assert OutboxMessage.objects.count() == 2
    assert messaging.outbox_deliver() == 2
    # Both in one request to the same inbox, one token per line.
    sent = sorted(line for _m, _u, body in wire for line in (body or b"").split(b"\n"))
    assert sent == sorted([own.token.encode("ascii"), relayed.encode("ascii")])
    assert {url for _m, url, _b in wire} == {CQ_URL + "/federation/v1/inbox"}


def test_relayed_messages_from_two_nodes_may_share_a_sequence(
    client: Client, federation: None, sichuan: ForeignNode, guizhou: ForeignNode
) -> None:
    register(guizhou)
    assert post(client, sealed(sichuan, subject="CASE-1", sequence=1)).status_code == 202
    assert post(client, sealed(guizhou, subject="CASE-1", sequence=1)).status_code == 202
    assert sorted(OutboxMessage.objects.values_list("origin", flat=True)) == [SICHUAN, GUIZHOU]


def test_the_hubs_own_message_to_a_relay_only_node_goes_to_its_registered_url(
    federation: None, wire: list[Any]
) -> None:
    message = messaging.message_send(recipient=CHONGQING, type=TYPE, subject="CASE-1", data={})
    assert messaging._route(CHONGQING) == CQ_URL + "/federation/v1/inbox"
    assert messaging._route(SICHUAN) == SC_URL + "/federation/v1/inbox"
    assert messaging.outbox_deliver() == 1
    assert wire == [("POST", CQ_URL + "/federation/v1/inbox", message.token.encode("ascii"))]


def test_the_hub_has_no_route_to_a_node_not_registered(federation: None) -> None:
    with pytest.raises(DomainError) as refused:
        messaging._route(GUIZHOU)
    assert refused.value.code == "no_route"


# The sender's side: a node that is not the hub --------------------------------------------------


def _listed(*nodes: tuple[str, str]) -> trust.TrustList:
    now = timezone.now()
    return trust.TrustList(
        issuer=HUB,
        serial=7,
        issued_at=now,
        expires_at=now + dt.timedelta(days=7),
        nodes=tuple(trust.TrustedNode(code, code, url, ()) for code, url in nodes),
    )


@pytest.fixture
def on_sichuan(settings: Any) -> Any:
    settings.TONGBAN_NODE_CODE = SICHUAN
    settings.TONGBAN_HUB_URL = ""
    return settings


def _use_list(monkeypatch: pytest.MonkeyPatch, listed: trust.TrustList | None) -> None:
    def current(*, at: dt.datetime | None = None) -> trust.TrustList:
        if listed is None:
            raise DomainError("This node has no trust list yet.", code="no_trust_list")
        return listed

    monkeypatch.setattr(services, "trust_list_current", current)


def test_a_peer_listed_without_a_url_is_reached_through_the_hubs_relay(
    on_sichuan: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _use_list(monkeypatch, _listed((HUB, HUB_URL + "/"), (CHONGQING, ""), (GUIZHOU, GZ_URL)))
    assert messaging._route(CHONGQING) == HUB_URL + "/federation/v1/relay"
    assert messaging._route(GUIZHOU) == GZ_URL + "/federation/v1/inbox"
    assert messaging._route(HUB) == HUB_URL + "/federation/v1/inbox"
    # Not on the list at all: the hub decides (it refuses what it cannot route).
    assert messaging._route("650000") == HUB_URL + "/federation/v1/relay"


def test_the_configured_hub_url_is_used_when_the_list_gives_none(
    on_sichuan: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    on_sichuan.TONGBAN_HUB_URL = "https://hub.example.org/"
    _use_list(monkeypatch, _listed((CHONGQING, ""), (GUIZHOU, GZ_URL)))
    assert messaging._route(CHONGQING) == "https://hub.example.org/federation/v1/relay"
    assert messaging._route(GUIZHOU) == GZ_URL + "/federation/v1/inbox"
    # The hub's own listing wins over the configured URL.
    _use_list(monkeypatch, _listed((HUB, HUB_URL), (CHONGQING, "")))
    assert messaging._route(CHONGQING) == HUB_URL + "/federation/v1/relay"
    # Without a list in force, everything goes through the configured hub.
    _use_list(monkeypatch, None)
    assert messaging._route(GUIZHOU) == "https://hub.example.org/federation/v1/relay"


@pytest.mark.parametrize("hub_url", ["", "ftp://hub.example.cn"])
def test_no_route_without_a_hub_to_relay_through(
    on_sichuan: Any, monkeypatch: pytest.MonkeyPatch, hub_url: str
) -> None:
    on_sichuan.TONGBAN_HUB_URL = hub_url
    _use_list(monkeypatch, _listed((CHONGQING, ""), (GUIZHOU, GZ_URL)))
    with pytest.raises(DomainError) as refused:
        messaging._route(CHONGQING)
    assert refused.value.code == "no_route"
    assert messaging._route(GUIZHOU) == GZ_URL + "/federation/v1/inbox"


def test_a_node_sends_to_a_relay_only_peer_through_the_hub(
    db: None, on_sichuan: Any, monkeypatch: pytest.MonkeyPatch, wire: list[Any]
) -> None:
    services.node_identity_ensure(name="四川省", base_url=SC_URL)
    _use_list(monkeypatch, _listed((HUB, HUB_URL), (SICHUAN, SC_URL), (CHONGQING, "")))
    message = messaging.message_send(recipient=CHONGQING, type=TYPE, subject="CASE-1", data={})
    assert message.origin == ""
    assert messaging.outbox_deliver() == 1
    assert wire == [("POST", HUB_URL + "/federation/v1/relay", message.token.encode("ascii"))]
    message.refresh_from_db()
    assert message.state == OutboxState.SENT
    event = json.loads(keys.unverified_payload(message.token))
    assert (event["source"], event["recipient"]) == (SICHUAN, CHONGQING)


def test_the_relayed_token_a_node_sent_is_what_the_hub_accepts(
    client: Client, federation: None, sichuan: ForeignNode
) -> None:
    """The event id the sender chose is the one the hub keys the relay on."""
    event_id = str(uuid.uuid4())
    token = sealed(sichuan, event_id=event_id)
    assert post(client, token).json()["id"] == event_id
    assert str(OutboxMessage.objects.get().event_id) == event_id
