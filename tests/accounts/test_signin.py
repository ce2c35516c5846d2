"""Signing in over the API and on the pages: the code step for staff, lock-outs, the audit."""

from __future__ import annotations

import time
from base64 import b32encode
from typing import Any

import pytest
import time_machine
from axes.models import AccessAttempt
from django.test import Client

from tests.conftest import login, otp_code, otp_device
from tests.factories import PASSWORD, PersonFactory, StaffFactory
from tongban.accounts import services
from tongban.accounts.events import AccountEvent
from tongban.core.models import AuditEntry

pytestmark = pytest.mark.django_db

LOGIN = "/api/v1/accounts/login"


def api_login(client: Client, username: str, password: str = PASSWORD, **extra: str) -> Any:
    return client.post(
        LOGIN,
        {"username": username, "password": password, **extra},
        content_type="application/json",
    )


def failures(action: str = AccountEvent.LOGIN_FAILED) -> list[dict[str, Any]]:
    return [entry.changes for entry in AuditEntry.objects.filter(action=action).order_by("id")]


# The API --------------------------------------------------------------------------------------


def test_citizens_log_in_with_a_password_alone(api: Client) -> None:
    person = PersonFactory(with_login=True)
    response = api_login(api, person.phone)
    assert response.status_code == 200
    entry = AuditEntry.objects.get(action=AccountEvent.LOGGED_IN)
    assert entry.actor == person.user
    assert entry.changes == {"ip": "127.0.0.1", "second_factor": ""}


def test_staff_need_their_code(api: Client) -> None:
    staff = StaffFactory(window_clerk=True)
    device = otp_device(staff.user)
    response = api_login(api, staff.user.username)
    assert response.status_code == 401
    assert response.json()["code"] == "otp_required"
    assert "otp_code" in response.json()["fields"]
    assert api.get("/api/v1/accounts/me").status_code == 401
    response = api_login(api, staff.user.username, otp_code=otp_code(device))
    assert response.status_code == 200
    assert response.json()["staff"]["roles"] == ["window_clerk"]
    # The session counts as confirmed: staff endpoints answer.
    lookup = api.post(
        "/api/v1/accounts/persons/lookup",
        {"id_number": PersonFactory().id_number},
        content_type="application/json",
    )
    assert lookup.status_code == 200
    entry = AuditEntry.objects.get(action=AccountEvent.LOGGED_IN)
    assert entry.changes["second_factor"] == "totp"


def test_staff_without_an_authenticator_are_sent_to_set_one_up(api: Client) -> None:
    staff = StaffFactory()
    response = api_login(api, staff.user.username, otp_code="123456")
    assert response.status_code == 403
    assert response.json()["code"] == "otp_enrolment_required"
    assert "/workbench/login/" in response.json()["message"]
    assert failures()[-1]["reason"] == "not_enrolled"
    # A right password is no failure: nothing counts towards the lock-out.
    assert not AccessAttempt.objects.exists()


def test_a_wrong_or_replayed_code_is_refused_and_counted(api: Client) -> None:
    staff = StaffFactory()
    device = otp_device(staff.user)
    code = otp_code(device)
    assert api_login(Client(), staff.user.username, otp_code=code).status_code == 200
    # The same code again, within its 30 seconds.
    response = api_login(api, staff.user.username, otp_code=code)
    assert response.status_code == 401
    assert response.json()["code"] == "otp_invalid"
    assert response.json()["message"] == "验证码错误或已过期。"
    assert failures()[-1]["reason"] == "bad_code"
    assert AccessAttempt.objects.get().failures_since_start == 1


def test_a_recovery_code_signs_in_once(api: Client) -> None:
    staff = StaffFactory()
    device = services.staff_otp_enrol_start(user=staff.user)
    _device, codes = services.staff_otp_enrol_confirm(user=staff.user, code=otp_code(device))
    response = api_login(api, staff.user.username, otp_code=codes[3])
    assert response.status_code == 200
    entry = AuditEntry.objects.get(action=AccountEvent.LOGGED_IN)
    assert entry.changes["second_factor"] == "recovery_code"
    time.sleep(1.1)
    assert api_login(Client(), staff.user.username, otp_code=codes[3]).status_code == 401


def test_failed_logins_are_audited_without_personal_data(api: Client) -> None:
    person = PersonFactory(with_login=True)
    api_login(api, person.id_number, "wrong-password")
    api_login(api, "110101199003070000", "wrong-password")  # nobody's
    api_login(api, "someone", "wrong-password")
    known, number, name = AuditEntry.objects.filter(action=AccountEvent.LOGIN_FAILED).order_by("id")
    assert known.target_id == str(person.user.pk)
    assert known.actor is None
    assert known.actor_label == person.id_number[:4] + "*" * 10 + person.id_number[-4:]
    assert known.changes == {
        "reason": "bad_password",
        "ip": "127.0.0.1",
        "name": known.actor_label,
    }
    assert number.target_id == ""
    assert number.actor_label == "1101**********0000"
    assert name.actor_label == "s*****e"
    assert person.id_number not in str(list(AccessAttempt.objects.values()))


