"""Data sharing across a province line, for real: a local cluster (hub, Chongqing, Sichuan as
separate processes with their own databases and keys, both provinces reached directly) with the
demo resources published. Chongqing learns Sichuan's catalogue on an exchange tick; Chongqing's
人社局 asks for Sichuan's household register, the request travels to Sichuan, Sichuan's admin
approves, and the decision travels back; Chongqing's reviewer then checks 李四's identity at
the source (a yes, a no, and a look-up outside the grant refused). Both nodes' evidence logs hold
the call, each on its side, with the same request hash; the cluster and both logs verify.
Everything is done through the nodes' HTTP APIs, as the staff would. About three and a half
minutes, nearly all of it `cluster up` (`init --demo` of three nodes; the flow itself takes
seconds): marked slow (`make test-slow`)."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.ops.test_cluster_flows import _free_block, _tongban

HUB, CHONGQING, SICHUAN = "100000", "500000", "510000"
PURPOSE = "办理失业登记时核验外省户籍申请人身份（集群测试）"
WAIT = 90.0  # seconds for an event to cross the exchange (the deliverer sends on commit)

T = TypeVar("T")


def _until(what: str, probe: Callable[[], T | None], timeout: float = WAIT) -> T:
    """Poll ``probe`` until it gives something (not None)."""
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found is not None:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:.0f} s: {what}")
        time.sleep(0.5)


def _the_cross_province_grant_and_call(tmp_path: Path, urls: dict[str, str]) -> None:
    from tongban.ops import cluster
    from tongban.ops.demo import PERSONS, demo_id_number
    from tongban.ops.demo_flows import DEMOS, ApiClient, Node, UnexpectedStatus

    layout = cluster.Layout.load(tmp_path / "cluster")
    members = {member.code: member for member in layout.members}
    chongqing = Node(
        url=urls[CHONGQING],
        code=CHONGQING,
        demo=DEMOS[CHONGQING],
        timeout=30.0,
        anonymous=ApiClient(urls[CHONGQING]),
    )
    sichuan = Node(
        url=urls[SICHUAN],
        code=SICHUAN,
        demo=DEMOS[SICHUAN],
        timeout=30.0,
        anonymous=ApiClient(urls[SICHUAN]),
    )
    cq_admin = chongqing.as_user("dept-admin")  # of cq-hrss
    cq_reviewer = chongqing.as_user("reviewer")  # of cq-hrss
    sc_admin = sichuan.as_user("admin")  # the platform admin: decides for any department there
    resource = f"{SICHUAN}.household"

    # 1. Chongqing learns Sichuan's catalogue. The node's own `exchange tick` runs once a
    # minute (its first one at start, before Sichuan was in the trust list): tick it now.
    def catalogue_known() -> list[Any] | None:
        listed = cq_reviewer.get("/api/v1/datashare/resources", query={"node": SICHUAN})
        if any(r["ref"] == resource for r in listed):
            return list(listed)
        cluster.tongban(members[CHONGQING], layout, "exchange", "tick")
        return None

    listed = _until("Chongqing lists Sichuan's resources", catalogue_known)
    household = next(r for r in listed if r["ref"] == resource)
    assert household["provider"] == "成都市公安局"
    assert "identity_match" in [question["key"] for question in household["questions"]]

    # 2. Chongqing's 人社局 asks for it, for an item it implements.
    item = chongqing.item("失业登记", "ONLINE")
    asked = cq_admin.post(
        "/api/v1/datashare/grants",
        {
            "resource": resource,
            "purpose": PURPOSE,
            "items": [item.code],
            "questions": ["identity_match"],
        },
        expect=201,
    )
    uid = asked["uid"]
    assert asked["state"] == "requested"
    assert asked["consumer_department_key"] == "cq-hrss"

    # 3. The request reaches Sichuan through the exchange; Sichuan's admin approves it.
    def arrived() -> dict[str, Any] | None:
        rows = sc_admin.get("/api/v1/datashare/grants", query={"limit": "200"})["items"]
        return next((g for g in rows if g["uid"] == uid), None)

    there = _until("the grant request reaches Sichuan", arrived)
    assert there["state"] == "requested"
    assert (there["consumer_node"], there["purpose"]) == (CHONGQING, PURPOSE)
    until = (dt.date.today() + dt.timedelta(days=365)).isoformat()  # noqa: DTZ011
    decided = sc_admin.post(
        f"/api/v1/datashare/grants/{uid}/decide",
        {"approve": True, "valid_until": until, "rate_limit": 60},
    )
    assert decided["state"] == "approved"
    assert decided["questions"] == ["identity_match"]

    # 4. The decision travels back.
    def approved_here() -> dict[str, Any] | None:
        grant = cq_admin.get(f"/api/v1/datashare/grants/{uid}")
        return grant if grant["state"] == "approved" else None

    grant = _until("Chongqing sees the grant approved", approved_here)
    assert grant["questions"] == ["identity_match"]
    assert grant["rate_limit"] == 60

    # 5. Chongqing's reviewer verifies 李四 at the source: yes, then no with a wrong name.
    lisi = next(person for person in PERSONS if person.name == "李四")
    id_number = demo_id_number(lisi)
    verify = f"/api/v1/datashare/{resource}/verify"
    yes = cq_reviewer.post(
        verify,
        {
            "question": "identity_match",
            "params": {"id_number": id_number, "name": "李四"},
            "purpose": PURPOSE,
        },
    )
    assert yes["answer"] is True
    assert yes["provider"] == "成都市公安局"
    no = cq_reviewer.post(
        verify,
        {
            "question": "identity_match",
            "params": {"id_number": id_number, "name": "李五"},
            "purpose": PURPOSE,
        },
    )
    assert no["answer"] is False
    with pytest.raises(UnexpectedStatus, match="field_not_granted") as refused:
        cq_reviewer.post(
            f"/api/v1/datashare/{resource}/query",
            {"fields": ["address"], "params": {"id_number": id_number}, "purpose": PURPOSE},
        )
    assert refused.value.status == 403

    # 6. Both evidence logs hold the call, each on its side, with the same request hash.
    def logged(client: ApiClient, side: str) -> dict[str, Any] | None:
        rows = client.get("/api/v1/datashare/calls", query={"limit": "200"})["items"]
        return next((c for c in rows if c["uid"] == yes["call"] and c["side"] == side), None)

    consumer = logged(cq_admin, "consumer")
    assert consumer is not None
    provider = _until("Sichuan's log holds the call", lambda: logged(sc_admin, "provider"))
    assert consumer["request_hash"] == provider["request_hash"] == yes["request_hash"]
    assert consumer["response_hash"] == yes["response_hash"]
    assert consumer["outcome"] == provider["outcome"] == "answered"
    assert provider["consumer_department_key"] == "cq-hrss"
    # Both keep both signed tokens: the call as Chongqing signed it, the answer as Sichuan did,
    # and hash the signed answer alike.
    assert provider["response_hash"] == consumer["response_hash"]
    held = cq_admin.get(f"/api/v1/datashare/calls/{yes['call']}", query={"side": "consumer"})
    kept = sc_admin.get(f"/api/v1/datashare/calls/{yes['call']}", query={"side": "provider"})
    assert held["request_token"]
    assert held["request_token"] == kept["request_token"]
    assert held["response_token"]
    assert held["response_token"] == kept["response_token"]

    chongqing.log_out()
    sichuan.log_out()

    # 7. Each node's data-sharing evidence log verifies.
    for code in (CHONGQING, SICHUAN):
        out = cluster.tongban(members[code], layout, "datashare", "verify-log")
        assert "evidence log intact" in out, (code, out)


@pytest.mark.slow
def test_data_sharing_across_real_nodes(tmp_path: Path) -> None:
    base = _free_block(3)
    try:
        up = _tongban(
            tmp_path,
            "cluster",
            "up",
            "--nodes",
            f"{CHONGQING},{SICHUAN}",
            "--base-port",
            str(base),
        )
        assert up.returncode == 0, up.stdout + up.stderr
        urls = {line["code"]: line["url"] for line in map(json.loads, up.stdout.splitlines())}

        _the_cross_province_grant_and_call(tmp_path, urls)

        verify = _tongban(tmp_path, "cluster", "verify")
        assert verify.returncode == 0, verify.stdout + verify.stderr
        assert all(line["ok"] for line in map(json.loads, verify.stdout.splitlines()))
    finally:
        down = _tongban(tmp_path, "cluster", "down")
        assert down.returncode == 0, down.stderr
