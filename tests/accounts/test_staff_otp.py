"""The staff authenticator: setting it up, codes, recovery codes, resets and unlocks."""

from __future__ import annotations

import time
from typing import Any

import pytest
from axes.models import AccessAttempt
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.conftest import otp_code, otp_device
from tests.factories import PersonFactory, StaffFactory
from tongban.accounts import services
from tongban.accounts.events import AccountEvent
from tongban.accounts.selectors import login_lockout_key, otp_device_for, recovery_codes_left
from tongban.core.audit import SYSTEM
from tongban.core.errors import Conflict, DomainError, Forbidden, ValidationFailed
from tongban.core.models import AuditEntry

pytestmark = pytest.mark.django_db


def enrolled(user: Any) -> tuple[TOTPDevice, list[str]]:
    device = services.staff_otp_enrol_start(user=user)
    return services.staff_otp_enrol_confirm(user=user, code=otp_code(device))


def test_enrolment_confirms_the_device_and_issues_recovery_codes_once() -> None:
    user = StaffFactory().user
    started = services.staff_otp_enrol_start(user=user)
    assert not started.confirmed
    # A reload shows the same secret: the QR code already scanned stays good.
    assert services.staff_otp_enrol_start(user=user).pk == started.pk
    assert otp_device_for(user) is None
    device, codes = services.staff_otp_enrol_confirm(user=user, code=otp_code(started))
    assert device.pk == started.pk
    assert device.confirmed
    assert otp_device_for(user) == device
    assert len(codes) == 10
    assert len(set(codes)) == 10
    assert recovery_codes_left(user) == 10
    # Only keyed hashes are stored, never the codes.
    stored = set(StaticToken.objects.values_list("token", flat=True))
    assert not stored & {code.replace("-", "") for code in codes}
    assert not stored & set(codes)
    entry = AuditEntry.objects.get(action=AccountEvent.OTP_ENROLLED)
    assert entry.actor == user
    assert entry.changes["recovery_codes"] == 10
    with pytest.raises(Conflict):
        services.staff_otp_enrol_start(user=user)


def test_enrolment_refuses_a_wrong_code_and_citizens() -> None:
    user = StaffFactory().user
    device = services.staff_otp_enrol_start(user=user)
    wrong = f"{(int(otp_code(device)) + 1) % 1_000_000:06d}"
    for code in (wrong, "", "abcdef", "1234567"):
        with pytest.raises(ValidationFailed) as refused:
            services.staff_otp_enrol_confirm(user=user, code=code)
        assert refused.value.code == "otp_invalid"
    assert otp_device_for(user) is None
    assert not AuditEntry.objects.filter(action=AccountEvent.OTP_ENROLLED).exists()
    citizen = PersonFactory(with_login=True).user
    with pytest.raises(Forbidden):
        services.staff_otp_enrol_start(user=citizen)


def test_a_code_is_accepted_once_and_only_for_its_own_login() -> None:
    user, other = StaffFactory().user, StaffFactory().user
    device, _codes = enrolled(user)
    otp_device(other)
    # Enrolment used the current step; the next step's code is within the tolerance.
    code = otp_code(device, steps_ahead=1)
    assert services.staff_otp_verify(user=other, code=code) is None
    assert services.staff_otp_verify(user=user, code=f" {code[:3]} {code[3:]} ") == device
    assert services.staff_otp_verify(user=user, code=code) is None  # replayed


def test_a_code_from_long_ago_is_refused() -> None:
    user = StaffFactory().user
    device = otp_device(user)
    assert services.staff_otp_verify(user=user, code=otp_code(device, at=time.time() - 600)) is None


def test_recovery_codes_work_once_each() -> None:
    user = StaffFactory().user
    _device, codes = enrolled(user)
    used = services.staff_otp_verify(user=user, code=codes[0].upper())
    assert isinstance(used, StaticDevice)
    assert recovery_codes_left(user) == 9
    assert services.staff_otp_verify(user=user, code=codes[0]) is None
    assert services.staff_otp_verify(user=user, code="nothing-like-it") is None


