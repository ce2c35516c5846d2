"""Batches between nodes (exchange/messaging.py, exchange/views.py): the outbox sends the due
messages of one peer in one request, one compact JWS per line; the inbox (and the hub's relay)
takes a batch in one transaction, each token on its own, and answers a result per line. And the
deliver process (`tongban exchange deliver`) that sends the outbox as messages are committed.

The hub talks to itself: its events have source = recipient = the hub, and a fake
``transport.call`` hands what the outbox sends to the hub's own inbox through Django's test
client (or answers as a scripted peer would)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.test import Client
from django.utils import timezone

from tests.exchange.conftest import HUB, KEYS_SINCE, SICHUAN, ForeignNode
from tongban.core.audit import SYSTEM
from tongban.exchange import envelope, messaging, services, transport, views
from tongban.exchange.models import (
    EvidenceEntry,
    InboxMessage,
    InboxState,
    Node,
    OutboxMessage,
    OutboxState,
)

pytestmark = pytest.mark.django_db

TYPE = "cn.tongban.test.batched"
JOSE = "application/jose"
INBOX = "/federation/v1/inbox"
RELAY = "/federation/v1/relay"
HUB_INBOX = "https://hub.example.cn" + INBOX
SC_INBOX = "https://sc.example.cn" + INBOX
CHONGQING = "500000"
GUIZHOU = "520000"


# Set-up -------------------------------------------------------------------------------------


@pytest.fixture
def listed(hub: Node) -> None:
    """The hub's trust list names the hub (at https://hub.example.cn)."""
    services.trust_list_issue()


@pytest.fixture
def applied() -> Iterator[list[dict[str, Any]]]:
    seen: list[dict[str, Any]] = []
    messaging.register_handler(TYPE, seen.append)
    yield seen
    messaging._handlers.pop(TYPE, None)


@pytest.fixture
def client() -> Client:
    return Client(raise_request_exception=False)


Call = tuple[str, bytes]


@pytest.fixture
def loopback(monkeypatch: pytest.MonkeyPatch) -> list[Call]:
    """Every request the outbox makes, handed to this node's own views (the hub's inbox)."""
    calls: list[Call] = []
    peer = Client(raise_request_exception=False)

    def call(method: str, url: str, body: bytes | None = None, **options: Any) -> tuple[int, bytes]:
        assert method == "POST"
        calls.append((url, body or b""))
        response = peer.post(urlsplit(url).path, data=body or b"", content_type=JOSE)
        return response.status_code, response.content

    monkeypatch.setattr(transport, "call", call)
    return calls


@pytest.fixture
def scripted(monkeypatch: pytest.MonkeyPatch) -> Callable[..., list[Call]]:
    """A peer that answers each request with ``answer(body)`` → (status, body)."""

    def install(answer: Callable[[bytes], tuple[int, bytes]]) -> list[Call]:
        calls: list[Call] = []

        def call(
            method: str, url: str, body: bytes | None = None, **options: Any
        ) -> tuple[int, bytes]:
            calls.append((url, body or b""))
            return answer(body or b"")

        monkeypatch.setattr(transport, "call", call)
        return calls

    return install


def results(*statuses: int | dict[str, Any]) -> tuple[int, bytes]:
    """A batch answer: 200 and a result per line."""
    rows = [s if isinstance(s, dict) else {"status": s} for s in statuses]
    return 200, json.dumps({"results": rows}).encode()


def event(sequence: int = 1, *, subject: str = "CASE-1", **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "source": HUB,
        "recipient": HUB,
        "type": TYPE,
        "subject": subject,
        "sequence": sequence,
        "data": {"subject": subject, "n": sequence},
        "time": timezone.now(),
    }
    values.update(overrides)
    return envelope.make_event(**values)


def sealed(sequence: int = 1, **overrides: Any) -> str:
    return envelope.seal(event(sequence, **overrides), services.signing_pair())


def tampered(token: str) -> str:
    return token[:-6] + ("AAAAAA" if not token.endswith("AAAAAA") else "BBBBBB")


def post(client: Client, lines: list[str], path: str = INBOX) -> Any:
    return client.post(path, data="\n".join(lines), content_type=JOSE)


