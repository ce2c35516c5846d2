"""`tongban demo flows --cluster`: the demo cases across two provinces' nodes of a local cluster
(`tongban cluster up`), through their HTTP APIs only, as the real actors would:

- ONLINE (一口申报): a citizen applies on the Chongqing portal for an item decided in Chengdu;
  the Sichuan node's department handles it, the citizen follows it in Chongqing.
- PROXY (异地代收): a Chongqing window receives for the Chengdu department and forwards; the
  department asks for a supplement, which reaches the applicant in Chongqing; the supplied file
  goes back; the department decides.
- JOINT (多地联办), twice: household migration from Chengdu to Chongqing, and a pension
  transfer out of Chengdu into Chongqing; the origin's leg is done on the Sichuan node.

Each case ends with the public look-up on both nodes, by the deciding node's number, showing
the same final state. The printed lines are those of the single-node demo, with ``node`` the
deciding node and ``number`` its case number.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

from tongban.ops.demo import PERSONS, DemoPerson, demo_id_number
from tongban.ops.demo_flows import (
    FINAL_STATE,
    CaseRun,
    FlowError,
    Item,
    Node,
    NodeError,
    Outcome,
    UnexpectedStatus,
    Upload,
    _cross_province_window,
    _quote,
    _today,
    attempt,
    demo_pdf,
    form_data,
    node_open,
)

CHONGQING = "500000"
SICHUAN = "510000"
# How long a step may take to reach the other node (delivery is immediate while both run;
# the outbox retries with backoff otherwise).
SYNC_TIMEOUT = 60.0


def _person(name: str) -> DemoPerson:
    return next(person for person in PERSONS if person.name == name)


@dataclass
class Pair:
    """The receiving (Chongqing) and the deciding (Sichuan) node."""

    cq: Node
    sc: Node


def _wait(
    node: Node,
    username: str,
    number: str,
    ready: Callable[[dict[str, Any]], bool],
    what: str,
    timeout: float = SYNC_TIMEOUT,
) -> dict[str, Any]:
    """Poll the case on ``node`` (as ``username``) until ``ready``; FlowError naming ``what``
    when it does not come in time."""
    deadline = time.monotonic() + timeout
    case: dict[str, Any] = {}
    while time.monotonic() < deadline:
        try:
            case = node.as_user(username).get(f"/api/v1/cases/{_quote(number)}")
        except UnexpectedStatus as error:
            if error.status != 404:  # 404: the case has not reached this node yet
                raise
        else:
            if ready(case):
                return case
        time.sleep(0.25)
    raise FlowError(
        f"{number} on node {node.code}: {what} did not happen within {timeout:.0f} s "
        f"(state {case.get('state')!r})"
    )


def _act(
    node: Node, number: str, username: str, action: str, payload: dict[str, Any] | None = None
) -> dict[str, Any]:
    answer: dict[str, Any] = node.as_user(username).post(
        f"/api/v1/cases/{_quote(number)}/actions/{action}", payload or {}
    )
    return answer


def _expect(case: dict[str, Any], state: str, step: str) -> None:
    if case["state"] != state:
        raise FlowError(
            f"{case['number']}: after {step} the case is {case['state']!r}, not {state!r}"
        )


def _upload(node: Node, number: str, username: str, key: str, note: str) -> None:
    node.as_user(username).post(
        f"/api/v1/cases/{_quote(number)}/materials",
        form={"spec_key": key},
        upload=Upload(
            field="file",
            filename=f"{key}.pdf",
            content_type="application/pdf",
            content=demo_pdf(f"tongban cluster demo: {key}, {note} (fictitious)"),
        ),
        expect=201,
    )


def _handed_over(pair: Pair, username: str, number: str, mode: str) -> str:
    """Wait for the deciding node's receipt on the receiving node; its number there."""
    case = _wait(
        pair.cq,
        username,
        number,
        lambda c: bool(c["remote_number"]),
        f"{mode}: the hand-over to node {pair.sc.code}",
    )
    return str(case["remote_number"])


def _all_fetched(node: Node, username: str, number: str) -> dict[str, Any]:
    return _wait(
        node,
        username,
        number,
        lambda c: bool(c["materials"]) and all(m["transfer"] == "fetched" for m in c["materials"]),
        "the transfer of the files handed in at the other node",
    )


