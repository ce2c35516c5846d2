"""`tongban datashare resources|load|verify-log|sync`."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from tests.factories import StaffFactory
from tongban.datashare import services
from tongban.datashare.models import Call, Resource, SourceRecord
from tongban.ops.demo import PERSONS, demo_id_number
from tongban.ops.demo_datashare import IDENTITY_PURPOSE, load_demo_datashare

pytestmark = pytest.mark.django_db


def _run(*args: str) -> str:
    out = StringIO()
    call_command("datashare", *args, stdout=out)
    return out.getvalue()


def _verify_once() -> Call:
    reviewer = StaffFactory(reviewer=True, department_key="cq-hrss")
    call, _answer = services.call_make(
        actor=reviewer.user,
        request=services.Request(
            resource="household",
            kind="verify",
            question="identity_match",
            params={"id_number": demo_id_number(PERSONS[0]), "name": PERSONS[0].name},
            purpose=IDENTITY_PURPOSE,
        ),
    )
    return call


def test_resources_lists_this_nodes_resources_with_their_records() -> None:
    load_demo_datashare()
    lines = _run("resources").splitlines()
    assert len(lines) == 5
    household = next(line for line in lines if line.startswith("500000.household "))
    assert "户籍人口信息（重庆市公安局）" in household
    assert "sensitive" in household
    assert "2 records" in household


def test_load_adds_records_or_replaces_them(tmp_path: Path) -> None:
    load_demo_datashare()
    resource = Resource.objects.get(node="500000", key="household")
    person = PERSONS[1]
    path = tmp_path / "records.json"
    path.write_text(
        json.dumps(
            [{"subject": demo_id_number(person), "data": {"name": person.name, "gender": "女"}}],
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )

    assert _run("load", "household", str(path)) == "500000.household: records added: 1\n"
    assert SourceRecord.objects.filter(resource=resource).count() == 3

    assert "replaced by 1" in _run("load", "household", str(path), "--replace")
    assert SourceRecord.objects.filter(resource=resource).count() == 1


def test_load_refuses_what_it_cannot_take(tmp_path: Path) -> None:
    load_demo_datashare()
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"subject": "123", "data": {}}]), encoding="utf-8")
    with pytest.raises(CommandError, match=r"records\.0\.subject"):
        _run("load", "household", str(bad))
    unknown_field = tmp_path / "unknown.json"
    unknown_field.write_text(
        json.dumps([{"subject": demo_id_number(PERSONS[0]), "data": {"salary": "1"}}]),
        encoding="utf-8",
    )
    with pytest.raises(CommandError, match="salary"):
        _run("load", "household", str(unknown_field))
    not_json = tmp_path / "not.json"
    not_json.write_text("{", encoding="utf-8")
    with pytest.raises(CommandError, match="not JSON"):
        _run("load", "household", str(not_json))
    with pytest.raises(CommandError, match="no data resource 'nothing'"):
        _run("load", "nothing", str(bad))
    with pytest.raises(CommandError, match="cannot be read"):
        _run("load", "household", str(tmp_path / "missing.json"))


def test_verify_log_passes_on_an_intact_chain_and_fails_on_a_changed_entry() -> None:
    load_demo_datashare()
    _verify_once()
    second = _verify_once()
    assert _run("verify-log") == "evidence log intact: 2 entries\n"

    Call.objects.filter(pk=second.pk).update(hash="0" * 64)

    out = StringIO()
    with pytest.raises(SystemExit) as failed:
        call_command("datashare", "verify-log", stdout=out)
    assert failed.value.code == 1
    assert out.getvalue().startswith(f"evidence log BROKEN at entry {second.seq}: ")


def test_sync_fetches_peers_catalogues_now(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[bool] = []

    def sync(*, force: bool = False) -> int:
        asked.append(force)
        return 4

    monkeypatch.setattr(services, "catalogue_sync", sync)
    assert _run("sync") == "4 peer resources fetched\n"
    assert asked == [True]


def test_sync_without_a_trust_list_fetches_nothing() -> None:
    assert _run("sync") == "0 peer resources fetched\n"
