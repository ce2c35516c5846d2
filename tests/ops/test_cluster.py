"""`tongban cluster`: the layout is planned without side effects; the real thing (three nodes
as separate processes, enrolled through the hub, a message from one province to another) runs
in the slow suite because `init --demo` for each node takes most of a minute."""

from __future__ import annotations

import http.server
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tongban.ops import cluster


def test_the_hub_always_leads_and_ports_follow_in_order(tmp_path: Path) -> None:
    layout = cluster.plan(tmp_path, ["510000", "500000", "510000"], 9100, None)
    assert [(m.code, m.port) for m in layout.members] == [
        ("100000", 9100),
        ("510000", 9101),
        ("500000", 9102),
    ]
    assert layout.hub.url == "http://127.0.0.1:9100"
    assert all(m.database_url == "" for m in layout.members)
    assert Path(layout.members[1].data_dir) == tmp_path / "510000"


def test_postgres_gives_each_node_its_own_database(tmp_path: Path) -> None:
    layout = cluster.plan(tmp_path, ["500000"], 9100, "postgresql://postgres@127.0.0.1:5432")
    assert [m.database_url.rsplit("/", 1)[1] for m in layout.members] == [
        "tongban_cluster_100000",
        "tongban_cluster_500000",
    ]


@pytest.mark.parametrize("code", ["50000", "５０００００", "abcdef"])
def test_bad_node_codes_are_refused(tmp_path: Path, code: str) -> None:
    with pytest.raises(cluster.ClusterError):
        cluster.plan(tmp_path, [code], 9100, None)


def test_each_node_gets_its_own_environment(tmp_path: Path) -> None:
    layout = cluster.plan(tmp_path, ["500000"], 9100, None)
    hub, node = layout.members
    env = cluster.environment(node, layout)
    assert env["TONGBAN_NODE_CODE"] == "500000"
    assert env["TONGBAN_HUB_URL"] == hub.url
    assert env["TONGBAN_DATA_DIR"] == str(tmp_path / "500000")
    assert cluster.environment(hub, layout)["TONGBAN_HUB_URL"] == ""


def test_status_without_a_cluster_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(cluster.ClusterError, match="cluster up"):
        cluster.Layout.load(tmp_path)


def _member(tmp_path: Path, port: int = 9100) -> cluster.Member:
    (tmp_path / "100000").mkdir(exist_ok=True)
    return cluster.Member("100000", port, str(tmp_path / "100000"), "")


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    """An unrelated process, in its own session as `start` would have put serve."""
    process = subprocess.Popen(["sleep", "30"], start_new_session=True)  # noqa: S607
    try:
        yield process
    finally:
        process.kill()
        process.wait()


def test_a_stale_pid_file_naming_an_unrelated_process_is_not_a_running_node(
    tmp_path: Path, sleeper: subprocess.Popen[bytes]
) -> None:
    member = _member(tmp_path)
    pid_file = Path(member.data_dir) / "serve.pid"
    pid_file.write_text(str(sleeper.pid))
    assert cluster.pid_of(member) is None
    assert not pid_file.exists()

    pid_file.write_text(str(sleeper.pid))
    assert cluster.stop(member, timeout=1) is False
    assert sleeper.poll() is None, "stop() killed a process that is not ours"
    assert not pid_file.exists()


def test_a_stale_pid_file_naming_a_process_in_another_group_is_not_signalled(
    tmp_path: Path,
) -> None:
    member = _member(tmp_path)
    # Looks like our serve, but shares our process group: never `start`'s child.
    process = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(30)", "tongban", "serve", "--port", "9100"]
    )
    try:
        (Path(member.data_dir) / "serve.pid").write_text(str(process.pid))
        assert cluster.pid_of(member) is None
        assert cluster.stop(member, timeout=1) is False
        assert process.poll() is None
    finally:
        process.kill()
        process.wait()


