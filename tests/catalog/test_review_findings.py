"""Regressions from the review of the catalogue: unsafe form schemas, odd import values,
admin paths around the rules, export limits, search cost, deep bodies, nested diffs."""

import copy
import datetime as dt
import json
from pathlib import Path

import pytest
from django.test import Client
from django.utils import timezone

from tests.conftest import login
from tests.factories import EnterpriseFactory, PersonFactory, StaffFactory
from tongban.accounts import services as account_services
from tongban.catalog import files, selectors
from tongban.catalog.errors import ImportRejected
from tongban.catalog.models import ServiceItem, Theme
from tongban.catalog.schema_safety import safe_validator, schema_problems
from tongban.catalog.selectors import version_current
from tongban.catalog.services import (
    catalog_diff,
    catalog_documents,
    catalog_import,
    catalog_publish,
)
from tongban.core.audit import SYSTEM

pytestmark = pytest.mark.django_db
OBJECT = {"type": "object"}


def _documents() -> list[dict]:
    return catalog_documents(version=version_current())


@pytest.mark.parametrize(
    ("schema", "reason"),
    [
        ({**OBJECT, "properties": {"x": {"$ref": "http://127.0.0.1:9/s.json"}}}, "$ref"),
        (
            {
                **OBJECT,
                "properties": {"x": {"type": "string", "pattern": "^(a+)+$", "maxLength": 20}},
            },
            "repeats",
        ),
        (
            {
                **OBJECT,
                "properties": {"x": {"type": "string", "pattern": "^(a|aa)*$", "maxLength": 20}},
            },
            "repeats",
        ),
        ({**OBJECT, "properties": {"x": {"type": "string", "pattern": "^[0-9]+$"}}}, "maxLength"),
        ({"type": "array"}, "object"),
        ([1, 2], "JSON object"),
        ({**OBJECT, "properties": {"x": {"type": "nosuchtype"}}}, "valid JSON Schema"),
    ],
)
def test_unsafe_or_invalid_form_schemas_are_refused(schema, reason: str) -> None:
    problems = schema_problems(schema)
    assert problems
    assert any(reason in problem for problem in problems)


def test_local_references_still_work_and_nothing_is_fetched() -> None:
    schema = {
        **OBJECT,
        "$defs": {"code": {"type": "string", "maxLength": 6, "pattern": "^[0-9]{6}$"}},
        "properties": {"division": {"$ref": "#/$defs/code"}},
    }
    assert schema_problems(schema) == []
    assert [e.message for e in safe_validator(schema).iter_errors({"division": "12"})]
    remote = {**OBJECT, "properties": {"x": {"$ref": "http://127.0.0.1:9/s.json"}}}
    with pytest.raises(Exception, match=r"127\.0\.0\.1"):  # unresolvable, never retrieved
        list(safe_validator(remote).iter_errors({"x": 1}))


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d.update(lead_unit=[]),
        lambda d: d.update(modes=[["ONLINE"]]),
        lambda d: d.update(item_type={}),
        lambda d: d.update(themes=[{}]),
        lambda d: d["implementations"][0].update(division=[]),
        lambda d: d["scenarios"][0]["materials"][0].update(accepted_types=[["pdf"]]),
        lambda d: d["scenarios"][0].update(order="x"),
        lambda d: d["scenarios"][0].update(order=-1),
        lambda d: d["scenarios"][0].update(order=100_000),
        lambda d: d["scenarios"][0].update(order=1.5),
        lambda d: d.update(name="学历\x00公证"),
        lambda d: d["scenarios"][0].update(form_schema={"$ref": "http://127.0.0.1:9/x"}),
    ],
)
def test_odd_values_are_reported_not_crashed_on(change) -> None:
    document = copy.deepcopy(_documents()[0])
    change(document)
    before = ServiceItem.objects.count()
    with pytest.raises(ImportRejected) as rejected:
        catalog_import(actor=SYSTEM, documents=[document])
    assert rejected.value.problems
    assert ServiceItem.objects.count() == before


def test_a_cell_too_big_for_a_spreadsheet_is_refused_and_csv_reads_big_cells(
    tmp_path: Path,
) -> None:
    document = copy.deepcopy(_documents()[0])
    document["scenarios"][0]["description"] = "长" * 20_000
    document["scenarios"].append({**copy.deepcopy(document["scenarios"][0]), "key": "second"})
    with pytest.raises(files.FileRejected, match="JSON"):
        files.write_file(tmp_path / "big.xlsx", [document], version=1)
    files.write_file(tmp_path / "big.csv", [document], version=1)
    assert files.read_file(tmp_path / "big.csv").documents == [document]


def test_a_deeply_nested_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000)
    with pytest.raises(files.FileRejected):
        files.read_file(path)


def test_deep_bodies_and_huge_offsets_are_400s(api: Client) -> None:
    code = _documents()[0]["code"]
    deep = "[" * 100_000
    response = api.post(
        f"/api/v1/catalog/items/{code}/scenarios/general/check",
        data=deep,
        content_type="application/json",
    )
    assert response.status_code == 400
    assert api.get("/api/v1/catalog/items", {"offset": 9223372036854775808}).status_code == 400


