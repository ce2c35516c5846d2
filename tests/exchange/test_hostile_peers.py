"""What a security review of the exchange found, kept found: hostile or broken peers and inputs
must never stop a node or end in a 500, and no key that was revoked or expired may speak again."""

from __future__ import annotations

import datetime as dt
import json
import socket
import threading
import uuid
from collections.abc import Iterator
from io import StringIO
from typing import Any

import pytest
import time_machine
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from tests.exchange.conftest import HUB
from tongban.core.audit import SYSTEM
from tongban.exchange import envelope, keys, messaging, services, trust
from tongban.exchange.models import EvidenceEntry, InboxMessage, InboxState, Node, OutboxMessage

TYPE = "cn.tongban.test.noted"
JOSE = "application/jose"


@pytest.fixture
def listed(hub: Node) -> None:
    services.trust_list_issue()


@pytest.fixture
def client() -> Client:
    return Client(raise_request_exception=False)


def _event(**changes: Any) -> dict[str, Any]:
    event = {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": HUB,
        "recipient": HUB,
        "type": TYPE,
        "subject": "CASE-1",
        "time": timezone.now().isoformat(),
        "datacontenttype": "application/json",
        "sequence": 1,
        "data": {},
    }
    event.update(changes)
    return event


@pytest.mark.parametrize(
    "changes",
    [
        {"subject": "\ud800"},
        {"data": {"x": "\udfff"}},
        {"subject": "A\x00B"},
        {"data": {"x": "\x00"}},
        {"sequence": 2**31},
        {"sequence": 2**64},
        {"data": {"x": json.loads("[" * 900 + "]" * 900)}},
        {"recipient": "١٠٠٠٠٠"},
        {"type": "cn.tongban.test." + "a" * 200},
    ],
    ids=[
        "surrogate-subject",
        "surrogate-data",
        "nul-subject",
        "nul-data",
        "sequence-2**31",
        "sequence-2**64",
        "deep-data",
        "arabic-digits",
        "long-type",
    ],
)
def test_signed_but_unstorable_events_are_a_4xx_and_store_nothing(listed, client, changes) -> None:
    body = json.dumps(_event(**changes), ensure_ascii=True).encode()
    token = keys.sign(services.signing_pair(), body, typ=envelope.TYP)
    response = client.post("/federation/v1/inbox", data=token, content_type=JOSE)
    assert 400 <= response.status_code < 500
    assert InboxMessage.objects.count() == 0
    assert EvidenceEntry.objects.count() == 0


@pytest.mark.parametrize("depth", [300, 990, 5000])
def test_deeply_nested_unsigned_payloads_are_a_400(listed, client, depth) -> None:
    def b64(raw: bytes) -> str:
        import base64

        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    header = b64(json.dumps({"alg": "Ed25519", "typ": envelope.TYP, "kid": "x"}).encode())
    token = f"{header}.{b64(b'[' * depth)}.AAAA"
    response = client.post("/federation/v1/inbox", data=token, content_type=JOSE)
    assert response.status_code == 400


def test_a_bad_content_length_is_a_400(listed, client) -> None:
    response = client.post(
        "/federation/v1/inbox", data="x", content_type=JOSE, CONTENT_LENGTH="abc"
    )
    assert response.status_code == 400


