"""Staff log in, and the queue: what waits for whom, and the filters."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
import time_machine
from django.test import Client

from tests.conftest import otp_code, otp_device
from tests.factories import PASSWORD, StaffFactory
from tests.portal.pages import html, inputs, text
from tests.workbench.conftest import act, desk, online_case, proxy_case
from tongban.cases import services
from tongban.cases.models import Case, CaseAlert
from tongban.catalog.models import CatalogVersion, ServiceItem

pytestmark = pytest.mark.django_db
SHANGHAI = dt.timezone(dt.timedelta(hours=8))
CASE_LINK = re.compile(r'<a href="/workbench/cases/([0-9A-Z]+)/">')


def listed(response: Any) -> list[str]:
    """The case numbers of the queue's rows, in order."""
    assert response.status_code == 200
    return CASE_LINK.findall(html(response))


# Logging in ----------------------------------------------------------------------------------


def test_staff_log_in_with_their_account_and_code(reviewer: Any) -> None:
    device = otp_device(reviewer.user)
    client = Client()
    page = client.get("/workbench/login/")
    assert page.status_code == 200
    assert "工作人员登录" in text(page)
    assert inputs(page)["password"] == ("password", "")
    response = client.post(
        "/workbench/login/", {"username": reviewer.user.username, "password": PASSWORD}
    )
    assert response.status_code == 302
    assert response["Location"] == "/workbench/login/code/"
    # The password alone logs nobody in.
    assert client.get("/workbench/")["Location"].startswith("/workbench/login/")
    response = client.post("/workbench/login/code/", {"otp_code": otp_code(device)})
    assert response["Location"] == "/workbench/"
    assert client.get("/workbench/").status_code == 200
    # Logged in, the login page sends them on.
    assert client.get("/workbench/login/")["Location"] == "/workbench/"


def test_a_wrong_password_is_refused(reviewer: Any) -> None:
    response = Client().post(
        "/workbench/login/", {"username": reviewer.user.username, "password": "wrong"}
    )
    assert response.status_code == 200
    assert "账号或密码错误。" in text(response)


def test_login_goes_back_to_the_page_asked_for(reviewer: Any) -> None:
    device = otp_device(reviewer.user)
    client = Client()
    response = client.post(
        "/workbench/login/?next=/workbench/%3Fview%3Dclosed",
        {
            "username": reviewer.user.username,
            "password": PASSWORD,
            "next": "/workbench/?view=closed",
        },
    )
    response = client.post(response["Location"], {"otp_code": otp_code(device)})
    assert response["Location"] == "/workbench/?view=closed"


def test_anonymous_visitors_are_sent_to_the_staff_login() -> None:
    client = Client()
    response = client.get("/workbench/")
    assert response.status_code == 302
    assert response["Location"] == "/workbench/login/?next=/workbench/"
    # The query string comes along, encoded, so the same filtered queue opens after login.
    response = client.get("/workbench/", {"view": "closed", "mode": "PROXY"})
    assert (
        response["Location"] == "/workbench/login/?next=/workbench/%3Fview%3Dclosed%26mode%3DPROXY"
    )
    for url in ("/workbench/cases/X/", "/workbench/cases/X/forward/", "/workbench/receive/"):
        assert client.get(url)["Location"] == f"/workbench/login/?next={url}"


def test_citizens_have_no_workbench(citizen: Any) -> None:
    client = desk(citizen)
    for url in ("/workbench/", "/workbench/receive/", "/workbench/cases/X/"):
        assert client.get(url).status_code == 403, url


# The queue -----------------------------------------------------------------------------------


def test_a_submitted_case_waits_for_the_deciding_department_only(
    citizen: Any, notary: ServiceItem, reviewer: Any, hrss_reviewer: Any
) -> None:
    case = online_case(citizen, notary)
    page = desk(reviewer).get("/workbench/")
    assert listed(page) == [case.number]
    assert "已提交" in text(page)
    assert citizen.name not in text(page)  # the applicant's name is masked
    assert "重庆市司法局 · 重庆市" in text(page)
    assert listed(desk(hrss_reviewer).get("/workbench/")) == []
    assert listed(desk(hrss_reviewer).get("/workbench/?view=open")) == []


def test_done_work_leaves_the_todo_view(
    citizen: Any, notary: ServiceItem, reviewer: Any, approver: Any
) -> None:
    case = online_case(citizen, notary)
    act(reviewer, case, "accept")
    act(reviewer, case, "begin_review")
    # In review: the approver decides; the reviewer's only work is a pause.
    assert listed(desk(approver).get("/workbench/")) == [case.number]
    act(approver, case, "approve")
    act(approver, case, "deliver")
    act(approver, case, "complete")
    client = desk(approver)
    assert listed(client.get("/workbench/")) == []
    assert listed(client.get("/workbench/?view=open")) == []
    assert listed(client.get("/workbench/?view=closed")) == [case.number]


def test_an_unknown_view_is_the_todo_view(citizen: Any, notary: ServiceItem, reviewer: Any) -> None:
    case = online_case(citizen, notary)
    page = desk(reviewer).get("/workbench/?view=everything")
    assert listed(page) == [case.number]
    assert re.search(r'<a href="\?view=todo" aria-current="true">', html(page))


