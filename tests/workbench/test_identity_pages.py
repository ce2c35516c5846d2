"""The window's pages for in-person verification and agent authorisations; the case page and
the queue show applicant and agent."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from tests.cases.conftest import PDF, form_for
from tests.factories import PersonFactory
from tests.portal.pages import html, text
from tests.workbench.conftest import desk
from tests.workbench.test_window import receive_form
from tongban.accounts.models import Person, RealNameLevel
from tongban.cases import services
from tongban.cases.models import AgentAuthorisation, AuthorisationState, Case
from tongban.catalog.models import ServiceItem

pytestmark = pytest.mark.django_db


@pytest.fixture
def newcomer(db: None) -> Any:
    return PersonFactory(real_name_level=RealNameLevel.REGISTERED)


def test_the_clerk_verifies_a_person_in_person(window_clerk: Any, newcomer: Any) -> None:
    client = desk(window_clerk)
    assert 'href="/workbench/verify/"' in html(client.get("/workbench/"))
    page = client.get("/workbench/verify/")
    assert page.status_code == 200
    assert "居民身份证" in text(page)
    wrong = client.post(
        "/workbench/verify/",
        {"id_number": newcomer.id_number, "name": "别人", "document_checked": "resident_id_card"},
    )
    assert wrong.status_code == 400
    assert "姓名与公民身份号码不一致。" in text(wrong)
    done = client.post(
        "/workbench/verify/",
        {
            "id_number": newcomer.id_number,
            "name": newcomer.name,
            "document_checked": "resident_id_card",
        },
        follow=True,
    )
    assert "L3" in text(done)
    assert Person.objects.get(pk=newcomer.pk).real_name_level == 3
    again = client.post(
        "/workbench/verify/",
        {"id_number": newcomer.id_number, "name": newcomer.name, "document_checked": "passport"},
        follow=True,
    )
    assert "无变化" in text(again)


def test_only_window_staff_verify(reviewer: Any, newcomer: Any) -> None:
    client = desk(reviewer)
    assert client.get("/workbench/verify/").status_code == 403
    assert client.get("/workbench/authorisations/").status_code == 403
    assert 'href="/workbench/verify/"' not in html(client.get("/workbench/"))


def test_receiving_records_the_in_person_check_when_ticked(
    window_clerk: Any, newcomer: Any, notary: ServiceItem
) -> None:
    client = desk(window_clerk)
    refused = client.post("/workbench/receive/", receive_form(newcomer, notary))
    assert refused.status_code == 403
    assert "L2" in text(refused)
    assert not Case.objects.exists()
    received = client.post(
        "/workbench/receive/",
        receive_form(newcomer, notary, verify_in_person="1", document_checked="resident_id_card"),
    )
    assert received.status_code == 302
    assert Case.objects.get().applicant_person == newcomer
    assert Person.objects.get(pk=newcomer.pk).real_name_level == 3


def test_the_clerk_records_and_revokes_an_authorisation(window_clerk: Any) -> None:
    principal = PersonFactory()
    agent = PersonFactory()
    client = desk(window_clerk)
    form = {
        "form": "record",
        "principal_id_number": principal.id_number,
        "principal_name": principal.name,
        "agent_id_number": agent.id_number,
        "agent_name": agent.name,
        "scope": "all",
        "valid_until": (timezone.localdate() + dt.timedelta(days=5)).isoformat(),
    }
    missing = client.post("/workbench/authorisations/", form)
    assert missing.status_code == 400
    assert "请扫描上传已签署的授权委托书。" in text(missing)
    bad = client.post(
        "/workbench/authorisations/", {**form, "file": SimpleUploadedFile("a.pdf", b"nope")}
    )
    assert bad.status_code == 400
    ok = client.post(
        "/workbench/authorisations/",
        {**form, "file": SimpleUploadedFile("委托书.pdf", PDF)},
        follow=True,
    )
    authorisation = AgentAuthorisation.objects.get()
    assert f"#{authorisation.pk}" in text(ok)
    found = client.post(
        "/workbench/authorisations/",
        {"form": "lookup", "id_number": principal.id_number, "name": principal.name},
    )
    assert f"/workbench/authorisations/{authorisation.pk}/revoke/" in html(found)
    client.post(
        f"/workbench/authorisations/{authorisation.pk}/revoke/", {"reason": "委托人要求撤销"}
    )
    authorisation.refresh_from_db()
    assert authorisation.state == AuthorisationState.REVOKED


def test_the_case_page_and_queue_show_the_agent(
    window_clerk: Any, reviewer: Any, notary: ServiceItem
) -> None:
    principal = PersonFactory(with_login=True)
    agent = PersonFactory(with_login=True)
    authorisation = services.agent_authorisation_grant(
        actor=principal.user,
        agent_id_number=agent.id_number,
        agent_name=agent.name,
        all_items=True,
        valid_until=timezone.localdate(),
    )
    case = services.case_submit(
        actor=agent.user,
        item_code=notary.code,
        scenario_key="general",
        authority_division="500000",
        form_data=form_for(principal),
        authorisation_id=authorisation.pk,
    )
    page = desk(reviewer).get(f"/workbench/cases/{case.number}/")
    assert principal.name_masked in text(page)
    assert agent.name_masked in text(page)
    assert "依代办授权" in text(page)
    queue = desk(reviewer).get("/workbench/")
    assert agent.name_masked in text(queue)
