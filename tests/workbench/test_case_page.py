"""One case in the workbench: exactly the actions this staff member may take, as forms, and
what a refused action leaves behind (nothing)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.utils import timezone

from tests.cases.conftest import form_for
from tests.factories import PersonFactory, StaffFactory
from tests.portal.pages import html, inputs, text
from tests.workbench.conftest import (
    HOUSEHOLD,
    act,
    desk,
    item_named,
    online_case,
    snapshot,
)
from tongban.cases import selectors, services
from tongban.cases.models import Case
from tongban.catalog.models import ServiceItem

pytestmark = pytest.mark.django_db
ACTION_FORM = re.compile(
    r'<form method="post" action="/workbench/cases/[0-9A-Z]+/actions/([a-z_]+)/"'
)

APPROVE_MOVE = {"permit_number": "渝准迁2026-0001", "destination_address": "重庆市渝中区解放碑街道"}


def action_forms(response: Any) -> list[str]:
    """The actions the page offers as forms, in page order."""
    assert response.status_code in (200, 400, 403, 404, 409), response.status_code
    return ACTION_FORM.findall(html(response))


def alert(response: Any) -> str:
    """The error above the action forms (for an action that has no form on the page)."""
    found = re.search(
        r'<h2>可执行的操作</h2>\s*<p class="error" role="alert">(.*?)</p>', html(response)
    )
    return found.group(1) if found else ""


def page_of(case: Case) -> str:
    return f"/workbench/cases/{case.number}/"


def post(client: Any, case: Case, action: str, data: dict[str, Any] | None = None) -> Any:
    return client.post(f"{page_of(case)}actions/{action}/", data or {})


# Which forms -----------------------------------------------------------------------------------


def test_the_reviewer_gets_the_intake_decisions_of_a_submitted_case(
    citizen: Any, notary: ServiceItem, reviewer: Any
) -> None:
    case = online_case(citizen, notary)
    page = desk(reviewer).get(page_of(case))
    assert page.status_code == 200
    assert action_forms(page) == ["accept", "reject_intake", "request_supplement"]
    body = text(page)
    for label in ("受理", "不予受理", "一次性告知补正"):
        assert f"<summary>{label}</summary>" in html(page)
    assert "撤回申请" not in body  # the applicant's, not staff's
    # The application, personal identifiers masked.
    assert citizen.name in body
    assert citizen.id_number not in body
    assert citizen.phone not in body


def test_the_approver_decides_only_once_the_case_is_in_review(
    citizen: Any, notary: ServiceItem, reviewer: Any, approver: Any
) -> None:
    case = online_case(citizen, notary)
    client = desk(approver)
    assert action_forms(client.get(page_of(case))) == ["accept", "reject_intake"]
    act(reviewer, case, "accept")
    assert action_forms(client.get(page_of(case))) == ["extend"]
    act(reviewer, case, "begin_review")
    page = client.get(page_of(case))
    assert action_forms(page) == ["approve", "deny", "extend"]
    assert "<summary>准予许可</summary>" in html(page)
    assert action_forms(desk(reviewer).get(page_of(case))) == ["pause"]


def test_a_closed_case_offers_nothing(citizen: Any, notary: ServiceItem, reviewer: Any) -> None:
    case = online_case(citizen, notary)
    act(citizen, case, "withdraw")
    page = desk(reviewer).get(page_of(case))
    assert action_forms(page) == []
    assert "已撤回" in text(page)


def test_other_departments_do_not_see_the_case(
    citizen: Any, notary: ServiceItem, hrss_reviewer: Any
) -> None:
    case = online_case(citizen, notary)
    before = snapshot(case)
    chengdu = StaffFactory(reviewer=True, department_key="cd-justice", jurisdiction_code="510100")
    for staff in (hrss_reviewer, chengdu):
        client = desk(staff)
        assert client.get(page_of(case)).status_code == 404
        assert post(client, case, "accept").status_code == 404
        assert client.get(f"{page_of(case)}forward/").status_code == 404
        assert snapshot(case) == before


# Acting ----------------------------------------------------------------------------------------


def test_accepting_from_the_form(citizen: Any, notary: ServiceItem, reviewer: Any) -> None:
    case = online_case(citizen, notary)
    client = desk(reviewer)
    response = post(client, case, "accept", {"note": "材料齐全"})
    assert response.status_code == 302
    assert response["Location"] == page_of(case)
    case.refresh_from_db()
    assert case.state == "accepted"
    assert case.assignee == reviewer
    assert case.events.last().payload["note"] == "材料齐全"
    page = client.get(page_of(case))
    assert "受理：已完成。" in text(page)
    assert "受理通知书" in text(page)


def test_missing_details_are_shown_on_the_form_and_nothing_changes(
    citizen: Any, notary: ServiceItem, reviewer: Any
) -> None:
    case = online_case(citizen, notary)
    before = snapshot(case)
    response = post(desk(reviewer), case, "reject_intake", {"reasons": "不属于本机关职权范围"})
    assert response.status_code == 400
    assert snapshot(case) == before
    body = html(response)
    # The form that failed is open, with what was typed and the error beside the empty field.
    failed = re.search(r'<details class="action-form" open>(.*?)</details>', body, re.S)
    assert failed is not None
    assert "/actions/reject_intake/" in failed.group(1)
    assert "不属于本机关职权范围" in failed.group(1)
    assert re.search(r'has-error">\s*<label for="reject_intake-apply_instead"', failed.group(1))
    assert "此项为必填项。" in failed.group(1)
    assert body.count(" open>") == 1


def test_a_pause_needs_a_known_kind(citizen: Any, notary: ServiceItem, reviewer: Any) -> None:
    case = online_case(citizen, notary)
    act(reviewer, case, "accept")
    act(reviewer, case, "begin_review")
    before = snapshot(case)
    client = desk(reviewer)
    response = post(client, case, "pause", {"kind": "holiday", "reason": "专家评审"})
    assert response.status_code == 400
    assert snapshot(case) == before
    assert inputs(response)["kind"] == ("select", "")
    assert inputs(response)["reason"] == ("text", "专家评审")
    assert (
        post(client, case, "pause", {"kind": "expert_review", "reason": "专家评审"}).status_code
        == 302
    )
    case.refresh_from_db()
    assert case.state == "paused"


def test_the_supplement_notice_lists_ticked_and_typed_materials(
    citizen: Any, notary: ServiceItem, reviewer: Any
) -> None:
    case = online_case(citizen, notary)
    client = desk(reviewer)
    page = client.get(page_of(case))
    assert inputs(page)["missing.pick"] == ("checkbox", "申请人有效身份证件")
    response = post(
        client,
        case,
        "request_supplement",
        {
            "missing.pick": ["申请人有效身份证件"],
            "missing": "学历证书原件扫描件\r\n\r\n  申请人有效身份证件 \n学位证书",
        },
    )
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.state == "awaiting_supplement"
    event = case.events.get(action="request_supplement")
    assert event.payload["missing"] == ["申请人有效身份证件", "学历证书原件扫描件", "学位证书"]
    page = client.get(page_of(case))
    assert "申请人有效身份证件、学历证书原件扫描件、学位证书" in text(page)


def test_a_supplement_notice_without_anything_missing_is_refused(
    citizen: Any, notary: ServiceItem, reviewer: Any
) -> None:
    case = online_case(citizen, notary)
    before = snapshot(case)
    response = post(desk(reviewer), case, "request_supplement", {"missing": " \n "})
    assert response.status_code == 400
    assert "此项为必填项。" in text(response)
    assert snapshot(case) == before


def test_an_action_without_a_form_is_refused_with_its_reason_on_top(
    citizen: Any, notary: ServiceItem, reviewer: Any, approver: Any
) -> None:
    case = online_case(citizen, notary)
    before = snapshot(case)
    for staff, action, status in (
        (reviewer, "approve", 403),  # not an approver
        (approver, "approve", 409),  # not in review yet
        (reviewer, "withdraw", 403),  # the applicant's
        (reviewer, "no_such_action", 404),
    ):
        response = post(desk(staff), case, action)
        assert response.status_code == status, action
        assert snapshot(case) == before
        # No form on the page offers this action, so the reason stands above the forms.
        assert alert(response), action
        # and the forms this staff member does have stay as they were.
        assert action_forms(response) == (
            ["accept", "reject_intake"]
            if staff == approver
            else ["accept", "reject_intake", "request_supplement"]
        )
    assert alert(post(desk(reviewer), case, "approve")) == "您无权执行此操作。"


def test_a_double_submit_says_the_action_is_done_already(
    citizen: Any, notary: ServiceItem, reviewer: Any
) -> None:
    case = online_case(citizen, notary)
    client = desk(reviewer)
    assert post(client, case, "accept").status_code == 302
    after = snapshot(case)
    response = post(client, case, "accept")
    assert response.status_code == 409
    assert snapshot(case) == after
    assert alert(response).startswith("当前状态下不能执行此操作。")
    assert action_forms(response) == ["begin_review"]  # the page as it is now


def test_a_get_does_not_act(citizen: Any, notary: ServiceItem, reviewer: Any) -> None:
    case = online_case(citizen, notary)
    assert desk(reviewer).get(f"{page_of(case)}actions/accept/").status_code == 405
    case.refresh_from_db()
    assert case.state == "submitted"


# A JOINT case: the current leg's result as a form ---------------------------------------------


@pytest.fixture
def household_case(db: None) -> Case:
    person = PersonFactory(with_login=True)
    return services.case_submit(
        actor=person.user,
        item_code=item_named(HOUSEHOLD).code,
        scenario_key="general",
        authority_division="500000",
        origin_division="510100",
        form_data=form_for(person),
        mode="JOINT",
    )


def test_completing_a_leg_from_the_form_with_its_result(household_case: Case) -> None:
    police_reviewer = StaffFactory(reviewer=True, department_key="cq-public-security")
    police_approver = StaffFactory(approver=True, department_key="cq-public-security")
    act(police_reviewer, household_case, "accept")
    # The first leg (迁入地审核) is the approvers' only.
    assert action_forms(desk(police_reviewer).get(page_of(household_case))) == ["pause"]
    client = desk(police_approver)
    page = client.get(page_of(household_case))
    assert action_forms(page) == ["complete_leg", "extend", "refuse_leg"]
    found = inputs(page)
    assert found["result.permit_number"] == ("text", "")
    assert found["result.destination_address"] == ("text", "")
    assert "准予迁入证明编号" in text(page)
    assert "当前环节：迁入地审核，准予迁入（迁入地）" in text(page)

    before = snapshot(household_case)
    response = post(
        client,
        household_case,
        "complete_leg",
        {
            "result.permit_number": "",
            "result.destination_address": APPROVE_MOVE["destination_address"],
            "result.extra": "x",
        },
    )
    assert response.status_code == 400
    assert snapshot(household_case) == before
    assert re.search(r'has-error">\s*<label for="id-result.permit_number"', html(response))
    assert inputs(response)["result.destination_address"] == (
        "text",
        APPROVE_MOVE["destination_address"],
    )

    response = post(
        client,
        household_case,
        "complete_leg",
        {f"result.{key}": value for key, value in APPROVE_MOVE.items()} | {"result.extra": "x"},
    )
    assert response.status_code == 302
    household_case.refresh_from_db()
    assert household_case.state == "in_legs"
    legs = selectors.case_legs(household_case)
    assert (legs[0].key, legs[0].state, legs[0].output) == ("approve_move", "done", APPROVE_MOVE)
    assert (legs[1].key, legs[1].state) == ("release", "active")

    # The next leg is Chengdu's: the Chongqing approver has nothing left to do on it.
    assert "complete_leg" not in action_forms(client.get(page_of(household_case)))
    chengdu = StaffFactory(
        reviewer=True, department_key="cd-public-security", jurisdiction_code="510100"
    )
    page = desk(chengdu).get(page_of(household_case))
    assert "complete_leg" in action_forms(page)
    assert inputs(page)["result.released_on"] == ("date", "")
    # What the first leg recorded is handed over, under the fields' titles.
    handed = re.search(r"<h3>移交给当前环节的数据</h3>\s*<dl[^>]*>(.*?)</dl>", html(page), re.S)
    assert handed is not None
    assert re.findall(r"<dt>(.*?)</dt><dd>(.*?)</dd>", handed.group(1)) == [
        ("准予迁入证明编号", APPROVE_MOVE["permit_number"]),
        ("迁入地址", APPROVE_MOVE["destination_address"]),
    ]


def test_numbers_in_a_leg_result_are_typed_and_checked() -> None:
    """养老保险关系转移接续: the origin certifies months (integer) and amounts (numbers)."""
    person = PersonFactory(with_login=True)
    case = services.case_submit(
        actor=person.user,
        item_code=item_named("企业职工基本养老保险关系转移接续").code,
        scenario_key="general",
        authority_division="500000",
        origin_division="510100",
        form_data=form_for(person),
        mode="JOINT",
    )
    destination = StaffFactory(reviewer=True, department_key="cq-hrss")
    act(destination, case, "accept")
    act(destination, case, "complete_leg", {"result": {"contact_letter_number": "渝社保2026-7"}})
    origin = desk(StaffFactory(reviewer=True, department_key="cd-hrss", jurisdiction_code="510100"))
    page = origin.get(page_of(case))
    assert re.search(
        r'name="result.contribution_months" type="number" value="" step="1" min="0" max="1200"',
        html(page),
    )
    assert re.search(
        r'name="result.individual_account" type="number" value="" step="any" min="0"', html(page)
    )

    before = snapshot(case)
    valid = {
        "result.certificate_number": "川社保凭2026-1",
        "result.contribution_months": "120",
        "result.individual_account": "35210.50",
        "result.pooled_fund": "0",
    }
    huge = "9" * 400  # as a float, infinity: JSON (and PostgreSQL) cannot store it
    response = post(origin, case, "complete_leg", {**valid, "result.individual_account": huge})
    assert response.status_code == 400
    assert snapshot(case) == before
    assert "该值的类型不正确。" in text(response)

    response = post(
        origin,
        case,
        "complete_leg",
        {
            "result.certificate_number": "川社保凭2026-1",
            "result.contribution_months": "十二",
            "result.individual_account": huge,
            "result.pooled_fund": "-1",
        },
    )
    assert response.status_code == 400
    assert snapshot(case) == before
    for name in ("contribution_months", "individual_account", "pooled_fund"):
        assert re.search(rf'has-error">\s*<label for="id-result.{name}"', html(response)), name
    assert inputs(response)["result.individual_account"] == ("number", huge)

    response = post(origin, case, "complete_leg", valid)
    assert response.status_code == 302
    done = selectors.case_legs(case)[1]
    assert done.output == {
        "certificate_number": "川社保凭2026-1",
        "contribution_months": 120,
        "individual_account": 35210.5,
        "pooled_fund": 0,
    }


def test_control_characters_in_an_action_are_refused(
    citizen: Any, notary: ServiceItem, reviewer: Any
) -> None:
    case = online_case(citizen, notary)
    before = snapshot(case)
    response = post(
        desk(reviewer), case, "reject_intake", {"reasons": "不\x00符合", "apply_instead": "成都"}
    )
    assert response.status_code == 400
    assert snapshot(case) == before


# Electronic licences handed in instead of paper ----------------------------------------------


def test_the_deciding_department_sees_a_licence_verified_with_its_issuer_and_state(
    citizen: Any,
) -> None:
    from tests.cases.license_support import (
        CARD_SPEC,
        card_exchange,
        deciders,
        disability_card,
    )
    from tongban.licenses import services as licenses

    staff = deciders("cq-disabled-persons")
    card = disability_card(citizen, staff)
    case = card_exchange(citizen.user, citizen)
    material = services.material_from_license(
        actor=citizen.user, number=case.number, spec_key=CARD_SPEC, identifier=card.identifier
    )
    client = desk(staff["reviewer"])
    page = text(client.get(page_of(case)))
    verified = timezone.localtime(material.verified_at).strftime("%Y-%m-%d %H:%M")
    assert (
        f"电子证照 · 已核验 残疾人证 {card.number}，重庆市残疾人联合会 签发，{verified} 已核验"
        in page
    )
    assert f"证照标识 {card.identifier} · 当前状态： 有效" in page

    licenses.license_revoke(
        actor=staff["approver"].user, identifier=card.identifier, reason="证件信息有误"
    )
    assert f"证照标识 {card.identifier} · 当前状态： 已吊销" in text(client.get(page_of(case)))


def test_the_window_picks_the_applicants_licence_on_the_review_page(
    citizen: Any, window_clerk: Any
) -> None:
    from tests.cases.conftest import scan_identity
    from tests.cases.license_support import CARD_SPEC, card_exchange, disability_card

    card = disability_card(citizen)
    case = card_exchange(
        window_clerk.user, citizen, mode="PROXY", applicant_id_number=citizen.id_number
    )
    client = desk(window_clerk)
    review = f"/workbench/cases/{case.number}/forward/"
    page = client.get(review)
    assert "使用电子证照（免提交）" in text(page)
    response = client.post(
        f"/cases/{case.number}/materials/",
        {
            "hand_in": "license",
            "spec_key": CARD_SPEC,
            "license": card.identifier,
            "back": "forward",
        },
    )
    assert response["Location"] == review
    scan_identity(window_clerk.user, case.number)
    page = client.get(review)
    assert f"电子证照 残疾人证 {card.identifier}，已核验（重庆市残疾人联合会，" in text(page)
    # What a licence stands for is present already: the clerk only confirms the identity.
    assert f'name="checklist.{CARD_SPEC}" value="present" checked' in html(page)
    response = client.post(
        review,
        {
            "identity.method": "id_card_reader",
            "identity.document": "resident_id_card",
            "identity.holder": "applicant",
            "checklist.identity": "present",
            f"checklist.{CARD_SPEC}": "present",
        },
    )
    assert response.status_code == 302
    assert case.events.get(action="forward").payload["originals_to_post"] == []