def statuses(response: Any) -> list[int]:
    return [row["status"] for row in response.json()["results"]]


def stored() -> dict[str, int]:
    return {
        "inbox": InboxMessage.objects.count(),
        "outbox": OutboxMessage.objects.count(),
        "evidence": EvidenceEntry.objects.count(),
    }


def queue(count: int, *, recipient: str = HUB, subject: str = "CASE") -> list[OutboxMessage]:
    """``count`` due messages for ``recipient``, each about its own subject."""
    return [
        messaging.message_send(
            recipient=recipient, type=TYPE, subject=f"{subject}-{i}", data={"i": i}
        )
        for i in range(1, count + 1)
    ]


def lines_of(body: bytes) -> list[str]:
    return body.decode("ascii").split("\n")


def fresh(messages: list[OutboxMessage]) -> list[OutboxMessage]:
    return [OutboxMessage.objects.get(pk=m.pk) for m in messages]


# The inbox takes a batch ----------------------------------------------------------------------


def test_a_batch_with_a_tampered_token_refuses_that_line_and_takes_the_others(
    client, listed, applied
) -> None:
    first, second, third = (sealed(1, subject=f"CASE-{i}") for i in (1, 2, 3))
    response = post(client, [first, tampered(second), third])

    assert response.status_code == 200, response.content
    rows = response.json()["results"]
    assert [row["status"] for row in rows] == [202, 403, 202]
    assert rows[1]["code"] == "bad_signature"
    ids = [envelope.check_event(json.loads(_payload(t)))["id"] for t in (first, third)]
    assert [rows[0]["id"], rows[2]["id"]] == ids
    received = InboxMessage.objects.order_by("id")
    assert [str(m.event_id) for m in received] == ids
    assert {m.state for m in received} == {InboxState.APPLIED}
    assert [e["subject"] for e in applied] == ["CASE-1", "CASE-3"]
    assert EvidenceEntry.objects.count() == 2
    assert messaging.evidence_verify() is None


def _payload(token: str) -> bytes:
    from tongban.exchange import keys

    return keys.unverified_payload(token)


def test_the_same_batch_posted_again_changes_nothing(client, listed, applied) -> None:
    batch = [sealed(1, subject="CASE-1"), tampered(sealed(1, subject="CASE-2")), sealed(2)]
    assert statuses(post(client, batch)) == [202, 403, 202]
    before = stored()

    again = post(client, batch)

    assert again.status_code == 200
    assert statuses(again) == [200, 403, 200]
    assert stored() == before == {"inbox": 2, "outbox": 0, "evidence": 2}
    assert [e["sequence"] for e in applied] == [1, 2]


def test_a_token_for_another_node_is_refused_on_its_line(client, listed, applied) -> None:
    batch = [
        sealed(1, subject="CASE-1"),
        sealed(1, subject="CASE-2", recipient=SICHUAN),
        sealed(1, subject="CASE-3"),
    ]
    response = post(client, batch)
    assert response.status_code == 200
    rows = response.json()["results"]
    assert [row["status"] for row in rows] == [202, 403, 202]
    assert rows[1]["code"] == "wrong_recipient"
    assert sorted(InboxMessage.objects.values_list("subject", flat=True)) == ["CASE-1", "CASE-3"]


def test_a_malformed_line_is_a_400_on_its_line(client, listed, applied) -> None:
    response = post(client, [sealed(1, subject="CASE-1"), "not a jws", sealed(1, subject="CASE-2")])
    assert response.status_code == 200
    rows = response.json()["results"]
    assert [row["status"] for row in rows] == [202, 400, 202]
    assert rows[1]["code"] == "malformed_event"
    assert len(applied) == 2


def test_a_batch_is_applied_in_each_subjects_order_whatever_the_order_of_its_lines(
    client, listed, applied
) -> None:
    third, first, second = sealed(3), sealed(1), sealed(2)
    response = post(client, [third, first, second])
    assert statuses(response) == [202, 202, 202]
    assert [e["sequence"] for e in applied] == [1, 2, 3]
    assert set(InboxMessage.objects.values_list("state", flat=True)) == {InboxState.APPLIED}


