"""Permission-before-lookup, jurisdiction reach and deactivation: the cases a security review
of the foundation found, kept as regressions."""

import pytest

from tests.factories import (
    PASSWORD,
    EnterpriseFactory,
    PersonFactory,
    StaffFactory,
    make_id_number,
    make_uscc,
)
from tongban.accounts import services
from tongban.accounts.models import StaffRole
from tongban.core.errors import Forbidden, ValidationFailed

pytestmark = pytest.mark.django_db


def _register_for(actor, id_number: str, name: str):
    return services.enterprise_register(
        actor=actor,
        uscc=make_uscc(610),
        name="冒名企业",
        legal_representative_id_number=id_number,
        legal_representative_name=name,
    )


def test_a_citizen_learns_nothing_about_other_peoples_registration() -> None:
    citizen = PersonFactory(with_login=True)
    victim = PersonFactory()
    answers = []
    for id_number, name in [
        (victim.id_number, victim.name),  # registered, right name
        (victim.id_number, "别的名字"),  # registered, wrong name
        (make_id_number(611), "随便"),  # not registered
        ("123", ""),  # not even valid
    ]:
        with pytest.raises(Forbidden) as refused:
            _register_for(citizen.user, id_number, name)
        answers.append((refused.value.code, str(refused.value.message), refused.value.fields))
    assert len(set(map(str, answers))) == 1


def test_a_citizen_still_registers_their_own_enterprise() -> None:
    citizen = PersonFactory(with_login=True)
    enterprise = _register_for(citizen.user, citizen.id_number.lower(), f" {citizen.name} ")
    assert enterprise.legal_representative == citizen


def test_member_lookups_need_the_right_first() -> None:
    enterprise = EnterpriseFactory()
    stranger = PersonFactory(with_login=True)
    victim = PersonFactory()
    for id_number in (victim.id_number, make_id_number(612)):
        with pytest.raises(Forbidden) as refused:
            services.enterprise_member_add(
                actor=stranger.user,
                enterprise=enterprise,
                id_number=id_number,
                name="x",
                role="authorised_handler",
            )
        assert refused.value.fields == {}


def test_a_department_admin_stays_within_their_jurisdiction() -> None:
    district_admin = StaffFactory(
        department_admin=True, department_key="cq-hrss", jurisdiction_code="500103"
    )
    with pytest.raises(Forbidden):
        services.staff_create(
            actor=district_admin.user,
            username="wider",
            password=PASSWORD,
            name="越权",
            employee_number="W1",
            department_key="cq-hrss",
            jurisdiction_code="500000",
            roles=[StaffRole.APPROVER],
        )
    inside = services.staff_create(
        actor=district_admin.user,
        username="inside",
        password=PASSWORD,
        name="本区",
        employee_number="W2",
        department_key="cq-hrss",
        jurisdiction_code="500103",
        roles=[StaffRole.APPROVER],
    )
    municipal = StaffFactory(
        window_clerk=True, department_key="cq-hrss", jurisdiction_code="500000"
    )
    with pytest.raises(Forbidden):
        services.staff_set_roles(
            actor=district_admin.user, staff=municipal, roles=[StaffRole.APPROVER]
        )
    assert services.staff_set_roles(
        actor=district_admin.user, staff=inside, roles=[StaffRole.REVIEWER]
    ).roles == {StaffRole.REVIEWER}


def test_deactivating_a_platform_admins_staff_record_revokes_their_powers() -> None:
    admin = StaffFactory(platform_admin=True)
    assert admin.user.is_superuser
    admin.active = False
    admin.save(update_fields=["active"])
    with pytest.raises(Forbidden):
        services.staff_create(
            actor=admin.user,
            username="x",
            password=PASSWORD,
            name="x",
            employee_number="X9",
            department_key="cq-hrss",
            jurisdiction_code="500000",
            roles=[StaffRole.PLATFORM_ADMIN],
        )


def test_a_break_glass_superuser_without_staff_record_may_act() -> None:
    from tongban.accounts.models import User

    root = User.objects.create_superuser(username="root", password=PASSWORD)
    staff = services.staff_create(
        actor=root,
        username="first-admin",
        password=PASSWORD,
        name="首位管理员",
        employee_number="R1",
        department_key="cq-big-data",
        jurisdiction_code="500000",
        roles=[StaffRole.PLATFORM_ADMIN],
    )
    assert staff.roles == {StaffRole.PLATFORM_ADMIN}


@pytest.mark.parametrize("value", ["张\x00三", "张\ud800三", "张\x1b三"])
def test_control_characters_are_refused_in_services(clerk, value: str) -> None:
    with pytest.raises(ValidationFailed) as problem:
        services.person_register_at_window(
            actor=clerk.user, name=value, id_number=make_id_number(613)
        )
    assert "name" in problem.value.fields