@pytest.mark.parametrize("content", ["", "garbage", "0", "-1", "4194304999"])
def test_a_pid_file_without_a_live_pid_is_removed(tmp_path: Path, content: str) -> None:
    member = _member(tmp_path)
    pid_file = Path(member.data_dir) / "serve.pid"
    pid_file.write_text(content)
    assert cluster.pid_of(member) is None
    assert not pid_file.exists()


def test_our_own_serve_is_recognised_by_its_port_and_stopped(tmp_path: Path) -> None:
    member = _member(tmp_path)
    fake_serve = [
        sys.executable,
        "-c",
        "import time; time.sleep(30)",
        "tongban",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        "9100",
    ]
    process = subprocess.Popen(fake_serve, start_new_session=True)  # noqa: S603
    try:
        # Until the child has exec'd, /proc shows the parent's command line: wait for it.
        cmdline = Path(f"/proc/{process.pid}/cmdline")
        for _ in range(200):
            if b"serve" in cmdline.read_bytes():
                break
            time.sleep(0.01)
        pid_file = Path(member.data_dir) / "serve.pid"
        pid_file.write_text(str(process.pid))
        assert cluster.pid_of(_member(tmp_path, port=9101)) is None  # another port: not it
        pid_file.write_text(str(process.pid))
        assert cluster.pid_of(member) == process.pid
        assert cluster.stop(member, timeout=5) is True
        assert process.wait(timeout=5) != 0
        assert not pid_file.exists()
    finally:
        process.kill()
        process.wait()


def _serve_once(answer: bytes) -> tuple[int, threading.Thread]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def answer_garbage() -> None:
        with listener:
            connection, _ = listener.accept()
            with connection:
                connection.recv(4096)
                connection.sendall(answer)

    thread = threading.Thread(target=answer_garbage, daemon=True)
    thread.start()
    return listener.getsockname()[1], thread


def test_a_listener_that_does_not_speak_http_is_not_healthy(tmp_path: Path) -> None:
    port, thread = _serve_once(b"SSH-2.0-x\r\n")
    assert cluster.healthy(_member(tmp_path, port), timeout=5) is False
    thread.join(timeout=5)


def test_an_http_answer_that_is_not_a_json_object_is_not_healthy(tmp_path: Path) -> None:
    port, thread = _serve_once(
        b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\nContent-Length: 3\r\n\r\n[1]"
    )
    assert cluster.healthy(_member(tmp_path, port), timeout=5) is False
    thread.join(timeout=5)


