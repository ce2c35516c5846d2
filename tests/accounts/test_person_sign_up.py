import pytest
from django.db import connection

from tests.factories import PASSWORD, PersonFactory, make_id_number, make_phone
from tongban.accounts import selectors, services
from tongban.accounts.models import Person, RealNameLevel, User
from tongban.core.errors import Conflict, ValidationFailed
from tongban.core.models import AuditEntry

pytestmark = pytest.mark.django_db


def test_sign_up_creates_a_login_and_an_l1_person_without_storing_identifiers_in_clear() -> None:
    id_number = make_id_number(901)
    person = services.person_sign_up(
        name="张三", id_number=id_number, phone="13800009999", password=PASSWORD
    )

    assert person.real_name_level == RealNameLevel.REGISTERED
    assert person.user is not None
    assert person.user.check_password(PASSWORD)
    assert person.id_number == id_number
    assert person.phone == "13800009999"
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM accounts_person WHERE id = %s", [person.pk])
        row = " ".join(str(value) for value in cursor.fetchone())
    assert id_number not in row
    assert id_number[6:14] not in row  # not even the birth date
    assert "13800009999" not in row
    entry = AuditEntry.objects.get(action="person.signed_up", target_id=str(person.pk))
    assert id_number not in str(entry.changes)
    assert entry.changes["id_number"] == id_number[:4] + "*" * 10 + id_number[-4:]


def test_the_keyed_hash_finds_the_person_in_any_spelling() -> None:
    person = PersonFactory(with_login=True)
    found = selectors.person_find_by_id_number(id_number=" " + person.id_number.lower() + " ")
    assert found == person
    assert selectors.person_find_login_by_phone(phone="+86 " + person.phone) == person
    assert selectors.person_find_by_id_number(id_number=make_id_number(999)) is None


def test_every_bad_field_is_reported_at_once_and_nothing_is_written() -> None:
    before = (User.objects.count(), Person.objects.count(), AuditEntry.objects.count())
    with pytest.raises(ValidationFailed) as problem:
        services.person_sign_up(
            name="", id_number="500103199903071235", phone="12345", password="1"
        )
    assert set(problem.value.fields) == {"name", "id_number", "phone", "password"}
    assert str(problem.value.fields["id_number"]) == "公民身份号码校验位不正确，请核对。"
    assert str(problem.value.fields["phone"]) == "手机号码应为11位数字。"
    assert (User.objects.count(), Person.objects.count(), AuditEntry.objects.count()) == before


def test_a_registered_id_number_is_a_conflict() -> None:
    existing = PersonFactory()
    users = User.objects.count()
    with pytest.raises(Conflict) as problem:
        services.person_sign_up(
            name=existing.name,
            id_number=existing.id_number,
            phone=make_phone(77),
            password=PASSWORD,
        )
    assert problem.value.code == "person_exists"
    assert "id_number" in problem.value.fields
    assert User.objects.count() == users


def test_a_phone_that_already_logs_in_is_a_conflict() -> None:
    existing = PersonFactory(with_login=True)
    with pytest.raises(Conflict) as problem:
        services.person_sign_up(
            name="李四", id_number=make_id_number(902), phone=existing.phone, password=PASSWORD
        )
    assert problem.value.code == "phone_in_use"


def test_names_with_a_middle_dot_and_spaces_are_kept_tidy() -> None:
    person = services.person_sign_up(
        name="  阿依古丽·买买提 ",
        id_number=make_id_number(903),
        phone=make_phone(903),
        password=PASSWORD,
    )
    assert person.name == "阿依古丽·买买提"
    assert person.name_masked == "阿******提"
