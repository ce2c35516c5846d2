"""End to end: `tongban init --demo` then `tongban serve` (granian + worker) on a free port,
spoken to over real HTTP, then stopped with SIGTERM."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import Any

import pytest

import tongban

STARTUP_TIMEOUT = 30.0
SHUTDOWN_TIMEOUT = 15.0
BAD_ID_NUMBER = "500103199903071235"  # the demo's 张三 with a wrong check digit


@dataclass
class Reply:
    status: int
    headers: Message
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode()


@dataclass
class Node:
    base: str
    process: subprocess.Popen[bytes]
    data_dir: Path
    log: Path

    def request(
        self, path: str, *, body: Any = None, headers: dict[str, str] | None = None
    ) -> Reply:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(  # noqa: S310 - http://127.0.0.1 only
            self.base + path,
            data=data,
            headers={"Content-Type": "application/json", **(headers or {})},
            method="GET" if body is None else "POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                return Reply(response.status, response.headers, response.read())
        except urllib.error.HTTPError as error:
            return Reply(error.code, error.headers, error.read())

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


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


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _processes_of(data_dir: Path) -> list[int]:
    """Live processes (not zombies) whose environment names this node's data directory."""
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


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture(scope="module")
def initialised(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory after `tongban init --demo` (each server runs on its own copy)."""
    data_dir = tmp_path_factory.mktemp("initialised")
    init = subprocess.run(
        [sys.executable, "-m", "tongban", "init", "--demo"],
        cwd=data_dir,
        env=_environment(data_dir),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert init.returncode == 0, init.stdout + init.stderr
    assert "demo: 2 service halls" in init.stdout
    assert (data_dir / "keys" / "pii.json").exists()
    return data_dir


@contextmanager
def _serving(initialised: Path, data_dir: Path) -> Iterator[Node]:
    shutil.copytree(initialised, data_dir)
    port = _free_port()
    log = data_dir / "serve.log"
    with log.open("wb") as output:
        process = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "tongban", "serve", "--port", str(port), "--workers", "1"],
            cwd=data_dir,
            env=_environment(data_dir),
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, to find and kill every child
        )
    node = Node(f"http://127.0.0.1:{port}", process, data_dir, log)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            assert process.poll() is None, f"serve exited early:\n{node.log_tail()}"
            try:
                if node.request("/healthz").status == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, f"no /healthz within 30 s:\n{node.log_tail()}"
            time.sleep(0.2)
        yield node
    finally:
        if _group_alive(process.pid):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def node(initialised: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    with _serving(initialised, tmp_path_factory.mktemp("serving") / "data") as serving:
        yield serving


def test_healthz_reports_the_node_and_its_sqlite_database(node: Node) -> None:
    reply = node.request("/healthz")
    assert reply.status == 200
    assert reply.json() == {
        "status": "ok",
        "node": "500000",
        "version": tongban.__version__,
        "database": "sqlite",
    }


def test_metrics_are_prometheus_text_aggregated_over_the_server_processes(node: Node) -> None:
    node.request("/healthz")
    reply = node.request("/metrics")
    assert reply.status == 200
    assert reply.headers.get_content_type() == "text/plain"
    lines = reply.text.splitlines()
    assert f'tongban_build_info{{node="500000",version="{tongban.__version__}"}} 1.0' in lines
    assert "tongban_database_up 1.0" in lines
    healthz = [
        line
        for line in lines
        if line.startswith("tongban_http_requests_total{") and 'route="/healthz"' in line
    ]
    assert len(healthz) == 1
    assert 'method="GET"' in healthz[0]
    assert 'status="200"' in healthz[0]
    assert float(healthz[0].rsplit(" ", 1)[1]) >= 2


def test_the_staff_login_page_is_served_in_chinese(node: Node) -> None:
    reply = node.request("/workbench/login/")
    assert reply.status == 200
    assert "工作人员登录" in reply.text


def test_static_files_are_served_by_whitenoise(node: Node) -> None:
    reply = node.request("/static/admin/css/base.css")
    assert reply.status == 200
    assert reply.headers.get_content_type() == "text/css"
    assert b"body" in reply.body


def test_an_unknown_api_path_is_a_json_404(node: Node) -> None:
    reply = node.request("/api/v1/nope")
    assert reply.status == 404
    assert reply.headers.get_content_type() == "application/json"
    assert reply.json()["code"] == "not_found"


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "公民身份号码校验位不正确，请核对。"),
        (
            {"Accept-Language": "en"},
            "The resident ID number's check digit is wrong; please check it.",
        ),
    ],
    ids=["chinese", "english"],
)
def test_sign_up_with_a_bad_id_number_is_refused_in_the_requested_language(
    node: Node, headers: dict[str, str], message: str
) -> None:
    reply = node.request(
        "/api/v1/accounts/sign-up",
        body={
            "name": "张三",
            "id_number": BAD_ID_NUMBER,
            "phone": "13900000001",
            "password": "Tongban-Test-2026",
        },
        headers=headers,
    )
    assert reply.status == 400
    assert reply.json()["code"] == "validation_failed"
    assert reply.json()["fields"]["id_number"] == message


def test_a_demo_citizen_logs_in_over_http(node: Node) -> None:
    reply = node.request(
        "/api/v1/accounts/login",
        body={"username": "13800000001", "password": "Tongban-Demo-2026"},
    )
    assert reply.status == 200
    assert reply.json()["person"]["phone"] == "138****0001"


def test_more_keep_alive_clients_than_threads_are_all_served(node: Node) -> None:
    """Idle keep-alive connections (browsers keep theirs open) must not lock out the next
    client: granian's --backpressure counts open connections, not requests in progress."""
    from tongban.ops.bench_cases import HttpClient

    clients = [HttpClient(node.base, timeout=10) for _ in range(2 * 5 + 2)]  # threads: ≤ 5
    try:
        for client in clients:  # each connection stays open, idle, after its first reply
            started = time.monotonic()
            assert client.request("GET", "/healthz").status == 200
            assert time.monotonic() - started < 5, node.log_tail()
    finally:
        for client in clients:
            client.close()


def test_sigterm_stops_the_server_and_every_child(initialised: Path, tmp_path: Path) -> None:
    with _serving(initialised, tmp_path / "data") as node:
        assert len(_processes_of(node.data_dir)) >= 3, "expected serve, granian and a worker"
        started = time.monotonic()
        node.process.send_signal(signal.SIGTERM)
        try:
            code = node.process.wait(timeout=SHUTDOWN_TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"serve did not exit within 15 s of SIGTERM:\n{node.log_tail()}")
        assert code == 0, node.log_tail()
        assert time.monotonic() - started < SHUTDOWN_TIMEOUT
        deadline = time.monotonic() + 2
        while _group_alive(node.process.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _processes_of(node.data_dir) == []
        assert not _group_alive(node.process.pid)
