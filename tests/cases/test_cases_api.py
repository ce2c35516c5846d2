import json

import pytest

from tests.cases.conftest import form_for
from tests.conftest import login
from tests.factories import PersonFactory, StaffFactory

pytestmark = pytest.mark.django_db


def _post(client, path, body=None):
    return client.post(path, data=json.dumps(body or {}), content_type="application/json")


def test_apply_act_and_follow_a_case_over_the_api(api, item, citizen, cq_reviewer) -> None:
    login(api, citizen.user)
    response = _post(
        api,
        "/api/v1/cases",
        {
            "item_code": item.code,
            "scenario_key": "general",
            "authority_division": "500000",
            "form_data": form_for(citizen),
        },
    )
    assert response.status_code == 201
    case = response.json()
    number, code = case["number"], case["query_code"]
    assert case["state_label"] == "已提交"
    assert case["allowed_actions"] == [{"action": "withdraw", "label": "撤回申请"}]
    assert case["applicant"] == citizen.name_masked
    assert api.get("/api/v1/cases").json()["count"] == 1

    login(api, cq_reviewer.user)
    queue = api.get("/api/v1/cases", {"state": "submitted"}).json()
    assert [c["number"] for c in queue["items"]] == [number]
    response = _post(api, f"/api/v1/cases/{number}/actions/accept")
    assert response.status_code == 200
    assert response.json()["state"] == "accepted"
    assert response.json()["clock"]["legal_due"] is not None
    again = _post(api, f"/api/v1/cases/{number}/actions/accept")
    assert again.status_code == 409
    assert again.json()["code"] == "action_not_allowed"
    assert "开始审查" in again.json()["message"]  # the labels people know, not the names
    assert again.json()["fields"] == {"allowed_actions": "begin_review,extend,withdraw"}

    events = api.get(f"/api/v1/cases/{number}/events").json()
    assert [e["action"] for e in events] == ["submit", "accept"]
    assert events[1]["role"] == "reviewer"

    anonymous = api.__class__()
    public = anonymous.get(f"/api/v1/public/cases/{number}", {"code": code}).json()
    assert public["state"] == "accepted"
    assert citizen.name not in json.dumps(public, ensure_ascii=False)
    assert anonymous.get(f"/api/v1/public/cases/{number}", {"code": "NOPE"}).status_code == 404


def test_other_people_cannot_see_or_touch_a_case(api, item, citizen) -> None:
    login(api, citizen.user)
    number = _post(
        api,
        "/api/v1/cases",
        {
            "item_code": item.code,
            "scenario_key": "general",
            "authority_division": "500000",
            "form_data": form_for(citizen),
        },
    ).json()["number"]
    for outsider in (
        PersonFactory(with_login=True).user,
        StaffFactory(reviewer=True, department_key="cd-justice", jurisdiction_code="510100").user,
    ):
        login(api, outsider)
        assert api.get(f"/api/v1/cases/{number}").status_code == 404
        assert _post(api, f"/api/v1/cases/{number}/actions/withdraw").status_code == 404
        assert api.get("/api/v1/cases").json()["count"] == 0


def test_bad_submissions_are_400s_naming_the_field(api, item, citizen) -> None:
    login(api, citizen.user)
    response = _post(
        api,
        "/api/v1/cases",
        {
            "item_code": item.code,
            "scenario_key": "nope",
            "authority_division": "500000",
            "form_data": {},
        },
    )
    assert response.status_code == 400
    assert "scenario_key" in response.json()["fields"]
    response = _post(
        api,
        "/api/v1/cases",
        {
            "item_code": "000000000000",
            "scenario_key": "general",
            "authority_division": "500000",
            "form_data": {},
        },
    )
    assert response.status_code == 404
    bad_body = api.post(
        f"/api/v1/cases/{'9' * 43}/actions/accept", data="[1]", content_type="application/json"
    )
    assert bad_body.status_code == 404


def test_anonymous_callers_are_401(api) -> None:
    assert api.get("/api/v1/cases").status_code == 401
    assert _post(api, "/api/v1/cases", {}).status_code == 401


def test_a_national_supervisor_sees_cases_everywhere(api, item, citizen) -> None:
    """The national jurisdiction (100000) contains every division: its code prefix is empty."""
    login(api, citizen.user)
    number = _post(
        api,
        "/api/v1/cases",
        {
            "item_code": item.code,
            "scenario_key": "general",
            "authority_division": "500000",
            "form_data": form_for(citizen),
        },
    ).json()["number"]
    national = StaffFactory(
        supervisor=True, department_key="cn-general-office", jurisdiction_code="100000"
    )
    login(api, national.user)
    assert [c["number"] for c in api.get("/api/v1/cases").json()["items"]] == [number]


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_non_finite_numbers_in_action_details_are_a_400(api, item, citizen, number) -> None:
    """JSON has no NaN or Infinity (Python's parser accepts them; the databases would not)."""
    login(api, citizen.user)
    created = _post(
        api,
        "/api/v1/cases",
        {
            "item_code": item.code,
            "scenario_key": "general",
            "authority_division": "500000",
            "form_data": form_for(citizen),
        },
    ).json()
    response = api.post(
        f"/api/v1/cases/{created['number']}/actions/withdraw",
        data='{"note": ' + number + "}",
        content_type="application/json",
    )
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_body"
    assert api.get(f"/api/v1/cases/{created['number']}").json()["state"] == "submitted"


def test_window_intake_reports_an_unknown_id_number_with_the_form_errors(api, item) -> None:
    clerk = StaffFactory(window_clerk=True, department_key="cq-big-data")
    login(api, clerk.user)
    response = _post(
        api,
        "/api/v1/cases",
        {
            "item_code": item.code,
            "scenario_key": "general",
            "authority_division": "500000",
            "form_data": {"statement": "x"},
            "mode": "PROXY",
            "applicant_id_number": "110101199003074578",
        },
    )
    assert response.status_code == 400
    fields = response.json()["fields"]
    assert "applicant_id_number" in fields
    assert "form_data.applicant_name" in fields


def test_a_citizen_cannot_probe_registrations_through_window_intake(api, item, citizen) -> None:
    login(api, citizen.user)
    response = _post(
        api,
        "/api/v1/cases",
        {
            "item_code": item.code,
            "scenario_key": "general",
            "authority_division": "500000",
            "form_data": form_for(citizen),
            "mode": "PROXY",
            "applicant_id_number": citizen.id_number,
        },
    )
    assert response.status_code == 403
    assert "applicant_id_number" not in response.json()["fields"]
