"""Approval issues the licence its item produces: signed with the deciding department's seal,
numbered in its yearly series, verifiable offline with the seal's public key alone."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import timezone

from tests.cases.conftest import form_for
from tests.cases.license_support import approved
from tests.factories import PersonFactory, StaffFactory
from tongban.cases import services as cases
from tongban.catalog.models import ServiceItem
from tongban.catalog.selectors import version_current
from tongban.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from tongban.core.models import AuditEntry
from tongban.licenses import credential, identifiers, services
from tongban.licenses.models import License, LicenseState, Seal

pytestmark = pytest.mark.django_db


@pytest.fixture
def item() -> ServiceItem:
    return ServiceItem.objects.get(version=version_current(), name="学历公证")


@pytest.fixture
def staff() -> dict[str, Any]:
    return {
        "reviewer": StaffFactory(reviewer=True, department_key="cq-justice"),
        "approver": StaffFactory(approver=True, department_key="cq-justice"),
    }


def trust(seal: Seal) -> Any:
    key = credential.TrustedKey(seal.public_jwk, services.issuer_code(seal.department))
    return {seal.kid: key}.get


def test_approval_issues_a_signed_licence(item: ServiceItem, staff: dict[str, Any]) -> None:
    person = PersonFactory(with_login=True)
    case = approved(item, staff, person)
    licence = License.objects.get(case=case)
    assert case.state == "approved"
    parsed = identifiers.parse(licence.identifier)
    assert parsed.type_code == licence.type.code
    assert parsed.version == 1
    assert licence.holder_person == person
    assert licence.holder_name == person.name
    assert licence.holder_code_masked == person.id_number_masked
    assert person.id_number not in licence.credential
    assert licence.state == LicenseState.VALID
    assert ["办件编号", case.number] in licence.surface
    today = timezone.localdate()
    verified = credential.verify(licence.credential, trust(licence.seal), today=today)
    assert verified.claims["lid"] == licence.identifier
    assert verified.claims["hh"] == credential.holder_hash(licence.identifier, person.id_number)
    assert verified.claims["exp"] is None  # a notarial certificate does not expire
    assert AuditEntry.objects.filter(action="license.issued", target_id=str(licence.pk)).exists()


def test_each_licence_takes_the_next_number(item: ServiceItem, staff: dict[str, Any]) -> None:
    first = License.objects.get(case=approved(item, staff))
    second = License.objects.get(case=approved(item, staff))
    assert int(second.serial[-6:]) == int(first.serial[-6:]) + 1
    assert first.identifier != second.identifier


def test_an_item_without_a_licence_type_issues_none(staff: dict[str, Any]) -> None:
    other = (
        ServiceItem.objects.filter(
            version=version_current(), implementations__department__key="cq-justice"
        )
        .exclude(name="学历公证")
        .first()
    )
    if other is None:
        pytest.skip("the catalogue has no other item of 重庆市司法局")
    assert services.license_type_for_item(other.name) is None


def test_without_a_seal_the_approval_is_refused_and_nothing_changes(
    item: ServiceItem, staff: dict[str, Any]
) -> None:
    Seal.objects.filter(department__key="cq-justice").update(retired_at=timezone.now())
    person = PersonFactory(with_login=True)
    case = cases.case_submit(
        actor=person.user,
        item_code=item.code,
        scenario_key="general",
        authority_division="500000",
        form_data=form_for(person),
    )
    for who, action in (("reviewer", "accept"), ("reviewer", "begin_review")):
        cases.case_act(actor=staff[who].user, number=case.number, action=action)
    with pytest.raises(Conflict) as refused:
        cases.case_act(actor=staff["approver"].user, number=case.number, action="approve")
    assert refused.value.code == "no_seal"
    case.refresh_from_db()
    assert case.state == "in_review"
    assert not case.events.filter(action="approve").exists()
    assert not License.objects.filter(case=case).exists()


def test_the_issuing_department_revokes_with_a_reason(
    item: ServiceItem, staff: dict[str, Any]
) -> None:
    licence = License.objects.get(case=approved(item, staff))
    with pytest.raises(Forbidden):  # reviewers do not revoke
        services.license_revoke(
            actor=staff["reviewer"].user, identifier=licence.identifier, reason="x"
        )
    elsewhere = StaffFactory(approver=True, department_key="cq-hrss")
    with pytest.raises(NotFound):
        services.license_revoke(actor=elsewhere.user, identifier=licence.identifier, reason="x")
    with pytest.raises(ValidationFailed):
        services.license_revoke(
            actor=staff["approver"].user, identifier=licence.identifier, reason=""
        )
    licence.refresh_from_db()
    assert licence.state == LicenseState.VALID
    revoked = services.license_revoke(
        actor=staff["approver"].user, identifier=licence.identifier, reason="公证书存在错误"
    )
    assert revoked.state == LicenseState.REVOKED
    assert revoked.revoked_at is not None
    assert revoked.revoke_reason == "公证书存在错误"
    again = services.license_revoke(
        actor=staff["approver"].user, identifier=licence.identifier, reason="再次"
    )
    assert again.revoke_reason == "公证书存在错误"  # nothing changes the second time
    assert AuditEntry.objects.filter(action="license.revoked").count() == 1


def test_anyone_asks_the_status_and_learns_nothing_of_the_holder(
    item: ServiceItem, staff: dict[str, Any]
) -> None:
    from django.test import Client

    licence = License.objects.get(case=approved(item, staff))
    answer = Client().get(f"/api/v1/licenses/status/{licence.identifier}")
    assert answer.status_code == 200
    body = answer.json()
    assert body["state"] == "valid"
    assert body["issuer"] == "重庆市司法局"
    assert licence.holder_name not in answer.content.decode()
    services.license_revoke(
        actor=staff["approver"].user, identifier=licence.identifier, reason="错"
    )
    assert (
        Client().get(f"/api/v1/licenses/status/{licence.identifier}").json()["state"] == "revoked"
    )
    bad = Client().get("/api/v1/licenses/status/not-an-identifier")
    assert bad.status_code == 400
    assert bad.json()["fields"]["identifier"] == "证照标识应以 1.2.156.3005.2 开头。"
    mistyped = licence.identifier[:-1] + ("0" if licence.identifier[-1] != "0" else "1")
    assert (
        "校验位不符"
        in Client().get(f"/api/v1/licenses/status/{mistyped}").json()["fields"]["identifier"]
    )
    unknown = str(identifiers.parse(licence.identifier).next_version())
    assert Client().get(f"/api/v1/licenses/status/{unknown}").status_code == 404
