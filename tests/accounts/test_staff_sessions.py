"""Staff sessions: refused until confirmed with a code; ended when idle or too old."""

from __future__ import annotations

from typing import Any

import pytest
import time_machine
from django.test import Client

from tests.conftest import login, login_unconfirmed, otp_code, otp_device
from tests.factories import PASSWORD, PersonFactory, StaffFactory
from tongban.accounts.events import AccountEvent
from tongban.core.models import AuditEntry

pytestmark = pytest.mark.django_db

# Staff endpoints of several domains (each goes through staff_scope), as (method, path, body).
STAFF_ENDPOINTS = [
    ("post", "/api/v1/accounts/persons/lookup", {"id_number": "110101199003070000"}),
    ("post", "/api/v1/accounts/persons", {"name": "王芳", "id_number": "110101199003070000"}),
    ("put", "/api/v1/accounts/staff/1/roles", {"roles": ["reviewer"]}),
    ("post", "/api/v1/accounts/staff/1/unlock", None),
]


def call(client: Client, method: str, path: str, body: Any) -> Any:
    return getattr(client, method)(
        path, body if body is not None else {}, content_type="application/json"
    )


@pytest.mark.parametrize(("method", "path", "body"), STAFF_ENDPOINTS)
@pytest.mark.parametrize("trait", ["window_clerk", "platform_admin", "department_admin"])
def test_an_unconfirmed_staff_session_is_refused_by_the_api(
    method: str, path: str, body: Any, trait: str
) -> None:
    staff = StaffFactory(**{trait: True})
    response = call(login_unconfirmed(Client(), staff.user), method, path, body)
    assert response.status_code == 403
    assert response.json()["code"] == "otp_required"
    # The same staff member, confirmed, gets past the second factor (to whatever their role
    # allows there).
    confirmed = call(login(Client(), staff.user), method, path, body)
    assert confirmed.json().get("code") != "otp_required"


def test_a_break_glass_superuser_is_refused_unconfirmed_too() -> None:
    from tongban.accounts.models import User

    root = User.objects.create_superuser("root", password=PASSWORD)
    method, path, body = STAFF_ENDPOINTS[0]
    assert call(login_unconfirmed(Client(), root), method, path, body).json()["code"] == (
        "otp_required"
    )
    assert call(login(Client(), root), method, path, body).status_code == 404  # nobody found
    assert (
        login_unconfirmed(Client(), root).get("/admin/")["Location"].startswith("/workbench/login/")
    )


@pytest.mark.parametrize(
    "path", ["/workbench/", "/workbench/?view=closed", "/admin/", "/admin/accounts/staff/"]
)
def test_an_unconfirmed_staff_session_is_sent_to_sign_in_on_pages(path: str) -> None:
    staff = StaffFactory(platform_admin=True)
    client = login_unconfirmed(Client(), staff.user)
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/workbench/login/?next=")
    # The sign-in page shows the form (no redirect loop back to the workbench).
    page = client.get(response["Location"])
    assert page.status_code == 200
    assert "请使用密码和身份验证器验证码登录。" in page.content.decode()
    assert login(Client(), staff.user).get(path).status_code == 200


def test_citizens_are_not_asked_for_a_code() -> None:
    citizen = PersonFactory(with_login=True)
    client = login(Client(), citizen.user)
    assert client.get("/api/v1/accounts/me").status_code == 200
    assert client.get("/").status_code == 200
    # A staff page refuses them as before (no staff record), without a code step.
    assert client.get("/workbench/").status_code == 403


def test_a_reset_authenticator_unconfirms_the_open_sessions() -> None:
    from tongban.accounts import services

    staff = StaffFactory(department_key="cq-hrss")
    client = login(Client(), staff.user)
    assert client.get("/workbench/").status_code == 200
    admin = StaffFactory(platform_admin=True)
    services.staff_otp_reset(actor=admin.user, user=staff.user)
    assert client.get("/workbench/")["Location"].startswith("/workbench/login/")


def _signed_in_staff(at: str) -> tuple[Client, Any]:
    staff = StaffFactory()
    device = otp_device(staff.user)
    client = Client()
    with time_machine.travel(at, tick=False):
        client.post("/workbench/login/", {"username": staff.user.username, "password": PASSWORD})
        response = client.post("/workbench/login/code/", {"otp_code": otp_code(device)})
        assert response["Location"] == "/workbench/"
    return client, staff


def test_an_idle_staff_session_ends() -> None:
    client, staff = _signed_in_staff("2026-12-03 09:00:00+08:00")
    with time_machine.travel("2026-12-03 09:25:00+08:00", tick=False):
        assert client.get("/workbench/").status_code == 200  # activity keeps it going
    with time_machine.travel("2026-12-03 09:54:00+08:00", tick=False):
        assert client.get("/workbench/").status_code == 200
    with time_machine.travel("2026-12-03 10:25:00+08:00", tick=False):
        response = client.get("/workbench/?view=open")
        assert response["Location"] == "/workbench/login/?next=/workbench/%3Fview%3Dopen"
        page = client.get(response["Location"]).content.decode()
    assert "会话因长时间未操作或已达最长时限而结束，请重新登录。" in page
    assert "_auth_user_id" not in client.session
    entry = AuditEntry.objects.get(action=AccountEvent.LOGGED_OUT)
    assert entry.actor == staff.user
    assert entry.changes["reason"] == "expired_idle"


def test_an_idle_staff_session_answers_401_on_the_api() -> None:
    client, _staff = _signed_in_staff("2026-12-03 09:00:00+08:00")
    with time_machine.travel("2026-12-03 09:31:00+08:00", tick=False):
        response = client.get("/api/v1/accounts/me")
    assert response.status_code == 401
    assert response.json()["code"] == "session_expired"


def test_a_staff_session_ends_after_its_maximum_however_busy() -> None:
    client, _staff = _signed_in_staff("2026-12-03 08:00:00+08:00")
    for hour in range(8, 18):
        for minute in (0, 20, 40):
            with time_machine.travel(f"2026-12-03 {hour:02d}:{minute:02d}:30+08:00", tick=False):
                assert client.get("/api/v1/accounts/me").status_code == 200
    with time_machine.travel("2026-12-03 18:01:00+08:00", tick=False):
        response = client.get("/api/v1/accounts/me")
    assert response.status_code == 401
    entry = AuditEntry.objects.get(action=AccountEvent.LOGGED_OUT)
    assert entry.changes["reason"] == "expired_max"


def test_citizen_sessions_keep_their_length() -> None:
    person = PersonFactory(with_login=True)
    client = Client()
    with time_machine.travel("2026-12-03 09:00:00+08:00", tick=False):
        client.post("/login/", {"username": person.phone, "password": PASSWORD})
    with time_machine.travel("2026-12-03 13:00:00+08:00", tick=False):
        assert client.get("/api/v1/accounts/me").status_code == 200