def _approve(sc: Node, number: str) -> None:
    demo = sc.demo
    _expect(_act(sc, number, demo.reviewer, "accept"), "accepted", "accept")
    _expect(_act(sc, number, demo.reviewer, "begin_review"), "in_review", "begin_review")
    _expect(_act(sc, number, demo.approver, "approve"), "approved", "approve")


def _close(sc: Node, number: str) -> None:
    _expect(_act(sc, number, sc.demo.reviewer, "deliver"), "delivering", "deliver")
    _expect(_act(sc, number, sc.demo.reviewer, "complete"), FINAL_STATE, "complete")


def _decide(sc: Node, number: str) -> None:
    _approve(sc, number)
    _close(sc, number)


def _shipment_state(node: Node, username: str, number: str) -> str:
    """The state of the case's one parcel as ``node`` has it ("" while it has none)."""
    try:
        parcels = node.as_user(username).get(f"/api/v1/cases/{_quote(number)}/shipments")
    except UnexpectedStatus as error:
        if error.status == 404:
            return ""
        raise
    return str(parcels[0]["state"]) if parcels else ""


def _wait_parcel(node: Node, username: str, number: str, state: str, what: str) -> int:
    deadline = time.monotonic() + SYNC_TIMEOUT
    while _shipment_state(node, username, number) != state:
        if time.monotonic() > deadline:
            raise FlowError(f"{number} on node {node.code}: {what} did not arrive in time")
        time.sleep(0.25)
    parcels = node.as_user(username).get(f"/api/v1/cases/{_quote(number)}/shipments")
    return int(parcels[0]["id"])


def _post_result_to_window(pair: Pair, number: str, local: str) -> None:
    """邮政寄递: Sichuan posts the result to the Chongqing window; the window records that
    the applicant collected it; each node sees the other's steps."""
    cq, sc = pair.cq, pair.sc
    reviewer, clerk = sc.demo.reviewer, cq.demo.clerk
    parcel = sc.as_user(reviewer).post(
        f"/api/v1/cases/{_quote(number)}/shipments",
        {"purpose": "result", "carrier": "ems", "tracking_number": f"EMS{number[-10:]}CQ"},
        expect=201,
    )
    for step in ("picked_up", "in_transit"):
        sc.as_user(reviewer).post(f"/api/v1/shipments/{parcel['id']}/steps", {"state": step})
    here = _wait_parcel(cq, clerk, local, "in_transit", "the parcel posted in Sichuan")
    cq.as_user(clerk).post(
        f"/api/v1/shipments/{here}/steps", {"state": "delivered", "note": "申请人已在窗口领取"}
    )
    _wait_parcel(sc, reviewer, number, "delivered", "the collection recorded in Chongqing")


def _same_public_view(pair: Pair, run: CaseRun) -> None:
    """办件查询 on both nodes by the deciding node's number: the same final state."""
    for node in (pair.cq, pair.sc):
        deadline = time.monotonic() + SYNC_TIMEOUT
        while True:
            view = node.anonymous.get(
                f"/api/v1/public/cases/{_quote(run.number)}", query={"code": run.query_code}
            )
            if view["state"] == FINAL_STATE:
                break
            if time.monotonic() > deadline:
                raise FlowError(
                    f"{run.mode} {run.number}: the public look-up on node {node.code} shows "
                    f"{view['state']!r}, expected {FINAL_STATE!r}"
                )
            time.sleep(0.25)


def _item(node: Node, name: str, mode: str, division: str, department: str) -> Item:
    """The catalogue item as ``node`` lists it, implemented by ``department`` at ``division``
    (Node.item checks the node's own demo department)."""
    saved = node.demo
    try:
        node.demo = replace(saved, authority_division=division, department=department)
        return node.item(name, mode)
    finally:
        node.demo = saved


def flow_online(pair: Pair, run: CaseRun) -> None:
    cq, sc = pair.cq, pair.sc
    item = _item(cq, sc.demo.online_item, "ONLINE", sc.demo.authority_division, sc.demo.department)
    person = _person("张三")
    citizen = person.phone
    case = cq.as_user(citizen).post(
        "/api/v1/cases",
        {
            "item_code": item.code,
            "scenario_key": item.scenario_key,
            "authority_division": sc.demo.authority_division,
            "form_data": form_data(item, person),
            "mode": "ONLINE",
        },
        expect=201,
    )
    local = case["number"]
    run.query_code = case["query_code"]
    for material in item.materials:
        _upload(cq, local, citizen, material["key"], "uploaded on the Chongqing portal")
    run.number = _handed_over(pair, citizen, local, "ONLINE")
    _all_fetched(sc, sc.demo.reviewer, run.number)
    _decide(sc, run.number)
    run.state = _wait(
        cq, citizen, local, lambda c: c["state"] == FINAL_STATE, "completion on the mirror"
    )["state"]
    _same_public_view(pair, run)


