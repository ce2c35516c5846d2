"""`tongban bench cases`: the measurement runs end to end (HTTP closed loop, paced, raw SQL) on
the test database (SQLite, or PostgreSQL with TONGBAN_TEST_DATABASE_URL), writes what the case
service would write, and leaves the database as it found it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import modify_settings

from tests.factories import PersonFactory
from tongban.accounts.models import User
from tongban.accounts.selectors import otp_device_for
from tongban.cases.models import Case, CaseEvent, CaseSequence
from tongban.cases.personal import reveal
from tongban.cases.selectors import chain_break
from tongban.core.errors import NotFound
from tongban.ops import bench_cases
from tongban.ops.management.commands import serve

PHASE_KEYS = {
    "seconds",
    "cases",
    "transitions",
    "transitions_per_s",
    "requests",
    "errors",
    "error_rate",
    "error_samples",
    "submit",
    "accept",
    "all",
    "cpu",
}


@pytest.fixture
def node_url(transactional_db: None, request: pytest.FixtureRequest) -> Iterator[str]:
    """The URL of a live node on the test database.

    NOTE: not pytest-django's ``live_server`` by name, for the reason given in
    test_demo_flows.py: asked for here, its database flush comes before tests/conftest.py puts
    the reference data back for the tests that follow.
    """
    server = request.getfixturevalue("live_server")
    host = server.url.split("//", 1)[1].rsplit(":", 1)[0]
    with modify_settings(ALLOWED_HOSTS={"append": host}):
        yield server.url


def _sequences() -> list[tuple[str, Any, int]]:
    return list(CaseSequence.objects.values_list("prefix", "day", "last").order_by("pk"))


def test_a_small_run_measures_every_phase_and_leaves_no_case_behind(node_url: str) -> None:
    before = _sequences()
    out = StringIO()
    call_command(
        "bench",
        "cases",
        "--url",
        node_url,
        "--cases",
        "3",
        "--warmup",
        "0",
        # The live server shares one connection to the in-memory SQLite test database.
        "--concurrency",
        "1",
        "--paced-concurrency",
        "1",
        "--json",
        stdout=out,
    )
    report = json.loads(out.getvalue())
    assert report["database"]["vendor"] == connection.vendor
    assert report["server"] == {
        "url": node_url + "/",
        "started_here": False,
        "workers": None,
        "threads": None,
    }
    assert report["catalogue"]["department"]
    assert report["catalogue"]["items"]
    for name in ("http", "paced", "raw"):
        phase = report[name]
        assert set(phase) >= PHASE_KEYS, name
        assert phase["cases"] == 3, phase
        assert phase["transitions"] == 6, phase
        assert phase["requests"] == 6, phase
        assert phase["errors"] == 0, phase["error_samples"]
        assert phase["transitions_per_s"] > 0
        for kind in ("submit", "accept"):
            assert phase[kind]["count"] == 3
            assert 0 < phase[kind]["p50_ms"] <= phase[kind]["p99_ms"] <= phase[kind]["max_ms"]
    # Both figures are reported rounded to 0.1: allow that rounding, not just 1 %.
    assert report["paced"]["asked_per_s"] == pytest.approx(
        report["http"]["transitions_per_s"] / 2, rel=0.01, abs=0.1
    )
    assert report["ratio_http_to_raw"] > 0
    assert report["goals"] == {"transitions_per_s": 1000.0, "paced_p99_ms": 50.0}
    assert set(report["met"]) == {"transitions_per_s", "paced_p99_ms"}
    assert report["problems"] == []
    # 3 HTTP + 3 paced + 3 raw cases, each with its submit and accept events.
    assert report["cleanup"] == {"cases": 9, "events": 18, "other": 0}
    assert not Case.objects.exists()
    assert not CaseEvent.objects.exists()
    assert _sequences() == before
    bench_users = User.objects.filter(person__name__startswith="压测") | User.objects.filter(
        username__startswith=bench_cases.REVIEWER_PREFIX
    )
    assert bench_users.count() == 2
    assert not any(user.has_usable_password() for user in bench_users)


def test_the_table_names_the_targets_and_verdicts(node_url: str) -> None:
    out = StringIO()
    call_command(
        "bench",
        "cases",
        "--url",
        node_url,
        "--cases",
        "2",
        "--warmup",
        "0",
        "--concurrency",
        "1",
        "--paced-concurrency",
        "1",
        stdout=out,
        stderr=StringIO(),
    )
    rows = {line.split("  ", 1)[0]: " ".join(line.split()) for line in out.getvalue().splitlines()}
    assert rows["database"].startswith(f"database {connection.vendor}")
    assert rows["server"] == f"server given {node_url}/"
    assert "target ≥ 1,000/s: " in rows["HTTP transitions"]
    assert "target p99 ≤ 50 ms: " in rows["paced p50 / p99"]
    assert rows["HTTP errors"] == "HTTP errors 0 of 4"
    assert rows["paced errors"] == "paced errors 0 of 4"
    assert rows["raw SQL transitions"].endswith("/s")
    assert "HTTP / raw SQL" in rows
    assert rows["cleaned up"] == "cleaned up 6 cases 12 events, 0 other rows"


def test_raw_sql_writes_what_the_case_service_would(transactional_db: None) -> None:
    setup = bench_cases.prepare(citizens=2)
    phase = bench_cases.raw_closed_loop(
        setup, concurrency=1, seconds=30, cases=2, stop=threading.Event()
    )
    assert phase.transitions == 4
    assert phase.errors == 0
    cases = list(Case.objects.filter(number__startswith=bench_cases.RAW_PREFIX).order_by("pk"))
    assert len(cases) == 2
    citizen = setup.citizens[0]
    for case in cases:
        target = next(t for t in setup.targets if t.implementation_id == case.implementation_id)
        assert case.state == "accepted"
        assert case.applicant_person_id == citizen.person_id
        assert case.assignee_id == setup.reviewer.staff_id
        assert case.accepted_on is not None
        assert case.legal_days == target.legal_days
        assert case.item.code == target.item_code
        assert case.form_data["id_number"] != citizen.form["id_number"]  # stored encrypted
        shown = reveal(case.scenario.form_schema, case.form_data, masked=False)
        assert shown == citizen.form
        assert chain_break(case) is None
        assert list(case.events.order_by("seq").values_list("action", "role")) == [
            ("submit", "applicant"),
            ("accept", "reviewer"),
        ]
    assert bench_cases.cleanup(setup) == {"cases": 2, "events": 4, "other": 0}
    assert not CaseSequence.objects.filter(prefix__startswith=bench_cases.RAW_PREFIX).exists()
    assert bench_cases.leftovers(setup) == 0


def test_bench_accounts_are_made_once_and_locked_after_a_run(db: None) -> None:
    first = bench_cases.prepare(citizens=2)
    again = bench_cases.prepare(citizens=3)
    assert [c.person_id for c in again.citizens[:2]] == [c.person_id for c in first.citizens]
    assert (again.reviewer.user_id, again.reviewer.staff_id, again.reviewer.username) == (
        first.reviewer.user_id,
        first.reviewer.staff_id,
        first.reviewer.username,
    )
    # Like the password, the authenticator secret is new each run; the old one stops working.
    assert again.reviewer.otp_key != first.reviewer.otp_key
    assert otp_device_for(User.objects.get(pk=again.reviewer.user_id)).key == again.reviewer.otp_key
    assert User.objects.get(pk=again.reviewer.user_id).check_password(again.password)
    assert not User.objects.get(pk=again.reviewer.user_id).check_password(first.password)
    bench_cases.lock_accounts(again)
    assert not any(
        user.has_usable_password() for user in User.objects.filter(pk__in=again.user_ids)
    )


def test_someone_elses_id_number_is_never_taken_over(db: None) -> None:
    PersonFactory(id_number=bench_cases._citizen_id_number(0), name="王芳")
    with pytest.raises(bench_cases.BenchError, match="belongs to someone else"):
        bench_cases.prepare(citizens=1)


def test_a_node_without_a_catalogue_is_refused(db: None, monkeypatch: pytest.MonkeyPatch) -> None:
    def missing() -> None:
        raise NotFound("none")

    monkeypatch.setattr(bench_cases, "version_current", missing)
    with pytest.raises(CommandError, match="tongban init"):
        call_command("bench", "cases", "--url", "http://127.0.0.1:9/")


def test_pending_migrations_are_refused(db: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(serve, "_pending_migrations", lambda: ["cases.0099_future"])
    with pytest.raises(CommandError, match="migration"):
        call_command("bench", "cases", "--url", "http://127.0.0.1:9/")


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert bench_cases.percentile(values, 0.5) == 50.0
    assert bench_cases.percentile(values, 0.99) == 99.0
    assert bench_cases.percentile([3.0], 0.99) == 3.0
    assert bench_cases.percentile([], 0.5) == 0.0


def _one_shot_server(reply: bytes) -> tuple[str, threading.Thread]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]

    def serve_once() -> None:
        conn, _ = listener.accept()
        with conn, listener:
            request = b""
            while b"\r\n\r\n" not in request:
                request += conn.recv(4096)
            conn.sendall(reply)

    thread = threading.Thread(target=serve_once, daemon=True)
    thread.start()
    return f"http://127.0.0.1:{port}/", thread


@pytest.mark.parametrize(
    ("reply", "keeps"),
    [
        (b"HTTP/1.1 201 Created\r\nContent-Length: 5\r\n\r\nhello", True),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"3\r\nhel\r\n2;x=1\r\nlo\r\n0\r\n\r\n",
            True,
        ),
        (b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nhello", False),
    ],
    ids=["length", "chunked", "close"],
)
def test_the_lean_http_client_reads_every_reply_framing(reply: bytes, keeps: bool) -> None:
    url, thread = _one_shot_server(reply)
    client = bench_cases.HttpClient(url)
    answer = client.request("POST", "/x", b"{}", "X-Test: 1\r\n")
    assert answer.body == b"hello"
    assert answer.status in {200, 201}
    assert (client._sock is not None) is keeps
    client.close()
    thread.join(5)


# End to end, with the server started by the command -----------------------------------------


def _environment(data_dir: Path) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("TONGBAN_", "DJANGO_", "PROMETHEUS_")) and name != "DATABASE_URL"
    }
    env |= {
        "DJANGO_SETTINGS_MODULE": "tongban.settings.dev",
        "TONGBAN_DATA_DIR": str(data_dir),
        "DATABASE_URL": "",
        "TONGBAN_LOG_LEVEL": "WARNING",
    }
    return env


def _processes_of(data_dir: Path) -> list[int]:
    marker = f"TONGBAN_DATA_DIR={data_dir}".encode()
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            environ = (proc / "environ").read_bytes()
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker in environ.split(b"\0") and state != "Z":
            found.append(int(proc.name))
    return found


@pytest.mark.slow
def test_the_command_starts_and_stops_its_own_server(tmp_path: Path) -> None:
    data_dir = tmp_path / "node"
    env = _environment(data_dir)
    tongban = [sys.executable, "-m", "tongban"]
    init = subprocess.run(  # noqa: S603
        [*tongban, "init"], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert init.returncode == 0, init.stdout + init.stderr
    bench = subprocess.Popen(  # noqa: S603
        [
            *tongban,
            "bench",
            "cases",
            "--cases",
            "4",
            "--warmup",
            "0",
            "--concurrency",
            "2",
            "--workers",
            "1",
            "--threads",
            "2",
            "--json",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = bench.communicate(timeout=180)
    finally:
        if bench.poll() is None:
            os.killpg(bench.pid, signal.SIGKILL)
    assert bench.returncode == 0, stderr
    report = json.loads(stdout)
    assert report["database"]["vendor"] == "sqlite"
    assert report["server"]["started_here"] is True
    assert report["server"]["workers"] == 1
    for name in ("http", "paced", "raw"):
        assert report[name]["transitions"] == 8, report[name]
    assert report["cleanup"] == {"cases": 12, "events": 24, "other": 0}
    assert report["problems"] == []
    assert _processes_of(data_dir) == []  # the web server and its workers are gone
    assert "bench-serve.log" in os.listdir(data_dir / "run")
    import sqlite3

    with sqlite3.connect(data_dir / "tongban.sqlite3") as db:
        assert db.execute("SELECT count(*) FROM cases_case").fetchone() == (0,)
        assert db.execute("SELECT count(*) FROM cases_caseevent").fetchone() == (0,)
        assert db.execute("SELECT count(*) FROM cases_casesequence").fetchone() == (0,)
