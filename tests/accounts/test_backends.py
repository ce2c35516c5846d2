from typing import Any

import pytest
from django.contrib.auth import authenticate as django_authenticate
from django.test import RequestFactory

from tests.factories import PASSWORD, PersonFactory, StaffFactory

pytestmark = pytest.mark.django_db


def authenticate(*, username: str, password: str) -> Any:
    # django-axes, the first backend, needs the request (the address failures count under).
    request = RequestFactory().post("/login/")
    return django_authenticate(request, username=username, password=password)


def test_citizens_log_in_with_id_number_or_phone() -> None:
    person = PersonFactory(with_login=True)
    assert authenticate(username=person.id_number, password=PASSWORD) == person.user
    assert authenticate(username=person.id_number.lower(), password=PASSWORD) == person.user
    assert authenticate(username=person.phone, password=PASSWORD) == person.user
    assert authenticate(username=person.phone, password="wrong-password") is None


def test_staff_log_in_with_their_username() -> None:
    staff = StaffFactory()
    assert authenticate(username=staff.user.username, password=PASSWORD) == staff.user


def test_persons_without_login_and_inactive_users_cannot_log_in() -> None:
    walk_in = PersonFactory()
    assert authenticate(username=walk_in.id_number, password=PASSWORD) is None
    person = PersonFactory(with_login=True)
    person.user.is_active = False
    person.user.save(update_fields=["is_active"])
    assert authenticate(username=person.id_number, password=PASSWORD) is None
