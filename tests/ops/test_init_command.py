"""`tongban init [--demo]`: keys, migrations, reference data and the demo data set."""

from __future__ import annotations

import json
import re
import stat
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.test import Client, override_settings

from tests.conftest import otp_device
from tests.factories import StaffFactory
from tongban.accounts.models import Enterprise, EnterpriseMember, Person, Staff, User
from tongban.cases.models import AgentAuthorisation
from tongban.ops.demo import (
    DEMO_PASSWORD,
    PERSONS,
    demo_id_number,
    demo_otp_code,
    demo_otp_key,
    totp_code,
)
from tongban.regions.models import OpeningPeriod, ServiceHall, Window

pytestmark = pytest.mark.django_db


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    return tmp_path / "keys" / "pii.json"


def _init(key_file: Path, *args: str) -> str:
    out = StringIO()
    with override_settings(TONGBAN_PII_KEY_FILE=key_file):
        call_command("init", *args, stdout=out)
    return out.getvalue()


def _counts() -> dict[str, int]:
    return {
        "halls": ServiceHall.objects.count(),
        "windows": Window.objects.count(),
        "periods": OpeningPeriod.objects.count(),
        "staff": Staff.objects.count(),
        "users": User.objects.count(),
        "persons": Person.objects.count(),
        "enterprises": Enterprise.objects.count(),
        "members": EnterpriseMember.objects.count(),
    }


def _demo_lines(output: str) -> list[str]:
    return [line.removeprefix("demo: ") for line in output.splitlines() if line.startswith("demo:")]


def test_init_creates_a_private_key_file(key_file: Path) -> None:
    output = _init(key_file)
    assert f"created personal-data keys at {key_file}" in output
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_file.parent.stat().st_mode) == 0o700
    assert set(json.loads(key_file.read_text())) == {"hash_key", "active", "encryption_keys"}


def test_init_keeps_an_existing_key_file(key_file: Path) -> None:
    _init(key_file)
    keys = key_file.read_bytes()
    output = _init(key_file)
    assert "created personal-data keys" not in output
    assert key_file.read_bytes() == keys


def test_init_without_demo_loads_no_demo_data(key_file: Path) -> None:
    output = _init(key_file)
    assert "reference data: created {}, updated {}" in output  # loaded by the test setup
    assert _demo_lines(output) == []
    assert output.rstrip().endswith("node 500000 is ready")
    assert _counts()["halls"] == 0
    assert not Person.objects.exists()


def test_init_demo_loads_the_chongqing_demo(key_file: Path) -> None:
    output = _init(key_file, "--demo")
    lines = _demo_lines(output)
    assert lines[0] == "2 service halls"
    assert lines[1].startswith("11 staff logins")
    assert lines[2].startswith("5 citizens")
    assert lines[3] == "2 enterprises"
    assert lines[4].startswith("4 citizens verified in person")
    assert lines[5].startswith("1 agent authorisations")

    halls = ServiceHall.objects.order_by("key")
    assert [hall.division_id for hall in halls] == ["500000", "500103"]
    for hall in halls:
        assert hall.windows.exists()
        assert hall.opening_periods.exists()
    staff = Staff.objects.select_related("user")
    assert staff.count() == 11
    assert {member.jurisdiction_id[:2] for member in staff} == {"50"}
    # 市残联's reviewer and approver issue the 残疾人证 that later cases take as a licence.
    assert {member.user.username for member in staff} >= {
        "admin",
        "clerk",
        "reviewer",
        "reviewer-dp",
        "approver-dp",
    }
    assert User.objects.get(username="admin").is_superuser
    assert Person.objects.filter(user__isnull=False).count() == 5
    assert Enterprise.objects.count() == 2
    levels = dict(Person.objects.values_list("name", "real_name_level"))
    assert levels["张三"] == 3
    assert levels["阿依古丽·买买提"] == 1
    assert AgentAuthorisation.objects.get().agent_person.name == "王芳"  # type: ignore[union-attr]
    assert output.rstrip().endswith("node 500000 is ready")


def test_init_demo_twice_creates_nothing_new(key_file: Path) -> None:
    _init(key_file, "--demo")
    before = _counts()
    output = _init(key_file, "--demo")
    assert _counts() == before
    lines = _demo_lines(output)
    assert [re.match(r"\d+", line).group() for line in lines] == ["0"] * 8  # type: ignore[union-attr]


