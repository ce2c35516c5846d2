"""Staff in the admin: created by staff_create, roles changed by staff_set_roles."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib import admin
from django.test import Client, RequestFactory
from django.urls import reverse

from tests.factories import PASSWORD, StaffFactory
from tongban.accounts.models import Staff, StaffRole, User
from tongban.core.models import AuditEntry

pytestmark = pytest.mark.django_db

ADD_URL = reverse("admin:accounts_staff_add")


def _change_url(staff: Staff) -> str:
    return reverse("admin:accounts_staff_change", args=[staff.pk])


def _new_staff(**overrides: Any) -> dict[str, Any]:
    return {
        "username": "reviewer-admin",
        "password": PASSWORD,
        "name": "周文静",
        "employee_number": "A0001",
        "department_key": "cq-hrss",
        "jurisdiction_code": "500103",
        "roles": [StaffRole.REVIEWER, StaffRole.APPROVER],
    } | overrides


def _roles(staff: Staff) -> set[str]:
    return set(staff.role_grants.values_list("role", flat=True))


def test_adding_staff_creates_them_with_the_chosen_roles(
    admin_ui: Client, platform_admin: Staff
) -> None:
    response = admin_ui.post(ADD_URL, _new_staff())
    assert response.status_code == 302
    staff = Staff.objects.get(employee_number="A0001")
    assert staff.name == "周文静"
    assert staff.user.username == "reviewer-admin"
    assert staff.user.check_password(PASSWORD)
    assert not staff.user.is_staff
    assert staff.department.key == "cq-hrss"
    assert staff.jurisdiction_id == "500103"
    assert _roles(staff) == {"reviewer", "approver"}
    entry = AuditEntry.objects.get(action="staff.created", target_id=str(staff.pk))
    assert entry.actor == platform_admin.user
    assert entry.changes["roles"] == ["approver", "reviewer"]


def test_an_unknown_department_key_is_shown_and_nothing_is_created(admin_ui: Client) -> None:
    users_before = User.objects.count()
    response = admin_ui.post(ADD_URL, _new_staff(department_key="no-such-department"))
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["department_key"] == ["部门标识不存在。"]
    assert "部门标识不存在。" in response.content.decode()
    assert not Staff.objects.filter(employee_number="A0001").exists()
    assert User.objects.count() == users_before


def test_changing_roles_runs_staff_set_roles(admin_ui: Client, platform_admin: Staff) -> None:
    staff = StaffFactory(reviewer=True)
    response = admin_ui.post(_change_url(staff), {"roles": ["approver", "window_clerk"]})
    assert response.status_code == 302
    assert _roles(staff) == {"approver", "window_clerk"}
    entry = AuditEntry.objects.get(action="staff.roles_changed", target_id=str(staff.pk))
    assert entry.actor == platform_admin.user
    assert entry.changes == {"roles": [["reviewer"], ["approver", "window_clerk"]]}


def test_granting_platform_admin_gives_the_django_admin(admin_ui: Client) -> None:
    staff = StaffFactory(reviewer=True)
    admin_ui.post(_change_url(staff), {"roles": ["platform_admin"]})
    staff.user.refresh_from_db()
    assert staff.user.is_staff
    assert staff.user.is_superuser


def test_saving_unchanged_roles_records_nothing(admin_ui: Client) -> None:
    staff = StaffFactory(reviewer=True)
    response = admin_ui.post(_change_url(staff), {"roles": ["reviewer"]})
    assert response.status_code == 302
    assert not AuditEntry.objects.filter(action="staff.roles_changed").exists()


def test_removing_every_role_is_refused(admin_ui: Client) -> None:
    staff = StaffFactory(reviewer=True)
    response = admin_ui.post(_change_url(staff), {"roles": []})
    assert response.status_code == 200
    assert "roles" in response.context["adminform"].form.errors
    assert _roles(staff) == {"reviewer"}


def test_a_platform_admin_cannot_change_their_own_roles(
    admin_ui: Client, platform_admin: Staff
) -> None:
    response = admin_ui.post(_change_url(platform_admin), {"roles": ["reviewer"]})
    assert response.status_code == 200
    assert response.context["adminform"].form.non_field_errors() == ["不能修改自己的角色。"]
    assert _roles(platform_admin) == {"platform_admin"}
    assert not AuditEntry.objects.filter(action="staff.roles_changed").exists()


def test_a_department_admin_cannot_change_their_own_roles() -> None:
    # Not through the Django admin (they are not is_staff), but the rule itself holds.
    from tongban.accounts import services
    from tongban.core.errors import Forbidden

    admin = StaffFactory(department_admin=True)
    with pytest.raises(Forbidden) as refused:
        services.staff_set_roles(actor=admin.user, staff=admin, roles=["platform_admin"])
    assert str(refused.value.message) == "不能修改自己的角色。"
    assert _roles(admin) == {"department_admin"}


def test_a_change_form_keeps_its_own_staff_members_roles(platform_admin: Staff) -> None:
    reviewer = StaffFactory(reviewer=True)
    approver = StaffFactory(approver=True)
    request = RequestFactory().get("/admin/")
    request.user = platform_admin.user
    model_admin = admin.site._registry[Staff]
    reviewer_form = model_admin.get_form(request, reviewer, change=True)
    model_admin.get_form(request, approver, change=True)  # another request, meanwhile
    assert reviewer_form(instance=reviewer)["roles"].initial == ["reviewer"]
