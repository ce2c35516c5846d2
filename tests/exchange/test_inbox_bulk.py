"""The inbox takes a batch in bulk (messaging.inbox_receive_many): one look-up of the known
event ids, one insert of the new events and of their evidence, each subject applied in order."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client

from tests.exchange.test_batches import TYPE, post, sealed, statuses
from tongban.exchange import messaging, services
from tongban.exchange.models import EvidenceEntry, InboxMessage, InboxState, Node


@pytest.fixture
def listed(hub: Node) -> None:
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


def test_a_shuffled_batch_of_three_subjects_is_applied_in_order_with_an_intact_log(
    client: Client, listed: None, applied: list[dict[str, Any]]
) -> None:
    tokens = [sealed(n, subject=f"CASE-{s}") for s in range(3) for n in range(1, 11)]
    random.Random(5).shuffle(tokens)
    assert statuses(post(client, tokens)) == [202] * 30
    for s in range(3):
        order = [e["sequence"] for e in applied if e["subject"] == f"CASE-{s}"]
        assert order == list(range(1, 11))
    assert set(InboxMessage.objects.values_list("state", flat=True)) == {InboxState.APPLIED}
    assert EvidenceEntry.objects.count() == 30
    assert messaging.evidence_verify() is None
    # Again, with one new event at the end: the known ones are repeats, the new one applies.
    more = [*tokens, sealed(11, subject="CASE-0")]
    assert statuses(post(client, more)) == [200] * 30 + [202]
    assert EvidenceEntry.objects.count() == 31
    assert messaging.evidence_verify() is None


def test_a_failed_event_sent_again_in_a_batch_is_tried_again(client: Client, listed: None) -> None:
    calls: list[int] = []

    def flaky(event: dict[str, Any]) -> None:
        calls.append(event["sequence"])
        if len(calls) == 1:
            raise RuntimeError("locked elsewhere")

    messaging.register_handler(TYPE, flaky)
    try:
        first, second = sealed(1), sealed(2)
        assert statuses(post(client, [first, second])) == [202, 202]
        states = dict(InboxMessage.objects.values_list("sequence", "state"))
        assert states == {1: InboxState.FAILED, 2: InboxState.WAITING}
        assert statuses(post(client, [first, second])) == [200, 200]
    finally:
        messaging._handlers.pop(TYPE, None)
    assert set(InboxMessage.objects.values_list("state", flat=True)) == {InboxState.APPLIED}
    assert calls == [1, 1, 2]
