import pytest

from tests.factories import PASSWORD, PersonFactory, StaffFactory
from tongban.accounts import services
from tongban.accounts.models import Staff, StaffRole, User
from tongban.core.errors import Forbidden, ValidationFailed
from tongban.core.models import AuditEntry

pytestmark = pytest.mark.django_db


def _create(actor, **overrides):
    data = {
        "username": "new-clerk",
        "password": PASSWORD,
        "name": "新同事",
        "employee_number": "N0001",
        "department_key": "cq-hrss",
        "jurisdiction_code": "500103",
        "roles": [StaffRole.WINDOW_CLERK],
    }
    data.update(overrides)
    return services.staff_create(actor=actor, **data)


def test_a_platform_admin_creates_staff_anywhere(platform_admin) -> None:
    staff = _create(platform_admin.user, department_key="cd-hrss", jurisdiction_code="510104")
    assert staff.department.key == "cd-hrss"
    assert staff.jurisdiction_id == "510104"
    assert staff.roles == {StaffRole.WINDOW_CLERK}
    assert staff.user.check_password(PASSWORD)
    assert not staff.user.is_staff  # only platform admins enter the Django admin
    entry = AuditEntry.objects.get(action="staff.created", target_id=str(staff.pk))
    assert entry.actor == platform_admin.user


def test_platform_admins_get_the_django_admin(platform_admin) -> None:
    staff = _create(
        platform_admin.user, roles=[StaffRole.PLATFORM_ADMIN], department_key="cq-big-data"
    )
    assert staff.user.is_staff
    assert staff.user.is_superuser


def test_a_department_admin_creates_operational_staff_in_their_department() -> None:
    admin = StaffFactory(department_admin=True, department_key="cq-hrss")
    staff = _create(admin.user, roles=[StaffRole.REVIEWER, StaffRole.APPROVER])
    assert staff.roles == {StaffRole.REVIEWER, StaffRole.APPROVER}


def test_a_department_admin_may_not_create_in_another_department() -> None:
    admin = StaffFactory(department_admin=True, department_key="cq-hrss")
    with pytest.raises(Forbidden):
        _create(admin.user, department_key="cq-public-security")
    assert not User.objects.filter(username="new-clerk").exists()


@pytest.mark.parametrize("role", [StaffRole.SUPERVISOR, StaffRole.PLATFORM_ADMIN])
def test_a_department_admin_may_not_grant_oversight_roles(role: StaffRole) -> None:
    admin = StaffFactory(department_admin=True, department_key="cq-hrss")
    with pytest.raises(Forbidden):
        _create(admin.user, roles=[role])


@pytest.mark.parametrize("trait", ["window_clerk", "reviewer", "approver", "supervisor"])
def test_other_staff_may_not_create_staff(trait: str) -> None:
    with pytest.raises(Forbidden):
        _create(StaffFactory(**{trait: True}).user)


def test_citizens_may_not_create_staff() -> None:
    with pytest.raises(Forbidden):
        _create(PersonFactory(with_login=True).user)


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        (
            {"jurisdiction_code": "5001"},
            "jurisdiction_code",
            "行政区划代码为6位数字，例如 500000。",
        ),
        ({"jurisdiction_code": "500199"}, "jurisdiction_code", "没有使用该代码的行政区划。"),
        (
            {"jurisdiction_code": "510104"},
            "jurisdiction_code",
            "管辖区域必须在所属部门的行政区划范围内。",
        ),
        ({"department_key": "nope"}, "department_key", "部门标识不存在。"),
        ({"roles": []}, "roles", None),
        ({"roles": ["boss"]}, "roles", None),
        ({"password": "123"}, "password", None),
        ({"name": ""}, "name", "此项为必填项。"),
    ],
)
def test_bad_input_names_the_field_and_writes_nothing(
    platform_admin, overrides, field, message
) -> None:
    before = (User.objects.count(), Staff.objects.count())
    with pytest.raises(ValidationFailed) as problem:
        _create(platform_admin.user, **overrides)
    assert field in problem.value.fields
    if message is not None:
        assert str(problem.value.fields[field]) == message
    assert (User.objects.count(), Staff.objects.count()) == before


def test_taken_username_and_employee_number(platform_admin) -> None:
    _create(platform_admin.user)
    with pytest.raises(ValidationFailed) as problem:
        _create(platform_admin.user)
    assert {"username", "employee_number"} <= set(problem.value.fields)
