"""Hall edits in the admin (and its window/opening-period inlines) are audited."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from tests.admin_forms import form_data
from tongban.accounts.models import Staff
from tongban.core.audit import SYSTEM
from tongban.core.models import AuditEntry
from tongban.regions.models import Department, ServiceHall, Window
from tongban.regions.services import hall_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def hall() -> ServiceHall:
    return hall_create(
        actor=SYSTEM,
        key="test-hall",
        name="测试政务服务中心",
        division_code="500103",
        address="（测试）重庆市渝中区",
        opening_periods=[{"weekdays": [1, 2, 3, 4, 5], "start": "09:00", "end": "17:00"}],
        windows=[
            {"number": "01", "name": "综合窗口", "kind": "general", "departments": ["cq-hrss"]}
        ],
    )


def test_editing_the_name_and_adding_a_window_is_audited(
    admin_ui: Client, platform_admin: Staff, hall: ServiceHall
) -> None:
    url = reverse("admin:regions_servicehall_change", args=[hall.pk])
    data = form_data(admin_ui.get(url))
    assert data["windows-TOTAL_FORMS"] == "1"
    department = Department.objects.get(key="cq-public-security")
    data |= {
        "name": "重庆市渝中区政务服务中心",
        "windows-TOTAL_FORMS": "2",
        "windows-1-number": "02",
        "windows-1-name": "跨省通办窗口",
        "windows-1-kind": "cross_province",
        "windows-1-departments": [str(department.pk)],
        "windows-1-off_hours": "on",
        "windows-1-active": "on",
    }
    response = admin_ui.post(url, data)
    assert response.status_code == 302

    hall.refresh_from_db()
    assert hall.name == "重庆市渝中区政务服务中心"
    window = Window.objects.get(hall=hall, number="02")
    assert window.name == "跨省通办窗口"
    assert list(window.departments.all()) == [department]

    updated = AuditEntry.objects.get(action="servicehall.updated")
    assert (updated.target_type, updated.target_id) == ("regions.servicehall", str(hall.pk))
    assert updated.actor == platform_admin.user
    assert updated.changes == {"name": ["测试政务服务中心", "重庆市渝中区政务服务中心"]}

    created = AuditEntry.objects.get(action="window.created")
    assert (created.target_type, created.target_id) == ("regions.servicehall", str(hall.pk))
    assert created.actor == platform_admin.user
    assert created.changes["inline"] == "regions.window"
    assert created.changes["number"] == "02"
    assert created.changes["kind"] == "cross_province"


def test_changing_and_deleting_inline_rows_is_audited(admin_ui: Client, hall: ServiceHall) -> None:
    url = reverse("admin:regions_servicehall_change", args=[hall.pk])
    data = form_data(admin_ui.get(url))
    window = Window.objects.get(hall=hall)
    assert data["windows-0-id"] == str(window.pk)
    data["windows-0-name"] = "综合受理窗口"
    data["opening_periods-0-DELETE"] = "on"
    response = admin_ui.post(url, data)
    assert response.status_code == 302

    window.refresh_from_db()
    assert window.name == "综合受理窗口"
    assert hall.opening_periods.count() == 4
    changed = AuditEntry.objects.get(action="window.updated")
    assert changed.target_id == str(hall.pk)
    assert changed.changes == {"inline": "regions.window", "name": "综合受理窗口"}
    deleted = AuditEntry.objects.get(action="openingperiod.deleted")
    assert deleted.target_id == str(hall.pk)
    assert deleted.changes["inline"] == "regions.openingperiod"
