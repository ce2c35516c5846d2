"""`tongban demo flows` against a live node: one case per mode through the HTTP API."""

import json
import re
import socket
from collections.abc import Iterator
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import modify_settings, override_settings

from tongban.cases.models import Case, LegState, Material
from tongban.cases.selectors import chain_break
from tongban.datashare.models import Call
from tongban.licenses.models import License
from tongban.ops import demo_flows
from tongban.ops.demo import load_demo

LINE_KEYS = ["number", "query_code", "mode", "node", "state"]


@pytest.fixture
def node_url(transactional_db: None, request: pytest.FixtureRequest) -> Iterator[str]:
    """The URL of a live node on the test database, its host allowed by the settings.
    (tests/conftest.py puts the reference data back after the flush that ends the test.)"""
    server = request.getfixturevalue("live_server")
    host = server.url.split("//", 1)[1].rsplit(":", 1)[0]
    with modify_settings(ALLOWED_HOSTS={"append": host}):
        yield server.url


def _flows(url: str) -> tuple[list[dict[str, str]], str]:
    out, err = StringIO(), StringIO()
    try:
        call_command("demo", "flows", "--url", url, "--timeout", "20", stdout=out, stderr=err)
    finally:
        lines = [json.loads(line) for line in out.getvalue().splitlines()]
    return lines, err.getvalue()


def test_one_case_per_mode_reaches_its_final_state(node_url: str) -> None:
    load_demo()
    lines, err = _flows(node_url)
    assert err == ""
    assert [line["mode"] for line in lines] == ["ONLINE", "PROXY", "JOINT"]
    for line in lines:
        # 失业登记 issues a 就业创业证 to its holder (ONLINE and PROXY); the pension transfer
        # (JOINT) issues nothing.
        issues = line["mode"] != "JOINT"
        # The applicant's identity document is verified at the public-security bureau's
        # household register by data sharing (免提交): 张三 (ONLINE) and 王芳 (PROXY) are
        # registered in Chongqing; 李四 (JOINT) in Sichuan, whose register this node's
        # departments hold no grant for, so his paper is scanned in.
        verified = issues
        assert list(line) == LINE_KEYS + (["license"] if issues else []) + (
            ["datashare"] if verified else []
        )
        assert line.get("datashare") == ("identity" if verified else None)
        if issues:
            issued = License.objects.get(identifier=line["license"])
            assert issued.case is not None
            assert issued.case.number == line["number"]
            assert issued.name == "就业创业证"
            assert issued.state == "valid"
        assert line["node"] == "500000"
        assert line["state"] == "completed"
        case = Case.objects.get(number=line["number"])
        assert case.query_code == line["query_code"]
        assert case.state == "completed"
        assert case.authority_department.key == "cq-hrss"
        assert chain_break(case) is None
        identity = Material.objects.get(case=case, spec__key="identity")
        if verified:
            assert identity.source == "datashare"
            assert identity.check_provider == "重庆市公安局"
            assert Call.objects.get(uid=identity.reference).case_number == case.number
        else:
            assert identity.source == "upload"
            # The source was asked and said no: that is in the evidence log too.
            assert Call.objects.get(case_number=case.number).summary == {"answer": False}
    online, proxy, joint = (Case.objects.get(number=line["number"]) for line in lines)
    assert online.item.name == "失业登记"
    assert online.applicant_person is not None
    assert online.applicant_person.phone == "13800000001"
    assert proxy.received_by is not None
    assert proxy.received_by.user.username == "clerk-yuzhong"
    assert proxy.receiving_division_id == "500103"
    assert proxy.receiving_window is not None  # the 跨省通办 window, found through the API
    assert proxy.receiving_window.kind == "cross_province"
    forward = proxy.events.get(action="forward")
    assert forward.payload["checklist"] == {"identity": "present"}
    assert joint.item.name == "企业职工基本养老保险关系转移接续"
    assert [leg.state for leg in joint.legs.order_by("seq")] == [LegState.DONE] * 3
    assert [leg.division_id for leg in joint.legs.order_by("seq")] == [
        "500000",
        "500101",
        "500000",
    ]
    assert list(joint.events.values_list("action", flat=True)) == [
        "submit",
        "attach",
        "accept",
        "complete_leg",
        "complete_leg",
        "complete_leg",
        "deliver",
        "complete",
    ]


