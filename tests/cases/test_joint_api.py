"""JOINT cases and the window's checklist over the API."""

import json
from typing import Any

import pytest

from tests.cases.conftest import form_for, scan_identity
from tests.conftest import login
from tests.factories import StaffFactory
from tongban.catalog.models import ServiceItem
from tongban.catalog.selectors import version_current

pytestmark = pytest.mark.django_db

APPROVE_MOVE = {"permit_number": "渝准迁2026-0001", "destination_address": "重庆市渝中区"}


def _post(client, path, body=None):
    return client.post(path, data=json.dumps(body or {}), content_type="application/json")


def _household_code() -> str:
    return ServiceItem.objects.get(version=version_current(), name="大中专学生毕业户口迁移").code


def _apply(api, citizen, **overrides: Any):
    login(api, citizen.user)
    body = {
        "item_code": _household_code(),
        "scenario_key": "general",
        "authority_division": "500000",
        "origin_division": "510100",
        "mode": "JOINT",
        "form_data": form_for(citizen),
        **overrides,
    }
    return _post(api, "/api/v1/cases", body)


def test_a_joint_case_over_the_api(api, citizen) -> None:
    reviewer = StaffFactory(reviewer=True, department_key="cq-public-security")
    approver = StaffFactory(approver=True, department_key="cq-public-security")
    origin = StaffFactory(
        reviewer=True, department_key="cd-public-security", jurisdiction_code="510100"
    )
    response = _apply(api, citizen)
    assert response.status_code == 201
    case = response.json()
    number = case["number"]
    assert case["mode"] == "JOINT"
    assert case["state_label"] == "已提交"
    assert case["authority_department"] == "重庆市公安局"
    assert case["allowed_actions"] == [{"action": "withdraw", "label": "撤回申请"}]
    assert [
        (leg["seq"], leg["key"], leg["place"], leg["place_label"], leg["division"], leg["node"])
        for leg in case["legs"]
    ] == [
        (1, "approve_move", "destination", "迁入地", "500000", "500000"),
        (2, "release", "origin", "迁出地", "510100", "510000"),
        (3, "register", "destination", "迁入地", "500000", "500000"),
    ]
    assert [leg["department"] for leg in case["legs"]] == [
        "重庆市公安局",
        "成都市公安局",
        "重庆市公安局",
    ]
    assert {leg["state"] for leg in case["legs"]} == {"waiting"}

    login(api, reviewer.user)
    accepted = _post(api, f"/api/v1/cases/{number}/actions/accept")
    assert accepted.status_code == 200
    assert accepted.json()["state"] == "in_legs"
    # (No due date asserted: 45 working days may reach a year the calendar does not know yet.)
    assert accepted.json()["clock"]["started_on"] is not None
    assert accepted.json()["allowed_actions"] == [{"action": "pause", "label": "进入特别程序"}]

    forbidden = _post(api, f"/api/v1/cases/{number}/actions/complete_leg", {"result": APPROVE_MOVE})
    assert forbidden.status_code == 403  # 准予迁入 takes an approver
    assert forbidden.json()["code"] == "forbidden"
    login(api, origin.user)
    assert api.get(f"/api/v1/cases/{number}").json()["allowed_actions"] == []
    forbidden = _post(api, f"/api/v1/cases/{number}/actions/complete_leg", {"result": APPROVE_MOVE})
    assert forbidden.status_code == 403  # the origin sees the case but this leg is not its

    login(api, approver.user)
    detail = api.get(f"/api/v1/cases/{number}").json()
    assert [a["action"] for a in detail["allowed_actions"]] == [
        "complete_leg",
        "extend",
        "refuse_leg",
    ]
    assert detail["allowed_actions"][0]["label"] == "完成本环节"
    assert detail["legs"][0]["state"] == "active"
    assert detail["legs"][0]["started_at"] is not None

    bad = _post(
        api,
        f"/api/v1/cases/{number}/actions/complete_leg",
        {"result": {"permit_number": 7, "approved": True}},
    )
    assert bad.status_code == 400
    body = bad.json()
    assert set(body) == {"code", "message", "fields"}
    assert body["code"] == "validation_failed"
    assert set(body["fields"]) == {
        "result.permit_number",
        "result.destination_address",
        "result.approved",
    }
    assert all(isinstance(text, str) and text for text in body["fields"].values())
    not_an_object = _post(api, f"/api/v1/cases/{number}/actions/complete_leg", {"result": "好"})
    assert not_an_object.status_code == 400
    assert set(not_an_object.json()["fields"]) == {"result"}
    assert api.get(f"/api/v1/cases/{number}").json()["legs"][0]["state"] == "active"

    done = _post(api, f"/api/v1/cases/{number}/actions/complete_leg", {"result": APPROVE_MOVE})
    assert done.status_code == 200
    legs = done.json()["legs"]
    assert [leg["state"] for leg in legs] == ["done", "active", "waiting"]
    assert legs[0]["output"] == APPROVE_MOVE
    assert legs[1]["input"] == APPROVE_MOVE
    assert done.json()["state"] == "in_legs"
    assert done.json()["allowed_actions"] == [{"action": "extend", "label": "延长期限"}]

    events = api.get(f"/api/v1/cases/{number}/events").json()
    assert events[-1]["action"] == "complete_leg"
    assert events[-1]["payload"]["leg"] == "approve_move"
    assert events[-1]["payload"]["next_leg"] == "release"

    login(api, origin.user)
    assert [a["action"] for a in api.get(f"/api/v1/cases/{number}").json()["allowed_actions"]] == [
        "complete_leg",
        "pause",
        "refuse_leg",
    ]
    anonymous = api.__class__()
    public = anonymous.get(f"/api/v1/public/cases/{number}", {"code": case["query_code"]}).json()
    assert public["timeline"][-1]["label"] == "完成本环节：迁入地审核，准予迁入"
    assert "重庆市渝中区" not in json.dumps(public, ensure_ascii=False)


