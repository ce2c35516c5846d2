import pytest
from django.contrib.auth.models import AnonymousUser

from tests.factories import PersonFactory, StaffFactory, make_id_number
from tongban.accounts import services
from tongban.accounts.models import Person
from tongban.core.errors import Forbidden, NotAuthenticated
from tongban.core.models import AuditEntry

pytestmark = pytest.mark.django_db


def test_a_clerk_registers_a_person_without_a_login(clerk) -> None:
    person = services.person_register_at_window(
        actor=clerk.user, name="王芳", id_number=make_id_number(911)
    )
    assert person.user is None
    assert person.phone == ""
    entry = AuditEntry.objects.get(action="person.registered_at_window")
    assert entry.actor == clerk.user


def test_persons_without_login_may_share_a_phone(clerk) -> None:
    first = PersonFactory(phone="13900000001")
    second = services.person_register_at_window(
        actor=clerk.user, name="家属", id_number=make_id_number(912), phone="13900000001"
    )
    assert first.phone == second.phone


@pytest.mark.parametrize("trait", ["reviewer", "approver", "supervisor", "department_admin"])
def test_staff_without_intake_role_may_not(trait: str) -> None:
    staff = StaffFactory(**{trait: True})
    with pytest.raises(Forbidden):
        services.person_register_at_window(
            actor=staff.user, name="王芳", id_number=make_id_number(913)
        )
    assert not Person.objects.filter(name="王芳").exists()


def test_citizens_and_anonymous_users_may_not() -> None:
    citizen = PersonFactory(with_login=True)
    with pytest.raises(Forbidden):
        services.person_register_at_window(
            actor=citizen.user, name="王芳", id_number=make_id_number(914)
        )
    with pytest.raises(NotAuthenticated):
        services.person_register_at_window(
            actor=AnonymousUser(), name="王芳", id_number=make_id_number(914)
        )


def test_an_inactive_clerk_may_not() -> None:
    staff = StaffFactory(window_clerk=True)
    staff.active = False
    staff.save(update_fields=["active"])
    with pytest.raises(Forbidden):
        services.person_register_at_window(
            actor=staff.user, name="王芳", id_number=make_id_number(915)
        )