def test_the_same_event_twice_in_one_batch_is_stored_once(client, listed, applied) -> None:
    token = sealed(1)
    response = post(client, [token, token])
    assert response.status_code == 200
    assert statuses(response) == [202, 200]
    rows = response.json()["results"]
    assert rows[0]["id"] == rows[1]["id"]
    assert InboxMessage.objects.count() == 1
    assert EvidenceEntry.objects.count() == 1
    assert len(applied) == 1


def test_a_refused_line_leaves_nothing_of_itself_behind(client, listed, applied) -> None:
    """Two events with one sequence number: the second is refused (409) and none of its
    writes (its inbox row, its evidence entry) stay, while the first is kept."""
    first, clash = sealed(1), sealed(1)  # two event ids, one subject and sequence
    response = post(client, [first, clash, sealed(1, subject="CASE-2")])
    rows = response.json()["results"]
    assert [row["status"] for row in rows] == [202, 409, 202]
    assert rows[1]["code"] == "sequence_taken"
    assert stored() == {"inbox": 2, "outbox": 0, "evidence": 2}
    assert messaging.evidence_verify() is None
    assert InboxMessage.objects.get(subject="CASE-1").token == first


def test_a_handlers_refusal_rejects_its_event_only(client, listed) -> None:
    from tongban.core.errors import ValidationFailed

    def picky(incoming: dict[str, Any]) -> None:
        if incoming["subject"] == "CASE-2":
            raise ValidationFailed("not this one")

    messaging.register_handler(TYPE, picky)
    try:
        response = post(client, [sealed(1, subject=f"CASE-{i}") for i in (1, 2, 3)])
    finally:
        messaging._handlers.pop(TYPE, None)
    # Stored, all three: the refusal is the handler's, recorded (and told back to the sender).
    assert statuses(response) == [202, 202, 202]
    states = dict(InboxMessage.objects.values_list("subject", "state"))
    assert states == {
        "CASE-1": InboxState.APPLIED,
        "CASE-2": InboxState.REJECTED,
        "CASE-3": InboxState.APPLIED,
    }
    (told,) = OutboxMessage.objects.filter(type=messaging.REJECTED)
    assert (told.recipient, told.subject) == (HUB, "CASE-2")


def test_blank_lines_are_ignored(client, listed, applied) -> None:
    body = "\n" + sealed(1, subject="CASE-1") + "\n\n  " + sealed(1, subject="CASE-2") + "  \n"
    response = client.post(INBOX, data=body, content_type=JOSE)
    assert response.status_code == 200
    assert statuses(response) == [202, 202]
    assert len(applied) == 2


def test_one_token_with_blank_lines_around_it_is_not_a_batch(client, listed, applied) -> None:
    response = client.post(INBOX, data="\n" + sealed(1) + "\n", content_type=JOSE)
    assert response.status_code == 202
    assert response.json()["state"] == InboxState.APPLIED


def test_a_batch_of_the_largest_size_is_taken(client, listed, applied) -> None:
    batch = [sealed(1, subject=f"CASE-{i}") for i in range(views.MAX_BATCH)]
    response = post(client, batch)
    assert response.status_code == 200
    assert statuses(response) == [202] * views.MAX_BATCH
    assert InboxMessage.objects.count() == views.MAX_BATCH


def test_a_batch_of_more_lines_than_the_inbox_takes_is_a_413(client, listed, applied) -> None:
    token = sealed(1)
    response = post(client, [token] * (views.MAX_BATCH + 1))
    assert response.status_code == 413
    assert response.json()["code"] == "too_large"
    assert stored() == {"inbox": 0, "outbox": 0, "evidence": 0}
    assert applied == []


def test_a_line_over_the_size_of_one_message_is_a_413_and_nothing_is_stored(
    client, listed, applied
) -> None:
    good = sealed(1, subject="CASE-1")
    long_line = sealed(1, subject="CASE-2")
    long_line += " " * (views.MAX_MESSAGE_BYTES + 1 - len(long_line))
    response = post(client, [good, long_line, sealed(1, subject="CASE-3")])
    assert response.status_code == 413
    assert response.json()["code"] == "too_large"
    assert stored() == {"inbox": 0, "outbox": 0, "evidence": 0}
    assert applied == []
    # Each line within the limit: taken.
    assert statuses(post(client, [good, long_line.strip()])) == [202, 202]


