"""The API of real-name levels, enterprise handlers and agent authorisations."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, override_settings
from django.utils import timezone

from tests.accounts.face_double import PATH, sign
from tests.cases.conftest import PDF, form_for
from tests.conftest import login
from tests.factories import EnterpriseFactory, PersonFactory, StaffFactory
from tongban.accounts import services as accounts
from tongban.accounts.models import MemberRole, RealNameLevel
from tongban.catalog.models import ServiceItem
from tongban.catalog.selectors import version_current

pytestmark = pytest.mark.django_db


def _post(client: Client, path: str, body: Any) -> Any:
    return client.post(path, data=json.dumps(body), content_type="application/json")


@pytest.fixture
def notary(db: None) -> ServiceItem:
    return ServiceItem.objects.get(version=version_current(), name="学历公证")


def _case(client: Client, person: Any, notary: ServiceItem, **extra: Any) -> Any:
    return _post(
        client,
        "/api/v1/cases",
        {
            "item_code": notary.code,
            "scenario_key": "general",
            "authority_division": "500000",
            "form_data": form_for(person),
            **extra,
        },
    )


def test_a_too_low_level_is_a_clear_403(api: Client, notary: ServiceItem) -> None:
    newcomer = PersonFactory(with_login=True, real_name_level=RealNameLevel.REGISTERED)
    response = _case(login(api, newcomer.user), newcomer, notary)
    assert response.status_code == 403
    body = response.json()
    assert body["code"] == "real_name_level_too_low"
    assert "L2" in body["message"]
    assert "窗口" in body["message"]
    assert body["fields"] == {"real_name_level": "至少需要L2。"}
    english = api.post(
        "/api/v1/cases",
        data=json.dumps(
            {
                "item_code": notary.code,
                "scenario_key": "general",
                "authority_division": "500000",
                "form_data": form_for(newcomer),
            }
        ),
        content_type="application/json",
        headers={"accept-language": "en"},
    )
    assert "needs real-name level L2" in english.json()["message"]


def test_the_guide_states_the_level(api: Client, notary: ServiceItem) -> None:
    body = api.get(f"/api/v1/catalog/items/{notary.code}").json()
    assert body["min_real_name_level"] == 2


def test_verification_methods_and_in_person_verification(api: Client) -> None:
    methods = api.get("/api/v1/accounts/verification-methods").json()
    assert [m["key"] for m in methods] == ["in_person"]
    assert methods[0]["level"] == 3
    assert not methods[0]["online"]

    newcomer = PersonFactory(with_login=True, real_name_level=RealNameLevel.REGISTERED)
    citizen = login(Client(), newcomer.user)
    payload = {
        "id_number": newcomer.id_number,
        "name": newcomer.name,
        "document_checked": "resident_id_card",
    }
    refused = _post(citizen, "/api/v1/accounts/persons/verify-in-person", payload)
    assert refused.status_code == 403
    clerk = StaffFactory(window_clerk=True)
    response = _post(login(api, clerk.user), "/api/v1/accounts/persons/verify-in-person", payload)
    assert response.status_code == 200
    assert response.json()["real_name_level"] == 3
    mine = citizen.get("/api/v1/accounts/me/verifications").json()
    assert [(v["method"], v["level_before"], v["level_after"]) for v in mine] == [
        ("in_person", 1, 3)
    ]
    assert mine[0]["verified_by"] == clerk.user.username
    not_online = citizen.post("/api/v1/accounts/me/verifications/in_person/start")
    assert not_online.status_code == 409


@override_settings(
    TONGBAN_VERIFICATION_METHODS=["tongban.accounts.verification.InPersonVerification", PATH]
)
def test_a_provider_callback_raises_the_level(api: Client) -> None:
    newcomer = PersonFactory(with_login=True, real_name_level=RealNameLevel.REGISTERED)
    citizen = login(Client(), newcomer.user)
    start = citizen.post("/api/v1/accounts/me/verifications/face_double/start").json()
    state = parse_qs(urlparse(start["redirect_url"]).query)["state"][0]
    forged = {"state": state, "reference": "X", "passed": True, "signature": "00"}
    refused = _post(api, "/api/v1/accounts/verifications/face_double/callback", forged)
    assert refused.status_code == 403
    verdict = sign({"state": state, "reference": "X-1", "passed": True})
    ok = _post(api, "/api/v1/accounts/verifications/face_double/callback", verdict)
    assert ok.json() == {"result": "raised"}
    replay = _post(api, "/api/v1/accounts/verifications/face_double/callback", verdict)
    assert replay.status_code == 409
    assert citizen.get("/api/v1/accounts/me").json()["person"]["real_name_level"] == 3
    form = api.post("/api/v1/accounts/verifications/face_double/callback", data={"state": state})
    assert form.status_code == 415  # JSON only


def test_handlers_are_listed_and_removed(api: Client) -> None:
    representative = PersonFactory(with_login=True)
    enterprise = EnterpriseFactory(legal_representative=representative)
    handler = PersonFactory(with_login=True)
    accounts.enterprise_member_add(
        actor=representative.user,
        enterprise=enterprise,
        id_number=handler.id_number,
        name=handler.name,
        role=MemberRole.AUTHORISED_HANDLER,
    )
    as_handler = login(Client(), handler.user)
    members = as_handler.get(f"/api/v1/accounts/enterprises/{enterprise.uscc}/members").json()
    assert {m["role"] for m in members} == {"legal_representative", "authorised_handler"}
    assert all("*" in m["name"] for m in members)
    path = f"/api/v1/accounts/enterprises/{enterprise.uscc}/members/{handler.pk}/remove"
    assert _post(as_handler, path, {}).status_code == 403
    removed = _post(login(api, representative.user), path, {"reason": "离职"})
    assert removed.status_code == 204
    gone = as_handler.get(f"/api/v1/accounts/enterprises/{enterprise.uscc}/members")
    assert gone.status_code == 403


def test_authorisations_through_the_api(api: Client, notary: ServiceItem) -> None:
    principal = PersonFactory(with_login=True, real_name_level=RealNameLevel.REGISTERED)
    agent = PersonFactory(with_login=True)
    as_principal = login(Client(), principal.user)
    as_agent = login(Client(), agent.user)
    until = (timezone.localdate() + dt.timedelta(days=30)).isoformat()

    no_match = _post(
        as_principal,
        "/api/v1/authorisations",
        {
            "agent_id_number": agent.id_number,
            "agent_name": "别人",
            "all_items": True,
            "valid_until": until,
        },
    )
    assert no_match.status_code == 400
    assert no_match.json()["fields"] == {
        "agent_id_number": "没有与该公民身份号码和姓名相符的注册用户。"
    }

    created = _post(
        as_principal,
        "/api/v1/authorisations",
        {
            "agent_id_number": agent.id_number,
            "agent_name": agent.name,
            "item_codes": [notary.code],
            "valid_until": until,
        },
    )
    assert created.status_code == 201
    authorisation = created.json()
    assert authorisation["state"] == "active"
    assert authorisation["power_of_attorney"] == "signed_online"
    assert (
        as_agent.get("/api/v1/authorisations/mine").json()["received"][0]["id"]
        == (authorisation["id"])
    )

    filed = _case(as_agent, principal, notary, authorisation_id=authorisation["id"])
    assert filed.status_code == 201
    case = filed.json()
    assert case["applicant"] == principal.name_masked
    assert case["agent"] == agent.name_masked
    assert case["authorisation_id"] == authorisation["id"]
    assert as_principal.get(f"/api/v1/cases/{case['number']}").json()["agent"] == (
        agent.name_masked
    )

    stranger = login(Client(), PersonFactory(with_login=True).user)
    assert stranger.get(f"/api/v1/authorisations/{authorisation['id']}").status_code == 404
    assert (
        _post(stranger, f"/api/v1/authorisations/{authorisation['id']}/revoke", {}).status_code
        == 404
    )
    revoked = _post(
        as_principal, f"/api/v1/authorisations/{authorisation['id']}/revoke", {"reason": "不用了"}
    )
    assert revoked.json()["state"] == "revoked"
    acting = _post(as_agent, f"/api/v1/cases/{case['number']}/actions/withdraw", {})
    assert acting.status_code == 403
    assert acting.json()["code"] == "authorisation_revoked"
    again = _case(as_agent, principal, notary, authorisation_id=authorisation["id"])
    assert again.json()["code"] == "authorisation_revoked"


def test_a_clerk_records_and_looks_up_authorisations(api: Client) -> None:
    principal = PersonFactory()
    agent = PersonFactory()
    clerk = login(api, StaffFactory(window_clerk=True).user)
    until = timezone.localdate().isoformat()
    recorded = clerk.post(
        "/api/v1/authorisations/at-window",
        {
            "principal_id_number": principal.id_number,
            "principal_name": principal.name,
            "agent_id_number": agent.id_number,
            "agent_name": agent.name,
            "all_items": "true",
            "valid_until": until,
            "file": SimpleUploadedFile("poa.pdf", PDF, content_type="application/pdf"),
        },
    )
    assert recorded.status_code == 201, recorded.content
    assert recorded.json()["power_of_attorney"] == "uploaded"
    bad_file = clerk.post(
        "/api/v1/authorisations/at-window",
        {
            "principal_id_number": principal.id_number,
            "principal_name": principal.name,
            "agent_id_number": agent.id_number,
            "agent_name": agent.name,
            "all_items": "true",
            "valid_until": until,
            "file": SimpleUploadedFile("poa.pdf", b"<html>", content_type="application/pdf"),
        },
    )
    assert bad_file.status_code == 400
    assert "file" in bad_file.json()["fields"]
    found = _post(
        clerk,
        "/api/v1/authorisations/of-person",
        {"id_number": principal.id_number, "name": principal.name},
    )
    assert [a["id"] for a in found.json()] == [recorded.json()["id"]]
    citizen = login(Client(), PersonFactory(with_login=True).user)
    assert (
        _post(
            citizen,
            "/api/v1/authorisations/of-person",
            {"id_number": principal.id_number, "name": principal.name},
        ).status_code
        == 403
    )
