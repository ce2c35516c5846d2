"""Crash test of the exchange between two real nodes (ops/exchange_trial.py): a sender streams
probe messages, one transaction each, every 7th rolled back on purpose, while the stream, the
sender's deliverer and the receiving node are SIGKILLed at random moments and started again.
Afterwards every committed message must have been applied exactly once, in order per subject,
nothing from a rolled-back transaction may have arrived, and both nodes' case chains and
evidence logs must verify. The short run is part of the default suite; the long one is slow."""

from __future__ import annotations

import random
import socket
from pathlib import Path

import pytest

from tongban.ops import exchange_trial


def _free_block(size: int) -> int:
    for _ in range(50):
        base = random.randrange(20000, 40000)
        try:
            for port in range(base, base + size):
                with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
                    probe.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise RuntimeError("no free block of ports")


def _crash_run(root: Path, *, events: int, seed: int, pause: tuple[float, float]) -> None:
    with exchange_trial.trial(root, base_port=_free_block(3)) as run:
        kills = exchange_trial.chaos(run, events=events, seed=seed, pause=pause)
        exchange_trial.wait_delivered(run)
        outcome = exchange_trial.check(run)
    # Every part was killed, the deliverer and the receiver at least three times each.
    assert set(kills) == set(exchange_trial.PARTS), kills
    assert kills["deliverer"] >= 3, kills
    assert kills["receiver"] >= 3, kills
    assert outcome.committed >= events * 6 // 7 - kills.get("stream", 0), outcome
    assert outcome.missing == [], outcome.missing[:20]
    assert outcome.duplicates == [], outcome.duplicates[:20]
    assert outcome.strangers == [], outcome.strangers[:20]
    assert outcome.rolled_back_seen == []
    assert outcome.out_of_order == []
    assert all(line["ok"] for line in outcome.verify), outcome.verify


def test_killing_sender_deliverer_and_receiver_loses_and_repeats_nothing(tmp_path: Path) -> None:
    _crash_run(tmp_path, events=1000, seed=20261126, pause=(0.4, 1.5))


@pytest.mark.slow
def test_a_long_crash_run_loses_and_repeats_nothing(tmp_path: Path) -> None:
    _crash_run(tmp_path, events=10_000, seed=7, pause=(0.5, 3.0))