def test_a_leg_action_on_a_case_not_in_legs_is_a_409_naming_the_possible_ones(api, citizen) -> None:
    number = _apply(api, citizen).json()["number"]
    login(api, StaffFactory(approver=True, department_key="cq-public-security").user)
    for action in ("complete_leg", "refuse_leg", "pause", "resume"):
        response = _post(api, f"/api/v1/cases/{number}/actions/{action}", {"result": APPROVE_MOVE})
        assert response.status_code == 409
        assert response.json()["code"] == "action_not_allowed"
        assert response.json()["fields"] == {
            "allowed_actions": "accept,reject_intake,request_supplement,withdraw"
        }
        assert "受理" in response.json()["message"]


def test_other_departments_of_the_origin_cannot_see_a_joint_case(api, citizen) -> None:
    number = _apply(api, citizen).json()["number"]
    hrss = StaffFactory(reviewer=True, department_key="cd-hrss", jurisdiction_code="510100")
    login(api, hrss.user)
    assert api.get(f"/api/v1/cases/{number}").status_code == 404
    assert _post(api, f"/api/v1/cases/{number}/actions/complete_leg").status_code == 404
    assert api.get(f"/api/v1/cases/{number}/checklist").status_code == 404
    police = StaffFactory(
        reviewer=True, department_key="cd-public-security", jurisdiction_code="510100"
    )
    login(api, police.user)
    assert [c["number"] for c in api.get("/api/v1/cases").json()["items"]] == [number]


@pytest.mark.parametrize(
    ("overrides", "fields"),
    [
        ({"origin_division": None}, {"origin_division"}),
        ({"origin_division": "500000"}, {"origin_division"}),
        ({"origin_division": "000000"}, {"origin_division"}),
        ({"mode": "TOGETHER"}, {"mode"}),
    ],
)
def test_bad_joint_submissions_are_400s(api, citizen, overrides, fields) -> None:
    response = _apply(api, citizen, **overrides)
    assert response.status_code == 400
    assert set(response.json()["fields"]) == fields
    assert api.get("/api/v1/cases").json()["count"] == 0


def test_the_windows_checklist_for_a_proxy_case(api, item, citizen) -> None:
    clerk = StaffFactory(
        window_clerk=True, department_key="cq-big-data", jurisdiction_code="500103"
    )
    login(api, clerk.user)
    response = _post(
        api,
        "/api/v1/cases",
        {
            "item_code": item.code,
            "scenario_key": "general",
            "authority_division": "510100",
            "mode": "PROXY",
            "applicant_id_number": citizen.id_number,
            "form_data": form_for(citizen),
        },
    )
    assert response.status_code == 201
    number = response.json()["number"]
    checklist = api.get(f"/api/v1/cases/{number}/checklist")
    assert checklist.status_code == 200
    body = checklist.json()
    assert body["materials"] == [
        {
            "key": "identity",
            "name": "申请人有效身份证件",
            "required": True,
            "original_required": False,
            "accepted_types": ["pdf", "jpg", "jpeg", "png", "ofd"],
            "uploaded": 0,
            "note": body["materials"][0]["note"],
            "license": "",  # no electronic licence stands for it
            "datashare": "",  # nor a data-sharing check
        }
    ]
    assert body["identity_methods"]["id_card_reader"] == "居民身份证阅读器读取"
    assert body["identity_documents"]["resident_id_card"] == "居民身份证"
    assert set(body["identity_holders"]) == {"applicant", "agent"}
    assert set(body["results"]) == {"present", "missing", "not_applicable"}

    refused = _post(
        api,
        f"/api/v1/cases/{number}/actions/forward",
        {
            "identity": {"method": "id_card_reader", "document": "resident_id_card"},
            "checklist": {"identity": "present"},
        },
    )
    assert refused.status_code == 400
    assert set(refused.json()["fields"]) == {"identity.holder", "checklist.identity"}

    scan_identity(clerk.user, number)
    assert api.get(f"/api/v1/cases/{number}/checklist").json()["materials"][0]["uploaded"] == 1
    forwarded = _post(
        api,
        f"/api/v1/cases/{number}/actions/forward",
        {
            "identity": {
                "method": "face_match",
                "document": "resident_id_card",
                "holder": "applicant",
            },
            "checklist": {"identity": "present"},
        },
    )
    assert forwarded.status_code == 200
    assert forwarded.json()["state"] == "submitted"
    event = api.get(f"/api/v1/cases/{number}/events").json()[-1]
    assert event["payload"]["identity"]["method"] == "face_match"
    assert event["payload"]["originals_to_post"] == []