def test_a_body_over_the_size_of_a_batch_is_a_413(client, listed) -> None:
    lines = ["x" * views.MAX_MESSAGE_BYTES] * (views.MAX_BATCH_BYTES // views.MAX_MESSAGE_BYTES)
    lines.append("x" * 1000)
    assert views.MAX_MESSAGE_BYTES * (len(lines) - 1) + 1000 > views.MAX_BATCH_BYTES
    response = post(client, lines)
    assert response.status_code == 413
    assert stored() == {"inbox": 0, "outbox": 0, "evidence": 0}


# The hub's relay takes a batch -----------------------------------------------------------------


def _register(node: ForeignNode) -> Node:
    code = services.enrolment_create(actor=SYSTEM, node_code=node.code)
    return services.node_register(token=node.token(enrolment=code))


@pytest.fixture
def sichuan_registered(hub: Node, sichuan: ForeignNode) -> ForeignNode:
    _register(sichuan)
    return sichuan


@pytest.fixture
def chongqing_registered(hub: Node, tmp_path: Path) -> ForeignNode:
    node = ForeignNode(CHONGQING, tmp_path / "cq-keys", name="重庆市", url="https://cq.example.cn")
    node.new_key(not_before=KEYS_SINCE)
    _register(node)
    return node


def foreign_sealed(node: ForeignNode, *, recipient: str, subject: str, sequence: int = 1) -> str:
    made = envelope.make_event(
        source=node.code,
        recipient=recipient,
        type=TYPE,
        subject=subject,
        sequence=sequence,
        data={},
        time=timezone.now(),
    )
    return envelope.seal(made, node.pairs[-1])


def test_the_relay_takes_a_batch_line_by_line(
    client, sichuan_registered, chongqing_registered
) -> None:
    sc = sichuan_registered
    batch = [
        foreign_sealed(sc, recipient=CHONGQING, subject="CASE-1"),
        foreign_sealed(sc, recipient=GUIZHOU, subject="CASE-2"),  # not registered: no route
        tampered(foreign_sealed(sc, recipient=CHONGQING, subject="CASE-3")),
        foreign_sealed(sc, recipient=CHONGQING, subject="CASE-4"),
    ]
    response = post(client, batch, RELAY)
    assert response.status_code == 200, response.content
    rows = response.json()["results"]
    assert [row["status"] for row in rows] == [202, 400, 403, 202]
    assert rows[1]["code"] == "no_route"
    assert rows[2]["code"] == "bad_signature"
    queued = OutboxMessage.objects.order_by("id")
    assert [(m.origin, m.recipient, m.subject) for m in queued] == [
        (SICHUAN, CHONGQING, "CASE-1"),
        (SICHUAN, CHONGQING, "CASE-4"),
    ]
    assert [m.token for m in queued] == [batch[0], batch[3]]

    again = post(client, batch, RELAY)
    assert [row["status"] for row in again.json()["results"]] == [200, 400, 403, 200]
    assert OutboxMessage.objects.count() == 2


def test_the_relay_refuses_a_batch_of_too_many_lines(client, sichuan_registered) -> None:
    token = foreign_sealed(sichuan_registered, recipient=HUB, subject="CASE-1")
    response = post(client, [token] * (views.MAX_BATCH + 1), RELAY)
    assert response.status_code == 413
    assert stored() == {"inbox": 0, "outbox": 0, "evidence": 0}


# The outbox sends a batch ---------------------------------------------------------------------


def test_three_due_messages_to_one_peer_go_in_one_request(listed, applied, loopback) -> None:
    messages = queue(3)

    assert messaging.outbox_deliver() == 3

    assert len(loopback) == 1
    url, body = loopback[0]
    assert url == HUB_INBOX
    assert lines_of(body) == [m.token for m in messages]
    for message in fresh(messages):
        assert message.state == OutboxState.SENT
        assert message.sent_at is not None
        assert (message.attempts, message.last_error) == (0, "")
    # The hub's inbox took all three, in one request.
    received = InboxMessage.objects.order_by("id")
    assert [m.event_id for m in received] == [m.event_id for m in messages]
    assert {m.state for m in received} == {InboxState.APPLIED}
    assert [e["data"] for e in applied] == [{"i": 1}, {"i": 2}, {"i": 3}]
    assert messaging.outbox_deliver() == 0  # nothing due any more
    assert len(loopback) == 1


def test_all_taken_when_the_peer_answers_a_202_per_line(listed, scripted) -> None:
    calls = scripted(lambda body: results(202, 202, 202))
    messages = queue(3)
    assert messaging.outbox_deliver() == 3
    assert len(calls) == 1
    assert len(lines_of(calls[0][1])) == 3
    assert {m.state for m in fresh(messages)} == {OutboxState.SENT}


def test_a_200_repeat_counts_as_taken(listed, scripted) -> None:
    scripted(lambda body: results(200, 202))
    messages = queue(2)
    assert messaging.outbox_deliver() == 2
    assert {m.state for m in fresh(messages)} == {OutboxState.SENT}


def test_only_the_refused_message_stays_pending(listed, scripted) -> None:
    calls = scripted(lambda body: results(202, {"status": 400, "code": "malformed_event"}, 202))
    first, refused, third = queue(3)

    assert messaging.outbox_deliver() == 2

    assert len(calls) == 1
    first, refused, third = fresh([first, refused, third])
    assert (first.state, third.state) == (OutboxState.SENT, OutboxState.SENT)
    assert (first.attempts, third.attempts) == (0, 0)
    assert refused.state == OutboxState.PENDING
    assert refused.attempts == 1
    assert refused.sent_at is None
    assert "400" in refused.last_error
    assert "malformed_event" in refused.last_error
    assert refused.next_attempt_at > timezone.now()


@pytest.mark.parametrize(
    "answer",
    [
        lambda body: results(202, 202),  # one result short
        lambda body: results(202, 202, 202, 202),  # one too many
        lambda body: (200, b"not json"),
        lambda body: (200, b'{"results": "all fine"}'),
        lambda body: (200, b'{"ok": true}'),
        lambda body: (202, results(202, 202, 202)[1]),  # a batch answered with a 202
        lambda body: (503, b"busy"),
    ],
    ids=["short", "long", "not-json", "not-a-list", "no-results", "202", "503"],
)
def test_an_answer_not_understood_fails_the_whole_batch(listed, scripted, answer) -> None:
    calls = scripted(answer)
    messages = queue(3)
    assert messaging.outbox_deliver() == 0
    assert len(calls) == 1
    for message in fresh(messages):
        assert message.state == OutboxState.PENDING
        assert message.attempts == 1
        assert message.sent_at is None
        assert message.last_error


def test_a_result_that_is_not_an_object_fails_its_message(listed, scripted) -> None:
    scripted(lambda body: (200, json.dumps({"results": [{"status": 202}, 202, None]}).encode()))
    first, second, third = queue(3)
    assert messaging.outbox_deliver() == 1
    first, second, third = fresh([first, second, third])
    assert first.state == OutboxState.SENT
    assert (second.state, second.attempts) == (OutboxState.PENDING, 1)
    assert (third.state, third.attempts) == (OutboxState.PENDING, 1)


def test_an_unreachable_peer_fails_every_message_of_the_batch(listed, monkeypatch) -> None:
    def unreachable(method: str, url: str, body: bytes | None = None, **kw: Any) -> Any:
        raise transport.Unreachable("connection refused")

    monkeypatch.setattr(transport, "call", unreachable)
    messages = queue(3)
    assert messaging.outbox_deliver() == 0
    for message in fresh(messages):
        assert (message.state, message.attempts) == (OutboxState.PENDING, 1)
        assert "unreachable" in message.last_error


def test_a_single_message_goes_alone(listed, scripted) -> None:
    calls = scripted(lambda body: (202, b"{}"))
    (message,) = queue(1)
    assert messaging.outbox_deliver() == 1
    assert calls == [(HUB_INBOX, message.token.encode("ascii"))]
    assert fresh([message])[0].state == OutboxState.SENT


def test_a_single_message_refused_is_pending_with_the_peers_answer(listed, scripted) -> None:
    scripted(lambda body: (403, b'{"code": "unknown_key"}'))
    (message,) = queue(1)
    assert messaging.outbox_deliver() == 0
    message = fresh([message])[0]
    assert (message.state, message.attempts) == (OutboxState.PENDING, 1)
    assert "403" in message.last_error
    assert "unknown_key" in message.last_error


def test_messages_to_two_peers_go_in_two_requests(listed, sichuan_registered, scripted) -> None:
    def answer(body: bytes) -> tuple[int, bytes]:
        count = len(lines_of(body))
        return results(*[202] * count) if count > 1 else (202, b"{}")

    calls = scripted(answer)
    to_hub = queue(2, recipient=HUB)
    to_sichuan = queue(3, recipient=SICHUAN)
    assert messaging.outbox_deliver() == 5
    assert len(calls) == 2
    bodies = {url: lines_of(body) for url, body in calls}
    assert bodies == {
        HUB_INBOX: [m.token for m in to_hub],
        SC_INBOX: [m.token for m in to_sichuan],
    }
    assert {m.state for m in fresh(to_hub + to_sichuan)} == {OutboxState.SENT}


def test_a_message_without_a_route_fails_alone(listed, scripted) -> None:
    calls = scripted(lambda body: results(202, 202))
    routed = queue(2, recipient=HUB)
    (lost,) = queue(1, recipient=GUIZHOU)  # on no trust list, registered nowhere
    assert messaging.outbox_deliver() == 2
    assert [url for url, _body in calls] == [HUB_INBOX]
    assert {m.state for m in fresh(routed)} == {OutboxState.SENT}
    lost = fresh([lost])[0]
    assert (lost.state, lost.attempts) == (OutboxState.PENDING, 1)
    assert GUIZHOU in lost.last_error


def test_a_batch_is_split_under_the_byte_limit(listed, scripted, monkeypatch) -> None:
    def answer(body: bytes) -> tuple[int, bytes]:
        count = len(lines_of(body))
        return results(*[202] * count) if count > 1 else (202, b"{}")

    calls = scripted(answer)
    messages = queue(3)
    longest = max(len(m.token) for m in messages)
    monkeypatch.setattr(messaging, "BATCH_BYTES", 2 * (longest + 1))  # two tokens fit
    assert messaging.outbox_deliver() == 3
    assert [lines_of(body) for _url, body in calls] == [
        [messages[0].token, messages[1].token],
        [messages[2].token],
    ]
    for _url, body in calls:
        assert len(body) <= messaging.BATCH_BYTES
    assert {m.state for m in fresh(messages)} == {OutboxState.SENT}


def test_no_more_than_a_batch_is_claimed_at_once(listed, scripted, monkeypatch) -> None:
    def answer(body: bytes) -> tuple[int, bytes]:
        count = len(lines_of(body))
        return results(*[202] * count) if count > 1 else (202, b"{}")

    calls = scripted(answer)
    monkeypatch.setattr(messaging, "BATCH", 2)
    messages = queue(5)
    assert messaging.outbox_deliver() == 5
    assert [len(lines_of(body)) for _url, body in calls] == [2, 2, 1]
    assert {m.state for m in fresh(messages)} == {OutboxState.SENT}


def test_the_limit_caps_what_one_call_sends(listed, scripted) -> None:
    calls = scripted(lambda body: results(*[202] * len(lines_of(body))))
    messages = queue(3)
    assert messaging.outbox_deliver(limit=2) == 2
    assert [len(lines_of(body)) for _url, body in calls] == [2]
    assert [m.state for m in fresh(messages)] == [
        OutboxState.SENT,
        OutboxState.SENT,
        OutboxState.PENDING,
    ]


# The deliver process ---------------------------------------------------------------------------


@pytest.fixture
def no_listen(monkeypatch: pytest.MonkeyPatch) -> None:
    # On SQLite the deliverer polls (``_listen`` is None already); on PostgreSQL LISTEN would
    # switch the test's connection to autocommit in the middle of its transaction.
    monkeypatch.setattr(messaging, "_listen", lambda: None)


class Sleeps:
    """Stands in for ``time`` in messaging: records each idle wait instead of sleeping."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> Sleeps:
    recorded = Sleeps()
    monkeypatch.setattr(messaging, "time", SimpleNamespace(sleep=recorded.sleep))
    return recorded


def test_without_a_deliverer_a_commit_enqueues_the_delivery(
    settings, listed, applied, loopback, django_capture_on_commit_callbacks
) -> None:
    settings.TONGBAN_OUTBOX_DELIVERER = False
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        message = messaging.message_send(recipient=HUB, type=TYPE, subject="CASE-1", data={})
    assert len(callbacks) >= 1
    # The task ran at once (ImmediateBackend): the hub's inbox has it.
    assert [url for url, _body in loopback] == [HUB_INBOX]
    assert fresh([message])[0].state == OutboxState.SENT
    assert len(applied) == 1


def test_with_a_deliverer_a_commit_enqueues_nothing_and_the_deliverer_sends_it(
    settings, listed, applied, loopback, django_capture_on_commit_callbacks, sleeps, no_listen
) -> None:
    settings.TONGBAN_OUTBOX_DELIVERER = True
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        message = messaging.message_send(recipient=HUB, type=TYPE, subject="CASE-1", data={})
    assert callbacks == []
    assert loopback == []  # nobody sent it on its own
    assert fresh([message])[0].state == OutboxState.PENDING

    messaging.deliver_forever(stop=lambda: bool(sleeps.waits), poll=0.05, idle=1.0)

    assert [url for url, _body in loopback] == [HUB_INBOX]
    assert fresh([message])[0].state == OutboxState.SENT
    assert len(applied) == 1
    assert sleeps.waits == [0.05]  # one idle look, nothing due: at most ``poll``


def test_the_deliverer_returns_at_once_when_told_to_stop(
    listed, loopback, sleeps, no_listen, monkeypatch
) -> None:
    queue(1)
    delivered: list[int] = []
    monkeypatch.setattr(messaging, "outbox_deliver", lambda **kw: delivered.append(1) or 0)
    messaging.deliver_forever(stop=lambda: True)
    assert delivered == []
    assert sleeps.waits == []
    assert loopback == []


def test_the_deliverer_waits_no_longer_than_until_the_next_retry(
    listed, scripted, sleeps, no_listen
) -> None:
    scripted(lambda body: (503, b"busy"))
    (message,) = queue(1)
    messaging.deliver_forever(stop=lambda: bool(sleeps.waits), poll=10.0, idle=60.0)
    message = fresh([message])[0]
    assert message.attempts == 1
    (wait,) = sleeps.waits
    due_in = (message.next_attempt_at - timezone.now()).total_seconds()
    assert 0 < wait <= due_in + 1
    assert wait < 60.0


def test_a_failing_round_is_logged_and_the_deliverer_goes_on(
    listed, applied, loopback, sleeps, no_listen, monkeypatch, caplog
) -> None:
    real = messaging.outbox_deliver
    rounds: list[str] = []

    def flaky(**options: Any) -> int:
        if not rounds:
            rounds.append("failed")
            raise RuntimeError("database is locked")
        rounds.append("ran")
        return real(**options)

    closed: list[bool] = []
    monkeypatch.setattr(messaging, "outbox_deliver", flaky)
    monkeypatch.setattr(messaging, "close_old_connections", lambda: closed.append(True))
    message = messaging.message_send(recipient=HUB, type=TYPE, subject="CASE-1", data={})
    caplog.set_level(logging.ERROR)

    messaging.deliver_forever(stop=lambda: len(sleeps.waits) >= 2, poll=0.05, idle=1.0)

    assert rounds[:2] == ["failed", "ran"]
    assert closed == [True]
    text = "\n".join(str(record.msg) for record in caplog.records)
    assert "exchange.deliver_failed" in text
    assert "database is locked" in text
    assert fresh([message])[0].state == OutboxState.SENT
    assert len(applied) == 1
