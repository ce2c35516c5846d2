"""The applicant's case pages: apply, my cases, one case with its actions and no-JS upload."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from tests.cases.conftest import PDF, form_for
from tests.conftest import login
from tests.factories import EnterpriseFactory, PersonFactory, StaffFactory
from tests.portal.pages import form_actions, html, inputs, text
from tongban.cases import services
from tongban.cases.models import Case, Material
from tongban.catalog.models import ServiceItem

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
HOUSEHOLD = "大中专学生毕业户口迁移"


@pytest.fixture
def notary(item_named: Callable[[str], ServiceItem]) -> ServiceItem:
    """学历公证: ONLINE (and PROXY), decided by 重庆市司法局 at 500000."""
    return item_named("学历公证")


@pytest.fixture
def household(item_named: Callable[[str], ServiceItem]) -> ServiceItem:
    """JOINT only: the destination applies, the origin releases the registration."""
    return item_named(HOUSEHOLD)


@pytest.fixture
def citizen(db: None) -> Any:
    return PersonFactory(with_login=True)


@pytest.fixture
def browser(citizen: Any) -> Client:
    client = Client()
    client.force_login(citizen.user)
    return client


@pytest.fixture
def reviewer(db: None) -> Any:
    return StaffFactory(reviewer=True, department_key="cq-justice")


def posted_form(person: Any, **changes: str) -> dict[str, str]:
    """What the apply page posts for 学历公证, ONLINE at 500000."""
    data = {
        "scenario": "general",
        "mode": "ONLINE",
        "authority_division": "500000",
        **{f"f.{key}": value for key, value in form_for(person).items()},
    }
    data.update(changes)
    return data


def submitted(person: Any, item: ServiceItem) -> Case:
    return services.case_submit(
        actor=person.user,
        item_code=item.code,
        scenario_key="general",
        authority_division="500000",
        form_data=form_for(person),
    )


def case_url(case: Case) -> str:
    return f"/cases/{case.number}/"


# Applying ------------------------------------------------------------------------------------


def test_anonymous_visitors_are_sent_to_log_in(notary: ServiceItem) -> None:
    for url in (f"/items/{notary.code}/apply/", "/me/cases/", "/cases/X/"):
        response = Client().get(url)
        assert response.status_code == 302
        assert response["Location"] == f"/login/?next={url}"


def test_the_apply_page_draws_the_scenarios_form_prefilled(
    browser: Client, citizen: Any, notary: ServiceItem
) -> None:
    response = browser.get(f"/items/{notary.code}/apply/")
    assert response.status_code == 200
    found = inputs(response)
    assert found["f.applicant_name"] == ("text", citizen.name)
    assert found["f.id_number"] == ("text", citizen.id_number)
    assert found["f.phone"] == ("tel", citizen.phone)
    assert found["f.statement"] == ("textarea", "")
    assert found["scenario"] == ("hidden", "general")
    assert found["mode"] == ("hidden", "ONLINE")  # 学历公证 is not handled jointly
    body = html(response)
    assert 'pattern="1[3-9][0-9]{9}"' in body
    assert "申请人姓名" in body
    assert "重庆市 · 重庆市司法局" in body


def test_filing_an_application_opens_its_case_page(
    browser: Client, citizen: Any, notary: ServiceItem
) -> None:
    response = browser.post(f"/items/{notary.code}/apply/", posted_form(citizen))
    case = Case.objects.get(applicant_person=citizen)
    assert response.status_code == 302
    assert response["Location"] == case_url(case)
    assert (case.item, case.mode, case.state) == (notary, "ONLINE", "submitted")
    assert case.authority_department.key == "cq-justice"

    page = browser.get(case_url(case))
    assert page.status_code == 200
    assert f"申请已提交，办件编号 {case.number}" in text(page)
    assert case.query_code in html(page)


def test_names_that_are_not_in_the_form_never_reach_the_case(
    browser: Client, citizen: Any, notary: ServiceItem
) -> None:
    data = posted_form(citizen, **{"f.is_verified": "true", "f.": "x", "state": "approved"})
    assert browser.post(f"/items/{notary.code}/apply/", data).status_code == 302
    case = Case.objects.get(applicant_person=citizen)
    assert set(case.form_data) == {"applicant_name", "id_number", "phone", "statement"}
    assert case.state == "submitted"


def test_an_invalid_field_is_shown_beside_it_and_nothing_is_filed(
    browser: Client, citizen: Any, notary: ServiceItem
) -> None:
    response = browser.post(
        f"/items/{notary.code}/apply/",
        posted_form(citizen, **{"f.phone": "12345", "f.statement": "  "}),
    )
    assert response.status_code == 400
    assert not Case.objects.exists()
    body = text(response)
    assert "联系电话的格式不正确。" in body
    assert "此项为必填项。" in body  # the blank statement
    # What was typed comes back, so the applicant fixes only the field in error.
    found = inputs(response)
    assert found["f.phone"] == ("tel", "12345")
    assert found["f.applicant_name"] == ("text", citizen.name)


def test_a_place_that_does_not_handle_the_item_is_refused(
    browser: Client, citizen: Any, notary: ServiceItem
) -> None:
    response = browser.post(
        f"/items/{notary.code}/apply/", posted_form(citizen, authority_division="110000")
    )
    assert response.status_code == 400
    assert not Case.objects.exists()


def test_a_joint_application_names_the_other_place(
    browser: Client, citizen: Any, household: ServiceItem
) -> None:
    url = f"/items/{household.code}/apply/"
    page = browser.get(url)
    assert page.status_code == 200
    assert inputs(page)["mode"] == ("hidden", "JOINT")
    assert 'name="origin_division"' in html(page)
    assert "迁出地" in text(page)

    data = posted_form(citizen, mode="JOINT")
    missing = browser.post(url, data)
    assert missing.status_code == 400
    assert "此项为必填项。" in text(missing)
    same = browser.post(url, {**data, "origin_division": "500000"})
    assert same.status_code == 400
    assert "联办的两地不能相同。" in text(same)
    assert not Case.objects.exists()

    response = browser.post(url, {**data, "origin_division": "510100"})
    case = Case.objects.get(applicant_person=citizen)
    assert response.status_code == 302
    assert (case.mode, case.authority_department.key) == ("JOINT", "cq-public-security")
    assert list(case.legs.order_by("seq").values_list("division_id", flat=True)) == [
        "500000",
        "510100",
        "500000",
    ]
    page = browser.get(case_url(case))
    assert "迁出地办理迁出" in text(page)  # the legs, in order


def test_applying_for_an_enterprise_i_represent(
    browser: Client, citizen: Any, notary: ServiceItem
) -> None:
    mine = EnterpriseFactory(legal_representative=citizen)
    theirs = EnterpriseFactory()
    page = browser.get(f"/items/{notary.code}/apply/")
    assert f'<option value="enterprise:{mine.uscc}">{mine.name}</option>' in html(page)
    assert theirs.uscc not in html(page)

    refused = browser.post(
        f"/items/{notary.code}/apply/", posted_form(citizen, applicant=f"enterprise:{theirs.uscc}")
    )
    assert refused.status_code == 403
    assert not Case.objects.exists()

    response = browser.post(
        f"/items/{notary.code}/apply/", posted_form(citizen, applicant=f"enterprise:{mine.uscc}")
    )
    case = Case.objects.get()
    assert response["Location"] == case_url(case)
    assert (case.applicant_enterprise, case.agent, case.applicant_person) == (mine, citizen, None)
    assert case.number in html(browser.get("/me/cases/"))


def test_staff_apply_in_the_workbench(notary: ServiceItem) -> None:
    staff = StaffFactory(window_clerk=True)
    client = Client()
    login(client, staff.user)
    response = client.get(f"/items/{notary.code}/apply/")
    assert response.status_code == 403
    assert "请使用个人账号申请；工作人员请使用工作台。" in text(response)
    assert client.post(f"/items/{notary.code}/apply/", {}).status_code == 403
    assert not Case.objects.exists()


def test_an_unknown_item_has_no_apply_page(browser: Client) -> None:
    assert browser.get("/items/NO-SUCH-ITEM/apply/").status_code == 404


# My cases and one case ------------------------------------------------------------------------


def test_my_cases_lists_only_my_own(browser: Client, citizen: Any, notary: ServiceItem) -> None:
    mine = submitted(citizen, notary)
    theirs = submitted(PersonFactory(with_login=True), notary)
    response = browser.get("/me/cases/")
    assert response.status_code == 200
    body = html(response)
    assert case_url(mine) in body
    assert theirs.number not in body
    assert "已提交" in text(response)

    nobody = Client()
    nobody.force_login(PersonFactory(with_login=True).user)
    empty = nobody.get("/me/cases/")
    assert empty.status_code == 200
    assert mine.number not in html(empty)
    assert theirs.number not in html(empty)


def test_someone_elses_case_is_not_found(browser: Client, notary: ServiceItem) -> None:
    theirs = submitted(PersonFactory(with_login=True), notary)
    assert browser.get(case_url(theirs)).status_code == 404
    assert browser.post(f"{case_url(theirs)}actions/withdraw/").status_code == 404
    assert (
        browser.post(
            f"{case_url(theirs)}materials/",
            {"spec_key": "identity", "file": SimpleUploadedFile("id.pdf", PDF)},
        ).status_code
        == 404
    )
    theirs.refresh_from_db()
    assert theirs.state == "submitted"
    assert not Material.objects.exists()


def test_the_applicant_withdraws(browser: Client, citizen: Any, notary: ServiceItem) -> None:
    case = submitted(citizen, notary)
    page = browser.get(case_url(case))
    assert [url for url in form_actions(page) if "/actions/" in url] == [
        f"{case_url(case)}actions/withdraw/"
    ]
    assert "撤回申请" in text(page)

    response = browser.post(f"{case_url(case)}actions/withdraw/")
    assert response.status_code == 302
    assert response["Location"] == case_url(case)
    case.refresh_from_db()
    assert case.state == "withdrawn"
    page = browser.get(case_url(case))
    assert "已撤回" in text(page)
    assert "已完成。" in text(page)
    assert "actions/withdraw/" not in html(page)  # nothing more to do


def test_staff_actions_cannot_be_posted_from_the_portal(
    browser: Client, citizen: Any, notary: ServiceItem, reviewer: Any
) -> None:
    case = submitted(citizen, notary)
    events = case.events.count()
    for action in ("accept", "forward", "approve", "no-such-action"):
        response = browser.post(f"{case_url(case)}actions/{action}/")
        assert response.status_code == 403, action
        assert "工作人员请在工作台办理。" in text(response)
    # Not even a reviewer of the deciding department acts from here.
    staff = Client()
    login(staff, reviewer.user)
    assert staff.post(f"{case_url(case)}actions/accept/").status_code == 403
    case.refresh_from_db()
    assert case.state == "submitted"
    assert case.events.count() == events


def test_a_get_does_not_act(browser: Client, citizen: Any, notary: ServiceItem) -> None:
    case = submitted(citizen, notary)
    assert browser.get(f"{case_url(case)}actions/withdraw/").status_code == 405
    case.refresh_from_db()
    assert case.state == "submitted"


def test_an_action_the_state_does_not_allow_is_refused(
    browser: Client, citizen: Any, notary: ServiceItem
) -> None:
    case = submitted(citizen, notary)
    response = browser.post(f"{case_url(case)}actions/supplement/")
    assert response.status_code == 409
    case.refresh_from_db()
    assert case.state == "submitted"


def test_the_applicant_hands_in_what_was_asked_for(
    browser: Client, citizen: Any, notary: ServiceItem, reviewer: Any
) -> None:
    case = submitted(citizen, notary)
    services.case_act(
        actor=reviewer.user,
        number=case.number,
        action="request_supplement",
        payload={"missing": ["申请人有效身份证件", "学历证书扫描件"]},
    )
    page = browser.get(case_url(case))
    assert "待补正" in text(page)
    assert "申请人有效身份证件、学历证书扫描件" in text(page)
    assert "补正材料通知书" in text(page)
    assert [url for url in form_actions(page) if "/actions/" in url] == [
        f"{case_url(case)}actions/supplement/",
        f"{case_url(case)}actions/withdraw/",
    ]
    assert f"{case_url(case)}materials/" in form_actions(page)

    browser.post(
        f"{case_url(case)}materials/",
        {"spec_key": "identity", "file": SimpleUploadedFile("id.pdf", PDF)},
    )
    response = browser.post(f"{case_url(case)}actions/supplement/")
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.state == "submitted"
    assert list(case.events.values_list("action", flat=True)) == [
        "submit",
        "request_supplement",
        "attach",
        "supplement",
    ]


# Materials and notices -----------------------------------------------------------------------


def test_uploading_without_javascript(browser: Client, citizen: Any, notary: ServiceItem) -> None:
    case = submitted(citizen, notary)
    page = browser.get(case_url(case))
    assert f"{case_url(case)}materials/" in form_actions(page)
    assert inputs(page)["spec_key"] == ("hidden", "identity")

    response = browser.post(
        f"{case_url(case)}materials/",
        {"spec_key": "identity", "file": SimpleUploadedFile("身份证.pdf", PDF)},
    )
    assert response.status_code == 302
    assert response["Location"] == case_url(case)
    material = Material.objects.get(case=case)
    assert (material.spec.key, material.original_name, material.size) == (
        "identity",
        "身份证.pdf",
        len(PDF),
    )
    page = browser.get(case_url(case))
    assert "文件已收到。" in text(page)
    assert "身份证.pdf" in text(page)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"spec_key": "identity", "file": SimpleUploadedFile("photo.pdf", PNG)},
            "文件内容与文件名不符，请提交 PDF、JPEG、PNG 或 OFD 文件。",
        ),
        ({"spec_key": "identity"}, "请选择文件。"),
    ],
)
def test_a_refused_upload_says_why_and_stores_nothing(
    browser: Client, citizen: Any, notary: ServiceItem, data: dict[str, Any], message: str
) -> None:
    case = submitted(citizen, notary)
    response = browser.post(f"{case_url(case)}materials/", data, follow=True)
    assert response.status_code == 200
    assert response.redirect_chain == [(case_url(case), 302)]
    assert message in text(response)
    assert not Material.objects.exists()
    assert list(case.events.values_list("action", flat=True)) == ["submit"]


def test_the_back_link_of_an_upload_is_a_fixed_choice(
    browser: Client, citizen: Any, notary: ServiceItem
) -> None:
    case = submitted(citizen, notary)
    response = browser.post(
        f"{case_url(case)}materials/",
        {"spec_key": "identity", "file": SimpleUploadedFile("id.pdf", PDF), "back": "//evil"},
    )
    assert response["Location"] == case_url(case)


def test_notices_appear_once_the_case_is_accepted(
    browser: Client, citizen: Any, notary: ServiceItem, reviewer: Any
) -> None:
    case = submitted(citizen, notary)
    assert "受理通知书" not in text(browser.get(case_url(case)))
    services.case_act(actor=reviewer.user, number=case.number, action="accept")
    page = browser.get(case_url(case))
    assert "受理通知书" in text(page)
    assert f"{case_url(case)}notices/acceptance/" in html(page)
    assert "已受理" in text(page)
    # The upload forms are gone once the case is accepted.
    assert f"{case_url(case)}materials/" not in form_actions(page)
    notice = browser.get(f"{case_url(case)}notices/acceptance/")
    assert notice.status_code == 200


# Input no field accepts ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "data"),
    [
        ("apply", {"f.statement": "用于落户\x00"}),
        ("apply", {"authority_division": "500000\x00"}),
        ("upload", {"spec_key": "identity\x00"}),
        ("withdraw", {"note\x01": "x"}),
    ],
)
def test_control_characters_are_refused_not_a_server_error(
    browser: Client, citizen: Any, notary: ServiceItem, url: str, data: dict[str, str]
) -> None:
    """PostgreSQL refuses NUL in text: the pages must say 400, not fail with a 500."""
    case = submitted(citizen, notary)
    target = {
        "apply": f"/items/{notary.code}/apply/",
        "upload": f"{case_url(case)}materials/",
        "withdraw": f"{case_url(case)}actions/withdraw/",
    }[url]
    posted = posted_form(citizen, **data) if url == "apply" else data
    if url == "upload":
        posted = {**posted, "file": SimpleUploadedFile("id.pdf", PDF)}
    response = browser.post(target, posted)
    assert response.status_code == 400
    assert "请求中含有无法处理的字符。" in text(response)
    assert "请删除此项中的控制字符。" in text(response)
    assert Case.objects.count() == 1
    case.refresh_from_db()
    assert case.state == "submitted"
    assert not Material.objects.exists()


def test_a_case_number_with_control_characters_is_refused(browser: Client) -> None:
    assert browser.get("/cases/%00/").status_code == 400
    assert browser.get("/me/cases/?page=%00").status_code == 400


# Electronic licences instead of paper (免提交) -------------------------------------------------


def test_a_material_a_licence_stands_for_offers_the_applicants_licences(
    browser: Client, citizen: Any
) -> None:
    from tests.cases.license_support import CARD_SPEC, card_exchange, disability_card

    card = disability_card(citizen)
    case = card_exchange(citizen.user, citizen)
    page = browser.get(case_url(case))
    assert "使用电子证照（免提交）" in text(page)
    assert f'name="license" value="{card.identifier}"' in html(page)
    assert f"残疾人证 {card.number} · 重庆市残疾人联合会 · {card.issued_on:%Y-%m-%d}" in text(page)
    assert text(page).count("使用电子证照（免提交）") == 1  # not for the ID card

    response = browser.post(
        f"{case_url(case)}materials/",
        {"hand_in": "license", "spec_key": CARD_SPEC, "license": card.identifier},
        follow=True,
    )
    assert response.redirect_chain == [(case_url(case), 302)]
    page_text = text(response)
    assert "电子证照已核验，可代替本材料。" in page_text
    assert f"电子证照 残疾人证 {card.identifier}，已核验（重庆市残疾人联合会，" in page_text
    assert "电子证照 · 已核验" in page_text
    assert f"残疾人证 {card.number}，重庆市残疾人联合会 签发，" in page_text
    assert "使用电子证照（免提交）" not in page_text  # handed in: nothing more to pick
    material = Material.objects.get(case=case)
    assert (material.spec.key, material.reference) == (CARD_SPEC, card.identifier)


def test_without_a_fitting_licence_the_page_says_paper_will_do(
    browser: Client, citizen: Any
) -> None:
    from tests.cases.license_support import CARD_SPEC, card_exchange

    case = card_exchange(citizen.user, citizen)
    page = browser.get(case_url(case))
    assert "申请人未持有适用于本材料的电子证照，可上传纸质材料的扫描件。" in text(page)
    assert 'name="license"' not in html(page)
    response = browser.post(
        f"{case_url(case)}materials/", {"hand_in": "license", "spec_key": CARD_SPEC}, follow=True
    )
    assert "请选择电子证照。" in text(response)
    assert not Material.objects.filter(case=case).exists()