def flow_proxy(pair: Pair, run: CaseRun) -> None:
    cq, sc = pair.cq, pair.sc
    item = _item(cq, sc.demo.proxy_item, "PROXY", sc.demo.authority_division, sc.demo.department)
    person = _person("王芳")
    clerk_name = cq.demo.clerk
    clerk = cq.as_user(clerk_name)
    window = _cross_province_window(clerk, cq.demo.window_division)
    case = clerk.post(
        "/api/v1/cases",
        {
            "item_code": item.code,
            "scenario_key": item.scenario_key,
            "authority_division": sc.demo.authority_division,
            "form_data": form_data(item, person),
            "mode": "PROXY",
            "applicant_id_number": demo_id_number(person),
            **({"window_id": window} if window is not None else {}),
        },
        expect=201,
    )
    local = case["number"]
    run.query_code = case["query_code"]
    for material in item.materials:
        _upload(cq, local, clerk_name, material["key"], "scanned at the Chongqing window")
    checklist = clerk.get(f"/api/v1/cases/{_quote(local)}/checklist")
    results = {
        row["key"]: "present" if row["uploaded"] else "not_applicable"
        for row in checklist["materials"]
    }
    identity = {"method": "id_card_reader", "document": "resident_id_card", "holder": "applicant"}
    _expect(
        _act(cq, local, clerk_name, "forward", {"identity": identity, "checklist": results}),
        "submitted",
        "forward",
    )
    run.number = _handed_over(pair, clerk_name, local, "PROXY")
    _all_fetched(sc, sc.demo.reviewer, run.number)
    # The department asks for a supplement; it reaches the window and the applicant.
    missing = item.materials[0]["key"] if item.materials else "identity"
    missing_name = item.materials[0]["name"] if item.materials else "申请人有效身份证件"
    _expect(
        _act(
            sc,
            run.number,
            sc.demo.reviewer,
            "request_supplement",
            {"missing": [f"{missing_name}：请提供清晰的彩色扫描件（演示）"]},
        ),
        "awaiting_supplement",
        "request_supplement",
    )
    citizen = person.phone
    _wait(
        cq,
        citizen,
        local,
        lambda c: c["state"] == "awaiting_supplement",
        "the supplement request reaching Chongqing",
    )
    _upload(cq, local, citizen, missing, "supplied by the applicant in Chongqing")
    _act(cq, local, citizen, "supplement")
    _wait(
        sc,
        sc.demo.reviewer,
        run.number,
        lambda c: (
            c["state"] == "submitted"
            and len(c["materials"]) >= 2
            and all(m["transfer"] == "fetched" for m in c["materials"])
        ),
        "the supplement (and its file) reaching Sichuan",
    )
    _approve(sc, run.number)
    _post_result_to_window(pair, run.number, local)
    _close(sc, run.number)
    run.state = _wait(
        cq, clerk_name, local, lambda c: c["state"] == FINAL_STATE, "completion on the mirror"
    )["state"]
    _same_public_view(pair, run)


@dataclass(frozen=True)
class JointDemo:
    item: str
    applicant: str
    # leg key → (node code, username there, the record it enters)
    work: Callable[[str], dict[str, tuple[str, str, dict[str, Any]]]]
    # who accepts, delivers and completes at the destination (the deciding node), and the
    # department there
    reviewer: str
    department: str


def _migration_work(serial: str) -> dict[str, tuple[str, str, dict[str, Any]]]:
    today = _today()
    return {
        "approve_move": (
            CHONGQING,
            "approver-ps",
            {
                "permit_number": f"ZQ{serial}",
                "destination_address": "重庆市渝中区示例路1号（虚构）",
            },
        ),
        "release": (
            SICHUAN,
            "reviewer-ps",
            {"migration_certificate_number": f"QY{serial}", "released_on": today},
        ),
        "register": (
            CHONGQING,
            "reviewer-ps",
            {"registered_on": today, "household_number": f"HH{serial}"},
        ),
    }


