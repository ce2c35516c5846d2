"""Two real nodes: the hub and Sichuan, each `tongban init` + `tongban serve --no-worker` in its
own process with its own SQLite database and keys, enrolled and registered over HTTP with the
`tongban exchange` commands an operator types."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tongban.exchange import keys, trust

HUB = "100000"
SICHUAN = "510000"
STARTUP_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Process:
    """One node: its data directory, environment and (while serving) its server process."""

    code: str
    data_dir: Path
    port: int
    hub_port: int
    server: subprocess.Popen[bytes] | None = None
    # Every process this test started, to end in teardown: commands, and servers (each the
    # leader of its own process group, with granian's processes in it).
    commands: list[subprocess.Popen[str]] = field(default_factory=list)
    servers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith(("TONGBAN_", "DJANGO_", "PROMETHEUS_"))
            and name != "DATABASE_URL"
        }
        return env | {
            "DJANGO_SETTINGS_MODULE": "tongban.settings.dev",
            "TONGBAN_DATA_DIR": str(self.data_dir),
            "DATABASE_URL": "",  # SQLite under the data directory, on every test pass
            "TONGBAN_NODE_CODE": self.code,
            "TONGBAN_NODE_URL": self.url,
            "TONGBAN_HUB_URL": f"http://127.0.0.1:{self.hub_port}",
            "TONGBAN_LOG_LEVEL": "WARNING",
        }

    def run(self, *args: str) -> subprocess.Popen[str]:
        process = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "tongban", *args],
            cwd=self.data_dir,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.commands.append(process)
        return process

    def tongban(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        return finish(self.run(*args), ok=ok)

    @property
    def log(self) -> Path:
        return self.data_dir / "serve.log"

    def serve_start(self) -> None:
        with self.log.open("ab") as output:
            self.server = subprocess.Popen(  # noqa: S603
                [
                    sys.executable,
                    "-m",
                    "tongban",
                    "serve",
                    "--no-worker",
                    "--port",
                    str(self.port),
                    "--workers",
                    "1",
                    "--threads",
                    "2",
                ],
                cwd=self.data_dir,
                env=self.env,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own group: granian's children go with it
            )
        self.servers.append(self.server)

    def serve_wait(self) -> None:
        assert self.server is not None
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            assert self.server.poll() is None, f"serve exited:\n{self.log.read_text()[-3000:]}"
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as answer:  # noqa: S310
                    if answer.status == 200:
                        return
            except OSError:
                pass
            assert time.monotonic() < deadline, f"no /healthz:\n{self.log.read_text()[-3000:]}"
            time.sleep(0.2)

    def stop(self) -> None:
        server, self.server = self.server, None
        if server is None or server.poll() is not None:
            return
        server.send_signal(signal.SIGTERM)
        try:
            assert server.wait(timeout=STOP_TIMEOUT) == 0, self.log.read_text()[-3000:]
        finally:
            _kill_group(server)

    def end(self) -> None:
        for command in self.commands:
            if command.poll() is None:
                command.kill()
                command.wait(timeout=10)
        for server in self.servers:
            _kill_group(server)

    def get(self, path: str) -> tuple[int, str, bytes]:
        try:
            with urllib.request.urlopen(self.url + path, timeout=10) as answer:  # noqa: S310
                return answer.status, answer.headers.get_content_type(), answer.read()
        except urllib.error.HTTPError as error:
            return error.code, error.headers.get_content_type(), error.read()


def finish(process: subprocess.Popen[str], *, ok: bool = True) -> subprocess.CompletedProcess[str]:
    out, err = process.communicate(timeout=120)
    result = subprocess.CompletedProcess(process.args, process.returncode, out, err)
    if ok:
        assert result.returncode == 0, f"{process.args}:\n{out}\n{err}"
    return result


def _kill_group(server: subprocess.Popen[bytes]) -> None:
    """End what is left of a server this test started: its process group (it was started as
    the leader of a new session, so the group id is its PID)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        server.wait(timeout=10)


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[tuple[Process, Process]]:
    hub_port, sichuan_port = _free_port(), _free_port()
    hub = Process(HUB, tmp_path / "hub", hub_port, hub_port)
    sichuan = Process(SICHUAN, tmp_path / "sichuan", sichuan_port, hub_port)
    try:
        for node in (hub, sichuan):
            node.data_dir.mkdir()
        inits = [node.run("init") for node in (hub, sichuan)]  # in parallel
        for node, init in zip((hub, sichuan), inits, strict=True):
            out, err = init.communicate(timeout=120)
            assert init.returncode == 0, out + err
            assert f"node {node.code} is ready" in out
        yield hub, sichuan
    finally:
        for node in (hub, sichuan):
            node.end()