@override_settings(TONGBAN_NODE_CODE="510000")
def test_a_sichuan_node_gets_the_chengdu_demo(key_file: Path) -> None:
    output = _init(key_file, "--demo")
    assert output.rstrip().endswith("node 510000 is ready")
    assert set(ServiceHall.objects.values_list("division_id", flat=True)) == {"510100", "510104"}
    staff = Staff.objects.select_related("department")
    assert staff.count() == 11
    assert {member.jurisdiction_id[:2] for member in staff} == {"51"}
    assert Staff.objects.get(user__username="admin").employee_number == "SC0001"
    assert Person.objects.filter(user__isnull=False).count() == 5
    assert Enterprise.objects.count() == 2


@pytest.mark.parametrize("credential", ["id_number", "phone"])
def test_demo_persons_log_in_by_id_number_and_by_phone(key_file: Path, credential: str) -> None:
    _init(key_file, "--demo")
    for spec in PERSONS:
        username = demo_id_number(spec) if credential == "id_number" else spec.phone
        response = Client().post(
            "/api/v1/accounts/login",
            {"username": username, "password": DEMO_PASSWORD},
            content_type="application/json",
        )
        assert response.status_code == 200, (spec.name, response.json())
        person = response.json()["person"]
        assert (
            person["id_number"] == demo_id_number(spec)[:4] + "*" * 10 + demo_id_number(spec)[-4:]
        )
        assert person["phone"] == spec.phone[:3] + "****" + spec.phone[-4:]


def test_demo_staff_log_in_with_the_demo_password_and_code(key_file: Path) -> None:
    _init(key_file, "--demo")
    body = {"username": "clerk", "password": DEMO_PASSWORD}
    response = Client().post("/api/v1/accounts/login", body, content_type="application/json")
    assert response.status_code == 401
    assert response.json()["code"] == "otp_required"
    code, seconds = demo_otp_code("clerk")
    assert 0 < seconds <= 30
    response = Client().post(
        "/api/v1/accounts/login", {**body, "otp_code": code}, content_type="application/json"
    )
    assert response.status_code == 200, response.json()
    assert response.json()["staff"]["roles"] == ["window_clerk"]


def test_demo_otp_prints_the_code_of_demo_staff_only(key_file: Path) -> None:
    _init(key_file, "--demo")
    out = StringIO()
    call_command("demo", "otp", "reviewer", stdout=out, stderr=StringIO())
    assert re.fullmatch(r"[0-9]{6}\n", out.getvalue())
    # A staff member who set up their own authenticator: their codes are theirs alone.
    real = StaffFactory()
    otp_device(real.user)
    for username in (real.user.username, "nobody"):
        with pytest.raises(CommandError, match="not a demo staff login"):
            call_command("demo", "otp", username, stdout=StringIO(), stderr=StringIO())
    # Another node of the local cluster: its demo staff's code, by name.
    out = StringIO()
    call_command("demo", "otp", "reviewer", "--node", "510000", stdout=out, stderr=StringIO())
    assert out.getvalue().strip() == totp_code(demo_otp_key("510000", "reviewer"))
    with pytest.raises(CommandError, match="not a demo staff login"):
        call_command("demo", "otp", "nobody", "--node", "510000", stdout=StringIO())


def test_the_demo_has_off_hours_appointment_hours_and_two_bookings(key_file: Path) -> None:
    import datetime as dt

    import time_machine

    from tongban.delivery.models import Appointment, WindowSchedule

    monday = dt.datetime(2026, 11, 2, 9, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    with time_machine.travel(monday, tick=False):
        lines = _demo_lines(_init(key_file, "--demo"))
    assert lines[6] == "4 windows with appointment hours; 2 demo appointments"
    kinds = set(WindowSchedule.objects.values_list("kind", flat=True))
    assert kinds == {"regular", "lunchtime", "evening", "weekend"}
    # The help window of 渝中区 serves no off-hours: regular hours only.
    yuzhong_help = WindowSchedule.objects.filter(
        window__hall__key="cq-yuzhong-hall", window__number="03"
    )
    assert set(yuzhong_help.values_list("kind", flat=True)) == {"regular"}
    booked = {
        a.person.name: (a.kind, a.purpose) for a in Appointment.objects.select_related("person")
    }
    assert booked == {"张三": ("lunchtime", "assisted"), "王芳": ("weekend", "identity")}
