"""Two real nodes exchanging probe messages (exchange/probes.py), for the crash test and for
`tongban bench exchange`.

A trial brings up a local cluster without demo data (the hub, a sender and a receiver, each
its own processes, database and keys), then runs on the sender, as separate processes that can
be killed: the *stream* (`tongban exchange probe`: one transaction per probe, some rolled back
on purpose) and the *deliverer* (`tongban exchange tick`, draining the outbox); the receiver is
its `tongban serve`. ``chaos`` SIGKILLs them at random points and starts them again; at the end
``check`` compares what the sender committed with what the receiver applied.
"""

from __future__ import annotations

import json
import os
import random
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tongban.ops import cluster

SENDER, RECEIVER = "500000", "510000"
TRIAL_ENV = {
    # Quick retries: a killed deliverer's batch, and a receiver that was down, come back in
    # seconds. Not quicker than this: the 15 attempts before a dead letter must outlast a
    # receiver killed twice in a row while it restarts (about 15 s each on two busy cores);
    # with a 2 s cap they were spent in about a minute, and a run could lose messages to the
    # dead-letter policy rather than to a crash.
    "TONGBAN_OUTBOX_MAX_BACKOFF_SECONDS": "8",
    "TONGBAN_OUTBOX_LEASE_SECONDS": "3",
    # The deliverer sends as messages commit (as under `tongban serve`), no task per message.
    "TONGBAN_OUTBOX_DELIVERER": "1",
}


class TrialError(RuntimeError):
    pass


