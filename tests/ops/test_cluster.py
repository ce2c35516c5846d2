"""`tongban cluster`: the layout is planned without side effects; the real thing (three nodes
as separate processes, enrolled through the hub, a message from one province to another) runs
in the slow suite because `init --demo` for each node takes most of a minute."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

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