@override_settings(TONGBAN_NODE_CODE="510000")
def test_the_sichuan_demo_runs_on_a_sichuan_node(node_url: str) -> None:
    load_demo()
    lines, _err = _flows(node_url)
    assert [(line["mode"], line["node"], line["state"]) for line in lines] == [
        ("ONLINE", "510000", "completed"),
        ("PROXY", "510000", "completed"),
        ("JOINT", "510000", "completed"),
    ]
    assert {Case.objects.get(number=line["number"]).authority_department.key for line in lines} == {
        "cd-hrss"
    }


def test_a_case_that_goes_wrong_is_reported_and_the_others_still_run(
    node_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    load_demo()

    def bad_results(number: str, today: str) -> dict[str, tuple[str, dict[str, Any]]]:
        return {"request_transfer": ("reviewer", {"contact_letter_number": ""})}

    monkeypatch.setattr(demo_flows, "_leg_work", bad_results)
    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError) as failed:
        call_command("demo", "flows", "--url", node_url, stdout=out, stderr=err)
    message = str(failed.value)
    assert message.startswith("1 of 3 demo cases did not reach their final state: JOINT: ")
    assert re.search(r"POST /api/v1/cases/\d{43}/actions/complete_leg \(as reviewer\)", message)
    assert "answered 400, expected 200" in message
    assert '"code": "validation_failed"' in message
    assert "result.contact_letter_number" in message
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(line["mode"], line["state"]) for line in lines] == [
        ("ONLINE", "completed"),
        ("PROXY", "completed"),
        ("JOINT", "in_legs"),
    ]
    assert err.getvalue().startswith("JOINT: POST /api/v1/cases/")


def test_a_node_without_the_demo_accounts_is_a_clear_error(node_url: str) -> None:
    with pytest.raises(CommandError) as failed:
        _flows(node_url)
    message = str(failed.value)
    assert "POST /api/v1/accounts/login (as 13800000001) answered 401" in message
    assert "login_failed" in message
    assert "tongban init --demo" in message
    assert not Case.objects.exists()


@override_settings(TONGBAN_NODE_CODE="100000")
def test_a_node_without_a_demo_is_named(node_url: str) -> None:
    with pytest.raises(CommandError, match="is 100000; the demo flows exist for 500000, 510000"):
        _flows(node_url)


def test_an_unreachable_node_is_a_clear_error() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(CommandError, match=rf"GET /healthz .*127\.0\.0\.1:{port} did not answer"):
        _flows(f"http://127.0.0.1:{port}")


@pytest.mark.parametrize("url", ["ftp://127.0.0.1", "127.0.0.1:8000", ""])
def test_the_url_must_be_http(url: str) -> None:
    with pytest.raises(CommandError, match="is not an http"):
        _flows(url)


def test_the_scanned_pdf_is_well_formed() -> None:
    pdf = demo_flows.demo_pdf("tongban demo: identity (fictitious)")
    assert pdf.startswith(b"%PDF-1.4\n")
    assert pdf.endswith(b"%%EOF\n")
    startxref = int(pdf.rsplit(b"startxref\n", 1)[1].split(b"\n")[0])
    assert pdf[startxref:].startswith(b"xref\n0 6\n")
    table = pdf[startxref:].split(b"\n")[3:8]
    for number, row in enumerate(table, start=1):
        offset = int(row[:10])
        assert pdf[offset:].startswith(b"%d 0 obj\n" % number)
    assert b"(tongban demo: identity \\(fictitious\\)) Tj" in pdf