def test_logout_is_audited(api: Client) -> None:
    person = PersonFactory(with_login=True)
    api_login(api, person.phone)
    assert api.post("/api/v1/accounts/logout").status_code == 204
    entry = AuditEntry.objects.get(action=AccountEvent.LOGGED_OUT)
    assert entry.actor == person.user
    assert entry.changes["reason"] == "user"


# Lock-outs ------------------------------------------------------------------------------------


def test_five_failures_lock_the_name_at_that_address(api: Client) -> None:
    person = PersonFactory(with_login=True)
    for _attempt in range(4):
        assert api_login(api, person.phone, "wrong-password").status_code == 401
    locked = api_login(api, person.phone, "wrong-password")
    assert locked.status_code == 429
    assert locked.json()["code"] == "account_locked"
    assert "30" in locked.json()["message"]
    assert "锁定" in locked.json()["message"]
    # Even the right password is refused now, in English on request.
    response = api.post(
        LOGIN,
        {"username": person.phone, "password": PASSWORD},
        content_type="application/json",
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 429
    assert "locked" in response.json()["message"]
    assert failures()[-1]["reason"] == "locked_out"
    # From another address, and for another name, sign-in goes on.
    elsewhere = api.post(
        LOGIN,
        {"username": person.phone, "password": PASSWORD},
        content_type="application/json",
        REMOTE_ADDR="10.0.0.9",
    )
    assert elsewhere.status_code == 200
    assert api_login(Client(), PersonFactory(with_login=True).phone).status_code == 200


def test_the_lockout_ends_after_its_cool_off() -> None:
    person = PersonFactory(with_login=True)
    with time_machine.travel("2026-12-03 09:00:00+08:00", tick=False):
        for _attempt in range(5):
            api_login(Client(), person.phone, "wrong-password")
        assert api_login(Client(), person.phone).status_code == 429
    with time_machine.travel("2026-12-03 09:29:00+08:00", tick=False):
        assert api_login(Client(), person.phone).status_code == 429
    with time_machine.travel("2026-12-03 09:31:00+08:00", tick=False):
        assert api_login(Client(), person.phone).status_code == 200


def test_wrong_codes_count_and_success_resets_the_count() -> None:
    staff = StaffFactory()
    device = otp_device(staff.user)
    username = staff.user.username
    for _attempt in range(3):
        api_login(Client(), username, "wrong-password")
    assert api_login(Client(), username, otp_code="000000").status_code == 401
    assert AccessAttempt.objects.get().failures_since_start == 4
    time.sleep(1.1)  # a wrong code makes the device refuse any code for a second
    assert api_login(Client(), username, otp_code=otp_code(device)).status_code == 200
    assert not AccessAttempt.objects.exists()
    for _attempt in range(4):
        api_login(Client(), username, "wrong-password")
    time.sleep(1.1)  # past the device's own one-second throttle
    locked = api_login(Client(), username, otp_code="999999")
    assert locked.status_code == 429
    assert locked.json()["code"] == "account_locked"


def test_an_admin_unlocks_a_locked_staff_member(api: Client) -> None:
    staff = StaffFactory(department_key="cq-hrss")
    device = otp_device(staff.user)
    for _attempt in range(5):
        api_login(Client(), staff.user.username, "wrong-password")
    assert api_login(Client(), staff.user.username).status_code == 429
    admin = StaffFactory(department_admin=True, department_key="cq-hrss")
    login(api, admin.user)
    response = api.post(f"/api/v1/accounts/staff/{staff.pk}/unlock")
    assert response.status_code == 200
    assert response.json() == {"removed": 1}
    assert api_login(Client(), staff.user.username, otp_code=otp_code(device)).status_code == 200


# Pages ----------------------------------------------------------------------------------------


def test_the_portal_login_says_when_an_account_is_locked() -> None:
    person = PersonFactory(with_login=True)
    client = Client()
    for _attempt in range(5):
        page = client.post("/login/", {"username": person.phone, "password": "wrong"})
    assert page.status_code == 200
    assert "锁定" in page.content.decode()
    page = client.post("/login/", {"username": person.phone, "password": PASSWORD})
    assert "锁定" in page.content.decode()
    assert "_auth_user_id" not in client.session


def test_a_citizen_logs_in_on_the_portal_as_before() -> None:
    person = PersonFactory(with_login=True)
    client = Client()
    response = client.post("/login/", {"username": person.id_number, "password": PASSWORD})
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(person.user.pk)


def test_staff_on_the_portal_login_go_on_to_the_code_step() -> None:
    staff = StaffFactory()
    device = otp_device(staff.user)
    client = Client()
    response = client.post("/login/", {"username": staff.user.username, "password": PASSWORD})
    assert response["Location"] == "/workbench/login/code/"
    assert "_auth_user_id" not in client.session
    response = client.post("/workbench/login/code/", {"otp_code": otp_code(device)})
    assert response["Location"] == "/"
    assert client.session["_auth_user_id"] == str(staff.user.pk)


def test_the_code_step_refuses_wrong_codes_then_locks() -> None:
    staff = StaffFactory()
    otp_device(staff.user)
    client = Client()
    client.post("/workbench/login/", {"username": staff.user.username, "password": PASSWORD})
    for _attempt in range(4):
        page = client.post("/workbench/login/code/", {"otp_code": "000000"})
        assert page.status_code == 400
        assert "验证码错误或已过期。" in page.content.decode()
    page = client.post("/workbench/login/code/", {"otp_code": "000000"})
    assert "锁定" in page.content.decode()
    assert "_auth_user_id" not in client.session
    # The held password is dropped: the code step starts over at the password.
    assert client.get("/workbench/login/code/")["Location"] == "/workbench/login/"
    assert [entry["reason"] for entry in failures()] == ["bad_code"] * 5


def test_the_code_step_needs_the_password_first() -> None:
    response = Client().post("/workbench/login/code/", {"otp_code": "123456"})
    assert response["Location"] == "/workbench/login/"


def test_a_held_password_expires() -> None:
    staff = StaffFactory()
    device = otp_device(staff.user)
    client = Client()
    with time_machine.travel("2026-12-03 09:00:00+08:00", tick=False):
        client.post("/workbench/login/", {"username": staff.user.username, "password": PASSWORD})
    with time_machine.travel("2026-12-03 09:11:00+08:00", tick=False):
        code = otp_code(device)
        response = client.post("/workbench/login/code/", {"otp_code": code})
    assert response["Location"] == "/workbench/login/"
    assert "_auth_user_id" not in client.session


def test_first_sign_in_sets_up_the_authenticator_and_shows_recovery_codes_once() -> None:
    staff = StaffFactory()
    client = Client()
    response = client.post(
        "/workbench/login/?next=/workbench/%3Fview%3Dopen",
        {"username": staff.user.username, "password": PASSWORD, "next": "/workbench/?view=open"},
    )
    assert response["Location"] == "/workbench/login/enrol/"
    assert client.get("/workbench/login/code/")["Location"] == "/workbench/login/enrol/"
    page = client.get("/workbench/login/enrol/").content.decode()
    assert "<svg" in page
    device = services.staff_otp_enrol_start(user=staff.user)
    assert " ".join(b32encode(device.bin_key).decode()[i : i + 4] for i in range(0, 32, 4)) in page
    wrong = client.post("/workbench/login/enrol/", {"otp_code": "000000"})
    assert wrong.status_code == 400
    assert "_auth_user_id" not in client.session
    time.sleep(1.1)
    response = client.post("/workbench/login/enrol/", {"otp_code": otp_code(device)})
    assert response["Location"] == "/workbench/login/recovery-codes/"
    page = client.get("/workbench/login/recovery-codes/").content.decode()
    assert page.count("<li><code>") == 10
    assert 'href="/workbench/?view=open"' in page
    # Shown once: after that the page offers new ones instead.
    again = client.get("/workbench/login/recovery-codes/").content.decode()
    assert "<li><code>" not in again
    assert client.get("/workbench/").status_code == 200
    assert AuditEntry.objects.filter(action=AccountEvent.OTP_ENROLLED).count() == 1


def test_staff_renew_their_recovery_codes() -> None:
    staff = StaffFactory()
    client = login(Client(), staff.user)
    page = client.post("/workbench/login/recovery-codes/").content.decode()
    assert page.count("<li><code>") == 10
    assert AuditEntry.objects.filter(action=AccountEvent.RECOVERY_CODES_ISSUED).count() == 1
    assert Client().get("/workbench/login/recovery-codes/")["Location"] == "/workbench/login/"


def test_the_code_step_never_sends_anyone_to_another_site() -> None:
    staff = StaffFactory()
    device = otp_device(staff.user)
    client = Client()
    client.post(
        "/workbench/login/?next=https://evil.example/",
        {"username": staff.user.username, "password": PASSWORD, "next": "https://evil.example/"},
    )
    response = client.post("/workbench/login/code/", {"otp_code": otp_code(device)})
    assert response["Location"] == "/workbench/"
