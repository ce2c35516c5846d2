"""Every admin page renders for a platform admin, in Chinese by default and English on request."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib import admin
from django.test import Client, RequestFactory
from django.urls import reverse

from tests.factories import EnterpriseFactory, PersonFactory, StaffFactory
from tongban.accounts.models import Enterprise, Person, Staff
from tongban.core.audit import SYSTEM
from tongban.regions.models import Department, ServiceHall
from tongban.regions.services import hall_create

pytestmark = pytest.mark.django_db

REGISTERED = sorted(model._meta.label_lower for model in admin.site._registry)


def _model_admin(label: str) -> tuple[type[Any], Any]:
    for model, model_admin in admin.site._registry.items():
        if model._meta.label_lower == label:
            return model, model_admin
    raise LookupError(label)


def _title(response: Any) -> str:
    match = re.search(r"<title>(.*?)</title>", response.content.decode(), re.S)
    assert match is not None
    return match.group(1).strip()


def _h1(response: Any) -> str:
    match = re.search(r"<h1[^>]*>(.*?)</h1>", response.content.decode(), re.S)
    assert match is not None
    return match.group(1).strip()


@pytest.fixture
def hall() -> ServiceHall:
    return hall_create(
        actor=SYSTEM,
        key="test-hall",
        name="测试政务服务中心",
        division_code="500103",
        windows=[{"number": "01", "name": "综合窗口", "kind": "general"}],
    )


def test_every_model_admin_is_registered() -> None:
    assert set(REGISTERED) >= {
        "accounts.user",
        "accounts.person",
        "accounts.enterprise",
        "accounts.staff",
        "regions.division",
        "regions.department",
        "regions.servicehall",
        "core.auditentry",
    }


@pytest.mark.parametrize("label", REGISTERED)
def test_changelist_renders_in_chinese(admin_ui: Client, label: str) -> None:
    model, _ = _model_admin(label)
    PersonFactory(name="王小明")  # so that lists of persons, users and audit entries have rows
    meta = model._meta
    response = admin_ui.get(reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist"))
    assert response.status_code == 200
    # The autouse fixture activates zh-hans, as the request does by default.
    name = re.escape(str(meta.verbose_name))
    # "Select … to change", or "… to view" for read-only lists.
    assert re.fullmatch(rf"选择 ?{name} ?(来修改|查看) \| 通办管理后台", _title(response))


@pytest.mark.parametrize("label", REGISTERED)
def test_add_page_renders_where_adding_is_permitted(
    admin_ui: Client, platform_admin: Any, label: str
) -> None:
    model, model_admin = _model_admin(label)
    request = RequestFactory().get("/admin/")
    request.user = platform_admin.user
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_add")
    response = admin_ui.get(url)
    if model_admin.has_add_permission(request):
        assert response.status_code == 200
        assert f'id="{model._meta.model_name}_form"' in response.content.decode()
    else:
        assert response.status_code == 403


@pytest.mark.parametrize(
    ("label", "fields"),
    [
        ("accounts.person", ["name", "id_number", "phone"]),
        (
            "accounts.enterprise",
            ["uscc", "name", "legal_representative_id_number", "legal_representative_name"],
        ),
        (
            "accounts.staff",
            [
                "username",
                "password",
                "name",
                "employee_number",
                "department_key",
                "jurisdiction_code",
                "roles",
            ],
        ),
        ("regions.department", ["key", "name", "short_name", "division_code", "kind", "uscc"]),
    ],
)
def test_service_add_pages_show_the_service_fields(
    admin_ui: Client, label: str, fields: list[str]
) -> None:
    app_label, model_name = label.split(".")
    html = admin_ui.get(reverse(f"admin:{app_label}_{model_name}_add")).content.decode()
    shown = re.findall(r'<(?:input|select|textarea)[^>]* name="([a-z_]+)"', html)
    assert [name for name in dict.fromkeys(shown) if name in fields] == fields


def test_person_change_page_shows_only_masked_identifiers(admin_ui: Client) -> None:
    person: Person = PersonFactory(name="王小明", phone="13912345678")
    response = admin_ui.get(reverse("admin:accounts_person_change", args=[person.pk]))
    html = response.content.decode()
    assert response.status_code == 200
    assert person.id_number_masked in html
    assert "139****5678" in html
    assert person.id_number not in html
    assert "13912345678" not in html


def test_enterprise_change_page_renders(admin_ui: Client) -> None:
    enterprise: Enterprise = EnterpriseFactory(name="重庆测试科技有限公司")
    response = admin_ui.get(reverse("admin:accounts_enterprise_change", args=[enterprise.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert "重庆测试科技有限公司" in html
    assert enterprise.uscc in html


def test_staff_change_page_renders_with_current_roles_checked(
    admin_ui: Client, platform_admin: Staff
) -> None:
    staff = StaffFactory(reviewer=True, name="周文静")
    response = admin_ui.get(reverse("admin:accounts_staff_change", args=[staff.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert "周文静" in html
    checked = re.findall(r'type="checkbox" name="roles" value="([a-z_]+)"[^>]* checked', html)
    assert checked == ["reviewer"]


def test_department_change_page_renders(admin_ui: Client) -> None:
    department = Department.objects.get(key="cq-hrss")
    response = admin_ui.get(reverse("admin:regions_department_change", args=[department.pk]))
    assert response.status_code == 200
    assert department.name in response.content.decode()


def test_hall_change_page_renders_with_its_windows(admin_ui: Client, hall: ServiceHall) -> None:
    response = admin_ui.get(reverse("admin:regions_servicehall_change", args=[hall.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'value="测试政务服务中心"' in html
    assert 'value="综合窗口"' in html


# Language ---------------------------------------------------------------------------------


def test_admin_is_chinese_by_default(admin_ui: Client) -> None:
    response = admin_ui.get("/admin/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "通办管理后台" in _title(response)
    assert "自然人" in html
    assert "Natural persons" not in html


def test_switching_to_english_shows_the_admin_in_english(admin_ui: Client) -> None:
    response = admin_ui.post("/i18n/setlang/", {"language": "en", "next": "/admin/"}, follow=True)
    assert response.redirect_chain == [("/admin/", 302)]
    html = response.content.decode()
    assert _title(response).endswith("| tongban administration")
    assert "Natural persons" in html
    assert "自然人" not in html
    # The choice sticks for the next page.
    changelist = admin_ui.get(reverse("admin:accounts_person_changelist"))
    assert _title(changelist) == "Select natural person to view | tongban administration"


def test_index_heading_follows_the_language(admin_ui: Client) -> None:
    assert _h1(admin_ui.get("/admin/")) == "节点 500000"
    admin_ui.post("/i18n/setlang/", {"language": "en", "next": "/admin/"})
    assert _h1(admin_ui.get("/admin/")) == "Node 500000"


def _language_switcher(html: str) -> list[tuple[str, bool]]:
    select = re.search(r'<select[^>]* name="language"[^>]*>(.*?)</select>', html, re.S)
    assert select is not None, "no language switcher"
    return [
        (value, bool(selected))
        for value, selected in re.findall(r'<option value="([^"]+)"( selected)?>', select.group(1))
    ]


def test_index_page_has_the_language_switcher(admin_ui: Client) -> None:
    html = admin_ui.get("/admin/").content.decode()
    assert _language_switcher(html) == [("zh-hans", True), ("en", False)]
    assert 'action="/i18n/setlang/"' in html


def test_the_admin_login_is_the_staff_sign_in() -> None:
    """Staff sign in once, with their authenticator code, at the workbench; then go on."""
    response = Client().get("/admin/login/", {"next": "/admin/accounts/person/"})
    assert response.status_code == 302
    assert response["Location"] == "/workbench/login/?next=%2Fadmin%2Faccounts%2Fperson%2F"
    # Never onwards to another site.
    response = Client().get("/admin/login/", {"next": "https://evil.example/"})
    assert response["Location"] == "/workbench/login/?next=%2Fadmin%2F"


# Access -----------------------------------------------------------------------------------


def test_a_citizen_is_sent_to_the_admin_login_page() -> None:
    citizen = PersonFactory(with_login=True)
    client = Client()
    client.force_login(citizen.user)
    response = client.get("/admin/")
    assert response.status_code == 302
    assert response["Location"] == "/admin/login/?next=/admin/"


def test_an_anonymous_visitor_is_sent_to_the_admin_login_page() -> None:
    response = Client().get("/admin/accounts/person/")
    assert response.status_code == 302
    assert response["Location"] == "/admin/login/?next=/admin/accounts/person/"
