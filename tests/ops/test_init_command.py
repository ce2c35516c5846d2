"""`tongban init [--demo]`: keys, migrations, reference data and the demo data set."""

from __future__ import annotations

import json
import re
import stat
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client, override_settings

from tongban.accounts.models import Enterprise, EnterpriseMember, Person, Staff, User
from tongban.cases.models import AgentAuthorisation
from tongban.ops.demo import DEMO_PASSWORD, PERSONS, demo_id_number
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
    assert lines[1].startswith("9 staff logins")
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
    assert staff.count() == 9
    assert {member.jurisdiction_id[:2] for member in staff} == {"50"}
    assert {member.user.username for member in staff} >= {"admin", "clerk", "reviewer"}
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
    assert [re.match(r"\d+", line).group() for line in lines] == ["0", "0", "0", "0", "0", "0"]  # type: ignore[union-attr]


@override_settings(TONGBAN_NODE_CODE="510000")
def test_a_sichuan_node_gets_the_chengdu_demo(key_file: Path) -> None:
    output = _init(key_file, "--demo")
    assert output.rstrip().endswith("node 510000 is ready")
    assert set(ServiceHall.objects.values_list("division_id", flat=True)) == {"510100", "510104"}
    staff = Staff.objects.select_related("department")
    assert staff.count() == 9
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


def test_demo_staff_log_in_with_the_demo_password(key_file: Path) -> None:
    _init(key_file, "--demo")
    response = Client().post(
        "/api/v1/accounts/login",
        {"username": "clerk", "password": DEMO_PASSWORD},
        content_type="application/json",
    )
    assert response.status_code == 200
    assert response.json()["staff"]["roles"] == ["window_clerk"]