@pytest.fixture
def broken_peer(request: pytest.FixtureRequest) -> Iterator[int]:
    """A listener that answers every connection with ``request.param`` and hangs up."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)

    def loop() -> None:
        while True:
            try:
                conn, _address = server.accept()
            except OSError:
                return
            conn.recv(65536)
            conn.sendall(request.param)
            conn.close()

    threading.Thread(target=loop, daemon=True).start()
    yield server.getsockname()[1]
    server.close()


@pytest.mark.parametrize(
    "broken_peer",
    [
        b"SSH-2.0-OpenSSH_9.6\r\n",
        b"HTTP/1.1 abc Nope\r\n\r\n",
        b"HTTP/1.1 503 Busy\r\nContent-Length: 100\r\n\r\nshort",
    ],
    ids=["not-http", "bad-status-line", "truncated-body"],
    indirect=True,
)
def test_a_broken_peer_is_a_failed_attempt_not_a_dead_node(hub, broken_peer) -> None:
    Node.objects.filter(is_self=True).update(base_url=f"http://127.0.0.1:{broken_peer}")
    services.trust_list_issue()
    messaging.message_send(recipient=HUB, type=TYPE, subject="S", data={})
    call_command("exchange", "tick", stdout=StringIO())  # must not raise
    message = OutboxMessage.objects.get()
    assert message.attempts == 1
    assert message.state == "pending"


def test_a_failed_event_is_retried_by_the_sweep_and_by_redelivery(listed) -> None:
    calls: list[int] = []

    def flaky(event: dict[str, Any]) -> None:
        calls.append(event["sequence"])
        if len(calls) == 1:
            raise RuntimeError("deadlock detected")

    messaging.register_handler(TYPE, flaky)
    try:
        pair = services.signing_pair()
        first = envelope.seal(envelope.make_event(**_args(1)), pair)
        messaging.inbox_receive(token=first)
        messaging.inbox_receive(token=envelope.seal(envelope.make_event(**_args(2)), pair))
        assert dict(InboxMessage.objects.values_list("sequence", "state")) == {
            1: InboxState.FAILED,
            2: InboxState.WAITING,
        }
        assert messaging.inbox_sweep() == 1
        assert set(InboxMessage.objects.values_list("state", flat=True)) == {InboxState.APPLIED}
        assert calls == [1, 1, 2]
    finally:
        messaging._handlers.pop(TYPE, None)
    # With no handler at all, a redelivery of the failed id tries again too (and fails again).
    token = envelope.seal(envelope.make_event(**_args(1, subject="OTHER")), pair)
    messaging.inbox_receive(token=token)
    message, new = messaging.inbox_receive(token=token)
    assert not new
    assert message.state == InboxState.FAILED


def _args(sequence: int, subject: str = "S") -> dict[str, Any]:
    return {
        "source": HUB,
        "recipient": HUB,
        "type": TYPE,
        "subject": subject,
        "sequence": sequence,
        "data": {},
        "time": timezone.now(),
    }


def test_messages_sealed_with_a_revoked_key_are_sealed_again_before_sending(listed) -> None:
    message = messaging.message_send(recipient=HUB, type=TYPE, subject="S", data={})
    old = services.signing_pair().kid
    services.node_key_rotate(actor=SYSTEM)
    services.node_key_revoke(actor=SYSTEM, kid=old)
    services.trust_list_issue()
    fresh = messaging._fresh_seal(message, services.signing_pair())
    assert keys.unverified_header(fresh.token)["kid"] != old
    event, _new = messaging.inbox_receive(token=fresh.token)
    assert str(event.event_id) == str(message.event_id)
    assert messaging.evidence_verify() is None


def test_a_revoked_hub_key_stays_on_the_list_for_ever(hub) -> None:
    old = services.signing_pair().kid
    services.node_key_rotate(actor=SYSTEM)
    services.node_key_revoke(actor=SYSTEM, kid=old)
    later = timezone.now() + dt.timedelta(days=400)
    with time_machine.travel(later, tick=False):
        token = services.trust_list_issue().token
        own = [k.jwk for k in services.self_node().keys.filter(revoked_at__isnull=True)]
        listed = trust.verify_list(token, hub_code=HUB, hub_keys=own, at=later)
    hub_entry = listed.node(HUB)
    assert hub_entry is not None
    assert {k.kid: k.revoked for k in hub_entry.keys}[old] is True


def test_a_registration_cannot_be_replayed(hub, sichuan) -> None:
    code = services.enrolment_create(actor=SYSTEM, node_code=sichuan.code)
    first = sichuan.token(enrolment=code)
    services.node_register(token=first)
    with pytest.raises(services.Forbidden):
        services.node_register(token=first)


def test_a_key_file_readable_by_others_is_not_used(hub, settings) -> None:
    import os
    from pathlib import Path

    pair = services.signing_pair()
    os.chmod(Path(settings.TONGBAN_NODE_KEY_DIR) / f"{pair.kid}.pem", 0o644)
    with pytest.raises(services.Conflict):
        services.signing_pair()
