"""The data-sharing pages of the workbench: the catalogue and the request for access, grants
with their decisions, a verification at the window, the evidence log, disputes, monitoring."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from tests.factories import StaffFactory
from tests.workbench.conftest import desk
from tongban.catalog.models import ServiceItem
from tongban.datashare import services
from tongban.datashare.models import Call, CallOutcome, Dispute, DisputeState, Grant, GrantState
from tongban.datashare.models import Resource as DataResource

pytestmark = pytest.mark.django_db
ROOT = "/workbench/datashare/"
PERSON = "11010519491231002X"
PURPOSE = "就业登记核验身份"


@pytest.fixture
def ps_admin(db: None) -> Any:
    return StaffFactory(department_admin=True, department_key="cq-public-security")


@pytest.fixture
def hrss_admin(db: None) -> Any:
    return StaffFactory(department_admin=True, department_key="cq-hrss")


@pytest.fixture
def supervisor(db: None) -> Any:
    return StaffFactory(supervisor=True)


@pytest.fixture
def resource(ps_admin: Any) -> DataResource:
    """户籍信息, published by 公安 with one record."""
    published = services.resource_publish(
        actor=ps_admin.user,
        department=ps_admin.department,
        key="household",
        name="户籍信息",
        subject_kind="person",
        sensitivity="sensitive",
        fields=[
            {"key": "name", "name": "姓名", "personal": True},
            {"key": "address", "name": "户籍地址", "personal": True},
        ],
        questions=[
            {
                "key": "name_matches",
                "name": "身份证号与姓名是否一致",
                "params": ["id_number", "name"],
                "rule": {"op": "match"},
            }
        ],
    )
    services.records_load(
        actor=ps_admin.user,
        resource=published,
        records=[{"subject": PERSON, "data": {"name": "张三", "address": "渝中区解放碑1号"}}],
    )
    return published


@pytest.fixture
def requested(resource: DataResource, hrss_admin: Any, notary: ServiceItem) -> Grant:
    return services.grant_request(
        actor=hrss_admin.user,
        resource=resource,
        purpose=PURPOSE,
        items=[notary.code],
        questions=["name_matches"],
        fields=["name", "address"],
    )


@pytest.fixture
def approved(requested: Grant, ps_admin: Any) -> Grant:
    return services.grant_decide(
        actor=ps_admin.user,
        grant=requested,
        approve=True,
        valid_until=timezone.localdate() + dt.timedelta(days=365),
        rate_limit=60,
    )


@pytest.fixture
def answered(approved: Grant, hrss_reviewer: Any) -> Call:
    call, _answer = services.call_make(
        actor=hrss_reviewer.user,
        request=services.Request(
            resource=approved.resource.ref,
            kind="verify",
            question="name_matches",
            params={"id_number": PERSON, "name": "张三"},
            purpose=PURPOSE,
        ),
    )
    return call


def body(response: Any) -> str:
    return str(response.content.decode())


# Menu and tabs ------------------------------------------------------------------------------


def test_the_menu_and_the_tabs_follow_the_roles(
    resource: DataResource, hrss_reviewer: Any, ps_admin: Any, supervisor: Any
) -> None:
    reviewer_page = desk(hrss_reviewer).get(ROOT)
    assert reviewer_page.status_code == 200
    page = body(reviewer_page)
    assert f'href="{ROOT}"' in page  # the menu entry
    assert resource.name in page
    assert f'href="{ROOT}verify/"' in page
    assert f'href="{ROOT}grants/"' not in page
    assert f'href="{ROOT}monitoring/"' not in page
    admin = body(desk(ps_admin).get(ROOT))
    assert f'href="{ROOT}grants/"' in admin
    assert f'href="{ROOT}monitoring/"' not in admin
    overseer = body(desk(supervisor).get(ROOT))
    assert f'href="{ROOT}monitoring/"' in overseer
    assert f'href="{ROOT}verify/"' not in overseer


def test_anonymous_visitors_are_sent_to_the_staff_login(resource: DataResource) -> None:
    from django.test import Client

    response = Client().get(ROOT)
    assert response.status_code == 302
    assert "/workbench/login/" in response["Location"]


def test_the_wrong_roles_get_403(hrss_reviewer: Any, ps_admin: Any, supervisor: Any) -> None:
    assert desk(hrss_reviewer).get(f"{ROOT}grants/").status_code == 403
    assert desk(ps_admin).get(f"{ROOT}monitoring/").status_code == 403
    assert desk(supervisor).get(f"{ROOT}verify/").status_code == 403


# The catalogue and the request for access ------------------------------------------------------


def test_a_department_admin_requests_access(
    resource: DataResource, hrss_admin: Any, notary: ServiceItem
) -> None:
    url = f"{ROOT}resources/{resource.ref}/"
    page = body(desk(hrss_admin).get(url))
    assert "身份证号与姓名是否一致" in page
    assert 'name="purpose"' in page
    response = desk(hrss_admin).post(
        url,
        {"purpose": PURPOSE, "items": [notary.code], "questions": ["name_matches"]},
    )
    grant = Grant.objects.get(resource=resource)
    assert response.status_code == 302
    assert response["Location"] == f"{ROOT}grants/{grant.uid}/"
    assert (grant.state, grant.requested_questions) == (GrantState.REQUESTED, ["name_matches"])


def test_a_request_without_items_is_shown_in_the_form(
    resource: DataResource, hrss_admin: Any
) -> None:
    response = desk(hrss_admin).post(
        f"{ROOT}resources/{resource.ref}/", {"purpose": PURPOSE, "questions": ["name_matches"]}
    )
    assert response.status_code == 400
    assert 'class="error"' in body(response)
    assert PURPOSE in body(response)  # what was typed stays
    assert not Grant.objects.exists()


def test_the_provider_and_other_roles_get_no_request_form(
    resource: DataResource, ps_admin: Any, hrss_reviewer: Any
) -> None:
    url = f"{ROOT}resources/{resource.ref}/"
    assert 'name="purpose"' not in body(desk(ps_admin).get(url))
    assert 'name="purpose"' not in body(desk(hrss_reviewer).get(url))
    assert desk(hrss_reviewer).post(url, {"purpose": PURPOSE}).status_code == 403


# Grants ---------------------------------------------------------------------------------------


def test_both_sides_see_the_grant(requested: Grant, ps_admin: Any, hrss_admin: Any) -> None:
    link = f"{ROOT}grants/{requested.uid}/"
    assert link in body(desk(ps_admin).get(f"{ROOT}grants/"))
    assert link in body(desk(hrss_admin).get(f"{ROOT}grants/"))
    other = StaffFactory(department_admin=True, department_key="cq-justice")
    assert link not in body(desk(other).get(f"{ROOT}grants/"))
    assert desk(other).get(link).status_code == 404


def test_the_provider_approves_within_what_was_asked(requested: Grant, ps_admin: Any) -> None:
    page = body(desk(ps_admin).get(f"{ROOT}grants/{requested.uid}/"))
    assert 'name="valid_until"' in page
    until = timezone.localdate() + dt.timedelta(days=90)
    response = desk(ps_admin).post(
        f"{ROOT}grants/{requested.uid}/decide/",
        {
            "decision": "approve",
            "questions": ["name_matches"],
            "fields": ["name"],
            "valid_until": until.isoformat(),
            "rate_limit": "30",
        },
    )
    assert response.status_code == 302
    requested.refresh_from_db()
    assert requested.state == GrantState.APPROVED
    assert (requested.questions, requested.fields) == (["name_matches"], ["name"])
    assert (requested.valid_until, requested.rate_limit) == (until, 30)
    history = body(desk(ps_admin).get(f"{ROOT}grants/{requested.uid}/"))
    assert "datashare.grant_requested" in history
    assert "datashare.grant_decided" in history


def test_an_approval_without_an_end_date_is_shown_in_the_form(
    requested: Grant, ps_admin: Any
) -> None:
    response = desk(ps_admin).post(
        f"{ROOT}grants/{requested.uid}/decide/",
        {"decision": "approve", "questions": ["name_matches"], "rate_limit": "30"},
    )
    assert response.status_code == 400
    assert 'class="error"' in body(response)
    requested.refresh_from_db()
    assert requested.state == GrantState.REQUESTED


def test_the_provider_refuses_with_a_reason(requested: Grant, ps_admin: Any) -> None:
    desk(ps_admin).post(
        f"{ROOT}grants/{requested.uid}/decide/", {"decision": "refuse", "reason": "目的不明"}
    )
    requested.refresh_from_db()
    assert (requested.state, requested.reason) == (GrantState.REFUSED, "目的不明")


def test_the_consumer_may_not_decide(requested: Grant, hrss_admin: Any) -> None:
    page = body(desk(hrss_admin).get(f"{ROOT}grants/{requested.uid}/"))
    assert 'name="valid_until"' not in page
    response = desk(hrss_admin).post(
        f"{ROOT}grants/{requested.uid}/decide/", {"decision": "refuse", "reason": "x"}
    )
    assert response.status_code == 403
    requested.refresh_from_db()
    assert requested.state == GrantState.REQUESTED


def test_revoke_needs_a_reason_and_withdraw_is_the_consumers(
    approved: Grant, ps_admin: Any, hrss_admin: Any
) -> None:
    url = f"{ROOT}grants/{approved.uid}/"
    refused = desk(ps_admin).post(f"{url}revoke/", {"reason": ""}, follow=True)
    assert 'class="msg msg-error"' in body(refused)
    approved.refresh_from_db()
    assert approved.state == GrantState.APPROVED
    assert f"{url}withdraw/" in body(desk(hrss_admin).get(url))
    assert f"{url}withdraw/" not in body(desk(ps_admin).get(url))
    desk(ps_admin).post(f"{url}revoke/", {"reason": "停止合作"})
    approved.refresh_from_db()
    assert approved.state == GrantState.REVOKED


def test_the_consumer_withdraws_a_request(requested: Grant, hrss_admin: Any) -> None:
    desk(hrss_admin).post(f"{ROOT}grants/{requested.uid}/withdraw/")
    requested.refresh_from_db()
    assert requested.state == GrantState.WITHDRAWN


# A verification at the window ---------------------------------------------------------------------


def test_a_reviewer_verifies_under_the_departments_grant(
    approved: Grant, hrss_reviewer: Any
) -> None:
    client = desk(hrss_reviewer)
    choose = body(client.get(f"{ROOT}verify/"))
    assert f"?grant={approved.uid}&amp;question=name_matches" in choose
    form = body(client.get(f"{ROOT}verify/", {"grant": approved.uid, "question": "name_matches"}))
    assert 'name="params.id_number"' in form
    assert PURPOSE in form  # the grant's purpose, filled in
    response = client.post(
        f"{ROOT}verify/",
        {
            "grant": approved.uid,
            "question": "name_matches",
            "params.id_number": PERSON,
            "params.name": "张三",
            "purpose": PURPOSE,
        },
    )
    assert response.status_code == 200
    call = Call.objects.get(outcome=CallOutcome.ANSWERED)
    assert call.summary == {"answer": True}
    assert str(call.uid) in body(response)


def test_a_look_up_shows_the_records(approved: Grant, hrss_reviewer: Any) -> None:
    response = desk(hrss_reviewer).post(
        f"{ROOT}verify/",
        {
            "grant": approved.uid,
            "question": "",
            "params.id_number": PERSON,
            "fields": ["address"],
            "purpose": PURPOSE,
        },
    )
    assert response.status_code == 200
    assert "渝中区解放碑1号" in body(response)
    assert "张三" not in body(response)  # not asked for


def test_a_malformed_id_number_is_shown_next_to_its_input(
    approved: Grant, hrss_reviewer: Any
) -> None:
    response = desk(hrss_reviewer).post(
        f"{ROOT}verify/",
        {
            "grant": approved.uid,
            "question": "name_matches",
            "params.id_number": "123",
            "params.name": "张三",
            "purpose": PURPOSE,
        },
    )
    assert response.status_code == 400
    assert 'class="error"' in body(response)
    assert Call.objects.get().outcome == CallOutcome.REFUSED  # refusals are logged too


def test_a_department_without_a_grant_is_told_so(resource: DataResource) -> None:
    clerk = StaffFactory(window_clerk=True, department_key="cq-justice")
    page = desk(clerk).get(f"{ROOT}verify/")
    assert page.status_code == 200
    assert "?grant=" not in body(page)
    posted = desk(clerk).post(f"{ROOT}verify/", {"grant": "nonsense", "question": "x"})
    assert posted.status_code == 400


# The evidence log and disputes ------------------------------------------------------------------


def test_the_log_lists_the_call_for_both_departments(
    answered: Call, hrss_reviewer: Any, ps_admin: Any
) -> None:
    link = f"{ROOT}calls/{answered.uid}/{answered.side}/"
    assert link in body(desk(hrss_reviewer).get(f"{ROOT}calls/"))
    assert link in body(desk(ps_admin).get(f"{ROOT}calls/"))
    assert answered.request_hash[:10] in body(desk(ps_admin).get(f"{ROOT}calls/"))
    assert link not in body(desk(hrss_reviewer).get(f"{ROOT}calls/", {"outcome": "refused"}))
    stranger = StaffFactory(reviewer=True, department_key="cq-justice")
    assert link not in body(desk(stranger).get(f"{ROOT}calls/"))
    assert desk(stranger).get(link).status_code == 404


def test_the_consumer_raises_a_dispute(answered: Call, hrss_reviewer: Any) -> None:
    url = f"{ROOT}calls/{answered.uid}/{answered.side}/"
    assert answered.request_hash in body(desk(hrss_reviewer).get(url))
    response = desk(hrss_reviewer).post(url, {"kind": "stale", "reason": "户籍已迁出"})
    assert response.status_code == 302
    dispute = Dispute.objects.get()
    assert (dispute.kind, dispute.reason, dispute.state) == ("stale", "户籍已迁出", "open")


def test_a_dispute_without_a_reason_is_shown_in_the_form(
    answered: Call, hrss_reviewer: Any
) -> None:
    url = f"{ROOT}calls/{answered.uid}/{answered.side}/"
    response = desk(hrss_reviewer).post(url, {"kind": "stale", "reason": ""})
    assert response.status_code == 400
    assert 'class="error"' in body(response)
    assert not Dispute.objects.exists()


@pytest.fixture
def disputed(answered: Call, hrss_reviewer: Any) -> Dispute:
    return services.dispute_raise(
        actor=hrss_reviewer.user, call=answered, kind="wrong_answer", reason="姓名有误"
    )


def test_the_provider_resolves_a_dispute(disputed: Dispute, ps_admin: Any) -> None:
    page = body(desk(ps_admin).get(f"{ROOT}disputes/"))
    action = f"{ROOT}disputes/{disputed.uid}/resolve/"
    assert action in page
    response = desk(ps_admin).post(action, {"decision": "upheld", "outcome": "已更正数据"})
    assert response.status_code == 302
    disputed.refresh_from_db()
    assert (disputed.state, disputed.outcome) == (DisputeState.UPHELD, "已更正数据")


def test_a_resolution_without_an_outcome_is_shown_in_the_form(
    disputed: Dispute, ps_admin: Any, hrss_reviewer: Any
) -> None:
    action = f"{ROOT}disputes/{disputed.uid}/resolve/"
    assert action not in body(desk(hrss_reviewer).get(f"{ROOT}disputes/"))
    response = desk(ps_admin).post(action, {"decision": "dismissed", "outcome": ""})
    assert response.status_code == 400
    assert 'class="error"' in body(response)
    disputed.refresh_from_db()
    assert disputed.state == DisputeState.OPEN
    assert desk(hrss_reviewer).post(action, {"decision": "upheld", "outcome": "x"}).status_code in (
        400,
        403,
    )
    disputed.refresh_from_db()
    assert disputed.state == DisputeState.OPEN


# Monitoring ---------------------------------------------------------------------------------------


def test_supervisors_see_the_usage_per_resource_and_consumer(
    disputed: Dispute, supervisor: Any
) -> None:
    page = desk(supervisor).get(f"{ROOT}monitoring/", {"days": "7"})
    assert page.status_code == 200
    text = body(page)
    assert "household" in text
    assert disputed.call.consumer_department_name in text


# Publishing a resource ------------------------------------------------------------------------


def publish_form(**changes: Any) -> dict[str, Any]:
    """The publishing form as a browser posts it: two fields, one match question, and the
    three empty rows of each table."""
    form: dict[str, Any] = {
        "key": "marriage",
        "name": "婚姻登记信息",
        "description": "民政部门的婚姻登记",
        "subject_kind": "person",
        "sensitivity": "sensitive",
        "update_hours": "12",
        "active": "1",
        "field_rows": "5",
        "fields-0-key": "name",
        "fields-0-name": "姓名",
        "fields-0-personal": "1",
        "fields-1-key": "status",
        "fields-1-name": "婚姻状况",
        "question_rows": "4",
        "questions-0-key": "name_matches",
        "questions-0-name": "身份证号与姓名是否一致",
        "questions-0-params": "id_number, name",
        "questions-0-op": "match",
    }
    for index in (2, 3, 4):
        form.update({f"fields-{index}-key": "", f"fields-{index}-name": ""})
    for index in (1, 2, 3):
        form.update({f"questions-{index}-key": "", f"questions-{index}-op": "match"})
    form.update(changes)
    return form


def test_an_admin_publishes_a_resource_from_the_form(ps_admin: Any) -> None:
    catalogue = body(desk(ps_admin).get(ROOT))
    assert f'href="{ROOT}publish/"' in catalogue
    page = desk(ps_admin).get(f"{ROOT}publish/")
    assert page.status_code == 200
    assert 'name="fields-2-key"' in body(page)  # three empty rows without JavaScript
    assert 'name="questions-2-params"' in body(page)
    response = desk(ps_admin).post(f"{ROOT}publish/", publish_form())
    published = DataResource.objects.get(key="marriage")
    assert response.status_code == 302
    assert response["Location"] == f"{ROOT}resources/{published.ref}/"
    assert published.department == ps_admin.department
    assert (published.sensitivity, published.update_hours, published.active) == (
        "sensitive",
        12,
        True,
    )
    assert published.fields == [
        {"key": "name", "name": "姓名", "personal": True},
        {"key": "status", "name": "婚姻状况", "personal": False},
    ]
    assert published.questions == [
        {
            "key": "name_matches",
            "name": "身份证号与姓名是否一致",
            "params": ["id_number", "name"],
            "rule": {"op": "match"},
        }
    ]
    shown = body(desk(ps_admin).get(response["Location"]))
    assert f'href="{ROOT}resources/{published.ref}/edit/"' in shown


def test_the_providing_admin_edits_the_resource(resource: DataResource, ps_admin: Any) -> None:
    url = f"{ROOT}resources/{resource.ref}/edit/"
    page = body(desk(ps_admin).get(url))
    assert 'value="户籍地址"' in page  # the existing rows
    assert 'value="id_number, name"' in page
    assert 'name="fields-4-key"' in page  # two rows and three empty ones
    form = publish_form(
        key="ignored",
        name="户籍信息（新）",
        active="",
        **{
            "fields-1-key": "status",
            "fields-1-name": "户籍状态",
            "fields-2-key": "address",
            "fields-2-name": "户籍地址",
            "fields-2-personal": "1",
            "questions-1-key": "is_active",
            "questions-1-name": "户籍是否正常",
            "questions-1-params": "id_number",
            "questions-1-op": "equals",
            "questions-1-field": "status",
            "questions-1-value": "正常",
        },
    )
    del form["active"]
    response = desk(ps_admin).post(url, form)
    assert response.status_code == 302
    assert response["Location"] == f"{ROOT}resources/{resource.ref}/"
    resource.refresh_from_db()
    assert (resource.key, resource.name, resource.active) == ("household", "户籍信息（新）", False)
    assert [f["key"] for f in resource.fields] == ["name", "status", "address"]
    assert resource.questions[1]["rule"] == {"op": "equals", "field": "status", "value": "正常"}
    assert not DataResource.objects.filter(key="ignored").exists()


def test_an_invalid_definition_is_shown_in_the_form_and_nothing_is_written(
    ps_admin: Any,
) -> None:
    response = desk(ps_admin).post(
        f"{ROOT}publish/",
        publish_form(**{"fields-0-key": "", "fields-0-name": "", "questions-0-params": "name"}),
    )
    assert response.status_code == 400
    page = body(response)
    assert 'class="error"' in page
    assert "参数须以对象开头" in page  # next to the question's row
    assert page.index("参数须以对象开头") > page.index('name="questions-0-value"')
    assert page.index("参数须以对象开头") < page.index('name="questions-1-key"')
    assert 'value="婚姻状况"' in page  # what was typed stays
    assert 'value="name"' in page
    assert not DataResource.objects.filter(key="marriage").exists()


def test_a_reviewer_may_not_publish(resource: DataResource, hrss_reviewer: Any) -> None:
    assert f'href="{ROOT}publish/"' not in body(desk(hrss_reviewer).get(ROOT))
    assert desk(hrss_reviewer).get(f"{ROOT}publish/").status_code == 403
    assert desk(hrss_reviewer).post(f"{ROOT}publish/", publish_form()).status_code == 403
    url = f"{ROOT}resources/{resource.ref}/edit/"
    assert desk(hrss_reviewer).get(url).status_code == 403
    assert not DataResource.objects.filter(key="marriage").exists()


def test_another_departments_admin_may_not_edit(resource: DataResource, hrss_admin: Any) -> None:
    url = f"{ROOT}resources/{resource.ref}/edit/"
    assert url not in body(desk(hrss_admin).get(f"{ROOT}resources/{resource.ref}/"))
    assert desk(hrss_admin).get(url).status_code in (403, 404)
    response = desk(hrss_admin).post(url, publish_form(name="改名"))
    assert response.status_code in (403, 404)
    resource.refresh_from_db()
    assert resource.name == "户籍信息"
    # nor take its key by publishing a "new" resource under it
    taken = desk(hrss_admin).post(f"{ROOT}publish/", publish_form(key="household"))
    assert taken.status_code == 400
    resource.refresh_from_db()
    assert (resource.name, resource.department_id) == ("户籍信息", resource.department_id)


def test_a_platform_admin_chooses_the_department(ps_admin: Any) -> None:
    platform = StaffFactory(platform_admin=True)
    page = body(desk(platform).get(f"{ROOT}publish/"))
    assert 'name="department"' in page
    missing = desk(platform).post(f"{ROOT}publish/", publish_form())
    assert missing.status_code == 400
    assert not DataResource.objects.filter(key="marriage").exists()
    response = desk(platform).post(
        f"{ROOT}publish/", publish_form(department=str(ps_admin.department.pk))
    )
    assert response.status_code == 302
    assert DataResource.objects.get(key="marriage").department == ps_admin.department