def test_a_healthy_node_answers_with_its_own_code(tmp_path: Path) -> None:
    class Healthz(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps({"status": "ok", "node": "100000"}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Healthz)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        assert cluster.healthy(_member(tmp_path, port), timeout=5) is True
        other = cluster.Member("500000", port, str(tmp_path / "500000"), "")
        assert cluster.healthy(other, timeout=5) is False
    finally:
        server.shutdown()
        server.server_close()


def test_members_the_new_layout_leaves_out_or_moves_are_superseded(tmp_path: Path) -> None:
    old = cluster.plan(tmp_path, ["500000", "510000"], 9100, None)
    assert cluster.superseded(old, old) == ()
    assert (
        cluster.superseded(old, cluster.plan(tmp_path, ["500000", "510000", "520000"], 9100, None))
        == ()
    )
    fewer = cluster.plan(tmp_path, ["500000"], 9100, None)
    assert [m.code for m in cluster.superseded(old, fewer)] == ["510000"]
    # 510000 moves to 500000's port: both old processes serve the wrong port now.
    swapped = cluster.plan(tmp_path, ["510000"], 9100, None)
    assert [m.code for m in cluster.superseded(old, swapped)] == ["510000", "500000"]
    moved = cluster.plan(tmp_path, ["500000", "510000"], 9200, None)
    assert [m.code for m in cluster.superseded(old, moved)] == ["510000", "500000", "100000"]
    postgres = cluster.plan(tmp_path, ["500000", "510000"], 9100, "postgresql://p@127.0.0.1")
    assert len(cluster.superseded(old, postgres)) == 3


def test_up_stops_the_old_layouts_members_before_forgetting_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = cluster.plan(tmp_path, ["500000", "510000"], 9100, None)
    tmp_path.mkdir(exist_ok=True)
    old.save()
    new = cluster.plan(tmp_path, ["500000"], 9100, None)
    stopped: list[tuple[str, list[str]]] = []

    def fake_stop(member: cluster.Member, timeout: float = 20.0) -> bool:
        saved = json.loads((tmp_path / "cluster.json").read_text(encoding="utf-8"))
        stopped.append((member.code, [m["code"] for m in saved["members"]]))
        return True

    monkeypatch.setattr(cluster, "stop", fake_stop)
    monkeypatch.setattr(cluster, "start", lambda member, layout: 1)
    monkeypatch.setattr(cluster, "tongban", lambda member, layout, *args, check=True: "")
    monkeypatch.setattr(cluster, "healthy", lambda member, timeout=2.0: True)
    lines = list(cluster.up(new, admin_url=None))

    assert stopped == [("510000", ["100000", "500000", "510000"])]  # while still on record
    assert [line["code"] for line in lines] == ["100000", "500000"]
    assert cluster.Layout.load(tmp_path) == new


def test_up_without_a_previous_layout_stops_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(member: cluster.Member, timeout: float = 20.0) -> bool:
        raise AssertionError(f"stopped {member.code}")

    monkeypatch.setattr(cluster, "stop", fail)
    assert cluster.stop_superseded(cluster.plan(tmp_path, ["500000"], 9100, None)) == []


def test_a_corrupt_cluster_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "cluster.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(cluster.ClusterError, match=r"cluster\.json"):
        cluster.Layout.load(tmp_path)


def _tongban(data_dir: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = dict(os.environ, TONGBAN_DATA_DIR=str(data_dir), **env)
    environment.pop("DJANGO_SETTINGS_MODULE", None)
    return subprocess.run(  # noqa: S603
        [sys.executable, "-m", "tongban", *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.mark.slow
def test_a_cluster_comes_up_exchanges_a_message_verifies_and_goes_down(tmp_path: Path) -> None:
    try:
        up = _tongban(tmp_path, "cluster", "up", "--nodes", "500000,510000", "--base-port", "8310")
        assert up.returncode == 0, up.stderr
        lines = [json.loads(line) for line in up.stdout.splitlines()]
        assert [line["code"] for line in lines] == ["100000", "500000", "510000"]
        assert all(line["healthy"] for line in lines)

        node = tmp_path / "cluster" / "500000"
        sent = _tongban(
            node,
            "shell",
            "-c",
            "from django.db import transaction\n"
            "from tongban.exchange import messaging\n"
            "with transaction.atomic():\n"
            "    messaging.message_send(recipient='510000', type='cn.tongban.test.ping',"
            " subject='S', data={})\n",
            TONGBAN_NODE_CODE="500000",
            TONGBAN_HUB_URL="http://127.0.0.1:8310",
        )
        assert sent.returncode == 0, sent.stderr
        delivered = ""
        for _ in range(60):
            check = _tongban(
                tmp_path / "cluster" / "510000",
                "shell",
                "-c",
                "from tongban.exchange.models import InboxMessage\n"
                "print(InboxMessage.objects.count())",
                TONGBAN_NODE_CODE="510000",
            )
            delivered = check.stdout.strip().splitlines()[-1] if check.stdout.strip() else ""
            if delivered == "1":
                break
        assert delivered == "1"

        verify = _tongban(tmp_path, "cluster", "verify")
        assert verify.returncode == 0, verify.stdout + verify.stderr
    finally:
        down = _tongban(tmp_path, "cluster", "down")
        assert down.returncode == 0, down.stderr
    status = _tongban(tmp_path, "cluster", "status")
    assert status.returncode != 0
    assert not any(json.loads(line)["pid"] for line in status.stdout.splitlines())