def test_recovery_codes_are_renewed_by_their_owner_only() -> None:
    user = StaffFactory().user
    _device, old = enrolled(user)
    with pytest.raises(Forbidden):
        services.staff_recovery_codes_issue(actor=StaffFactory(platform_admin=True).user, user=user)
    new = services.staff_recovery_codes_issue(actor=user, user=user)
    assert set(new).isdisjoint(old)
    assert services.staff_otp_verify(user=user, code=new[1]) is not None
    assert services.staff_otp_verify(user=user, code=old[1]) is None
    stranger = StaffFactory().user
    with pytest.raises(Conflict):
        services.staff_recovery_codes_issue(actor=stranger, user=stranger)


def test_platform_admins_reset_anyone_department_admins_their_own_staff() -> None:
    platform_admin = StaffFactory(platform_admin=True).user
    department_admin = StaffFactory(department_admin=True, department_key="cq-hrss").user
    own = StaffFactory(department_key="cq-hrss").user
    foreign = StaffFactory(department_key="cq-public-security").user
    clerk = StaffFactory(window_clerk=True).user
    for user in (own, foreign):
        enrolled(user)

    assert services.staff_otp_reset(actor=department_admin, user=own, reason="lost phone") == 2
    assert otp_device_for(own) is None
    assert recovery_codes_left(own) == 0
    entry = AuditEntry.objects.get(action=AccountEvent.OTP_RESET)
    assert entry.actor == department_admin
    assert entry.changes == {
        "devices": 2,
        "reason": "lost phone",
    }
    for actor, target in ((department_admin, foreign), (clerk, foreign), (foreign, foreign)):
        with pytest.raises(Forbidden):
            services.staff_otp_reset(actor=actor, user=target)
    assert otp_device_for(foreign) is not None
    assert services.staff_otp_reset(actor=platform_admin, user=foreign) == 2


def test_only_the_node_installs_a_known_authenticator() -> None:
    user = StaffFactory().user
    key = "00" * 20
    with pytest.raises(Forbidden):
        services.staff_otp_install(
            actor=StaffFactory(platform_admin=True).user, user=user, key_hex=key
        )
    device = services.staff_otp_install(actor=SYSTEM, user=user, key_hex=key)
    assert device.confirmed
    assert device.key == key
    assert services.staff_otp_install(actor=SYSTEM, user=user, key_hex=key).pk == device.pk


def _lock(username: str) -> None:
    AccessAttempt.objects.create(
        username=login_lockout_key(username=username),
        ip_address="127.0.0.1",
        user_agent="",
        failures_since_start=5,
        attempt_time=timezone.now(),
    )


def test_unlock_removes_the_lockout_of_staff_and_of_citizens() -> None:
    platform_admin = StaffFactory(platform_admin=True).user
    staff = StaffFactory(department_key="cq-hrss").user
    citizen = PersonFactory(with_login=True)
    _lock(staff.username)
    _lock(citizen.id_number)
    _lock(citizen.phone)
    # The lock-out table holds no ID number or phone number in clear.
    assert not AccessAttempt.objects.filter(username__in=[citizen.id_number, citizen.phone])

    assert services.login_unlock(actor=platform_admin, user=staff) == 1
    assert services.login_unlock(actor=platform_admin, user=citizen.user) == 2
    assert not AccessAttempt.objects.exists()
    entry = AuditEntry.objects.filter(action=AccountEvent.LOGIN_UNLOCKED).first()
    assert entry is not None
    assert entry.actor == platform_admin


def test_unlock_is_for_managers_within_their_reach() -> None:
    department_admin = StaffFactory(department_admin=True, department_key="cq-hrss").user
    foreign = StaffFactory(department_key="cq-public-security").user
    citizen = PersonFactory(with_login=True).user
    _lock(foreign.username)
    for actor, target in (
        (department_admin, foreign),  # another department
        (department_admin, citizen),  # citizens: platform admins only
        (StaffFactory(window_clerk=True).user, foreign),
        (department_admin, department_admin),  # nobody unlocks themselves
    ):
        with pytest.raises(DomainError):
            services.login_unlock(actor=actor, user=target)
    assert AccessAttempt.objects.count() == 1


def test_lockout_keys_hide_numbers() -> None:
    assert login_lockout_key(username="clerk") == "clerk"
    person = PersonFactory(with_login=True)
    assert login_lockout_key(username=person.id_number).startswith("pii:")
    assert login_lockout_key(username=f" {person.id_number.lower()} ") == login_lockout_key(
        username=person.id_number
    )
    # A mistyped number is personal data too.
    assert login_lockout_key(username="50010319990307001").startswith("pii:")
