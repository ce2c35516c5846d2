"""The window: receiving an application for an authority elsewhere (异地代收), then the identity
check and formal review before the case is forwarded."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.cases.conftest import PDF, form_for, scan_identity
from tests.factories import StaffFactory, make_id_number
from tests.portal.pages import html, inputs, text
from tests.workbench.conftest import desk, proxy_case, snapshot
from tongban.cases.models import Case, Material
from tongban.catalog.models import ServiceItem

pytestmark = pytest.mark.django_db

IDENTITY = {
    "identity.method": "id_card_reader",
    "identity.document": "resident_id_card",
    "identity.holder": "applicant",
}


def forward_url(case: Case) -> str:
    return f"/workbench/cases/{case.number}/forward/"


def field_errors(response: Any) -> list[str]:
    return [
        re.sub(r"<[^>]+>", "", e).strip()
        for e in re.findall(r'<p class="error">(.*?)</p>', html(response))
    ]


# Receiving ---------------------------------------------------------------------------------


def receive_form(person: Any, item: ServiceItem, **changes: str) -> dict[str, str]:
    data = {
        "item": item.code,
        "applicant_id_number": person.id_number,
        "authority_division": "510100",
        **{f"f.{key}": value for key, value in form_for(person).items()},
    }
    data.update(changes)
    return data


def test_only_window_clerks_receive(reviewer: Any, notary: ServiceItem) -> None:
    client = desk(reviewer)
    response = client.get("/workbench/receive/")
    assert response.status_code == 403
    assert "只有窗口人员可以收件。" in text(response)
    assert client.post("/workbench/receive/", {"item": notary.code}).status_code == 403
    assert 'href="/workbench/receive/"' not in html(client.get("/workbench/"))


def test_the_clerk_chooses_a_service_and_gets_its_form(
    window_clerk: Any, notary: ServiceItem
) -> None:
    client = desk(window_clerk)
    page = client.get("/workbench/receive/")
    assert page.status_code == 200
    assert f'<option value="{notary.code}">学历公证</option>' in html(page)
    assert "f.applicant_name" not in inputs(page)

    page = client.get("/workbench/receive/", {"item": notary.code})
    found = inputs(page)
    assert found["item"] == ("hidden", notary.code)
    assert found["applicant_id_number"] == ("text", "")
    assert found["f.applicant_name"] == ("text", "")  # not the clerk's own name
    assert found["f.phone"][0] == "tel"
    assert "成都市 · 成都市司法局" in text(page)


def test_a_person_the_platform_does_not_know_is_not_received(
    window_clerk: Any, citizen: Any, notary: ServiceItem
) -> None:
    unknown = make_id_number(987, place="510104")
    response = desk(window_clerk).post(
        "/workbench/receive/", receive_form(citizen, notary, applicant_id_number=unknown)
    )
    assert response.status_code == 400
    assert "没有使用该公民身份号码的注册人员。" in field_errors(response)
    assert inputs(response)["applicant_id_number"] == ("text", unknown)
    assert inputs(response)["f.statement"] == ("textarea", form_for(citizen)["statement"])
    assert not Case.objects.exists()


def test_an_invalid_form_is_not_received(
    window_clerk: Any, citizen: Any, notary: ServiceItem
) -> None:
    response = desk(window_clerk).post(
        "/workbench/receive/",
        receive_form(citizen, notary, **{"f.phone": "0123", "authority_division": "110000"}),
    )
    assert response.status_code == 400
    assert sorted(field_errors(response)) == [
        "联系电话的格式不正确。",
        "该事项在此行政区划没有实施清单。",
    ]
    assert not Case.objects.exists()


def test_receiving_opens_the_formal_review(
    window_clerk: Any, citizen: Any, notary: ServiceItem
) -> None:
    response = desk(window_clerk).post(
        "/workbench/receive/", receive_form(citizen, notary, **{"f.extra": "x"})
    )
    case = Case.objects.get()
    assert response.status_code == 302
    assert response["Location"] == forward_url(case)
    assert (case.mode, case.state, case.applicant_person) == ("PROXY", "received", citizen)
    assert case.received_by == window_clerk
    assert case.receiving_division_id == "500103"
    assert case.authority_department.key == "cd-justice"
    assert "extra" not in case.form_data
    # The applicant finds it among their cases.
    assert case.number in html(desk(citizen).get("/me/cases/"))


# Identity check and formal review ----------------------------------------------------------


@pytest.fixture
def received(window_clerk: Any, citizen: Any, notary: ServiceItem) -> Case:
    return proxy_case(window_clerk, citizen, notary)


def test_the_review_page_lists_the_scenarios_materials(window_clerk: Any, received: Case) -> None:
    page = desk(window_clerk).get(forward_url(received))
    assert page.status_code == 200
    assert "申请人有效身份证件" in text(page)
    found = inputs(page)
    assert found["identity.method"] == ("select", "")
    assert found["checklist.identity"][0] == "radio"
    # The case page sends the clerk here instead of offering a forward form.
    case_page = desk(window_clerk).get(f"/workbench/cases/{received.number}/")
    assert f'href="{forward_url(received)}"' in html(case_page)
    assert "/actions/forward/" not in html(case_page)


def test_an_incomplete_review_is_refused_with_every_error(
    window_clerk: Any, received: Case
) -> None:
    before = snapshot(received)
    client = desk(window_clerk)
    response = client.post(forward_url(received), {})
    assert response.status_code == 400
    errors = field_errors(response)
    assert len(errors) == 4  # method, document, whose, and the checklist row
    assert all(error.startswith("请从以下选项中选择一项") for error in errors)
    assert snapshot(received) == before

    # Ticked present, but not scanned in yet.
    response = client.post(forward_url(received), {**IDENTITY, "checklist.identity": "present"})
    assert response.status_code == 400
    assert len(field_errors(response)) == 1
    assert inputs(response)["identity.method"] == ("select", "id_card_reader")
    assert snapshot(received) == before

    # A required material cannot be missing.
    response = client.post(forward_url(received), {**IDENTITY, "checklist.identity": "missing"})
    assert response.status_code == 400
    assert snapshot(received) == before


def test_scanning_in_from_the_review_page_comes_back_to_it(
    window_clerk: Any, received: Case
) -> None:
    response = desk(window_clerk).post(
        f"/cases/{received.number}/materials/",
        {"spec_key": "identity", "file": SimpleUploadedFile("id.pdf", PDF), "back": "forward"},
    )
    assert response.status_code == 302
    assert response["Location"] == forward_url(received)
    assert Material.objects.get(case=received).uploaded_by == window_clerk.user


def test_forwarding_records_the_identity_check(window_clerk: Any, received: Case) -> None:
    scan_identity(window_clerk.user, received.number)
    client = desk(window_clerk)
    response = client.post(forward_url(received), {**IDENTITY, "checklist.identity": "present"})
    assert response.status_code == 302
    assert response["Location"] == f"/workbench/cases/{received.number}/"
    received.refresh_from_db()
    assert received.state == "submitted"
    event = received.events.get(action="forward")
    assert event.payload["identity"] == {
        "method": "id_card_reader",
        "document": "resident_id_card",
        "holder": "applicant",
    }
    page = client.get(f"/workbench/cases/{received.number}/")
    body = text(page)
    assert "已转交审批部门。" in body
    assert "窗口身份核验" in body
    assert "居民身份证阅读器读取" in body
    assert "申请人本人" in body
    assert window_clerk.user.username in body
    # The deciding department now has it waiting, and sees the same record.
    chengdu = StaffFactory(reviewer=True, department_key="cd-justice", jurisdiction_code="510100")
    page = desk(chengdu).get(f"/workbench/cases/{received.number}/")
    assert "居民身份证阅读器读取" in text(page)


def test_only_the_receiving_window_forwards(window_clerk: Any, received: Case) -> None:
    scan_identity(window_clerk.user, received.number)
    before = snapshot(received)
    chengdu = StaffFactory(reviewer=True, department_key="cd-justice", jurisdiction_code="510100")
    response = desk(chengdu).post(
        forward_url(received), {**IDENTITY, "checklist.identity": "present"}
    )
    assert response.status_code == 403
    assert 'role="alert"' in html(response)
    assert snapshot(received) == before
    elsewhere = StaffFactory(
        window_clerk=True, department_key="cd-government-services", jurisdiction_code="510100"
    )
    assert desk(elsewhere).get(forward_url(received)).status_code == 404


def test_control_characters_at_the_window_are_refused(
    window_clerk: Any, citizen: Any, notary: ServiceItem, received: Case
) -> None:
    client = desk(window_clerk)
    response = client.post(
        "/workbench/receive/", receive_form(citizen, notary, **{"f.applicant_name": "张\x00三"})
    )
    assert response.status_code == 400
    assert Case.objects.count() == 1  # only the one received before
    before = snapshot(received)
    response = client.post(forward_url(received), {**IDENTITY, "checklist.identity": "\x00"})
    assert response.status_code == 400
    assert snapshot(received) == before