def test_the_clerk_sees_the_cases_received_in_their_jurisdiction(
    citizen: Any, notary: ServiceItem, window_clerk: Any
) -> None:
    received = proxy_case(window_clerk, citizen, notary)
    online_case(citizen, notary)  # not theirs: filed online, decided by the city
    page = desk(window_clerk).get("/workbench/")
    assert listed(page) == [received.number]
    assert "窗口已收件" in text(page)
    assert 'href="/workbench/receive/"' in html(page)

    elsewhere = StaffFactory(
        window_clerk=True, department_key="cd-government-services", jurisdiction_code="510100"
    )
    assert listed(desk(elsewhere).get("/workbench/")) == []
    # The Chengdu reviewers decide it, but only once it is forwarded.
    cd_reviewer = StaffFactory(
        reviewer=True, department_key="cd-justice", jurisdiction_code="510100"
    )
    assert listed(desk(cd_reviewer).get("/workbench/")) == []
    assert listed(desk(cd_reviewer).get("/workbench/?view=open")) == [received.number]


def test_filters_by_state_and_mode(
    citizen: Any, notary: ServiceItem, reviewer: Any, window_clerk: Any
) -> None:
    submitted = online_case(citizen, notary)
    accepted = online_case(citizen, notary)
    act(reviewer, accepted, "accept")
    received = proxy_case(window_clerk, citizen, notary, division="500000")
    client = desk(reviewer)
    assert listed(client.get("/workbench/?view=open")) == [
        submitted.number,
        accepted.number,
        received.number,
    ]
    assert listed(client.get("/workbench/?view=open&state=accepted")) == [accepted.number]
    assert listed(client.get("/workbench/?view=open&state=submitted&mode=ONLINE")) == [
        submitted.number
    ]
    assert listed(client.get("/workbench/?view=open&mode=PROXY")) == [received.number]
    assert listed(client.get("/workbench/?view=open&mode=NONSENSE")) == [
        submitted.number,
        accepted.number,
        received.number,
    ]
    page = client.get("/workbench/?view=open&state=accepted&mode=ONLINE")
    assert re.search(r'<option value="accepted" selected>', html(page))
    assert re.search(r'<option value="ONLINE" selected>', html(page))


def test_overdue_cases_are_flagged_and_filtered(
    citizen: Any, notary: ServiceItem, reviewer: Any
) -> None:
    CatalogVersion.objects.filter(pk=notary.version_id).update(valid_from=dt.date(2026, 1, 1))
    with time_machine.travel(dt.datetime(2026, 3, 2, 10, tzinfo=SHANGHAI), tick=False):
        late = online_case(citizen, notary)
        on_time = online_case(citizen, notary)
        act(reviewer, late, "accept")
    with time_machine.travel(dt.datetime(2026, 3, 27, 10, tzinfo=SHANGHAI), tick=False):
        act(reviewer, on_time, "accept")
    # 20 working days from Monday 2 March end on 30 March: on 1 April the first case is
    # overdue; the second, accepted on 27 March, has 17 working days left.
    with time_machine.travel(dt.datetime(2026, 4, 1, 10, tzinfo=SHANGHAI), tick=False):
        assert services.cases_raise_alerts() == 1
        assert list(CaseAlert.objects.values_list("case__number", "level")) == [
            (late.number, "red")
        ]
        client = desk(reviewer)
        everything = client.get("/workbench/?view=open")
        assert listed(everything) == [late.number, on_time.number]
        assert html(everything).count('class="flag-row-red"') == 1
        red = client.get("/workbench/?view=open&flag=red")
        assert listed(red) == [late.number]
        assert "已超期" in text(red)
        assert listed(client.get("/workbench/?view=open&flag=yellow")) == []
        assert listed(client.get("/workbench/?view=open&flag=purple")) == [
            late.number,
            on_time.number,
        ]


def test_a_decided_case_is_no_longer_flagged(
    citizen: Any, notary: ServiceItem, reviewer: Any, approver: Any
) -> None:
    case = online_case(citizen, notary)
    case = act(reviewer, case, "accept")
    CaseAlert.objects.create(case=case, level="red", raised_on=case.accepted_on, days_left=-1)
    client = desk(approver)
    assert listed(client.get("/workbench/?view=open&flag=red")) == [case.number]
    act(reviewer, case, "begin_review")
    act(approver, case, "approve")
    assert listed(client.get("/workbench/?view=open&flag=red")) == []
    assert Case.objects.get(pk=case.pk).state == "approved"


def test_control_characters_in_a_filter_are_refused(reviewer: Any) -> None:
    """PostgreSQL refuses NUL in a query parameter: a 400, not a 500."""
    client = desk(reviewer)
    assert client.get("/workbench/?view=open&state=%00").status_code == 400
    assert client.get("/workbench/cases/%00/").status_code == 400


def test_a_citizen_logged_in_on_the_portal_gets_the_staff_login_form(client) -> None:
    from tests.factories import PersonFactory

    citizen = PersonFactory(with_login=True)
    client.force_login(citizen.user)
    response = client.get("/workbench/login/")
    assert response.status_code == 200
    assert 'name="username"' in response.content.decode()


def test_a_platform_admin_is_told_the_queue_is_not_theirs(db: None) -> None:
    from tests.conftest import login

    client = login(Client(), StaffFactory(platform_admin=True).user)
    page = client.get("/workbench/?view=open").content.decode()
    assert "平台管理员" in page
    assert 'href="/admin/"' in page
