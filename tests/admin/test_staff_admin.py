"""Staff in the admin: created by staff_create, roles changed by staff_set_roles."""

from __future__ import annotations

from typing import Any

import pytest
from axes.models import AccessAttempt
from django.contrib import admin
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone

from tests.conftest import otp_device
from tests.factories import PASSWORD, StaffFactory
from tongban.accounts.models import Staff, StaffRole, User
from tongban.accounts.selectors import otp_device_for
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


# Sign-in: authenticator resets and unlocks ---------------------------------------------------


def _act(client: Client, action: str, *staff: Staff) -> Any:
    return client.post(
        reverse("admin:accounts_staff_changelist"),
        {"action": action, "_selected_action": [member.pk for member in staff]},
        follow=True,
    )


def test_admins_reset_authenticators_from_the_staff_list(admin_ui: Client) -> None:
    first, second = StaffFactory(), StaffFactory()
    for member in (first, second):
        otp_device(member.user)
    page = _act(admin_ui, "reset_authenticator", first, second)
    assert page.status_code == 200
    assert "已为 2 名工作人员重置身份验证器。" in page.content.decode()
    assert otp_device_for(first.user) is None
    assert otp_device_for(second.user) is None
    assert AuditEntry.objects.filter(action="staff.otp_reset").count() == 2


def test_admins_unlock_staff_from_the_staff_list(admin_ui: Client, platform_admin: Any) -> None:
    locked = StaffFactory()
    AccessAttempt.objects.create(
        username=locked.user.username,
        ip_address="10.0.0.1",
        user_agent="",
        failures_since_start=5,
        attempt_time=timezone.now(),
    )
    # Their own account among the selection: refused with a message, the others done.
    page = _act(admin_ui, "unlock_login", locked, platform_admin)
    text = page.content.decode()
    assert "已为 1 名工作人员解除登录锁定。" in text
    assert "本人账号的此项操作请由其他管理员办理。" in text
    assert not AccessAttempt.objects.exists()
    assert AuditEntry.objects.filter(action="account.login_unlocked").count() == 1