def _listing(output: str) -> tuple[dict[str, object], dict[str, dict[str, object]]]:
    head, *rest = (json.loads(line) for line in output.splitlines())
    return head, {str(line["code"]): line for line in rest}


def test_a_province_enrols_registers_and_rotates_its_key(
    nodes: tuple[Process, Process],
) -> None:
    hub, sichuan = nodes
    # Commands that do not depend on each other run side by side: each process start costs
    # more than a second.
    for node in (hub, sichuan):
        node.serve_start()
    for node in (hub, sichuan):
        node.serve_wait()

    # The hub serves its signed list; a province node does not.
    status, content_type, body = hub.get("/federation/v1/trust-list")
    assert (status, content_type) == (200, "application/jose")
    assert sichuan.get("/federation/v1/trust-list")[:2] == (403, "application/json")

    # Out of band: the hub's public keys into the province's configuration, and an enrolment
    # code for it. Without that code the hub refuses the province.
    public_keys, enrol, unenrolled = (
        hub.run("exchange", "public-keys"),
        hub.run("exchange", "enrol", SICHUAN),
        sichuan.run("exchange", "register"),
    )
    published = finish(public_keys).stdout
    code = finish(enrol).stdout.strip()
    refused = finish(unenrolled, ok=False)
    assert refused.returncode != 0
    assert "hub_refused" in refused.stderr
    hub_keys = json.loads(published)["keys"]
    assert [keys.kid_of(jwk) for jwk in hub_keys] == [jwk["kid"] for jwk in hub_keys]
    (sichuan.data_dir / "keys" / "hub-keys.json").write_text(published)
    listed = trust.verify_list(
        body.decode(), hub_code=HUB, hub_keys=hub_keys, at=dt.datetime.now(dt.UTC)
    )
    assert [node.code for node in listed.nodes] == [HUB]

    registered = json.loads(sichuan.tongban("exchange", "register", f"--enrolment={code}").stdout)
    assert registered == {"code": SICHUAN, "name": "四川省", "keys": 1}

    # A rotated key reaches the hub without a new enrolment code (signed with the key the hub
    # already trusts, not the new one).
    rotated = sichuan.tongban("exchange", "keys", "--rotate").stdout
    assert rotated.startswith("new key ")
    assert json.loads(sichuan.tongban("exchange", "register").stdout)["keys"] == 2

    head, listed_nodes = _listing(sichuan.tongban("exchange", "trust-list").stdout)
    assert set(listed_nodes) == {HUB, SICHUAN}
    assert listed_nodes[SICHUAN] == {
        "code": SICHUAN,
        "name": "四川省",
        "url": sichuan.url,
        "keys": 2,
    }
    assert listed_nodes[HUB]["url"] == hub.url
    assert int(str(head["serial"])) >= 3  # at init, at enrolment, at rotation

    # The hub goes away: the province answers from the list it holds (until it expires), in a
    # new process that verifies the stored list again against the pinned key.
    hub.stop()
    cached, fetch = (
        sichuan.run("exchange", "trust-list"),
        sichuan.run("exchange", "trust-list", "--fetch"),
    )
    assert _listing(finish(cached).stdout) == (head, listed_nodes)
    unreachable = finish(fetch, ok=False)
    assert unreachable.returncode != 0
    assert "hub_unreachable" in unreachable.stderr

    sichuan.stop()
