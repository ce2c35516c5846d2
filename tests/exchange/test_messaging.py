"""Messages between nodes: the outbox in the sender's transaction, delivery with backoff and
dead letters, the idempotent inbox that applies each subject's events in order, and the
evidence log. Here the hub talks to itself over loopback, which exercises the same paths as
two nodes (the two-process tests do the rest)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest
import time_machine
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from tests.exchange.conftest import HUB
from tongban.core.errors import DomainError, Forbidden, ValidationFailed
from tongban.exchange import envelope, keys, messaging, services
from tongban.exchange.models import (
    EvidenceEntry,
    InboxMessage,
    InboxState,
    OutboxMessage,
    OutboxState,
)

TYPE = "cn.tongban.test.noted"


@pytest.fixture
def applied() -> Iterator[list[dict[str, Any]]]:
    seen: list[dict[str, Any]] = []
    messaging.register_handler(TYPE, seen.append)
    yield seen
    messaging._handlers.pop(TYPE, None)


@pytest.fixture
def listed(hub: Any) -> None:
    services.trust_list_issue()


def _event(sequence: int, *, subject: str = "CASE-1", **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "source": HUB,
        "recipient": HUB,
        "type": TYPE,
        "subject": subject,
        "sequence": sequence,
        "data": {"n": sequence},
        "time": timezone.now(),
    }
    values.update(overrides)
    return envelope.make_event(**values)


def _sealed(sequence: int, **overrides: Any) -> str:
    return envelope.seal(_event(sequence, **overrides), services.signing_pair())


def test_events_are_applied_in_order_whatever_order_they_arrive_in(listed, applied) -> None:
    third, first, second = _sealed(3), _sealed(1), _sealed(2)
    message, new = messaging.inbox_receive(token=third)
    assert new
    assert message.state == InboxState.WAITING
    assert applied == []
    messaging.inbox_receive(token=first)
    assert [e["sequence"] for e in applied] == [1]
    messaging.inbox_receive(token=second)
    assert [e["sequence"] for e in applied] == [1, 2, 3]
    assert set(InboxMessage.objects.values_list("state", flat=True)) == {InboxState.APPLIED}
    # Another subject has its own order.
    messaging.inbox_receive(token=_sealed(1, subject="CASE-2"))
    assert applied[-1]["subject"] == "CASE-2"


def test_a_repeated_event_changes_nothing(listed, applied) -> None:
    token = _sealed(1)
    messaging.inbox_receive(token=token)
    _message, new = messaging.inbox_receive(token=token)
    assert not new
    assert len(applied) == 1
    assert InboxMessage.objects.count() == 1
    assert EvidenceEntry.objects.count() == 1


def test_a_failing_handler_keeps_the_message_and_holds_back_later_ones(listed) -> None:
    def boom(event: dict[str, Any]) -> None:
        raise RuntimeError("the case is locked elsewhere")

    messaging.register_handler(TYPE, boom)
    try:
        messaging.inbox_receive(token=_sealed(1))
        messaging.inbox_receive(token=_sealed(2))
    finally:
        messaging._handlers.pop(TYPE, None)
    states = dict(InboxMessage.objects.values_list("sequence", "state"))
    assert states == {1: InboxState.FAILED, 2: InboxState.WAITING}
    assert "locked" in InboxMessage.objects.get(sequence=1).error


def test_an_event_without_a_handler_is_kept_as_failed(listed) -> None:
    messaging.inbox_receive(token=_sealed(1, type="cn.tongban.test.unknown_kind"))
    assert InboxMessage.objects.get().state == InboxState.FAILED


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-6] + ("AAAAAA" if not t.endswith("AAAAAA") else "BBBBBB"),  # signature
        lambda t: t.split(".")[0] + ".e30." + t.split(".")[2],  # payload swapped
    ],
)
def test_a_tampered_message_is_refused_and_nothing_is_stored(listed, applied, mangle) -> None:
    with pytest.raises(DomainError) as refused:
        messaging.inbox_receive(token=mangle(_sealed(1)))
    assert refused.value.status in (400, 403)
    assert InboxMessage.objects.count() == 0
    assert EvidenceEntry.objects.count() == 0


def test_unknown_revoked_and_expired_keys_are_refused(listed, applied, tmp_path) -> None:
    stranger = keys.generate(tmp_path / "stranger")
    with pytest.raises(messaging.Untrusted) as unknown:
        messaging.inbox_receive(token=envelope.seal(_event(1), stranger))
    assert unknown.value.code == "unknown_key"
    with pytest.raises(messaging.Untrusted) as unknown_node:
        messaging.inbox_receive(token=envelope.seal(_event(1, source="650000"), stranger))
    assert unknown_node.value.code == "unknown_node"

    token = _sealed(1)
    services.node_key_revoke(actor=None, kid=services.signing_pair().kid)
    services._verified.clear()
    services.node_identity_ensure(name="hub")  # a fresh key to sign the next list
    services.trust_list_issue()
    with pytest.raises(messaging.Untrusted) as revoked:
        messaging.inbox_receive(token=token)
    assert revoked.value.code == "revoked_key"
    assert InboxMessage.objects.count() == 0


def test_an_expired_trust_list_refuses_everything(listed, applied) -> None:
    token = _sealed(1)
    later = time_machine.travel(timezone.now() + dt.timedelta(days=30), tick=False)
    with later, pytest.raises(messaging.Untrusted) as expired:
        messaging.inbox_receive(token=token)
    assert expired.value.code == "trust_list_expired"


def test_a_message_for_another_node_is_refused(listed, applied) -> None:
    with pytest.raises(Forbidden):
        messaging.inbox_receive(token=_sealed(1, recipient="510000"))


@pytest.mark.parametrize(
    "token",
    ["", "not a jws", "a.b.c", "eyJhbGciOiJub25lIn0.e30."],
)
def test_garbage_is_a_400(listed, token) -> None:
    with pytest.raises(ValidationFailed):
        messaging.inbox_receive(token=token)


@pytest.mark.parametrize(
    "change",
    [
        {"specversion": "0.3"},
        {"sequence": 0},
        {"sequence": True},
        {"type": "ping"},
        {"time": "yesterday"},
        {"time": "2026-11-26T10:00:00"},
        {"data": [1, 2]},
        {"id": "not-a-uuid"},
    ],
)
def test_malformed_cloudevents_are_refused(listed, change) -> None:
    event = _event(1)
    event.update(change)
    body = envelope.canonical(event)
    token = keys.sign(services.signing_pair(), body, typ=envelope.TYP)
    with pytest.raises(ValidationFailed):
        messaging.inbox_receive(token=token)
    assert InboxMessage.objects.count() == 0


def test_the_outbox_row_exists_only_if_the_change_commits(listed) -> None:
    class Rollback(Exception):
        pass

    def change_then_fail() -> None:
        with transaction.atomic():
            messaging.message_send(recipient="510000", type=TYPE, subject="CASE-1", data={})
            raise Rollback

    with pytest.raises(Rollback):
        change_then_fail()
    assert OutboxMessage.objects.count() == 0
    assert EvidenceEntry.objects.count() == 0
    first = messaging.message_send(recipient="510000", type=TYPE, subject="CASE-1", data={})
    second = messaging.message_send(recipient="510000", type=TYPE, subject="CASE-1", data={})
    other = messaging.message_send(recipient="510000", type=TYPE, subject="CASE-2", data={})
    assert (first.sequence, second.sequence, other.sequence) == (1, 2, 1)
    assert first.state == OutboxState.PENDING
    assert messaging.evidence_verify() is None


def test_undeliverable_messages_back_off_then_become_dead_letters(listed) -> None:
    message = messaging.message_send(recipient="510000", type=TYPE, subject="CASE-1", data={})
    now = timezone.now()
    for attempt in range(1, messaging.MAX_ATTEMPTS + 1):
        with time_machine.travel(now + dt.timedelta(hours=2 * attempt), tick=False):
            assert messaging.outbox_deliver() == 0
        message.refresh_from_db()
        assert message.attempts == attempt
        assert "510000" in message.last_error  # not on the trust list: no route
    assert message.state == OutboxState.DEAD
    messaging.outbox_retry(actor=None, message_id=message.pk)
    message.refresh_from_db()
    assert (message.state, message.attempts) == (OutboxState.PENDING, 0)


def test_backoff_grows_and_is_capped() -> None:
    waits = [messaging._backoff(n) for n in range(1, 20)]
    assert waits == sorted(waits)
    assert waits[-1] == dt.timedelta(seconds=settings.TONGBAN_OUTBOX_MAX_BACKOFF_SECONDS)


def test_the_evidence_log_detects_tampering(listed, applied) -> None:
    messaging.inbox_receive(token=_sealed(1))
    messaging.message_send(recipient="510000", type=TYPE, subject="CASE-1", data={})
    assert messaging.evidence_verify() is None
    EvidenceEntry.objects.filter(seq=1).update(peer="650000")
    broken = messaging.evidence_verify()
    assert broken is not None
    assert broken.seq == 1


@pytest.mark.django_db(transaction=True)
def test_delivery_over_http_to_a_live_inbox(live_server, settings, applied) -> None:
    """The hub's own inbox, reached over loopback through the trust list's URL."""
    settings.TONGBAN_NODE_CODE = HUB
    host = live_server.url.split("//", 1)[1].rsplit(":", 1)[0]
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, host]
    services.node_identity_ensure(name="hub", base_url=live_server.url)
    services.trust_list_issue()
    with transaction.atomic():
        message = messaging.message_send(recipient=HUB, type=TYPE, subject="CASE-1", data={"a": 1})
    message.refresh_from_db()
    # Tests run tasks at once: the commit delivered it.
    assert message.state == OutboxState.SENT, message.last_error
    received = InboxMessage.objects.get(event_id=message.event_id)
    assert received.state == InboxState.APPLIED
    assert applied[0]["data"] == {"a": 1}
    assert messaging.evidence_verify() is None


@pytest.mark.django_db
def test_the_inbox_view_answers_json_errors(client, listed, applied) -> None:
    response = client.post("/federation/v1/inbox", data="garbage", content_type="application/jose")
    assert response.status_code == 400
    assert set(response.json()) == {"code", "message", "fields"}
    big = "x" * (300 * 1024)
    response = client.post("/federation/v1/inbox", data=big, content_type="application/jose")
    assert response.status_code == 413
    token = _sealed(1)
    first = client.post("/federation/v1/inbox", data=token, content_type="application/jose")
    again = client.post("/federation/v1/inbox", data=token, content_type="application/jose")
    assert (first.status_code, again.status_code) == (202, 200)
    assert json.loads(first.content)["state"] == "applied"


def test_exchange_tick_issues_the_hubs_list_and_verify_checks_the_log(hub, applied) -> None:
    from io import StringIO

    from django.core.management import CommandError, call_command

    from tongban.exchange.models import TrustListCopy

    call_command("exchange", "tick", stdout=StringIO())
    assert TrustListCopy.objects.count() == 1
    messaging.inbox_receive(token=_sealed(1))
    out = StringIO()
    call_command("exchange", "verify", stdout=out)
    assert "1 entries" in out.getvalue()
    EvidenceEntry.objects.update(direction="out")
    with pytest.raises(CommandError, match="entry 1"):
        call_command("exchange", "verify", stdout=StringIO())
