"""Log in with a resident ID number or a mobile phone number and a password."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.http import HttpRequest

from tongban.accounts.selectors import person_find_by_id_number, person_find_login_by_phone


class IdentityBackend(ModelBackend):
    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> Any:
        if not username or not password:
            return None
        person = person_find_by_id_number(id_number=username) or person_find_login_by_phone(
            phone=username
        )
        user = person.user if person is not None else None
        if (
            user is None
            or not user.check_password(password)
            or not self.user_can_authenticate(user)
        ):
            return None
        return user
