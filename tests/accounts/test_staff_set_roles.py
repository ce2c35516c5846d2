import pytest

from tests.factories import StaffFactory
from tongban.accounts import services
from tongban.accounts.models import StaffRole
from tongban.core.errors import Forbidden
from tongban.core.models import AuditEntry

pytestmark = pytest.mark.django_db


def test_a_platform_admin_changes_roles_with_an_audit_entry(platform_admin) -> None:
    staff = StaffFactory(window_clerk=True)
    changed = services.staff_set_roles(
        actor=platform_admin.user, staff=staff, roles=[StaffRole.REVIEWER, StaffRole.WINDOW_CLERK]
    )
    assert changed.roles == {StaffRole.REVIEWER, StaffRole.WINDOW_CLERK}
    entry = AuditEntry.objects.get(action="staff.roles_changed")
    assert entry.changes == {"roles": [["window_clerk"], ["reviewer", "window_clerk"]]}


def test_no_change_writes_nothing(platform_admin) -> None:
    staff = StaffFactory(window_clerk=True)
    services.staff_set_roles(actor=platform_admin.user, staff=staff, roles=[StaffRole.WINDOW_CLERK])
    assert not AuditEntry.objects.filter(action="staff.roles_changed").exists()


def test_promotion_to_platform_admin_and_back_toggles_django_admin(platform_admin) -> None:
    staff = StaffFactory(window_clerk=True)
    services.staff_set_roles(
        actor=platform_admin.user, staff=staff, roles=[StaffRole.PLATFORM_ADMIN]
    )
    staff.user.refresh_from_db()
    assert staff.user.is_superuser
    services.staff_set_roles(actor=platform_admin.user, staff=staff, roles=[StaffRole.WINDOW_CLERK])
    staff.user.refresh_from_db()
    assert not staff.user.is_superuser
    assert not staff.user.is_staff


def test_nobody_changes_their_own_roles(platform_admin) -> None:
    with pytest.raises(Forbidden):
        services.staff_set_roles(
            actor=platform_admin.user, staff=platform_admin, roles=[StaffRole.WINDOW_CLERK]
        )
    assert platform_admin.roles == {StaffRole.PLATFORM_ADMIN}


def test_a_department_admin_may_not_touch_a_supervisor_in_their_department() -> None:
    admin = StaffFactory(department_admin=True, department_key="cq-hrss")
    supervisor = StaffFactory(supervisor=True, department_key="cq-hrss")
    with pytest.raises(Forbidden):
        services.staff_set_roles(actor=admin.user, staff=supervisor, roles=[StaffRole.WINDOW_CLERK])


def test_a_department_admin_may_not_touch_other_departments() -> None:
    admin = StaffFactory(department_admin=True, department_key="cq-hrss")
    other = StaffFactory(window_clerk=True, department_key="cq-public-security")
    with pytest.raises(Forbidden):
        services.staff_set_roles(actor=admin.user, staff=other, roles=[StaffRole.REVIEWER])