def _pension_work(serial: str) -> dict[str, tuple[str, str, dict[str, Any]]]:
    return {
        "request_transfer": (CHONGQING, "reviewer", {"contact_letter_number": f"LXH{serial}"}),
        "certify_contributions": (
            SICHUAN,
            "reviewer",
            {
                "certificate_number": f"JFPZ{serial}",
                "contribution_months": 86,
                "individual_account": 41235.6,
                "pooled_fund": 52800.0,
            },
        ),
        "complete_transfer": (CHONGQING, "approver", {"completed_on": _today()}),
    }


JOINTS = (
    JointDemo(
        "大中专学生毕业户口迁移", "李四", _migration_work, "reviewer-ps", "cq-public-security"
    ),
    JointDemo("企业职工基本养老保险关系转移接续", "赵敏", _pension_work, "reviewer", "cq-hrss"),
)


def _leg_active(key: str) -> Callable[[dict[str, Any]], bool]:
    def ready(case: dict[str, Any]) -> bool:
        return any(row["key"] == key and row["state"] == "active" for row in case["legs"])

    return ready


def flow_joint(pair: Pair, run: CaseRun, demo: JointDemo) -> None:
    cq, sc = pair.cq, pair.sc
    nodes = {CHONGQING: cq, SICHUAN: sc}
    item = _item(cq, demo.item, "JOINT", CHONGQING, demo.department)
    person = _person(demo.applicant)
    citizen = person.phone
    case = cq.as_user(citizen).post(
        "/api/v1/cases",
        {
            "item_code": item.code,
            "scenario_key": item.scenario_key,
            "authority_division": CHONGQING,
            "origin_division": sc.demo.window_division,  # 锦江区, decided in Chengdu
            "form_data": form_data(item, person),
            "mode": "JOINT",
        },
        expect=201,
    )
    run.number, run.query_code = case["number"], case["query_code"]
    for material in item.materials:
        _upload(cq, run.number, citizen, material["key"], "uploaded on the Chongqing portal")
    case = _act(cq, run.number, demo.reviewer, "accept")
    _expect(case, "in_legs", "accept")
    work = demo.work(run.number[-12:])
    for leg in sorted(case["legs"], key=lambda row: row["seq"]):
        if leg["key"] not in work:
            raise FlowError(f"JOINT {run.number}: the demo does not know the leg {leg['key']!r}")
        code, username, result = work[leg["key"]]
        node = nodes[code]
        # On the leg's node the case is found by the deciding node's number too.
        _wait(
            node,
            username,
            run.number,
            _leg_active(leg["key"]),
            f"the leg {leg['key']} opening on node {code}",
        )
        _act(node, run.number, username, "complete_leg", {"result": result})
    case = _wait(cq, demo.reviewer, run.number, lambda c: c["state"] == "approved", "approval")
    _expect(_act(cq, run.number, demo.reviewer, "deliver"), "delivering", "deliver")
    run.state = _act(cq, run.number, demo.reviewer, "complete")["state"]
    _same_public_view(pair, run)


def _joint_flow(demo: JointDemo) -> Callable[[Pair, CaseRun], None]:
    def flow(pair: Pair, run: CaseRun) -> None:
        flow_joint(pair, run, demo)

    return flow


def run_cluster_flows(
    urls: dict[str, str],
    *,
    on_outcome: Callable[[Outcome], None] = lambda outcome: None,
    timeout: float = 30.0,
) -> list[Outcome]:
    """Drive the cross-province demo cases on a cluster's Chongqing and Sichuan nodes."""
    missing = [code for code in (CHONGQING, SICHUAN) if code not in urls]
    if missing:
        raise NodeError(
            "the cluster demo needs the nodes 500000 and 510000; missing: " + ", ".join(missing)
        )
    outcomes = []
    with (
        node_open(urls[CHONGQING], timeout=timeout) as cq,
        node_open(urls[SICHUAN], timeout=timeout) as sc,
    ):
        pair = Pair(cq, sc)
        runs: list[tuple[CaseRun, Callable[[Pair, CaseRun], None]]] = [
            (CaseRun(mode="ONLINE", node=SICHUAN), flow_online),
            (CaseRun(mode="PROXY", node=SICHUAN), flow_proxy),
        ]
        for joint in JOINTS:
            runs.append((CaseRun(mode="JOINT", node=CHONGQING), _joint_flow(joint)))
        for run, flow in runs:
            outcomes.append(attempt(run, partial(flow, pair, run)))
            on_outcome(outcomes[-1])
    return outcomes