def test_old_versions_are_searched_without_building_an_index(api: Client) -> None:
    document = next(d for d in _documents() if d["name"] == "学历公证")
    catalog_import(actor=SYSTEM, documents=[{**document, "name": "学历学位公证"}])
    catalog_publish(actor=SYSTEM, valid_from=timezone.localdate())
    selectors._indexes.clear()
    results = api.get("/api/v1/catalog/search", {"q": "学历公证", "version": 1}).json()["results"]
    assert [r["name"] for r in results] == ["学历公证"]
    assert results[0]["highlight"] == "<em>学历公证</em>"
    assert all(key[0] != version_current().pk - 1 for key in selectors._indexes)
    assert not selectors._indexes  # nothing built for version 1


def test_diff_names_nested_paths() -> None:
    document = copy.deepcopy(_documents()[0])
    document["scenarios"][0]["order"] = 3
    document["scenarios"][0]["materials"][0]["required"] = False
    document["implementations"][0]["fee"] = "不收费"
    catalog_import(actor=SYSTEM, documents=[document])
    draft = selectors.version_get(number=2)
    changed = catalog_diff(old=version_current(), new=draft)["changed"][document["code"]]
    assert changed == {
        "scenarios.general.order": [0, 3],
        "scenarios.general.materials.identity.required": [True, False],
        "implementations.500000.fee": ["", "不收费"],
    }


def test_the_public_version_list_hides_the_draft(api: Client) -> None:
    catalog_import(actor=SYSTEM, documents=_documents()[:1])
    assert [v["number"] for v in api.get("/api/v1/catalog/versions").json()] == [1]
    login(api, StaffFactory(platform_admin=True).user)
    assert [v["number"] for v in api.get("/api/v1/catalog/versions").json()] == [2, 1]


def test_the_portal_form_keeps_dates_given_through_the_api(api: Client) -> None:
    person = PersonFactory(with_login=True)
    account_services.life_event_declare(
        actor=person.user, kind="married", occurred_on=dt.date(2026, 5, 20)
    )
    login(api, person.user)
    api.post("/me/life-events/", {"kind": ["married", "retired"]})
    assert person.life_events.get(kind="married").occurred_on == dt.date(2026, 5, 20)
    assert person.life_events.filter(kind="retired").exists()


def test_enterprise_recommendations_are_the_enterprises_own(api: Client) -> None:
    representative = PersonFactory(with_login=True)
    enterprise = EnterpriseFactory(legal_representative=representative)
    account_services.life_event_declare(actor=representative.user, kind="married")
    login(api, representative.user)
    personal = {
        r["name"] for r in api.get("/api/v1/catalog/recommendations").json()["recommendations"]
    }
    for_enterprise = api.get(
        "/api/v1/catalog/recommendations", {"enterprise": enterprise.uscc}
    ).json()
    names = {r["name"] for r in for_enterprise["recommendations"]}
    assert "夫妻投靠户口迁移" in personal
    assert "夫妻投靠户口迁移" not in names
    assert {"内资企业及分支机构变更登记", "住房公积金单位登记开户"} <= names
    assert {r["trigger"] for r in for_enterprise["recommendations"]} == {"enterprise"}


@pytest.fixture
def admin_ui() -> Client:
    client = Client()
    login(client, StaffFactory(platform_admin=True).user)
    return client


def test_a_theme_in_use_cannot_be_deleted_and_its_key_is_fixed(admin_ui: Client) -> None:
    theme = Theme.objects.get(key="notary")
    response = admin_ui.post(f"/admin/catalog/theme/{theme.pk}/delete/", {"post": "yes"})
    assert response.status_code == 403
    assert Theme.objects.filter(key="notary").exists()
    page = admin_ui.get(f"/admin/catalog/theme/{theme.pk}/change/").content.decode()
    assert 'name="key"' not in page


def test_push_rules_are_checked_in_the_admin(admin_ui: Client) -> None:
    response = admin_ui.post(
        "/admin/catalog/pushrule/add/",
        {"key": "bad", "trigger": "won_lottery", "item_codes": "5", "reason": "x", "order": 0},
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert set(errors) == {"trigger", "item_codes"}


def test_a_bad_form_schema_cannot_be_saved_in_the_admin(admin_ui: Client) -> None:
    from tongban.catalog.services import catalog_draft

    catalog_draft(actor=SYSTEM)
    scenario = ServiceItem.objects.get(version__number=2, name="学历公证").scenarios.get()
    response = admin_ui.post(
        f"/admin/catalog/scenario/{scenario.pk}/change/",
        {
            "key": "general",
            "name": "一般情形",
            "description": "",
            "form_schema": json.dumps(
                {"type": "object", "properties": {"x": {"$ref": "http://evil/s"}}}
            ),
            "order": 0,
            "materials-TOTAL_FORMS": 0,
            "materials-INITIAL_FORMS": 0,
        },
    )
    assert response.status_code == 200
    assert "form_schema" in response.context["adminform"].form.errors
    scenario.refresh_from_db()
    assert "$ref" not in json.dumps(scenario.form_schema)
