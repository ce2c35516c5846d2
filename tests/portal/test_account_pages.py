"""The applicant's pages for real-name levels, enterprise handlers and agent authorisations."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client, override_settings
from django.utils import timezone

from tests.accounts.face_double import PATH
from tests.factories import EnterpriseFactory, PersonFactory
from tests.portal.pages import html, inputs, text
from tests.portal.test_case_pages import posted_form
from tongban.accounts.models import RealNameLevel
from tongban.cases import services
from tongban.cases.models import AgentAuthorisation, AuthorisationState, Case
from tongban.catalog.models import ServiceItem

pytestmark = pytest.mark.django_db


@pytest.fixture
def notary(item_named: Callable[[str], ServiceItem]) -> ServiceItem:
    return item_named("学历公证")


def browser(person: Any) -> Client:
    client = Client()
    client.force_login(person.user)
    return client


def test_below_the_level_the_apply_page_asks_to_step_up(notary: ServiceItem) -> None:
    newcomer = PersonFactory(with_login=True, real_name_level=RealNameLevel.REGISTERED)
    page = browser(newcomer).get(f"/items/{notary.code}/apply/")
    assert page.status_code == 200
    assert "请先提升实名等级" in text(page)
    assert "L2" in text(page)
    assert "政务服务大厅窗口现场核验" in text(page)
    assert "f.applicant_name" not in inputs(page)  # no form that would fail
    # A post anyway is refused by the service, with the reason.
    refused = browser(newcomer).post(f"/items/{notary.code}/apply/", posted_form(newcomer))
    assert refused.status_code == 200  # the step-up page again, nothing filed
    assert not Case.objects.exists()


def test_at_the_level_the_page_states_it_and_shows_the_form(notary: ServiceItem) -> None:
    person = PersonFactory(with_login=True)
    page = browser(person).get(f"/items/{notary.code}/apply/")
    assert "所需实名等级：L2" in text(page)
    assert "f.applicant_name" in inputs(page)


@override_settings(
    TONGBAN_VERIFICATION_METHODS=["tongban.accounts.verification.InPersonVerification", PATH]
)
def test_an_online_method_is_started_from_the_page(notary: ServiceItem) -> None:
    newcomer = PersonFactory(with_login=True, real_name_level=RealNameLevel.REGISTERED)
    client = browser(newcomer)
    page = client.get(f"/items/{notary.code}/apply/")
    assert 'action="/me/verification/face_double/start/"' in html(page)
    started = client.post("/me/verification/face_double/start/")
    assert started.status_code == 302
    assert started["Location"].startswith("https://face.example.test/verify?state=")
    refused = client.post("/me/verification/in_person/start/", follow=True)
    assert "不能在线发起" in text(refused)


def test_my_account_shows_the_level_and_enterprises() -> None:
    newcomer = PersonFactory(with_login=True, real_name_level=RealNameLevel.REGISTERED)
    enterprise = EnterpriseFactory(legal_representative=newcomer)
    page = browser(newcomer).get("/me/")
    assert "L1" in text(page)
    assert "政务服务大厅窗口现场核验" in text(page)
    assert enterprise.name in text(page)
    assert f"/me/enterprises/{enterprise.uscc}/" in html(page)


def test_the_legal_representative_manages_handlers_on_the_page() -> None:
    representative = PersonFactory(with_login=True)
    enterprise = EnterpriseFactory(legal_representative=representative)
    handler = PersonFactory(with_login=True)
    client = browser(representative)
    url = f"/me/enterprises/{enterprise.uscc}/"
    no_match = client.post(url, {"id_number": handler.id_number, "name": "别人"})
    assert no_match.status_code == 400
    assert "没有与该公民身份号码和姓名相符的注册用户。" in text(no_match)
    added = client.post(url, {"id_number": handler.id_number, "name": handler.name})
    assert added.status_code == 302
    page = client.get(url)
    remove = f"/me/enterprises/{enterprise.uscc}/members/{handler.pk}/remove/"
    assert remove in html(page)
    # The handler sees the enterprise but cannot manage it.
    handler_page = browser(handler).get(url)
    assert handler_page.status_code == 200
    assert remove not in html(handler_page)
    assert browser(handler).post(remove).status_code == 302
    assert enterprise.members.filter(person=handler).exists()
    client.post(remove, {"reason": "离职"})
    assert not enterprise.members.filter(person=handler).exists()
    assert browser(handler).get(url).status_code == 404


def test_authorising_applying_on_behalf_and_revoking(notary: ServiceItem) -> None:
    principal = PersonFactory(with_login=True, real_name_level=RealNameLevel.REGISTERED)
    agent = PersonFactory(with_login=True)
    as_principal = browser(principal)
    until = (timezone.localdate() + dt.timedelta(days=30)).isoformat()
    page = as_principal.get("/me/authorisations/")
    assert "委托他人代我申请" in text(page)
    bad = as_principal.post(
        "/me/authorisations/",
        {"agent_id_number": agent.id_number, "agent_name": agent.name, "scope": "items"},
    )
    assert bad.status_code == 400
    assert "请选择事项，或选择全部事项。" in text(bad)
    done = as_principal.post(
        "/me/authorisations/",
        {
            "agent_id_number": agent.id_number,
            "agent_name": agent.name,
            "scope": "items",
            "item_codes": [notary.code],
            "valid_until": until,
        },
    )
    assert done.status_code == 302
    authorisation = AgentAuthorisation.objects.get()

    as_agent = browser(agent)
    assert principal.name_masked in text(as_agent.get("/me/authorisations/"))
    apply_page = as_agent.get(f"/items/{notary.code}/apply/")
    choice = f"authorisation:{authorisation.pk}"
    assert f'value="{choice}"' in html(apply_page)
    assert inputs(apply_page)["f.applicant_name"] == ("text", agent.name)
    for_principal = as_agent.get(f"/items/{notary.code}/apply/", {"applicant": choice})
    assert inputs(for_principal)["f.applicant_name"] == ("text", principal.name)
    assert inputs(for_principal)["applicant"] == ("select", choice)
    filed = as_agent.post(f"/items/{notary.code}/apply/", posted_form(principal, applicant=choice))
    assert filed.status_code == 302
    case = Case.objects.get()
    assert (case.applicant_person, case.agent) == (principal, agent)
    case_page = as_principal.get(f"/cases/{case.number}/")
    assert agent.name_masked in text(case_page)
    assert "依代办授权" in text(case_page)

    as_principal.post(f"/me/authorisations/{authorisation.pk}/revoke/", {"reason": ""})
    authorisation.refresh_from_db()
    assert authorisation.state == AuthorisationState.REVOKED
    assert f'value="{choice}"' not in html(as_agent.get(f"/items/{notary.code}/apply/"))
    refused = as_agent.post(f"/cases/{case.number}/actions/withdraw/", follow=True)
    assert refused.status_code == 403
    assert "已于" in text(refused)
    # The agent still sees what they filed; the principal still withdraws.
    assert as_agent.get(f"/cases/{case.number}/").status_code == 200
    as_principal.post(f"/cases/{case.number}/actions/withdraw/")
    case.refresh_from_db()
    assert case.state == "withdrawn"


def test_the_agent_of_someone_else_cannot_revoke() -> None:
    principal = PersonFactory(with_login=True)
    agent = PersonFactory(with_login=True)
    authorisation = services.agent_authorisation_grant(
        actor=principal.user,
        agent_id_number=agent.id_number,
        agent_name=agent.name,
        all_items=True,
        valid_until=timezone.localdate(),
    )
    page = browser(agent).post(f"/me/authorisations/{authorisation.pk}/revoke/", follow=True)
    assert "只有委托人本人，或窗口工作人员应委托人要求，可以撤销授权。" in text(page)
    authorisation.refresh_from_db()
    assert authorisation.state == AuthorisationState.ACTIVE
