"""Probe messages (exchange/probes.py, `tongban exchange probe`): numbered probes sent in their
own transactions (some rolled back on purpose), recorded by the peer as it applies them. Here
the hub probes itself: what it sends arrives in its own inbox."""

from __future__ import annotations

import datetime as dt
import uuid
from io import StringIO
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from tests.exchange.conftest import HUB
from tongban.exchange import envelope, messaging, probes, services, transport
from tongban.exchange.models import (
    EvidenceEntry,
    InboxMessage,
    InboxState,
    Node,
    OutboxMessage,
    OutboxState,
    Probe,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def listed(hub: Node) -> None:
    services.trust_list_issue()


@pytest.fixture
def loopback(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """What the outbox sends goes to the hub's own inbox view."""
    bodies: list[bytes] = []
    peer = Client(raise_request_exception=False)

    def call(method: str, url: str, body: bytes | None = None, **options: Any) -> tuple[int, bytes]:
        bodies.append(body or b"")
        response = peer.post(urlsplit(url).path, data=body or b"", content_type="application/jose")
        return response.status_code, response.content

    monkeypatch.setattr(transport, "call", call)
    return bodies


def out_numbers() -> list[int]:
    return list(Probe.objects.filter(direction="out").order_by("n").values_list("n", flat=True))


def in_numbers() -> list[int]:
    return list(Probe.objects.filter(direction="in").order_by("n").values_list("n", flat=True))


def test_the_probe_handler_is_registered() -> None:
    assert messaging._handlers[probes.TYPE] is probes._on_probe


def test_a_stream_commits_all_but_the_probes_rolled_back_on_purpose(listed) -> None:
    committed, rolled = probes.stream(probes.Stream(peer=HUB, count=9, rollback_every=3))

    assert (committed, rolled) == (6, 3)
    assert out_numbers() == [1, 2, 4, 5, 7, 8]
    sent = Probe.objects.filter(direction="out")
    assert {p.peer for p in sent} == {HUB}
    assert {p.subject for p in sent} == {f"probe-{n % 10}" for n in (1, 2, 4, 5, 7, 8)}
    # One outgoing message per committed probe, and none for the others.
    assert OutboxMessage.objects.count() == 6
    assert set(OutboxMessage.objects.values_list("event_id", flat=True)) == set(
        sent.values_list("event_id", flat=True)
    )
    assert {m.type for m in OutboxMessage.objects.all()} == {probes.TYPE}
    assert EvidenceEntry.objects.count() == 6
    for probe in sent:
        message = OutboxMessage.objects.get(event_id=probe.event_id)
        assert (message.recipient, message.subject) == (HUB, probe.subject)
    assert messaging.evidence_verify() is None


def test_delivered_probes_are_recorded_by_the_peer_with_the_same_event_ids(
    listed, loopback
) -> None:
    probes.stream(probes.Stream(peer=HUB, count=9, rollback_every=3))

    assert messaging.outbox_deliver() == 6

    assert len(loopback) == 1  # one batch
    assert set(OutboxMessage.objects.values_list("state", flat=True)) == {OutboxState.SENT}
    assert set(InboxMessage.objects.values_list("state", flat=True)) == {InboxState.APPLIED}
    assert in_numbers() == [1, 2, 4, 5, 7, 8]
    sent = {p.event_id: p for p in Probe.objects.filter(direction="out")}
    arrived = {p.event_id: p for p in Probe.objects.filter(direction="in")}
    assert set(arrived) == set(sent)
    for event_id, probe in arrived.items():
        assert probe.peer == HUB
        assert (probe.n, probe.subject) == (sent[event_id].n, sent[event_id].subject)
        assert probe.sent_at == sent[event_id].sent_at
    # Delivered again (a redelivery): recorded once.
    for message in OutboxMessage.objects.all():
        messaging.inbox_receive(token=message.token)
    assert Probe.objects.filter(direction="in").count() == 6


def test_a_second_stream_goes_on_after_the_last_committed_probe(listed) -> None:
    probes.stream(probes.Stream(peer=HUB, count=9, rollback_every=3))
    assert probes.next_number(HUB) == 9  # 9 was rolled back: it was never sent

    committed, rolled = probes.stream(probes.Stream(peer=HUB, count=12, rollback_every=3))

    assert (committed, rolled) == (2, 2)  # 9 and 12 rolled back again; 10 and 11 sent
    assert out_numbers() == [1, 2, 4, 5, 7, 8, 10, 11]
    assert OutboxMessage.objects.count() == 8
    assert probes.next_number(HUB) == 12


def test_a_stream_resumes_at_the_first_number_not_committed(listed) -> None:
    assert probes.next_number(HUB) == 1
    assert probes.stream(probes.Stream(peer=HUB, count=5)) == (5, 0)
    assert probes.stream(probes.Stream(peer=HUB, count=5)) == (0, 0)  # nothing left to send
    assert probes.stream(probes.Stream(peer=HUB, count=7)) == (2, 0)
    assert out_numbers() == [1, 2, 3, 4, 5, 6, 7]
    # Another peer has its own numbers.
    assert probes.next_number("510000") == 1


def test_a_rolled_back_probe_leaves_nothing(listed) -> None:
    assert probes.probe_send(peer=HUB, n=1, subject="probe-1", roll_back=True) is None
    assert Probe.objects.count() == 0
    assert OutboxMessage.objects.count() == 0
    assert EvidenceEntry.objects.count() == 0
    kept = probes.probe_send(peer=HUB, n=1, subject="probe-1")
    assert kept is not None
    assert OutboxMessage.objects.get().event_id == kept.event_id


def test_probes_spread_over_the_subjects_asked_for(listed) -> None:
    probes.stream(probes.Stream(peer=HUB, count=6, subjects=2))
    subjects = dict(Probe.objects.values_list("n", "subject"))
    assert subjects == {n: f"probe-{n % 2}" for n in range(1, 7)}
    sequences = sorted(OutboxMessage.objects.values_list("subject", "sequence"))
    assert sequences == [
        ("probe-0", 1),
        ("probe-0", 2),
        ("probe-0", 3),
        ("probe-1", 1),
        ("probe-1", 2),
        ("probe-1", 3),
    ]


# Probes that cannot be applied ------------------------------------------------------------------


def _probe_token(data: dict[str, Any], *, subject: str = "probe-1") -> str:
    event = envelope.make_event(
        source=HUB,
        recipient=HUB,
        type=probes.TYPE,
        subject=subject,
        sequence=1,
        data=data,
        time=timezone.now(),
    )
    return envelope.seal(event, services.signing_pair())


NOW = "2026-11-26T10:00:00+08:00"


@pytest.mark.parametrize(
    "data",
    [
        {"n": 0, "sent_at": NOW},
        {"n": -1, "sent_at": NOW},
        {"n": 2**31, "sent_at": NOW},  # would not fit the column on PostgreSQL
        {"n": "x", "sent_at": NOW},
        {"n": "3", "sent_at": NOW},
        {"n": True, "sent_at": NOW},
        {"n": 1.5, "sent_at": NOW},
        {"n": None, "sent_at": NOW},
        {"sent_at": NOW},
        {"n": 1, "sent_at": "yesterday"},
        {"n": 1, "sent_at": 12},
        {"n": 1},
    ],
    ids=[
        "zero",
        "negative",
        "too-large",
        "text",
        "numeric-text",
        "true",
        "fraction",
        "null",
        "no-n",
        "bad-time",
        "number-time",
        "no-time",
    ],
)
def test_a_malformed_probe_is_rejected_and_records_nothing(listed, data) -> None:
    message, new = messaging.inbox_receive(token=_probe_token(data))
    assert new
    message.refresh_from_db()
    assert message.state == InboxState.REJECTED
    assert message.error.startswith("validation_failed")
    assert not Probe.objects.exists()
    # The sender is told.
    (told,) = OutboxMessage.objects.filter(type=messaging.REJECTED)
    assert told.subject == "probe-1"


def test_a_well_formed_probe_is_recorded(listed) -> None:
    event_token = _probe_token({"n": 3, "sent_at": NOW})
    message, _new = messaging.inbox_receive(token=event_token)
    message.refresh_from_db()
    assert message.state == InboxState.APPLIED
    probe = Probe.objects.get()
    assert (probe.direction, probe.peer, probe.n, probe.subject) == ("in", HUB, 3, "probe-1")
    assert probe.event_id == message.event_id
    assert probe.sent_at == dt.datetime(2026, 11, 26, 2, 0, tzinfo=dt.UTC)


def test_a_malformed_probe_does_not_hold_back_the_next_on_its_subject(listed) -> None:
    bad = envelope.make_event(
        source=HUB,
        recipient=HUB,
        type=probes.TYPE,
        subject="probe-1",
        sequence=1,
        data={"n": 0, "sent_at": NOW},
        time=timezone.now(),
    )
    good = envelope.make_event(
        source=HUB,
        recipient=HUB,
        type=probes.TYPE,
        subject="probe-1",
        sequence=2,
        data={"n": 2, "sent_at": NOW},
        time=timezone.now(),
        event_id=str(uuid.uuid4()),
    )
    pair = services.signing_pair()
    messaging.inbox_receive(token=envelope.seal(good, pair))
    assert not Probe.objects.exists()  # waits for the first
    messaging.inbox_receive(token=envelope.seal(bad, pair))
    states = dict(InboxMessage.objects.values_list("sequence", "state"))
    assert states == {1: InboxState.REJECTED, 2: InboxState.APPLIED}
    assert in_numbers() == [2]


def test_probes_received_do_not_count_as_sent(listed) -> None:
    messaging.inbox_receive(token=_probe_token({"n": 50, "sent_at": NOW}))
    assert in_numbers() == [50]
    assert probes.next_number(HUB) == 1
    assert probes.stream(probes.Stream(peer=HUB, count=2)) == (2, 0)
    assert out_numbers() == [1, 2]


# The command --------------------------------------------------------------------------------------


def test_the_probe_command_sends_numbered_probes(listed) -> None:
    out = StringIO()
    call_command("exchange", "probe", HUB, "--count", "3", stdout=out)
    assert "probes committed: 3" in out.getvalue()
    assert "rolled back on purpose: 0" in out.getvalue()
    assert out_numbers() == [1, 2, 3]
    assert OutboxMessage.objects.filter(recipient=HUB, type=probes.TYPE).count() == 3


def test_the_probe_command_goes_on_and_rolls_back_on_purpose(listed) -> None:
    call_command("exchange", "probe", HUB, "--count", "3", stdout=StringIO())
    out = StringIO()
    call_command(
        "exchange",
        "probe",
        HUB,
        "--count",
        "8",
        "--rollback-every",
        "4",
        "--subjects",
        "0",
        stdout=out,
    )
    assert "probes committed: 3; rolled back on purpose: 2" in out.getvalue()
    assert out_numbers() == [1, 2, 3, 5, 6, 7]
    # --subjects 0 is taken as one subject.
    assert set(Probe.objects.filter(n__gt=3).values_list("subject", flat=True)) == {"probe-0"}
