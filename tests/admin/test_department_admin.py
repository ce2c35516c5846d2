"""Creating a department in the admin runs department_create; edits are audited."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from tongban.accounts.models import Staff
from tongban.core.models import AuditEntry
from tongban.regions.models import Department

pytestmark = pytest.mark.django_db

ADD_URL = reverse("admin:regions_department_add")


def _new_department(**overrides: Any) -> dict[str, Any]:
    return {
        "key": "cq-yuzhong-market",
        "name": "重庆市渝中区市场监督管理局",
        "short_name": "渝中区市场监管局",
        "division_code": "500103",
        "kind": "government",
        "uscc": "",
    } | overrides


def test_adding_a_department_creates_it_through_the_service(
    admin_ui: Client, platform_admin: Staff
) -> None:
    response = admin_ui.post(ADD_URL, _new_department())
    assert response.status_code == 302
    department = Department.objects.get(key="cq-yuzhong-market")
    assert department.name == "重庆市渝中区市场监督管理局"
    assert department.short_name == "渝中区市场监管局"
    assert department.division_id == "500103"
    assert department.kind == "government"
    assert department.uscc is None
    entry = AuditEntry.objects.get(action="department.created", target_id=str(department.pk))
    assert entry.actor == platform_admin.user
    assert entry.changes["division"] == "500103"


def test_a_four_digit_division_code_is_shown_and_nothing_is_created(admin_ui: Client) -> None:
    count = Department.objects.count()
    entries = AuditEntry.objects.count()
    response = admin_ui.post(ADD_URL, _new_department(division_code="5000"))
    assert response.status_code == 200
    form = response.context["adminform"].form
    assert form.errors["division_code"] == ["行政区划代码为6位数字，例如 500000。"]
    assert "行政区划代码为6位数字，例如 500000。" in response.content.decode()
    assert Department.objects.count() == count
    assert AuditEntry.objects.count() == entries


def test_a_key_in_use_is_refused(admin_ui: Client) -> None:
    response = admin_ui.post(ADD_URL, _new_department(key="cq-hrss"))
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["key"] == ["该标识已被使用。"]
    assert not Department.objects.filter(short_name="渝中区市场监管局").exists()


def test_editing_a_department_is_audited(admin_ui: Client, platform_admin: Staff) -> None:
    department = Department.objects.get(key="cq-hrss")
    response = admin_ui.post(
        reverse("admin:regions_department_change", args=[department.pk]),
        {
            "name": department.name,
            "short_name": "重庆人社",
            "kind": department.kind,
            "active": "on",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    department.refresh_from_db()
    assert department.short_name == "重庆人社"
    entry = AuditEntry.objects.get(action="department.updated", target_id=str(department.pk))
    assert entry.actor == platform_admin.user
    assert list(entry.changes) == ["short_name"]
    assert entry.changes["short_name"][1] == "重庆人社"