@dataclass
class Trial:
    layout: cluster.Layout
    sender: cluster.Member
    receiver: cluster.Member
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    kills: dict[str, int] = field(default_factory=dict)

    def tongban(self, member: cluster.Member, *args: str) -> str:
        return cluster.tongban(member, self.layout, *args)

    def spawn(self, name: str, member: cluster.Member, *args: str) -> subprocess.Popen[bytes]:
        with open(Path(member.data_dir) / f"{name}.log", "ab") as log:
            process = subprocess.Popen(  # noqa: S603 (our interpreter, our arguments)
                [sys.executable, "-m", "tongban", *args],
                env=cluster.environment(member, self.layout),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.processes[name] = process
        return process

    def start_stream(self, count: int, rollback_every: int, rate: float = 0.0) -> None:
        self.spawn(
            "stream",
            self.sender,
            "exchange",
            "probe",
            RECEIVER,
            "--count",
            str(count),
            "--subjects",
            "20",
            "--rollback-every",
            str(rollback_every),
            "--rate",
            str(rate),
        )

    def start_deliverer(self) -> None:
        self.spawn("deliverer", self.sender, "exchange", "deliver")

    def start_receiver(self) -> None:
        cluster.start(self.receiver, self.layout)

    def kill(self, name: str) -> None:
        """SIGKILL one part (its whole process group: granian's workers too)."""
        if name == "receiver":
            pid = cluster.pid_of(self.receiver)
            if pid is not None:
                _killpg(pid)
                cluster._pid_file(self.receiver).unlink(missing_ok=True)
        else:
            process = self.processes.get(name)
            if process is not None and process.poll() is None:
                _killpg(process.pid)
                process.wait()
        self.kills[name] = self.kills.get(name, 0) + 1

    def running(self, name: str) -> bool:
        if name == "receiver":
            return cluster.pid_of(self.receiver) is not None
        process = self.processes.get(name)
        return process is not None and process.poll() is None

    def stop_all(self) -> None:
        for _name, process in list(self.processes.items()):
            if process.poll() is None:
                _killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    _killpg(process.pid)
        list(cluster.down(self.layout))

    def query(self, member: cluster.Member, code: str) -> Any:
        """The JSON a snippet of Python prints as this node (``result`` = the value)."""
        script = (
            "import json\n"
            "from tongban.exchange.models import *\n"
            "from django.db.models import *\n" + code + "\nprint(json.dumps(result, default=str))"
        )
        output = self.tongban(member, "shell", "-c", script)
        return json.loads(output.strip().splitlines()[-1])


def _killpg(pid: int, sig: int = signal.SIGKILL) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


@contextmanager
def trial(root: Path, *, base_port: int, postgres: str | None = None) -> Iterator[Trial]:
    """A cluster of the hub, the sender and the receiver under ``root``, stopped at the end."""
    saved = {name: os.environ.get(name) for name in TRIAL_ENV}
    os.environ.update(TRIAL_ENV)
    layout = cluster.plan(
        root, [SENDER, RECEIVER], base_port, postgres, database_prefix="tongban_trial_"
    )
    members = {member.code: member for member in layout.members}
    running = Trial(layout, members[SENDER], members[RECEIVER])
    try:
        if postgres:
            cluster.drop_databases(layout, postgres)  # a trial starts from nothing
        lines = list(cluster.up(layout, admin_url=postgres, demo=False))
        if not all(line["healthy"] for line in lines):
            raise TrialError(f"the cluster did not come up: {lines}")
        # The sender is driven by the trial's own processes (stream, deliverer).
        cluster.stop(running.sender)
        yield running
    finally:
        running.stop_all()
        if postgres:
            cluster.drop_databases(layout, postgres)
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


# The crash run ------------------------------------------------------------------------------

PARTS = ("stream", "deliverer", "receiver")


def chaos(
    run: Trial,
    *,
    events: int,
    seed: int,
    pause: tuple[float, float] = (0.5, 2.5),
    rate: float = 50.0,
    kills_each: int = 3,
) -> dict[str, int]:
    """Stream ``events`` probes at ``rate`` per second (every 7th rolled back on purpose)
    while killing the stream, the deliverer and the receiver at random moments, the part
    killed least so far first; each comes back shortly after. Ends once the stream has sent
    its last probe and the deliverer and the receiver have each been killed ``kills_each``
    times. Returns how often each part was killed."""
    rng = random.Random(seed)  # noqa: S311 (a test's dice, not a secret)
    run.start_deliverer()
    run.start_stream(events, rollback_every=7, rate=rate)

    def stream_done() -> bool:
        stream = run.processes["stream"]
        return stream.poll() is not None and stream.returncode == 0

    while not (
        stream_done() and all(run.kills.get(p, 0) >= kills_each for p in ("deliverer", "receiver"))
    ):
        time.sleep(rng.uniform(*pause))
        candidates = [p for p in PARTS if not (p == "stream" and stream_done())]
        fewest = min(run.kills.get(p, 0) for p in candidates)
        run.kill(rng.choice([p for p in candidates if run.kills.get(p, 0) == fewest]))
        time.sleep(rng.uniform(0.1, 0.8))
        for part in PARTS:
            if run.running(part):
                continue
            if part == "stream":
                if not stream_done():
                    run.start_stream(events, rollback_every=7, rate=rate)
            elif part == "deliverer":
                run.start_deliverer()
            else:
                run.start_receiver()
    return dict(run.kills)


@dataclass(frozen=True)
class Outcome:
    committed: int  # probes the sender committed
    applied: int  # probe applications the receiver recorded
    missing: list[int]  # committed, never applied
    duplicates: list[int]  # applied more than once
    strangers: list[int]  # applied, never committed (from a rolled-back transaction)
    out_of_order: list[str]  # subjects whose probes were applied out of order
    rolled_back_seen: list[int]  # probes rolled back on purpose that arrived anyway
    verify: list[dict[str, Any]]  # `cluster verify` per node

    @property
    def ok(self) -> bool:
        return (
            not self.missing
            and not self.duplicates
            and not self.strangers
            and not self.out_of_order
            and not self.rolled_back_seen
            and all(line["ok"] for line in self.verify)
        )


def wait_delivered(run: Trial, *, timeout: float = 120.0) -> None:
    """Until the receiver has applied as many probes as the sender committed (or timeout)."""
    deadline = time.monotonic() + timeout
    committed = -1
    while time.monotonic() < deadline:
        committed = run.query(run.sender, "result = Probe.objects.filter(direction='out').count()")
        applied = run.query(run.receiver, "result = Probe.objects.filter(direction='in').count()")
        if applied >= committed:
            return
        time.sleep(1.0)


def check(run: Trial, *, rollback_every: int = 7) -> Outcome:
    sent = run.query(
        run.sender,
        "result = list(Probe.objects.filter(direction='out').values_list('event_id', 'n'))",
    )
    got = run.query(
        run.receiver,
        "result = list(Probe.objects.filter(direction='in').order_by('id')"
        ".values_list('event_id', 'n', 'subject'))",
    )
    sent_ids = {event_id: n for event_id, n in sent}
    seen: dict[str, int] = {}
    duplicates, strangers, disorder = [], [], set()
    last: dict[str, int] = {}
    for event_id, n, subject in got:
        if event_id in seen:
            duplicates.append(n)
        seen[event_id] = n
        if event_id not in sent_ids:
            strangers.append(n)
        if n <= last.get(subject, 0):
            disorder.add(subject)
        last[subject] = n
    missing = sorted(n for event_id, n in sent_ids.items() if event_id not in seen)
    return Outcome(
        committed=len(sent_ids),
        applied=len(got),
        missing=missing,
        duplicates=sorted(duplicates),
        strangers=sorted(strangers),
        out_of_order=sorted(disorder),
        rolled_back_seen=sorted(n for _id, n, _s in got if n % rollback_every == 0),
        verify=list(cluster.verify(run.layout)),
    )


# The benchmark ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figures:
    # The burst: events delivered and applied per second, once released all at once.
    events: int
    seconds: float
    per_second: float
    # Delivery latency (commit at the sender → applied at the receiver) at a steady rate.
    rate: float
    latency_p50_ms: float
    latency_p99_ms: float
    # In the burst each event also waited in the outbox for the ones before it.
    burst_wait_p50_ms: float


def _latencies(run: Trial) -> list[float]:
    """Milliseconds from a probe's commit at the sender to its application at the receiver."""
    rows = run.query(
        run.receiver,
        "result = [(p.at - p.sent_at).total_seconds() * 1000 for p in "
        "Probe.objects.filter(direction='in').order_by('id')]",
    )
    return [float(value) for value in rows]


def _percentile(values: list[float], share: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def bench(run: Trial, *, events: int, steady: int, rate: float) -> Figures:
    """Throughput: ``events`` probes written while no deliverer runs, then released at once;
    events per second from the release until the receiver applied the last, and their latency
    (which includes the wait in the outbox). Then latency at a steady ``rate`` for ``steady``
    more probes, with the deliverer running all along."""
    run.start_stream(events, rollback_every=0)
    if run.processes["stream"].wait() != 0:
        raise TrialError("the stream failed; see its log in the sender's data directory")
    first = run.query(run.receiver, "result = Probe.objects.filter(direction='in').count()")
    start = time.monotonic()
    run.start_deliverer()
    wait_delivered(run, timeout=600)
    applied = run.query(run.receiver, "result = Probe.objects.filter(direction='in').count()")
    spans = run.query(
        run.receiver,
        "from django.db.models import Max, Min\n"
        "result = Probe.objects.filter(direction='in').aggregate(a=Min('at'), b=Max('at'))",
    )
    elapsed = max(time.monotonic() - start, 1e-6)
    from datetime import datetime

    span = (datetime.fromisoformat(spans["b"]) - datetime.fromisoformat(spans["a"])).total_seconds()
    seconds = max(span, 1e-6) if span > 0 else elapsed
    burst = _latencies(run)
    run.start_stream(events + steady, rollback_every=0, rate=rate)
    run.processes["stream"].wait()
    wait_delivered(run, timeout=600)
    later = _latencies(run)[len(burst) :]
    return Figures(
        events=applied - first,
        seconds=round(seconds, 2),
        per_second=round((applied - first) / seconds, 1),
        rate=rate,
        latency_p50_ms=round(statistics.median(later), 1) if later else 0.0,
        latency_p99_ms=round(_percentile(later, 0.99), 1),
        burst_wait_p50_ms=round(statistics.median(burst), 1) if burst else 0.0,
    )
