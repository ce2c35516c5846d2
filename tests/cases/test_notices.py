"""Printable notices (受理, 不予受理, 补正, 准予, 不予), from the events that make them."""

import pytest

from tests.cases.conftest import form_for
from tests.conftest import login
from tests.factories import PersonFactory
from tongban.cases import services

pytestmark = pytest.mark.django_db


@pytest.fixture
def case(item, citizen):
    return services.case_submit(
        actor=citizen.user,
        item_code=item.code,
        scenario_key="general",
        authority_division="500000",
        form_data=form_for(citizen),
    )


def _notice(client, case, kind: str):
    return client.get(f"/cases/{case.number}/notices/{kind}/")


def test_a_notice_exists_once_its_action_happened(api, case, citizen, cq_reviewer) -> None:
    login(api, citizen.user)
    assert _notice(api, case, "acceptance").status_code == 404
    services.case_act(actor=cq_reviewer.user, number=case.number, action="accept")
    page = _notice(api, case, "acceptance")
    assert page.status_code == 200
    html = page.content.decode()
    assert "受理通知书" in html
    assert case.number in html
    assert citizen.name in html
    assert "学历公证" in html
    assert "重庆市司法局" in html
    assert "法定办结期限至" in html
    assert "@media print" in html


def test_supplement_and_rejection_notices_say_what_and_why(api, case, citizen, cq_reviewer) -> None:
    services.case_act(
        actor=cq_reviewer.user,
        number=case.number,
        action="request_supplement",
        payload={"missing": ["学历证书原件扫描件", "学位证书"]},
    )
    login(api, citizen.user)
    html = _notice(api, case, "supplement").content.decode()
    assert "<li>学历证书原件扫描件</li>" in html
    assert "<li>学位证书</li>" in html
    services.case_act(actor=citizen.user, number=case.number, action="supplement")
    services.case_act(
        actor=cq_reviewer.user,
        number=case.number,
        action="reject_intake",
        payload={"reasons": "不属于本机关职权", "apply_instead": "户籍地公证机构"},
    )
    html = _notice(api, case, "rejection").content.decode()
    assert "不予受理通知书" in html
    assert "户籍地公证机构" in html
    assert "行政复议" in html


def test_a_denial_states_reasons_and_remedy(api, case, citizen, cq_reviewer, cq_approver) -> None:
    for actor, action, payload in [
        (cq_reviewer, "accept", {}),
        (cq_reviewer, "begin_review", {}),
        (cq_approver, "deny", {"reasons": "材料不实"}),
    ]:
        services.case_act(actor=actor.user, number=case.number, action=action, payload=payload)
    login(api, citizen.user)
    html = _notice(api, case, "denial").content.decode()
    assert "不予行政许可决定书" in html
    assert "材料不实" in html
    assert "行政诉讼" in html


def test_notices_are_for_the_applicant_and_the_staff_only(api, case, cq_reviewer) -> None:
    services.case_act(actor=cq_reviewer.user, number=case.number, action="accept")
    login(api, PersonFactory(with_login=True).user)
    assert _notice(api, case, "acceptance").status_code == 404
    login(api, cq_reviewer.user)
    assert _notice(api, case, "acceptance").status_code == 200
    assert _notice(api, case, "nonsense").status_code == 404
    anonymous = api.__class__()
    assert anonymous.get(f"/cases/{case.number}/notices/acceptance/").status_code == 302
