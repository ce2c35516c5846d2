"""The issuing department's licence register: find, revoke, issue a new version."""

from __future__ import annotations

from typing import Any

import pytest

from tests.factories import StaffFactory
from tests.licenses.test_issuing import approved
from tests.workbench.conftest import desk
from tongban.catalog.models import ServiceItem
from tongban.licenses.models import License, LicenseState

pytestmark = pytest.mark.django_db
PAGE = "/workbench/licenses/"


@pytest.fixture
def issued(notary: ServiceItem, reviewer: Any, approver: Any) -> License:
    return License.objects.get(case=approved(notary, {"reviewer": reviewer, "approver": approver}))


def test_the_approver_finds_the_departments_licences(issued: License, approver: Any) -> None:
    page = desk(approver).get(PAGE)
    assert page.status_code == 200
    body = page.content.decode()
    assert issued.identifier in body
    assert issued.holder_code_masked in body
    assert 'href="/workbench/licenses/"' in body  # in the menu
    found = desk(approver).get(PAGE, {"q": issued.number}).content.decode()
    assert issued.identifier in found
    none = desk(approver).get(PAGE, {"q": "无此证照"}).content.decode()
    assert issued.identifier not in none


def test_another_departments_admin_sees_none_of_them(issued: License) -> None:
    admin = StaffFactory(department_admin=True, department_key="cq-hrss")
    page = desk(admin).get(PAGE)
    assert page.status_code == 200
    assert issued.identifier not in page.content.decode()


def test_a_reviewer_may_not_open_the_register(issued: License, reviewer: Any) -> None:
    page = desk(reviewer).get(PAGE)
    assert page.status_code == 403
    assert 'href="/workbench/licenses/"' not in desk(reviewer).get("/workbench/").content.decode()


def test_revoke_and_reissue_from_the_register(issued: License, approver: Any) -> None:
    client = desk(approver)
    reissued = client.post(
        f"/workbench/licenses/{issued.identifier}/reissue/", {"reason": "更正"}, follow=True
    )
    newer = License.objects.get(serial=issued.serial, version=2)
    assert newer.identifier in reissued.content.decode()
    issued.refresh_from_db()
    assert issued.state == LicenseState.SUPERSEDED
    client.post(f"/workbench/licenses/{newer.identifier}/revoke/", {"reason": "骗取"})
    newer.refresh_from_db()
    assert (newer.state, newer.revoke_reason) == (LicenseState.REVOKED, "骗取")


def test_a_revoke_without_reason_is_refused_with_the_reason(issued: License, approver: Any) -> None:
    page = desk(approver).post(
        f"/workbench/licenses/{issued.identifier}/revoke/", {"reason": ""}, follow=True
    )
    assert page.status_code == 200
    assert 'class="msg msg-error"' in page.content.decode()
    issued.refresh_from_db()
    assert issued.state == LicenseState.VALID


def test_another_departments_licence_cannot_be_revoked(issued: License) -> None:
    other = StaffFactory(approver=True, department_key="cq-hrss")
    desk(other).post(f"/workbench/licenses/{issued.identifier}/revoke/", {"reason": "x"})
    issued.refresh_from_db()
    assert issued.state == LicenseState.VALID
