import csv
from pathlib import Path

import pytest

from tongban.catalog.models import CatalogVersion, Implementation, ServiceItem, VersionStatus
from tongban.catalog.reference import CATALOG_CSV, EXTRA_MATERIALS
from tongban.catalog.selectors import version_current
from tongban.catalog.services import catalog_load_reference
from tongban.core.audit import SYSTEM

pytestmark = pytest.mark.django_db
SHARED_CATALOG = Path(__file__).resolve().parents[3] / "shared" / "data" / "catalog.csv"


def test_the_packaged_list_is_the_shared_reference() -> None:
    if not SHARED_CATALOG.exists():
        pytest.skip("shared/data/catalog.csv not present")
    assert CATALOG_CSV.read_bytes() == SHARED_CATALOG.read_bytes()


def test_every_row_is_an_item_of_the_published_version() -> None:
    version = version_current()
    assert version.number == 1
    with CATALOG_CSV.open(encoding="utf-8") as handle:
        names = [row["name"] for row in csv.DictReader(handle)]
    assert len(names) == 115
    items = ServiceItem.objects.filter(version=version)
    assert sorted(items.values_list("name", flat=True)) == sorted(names)
    assert items.values("code").distinct().count() == 115


def test_fields_follow_the_source_and_stay_empty_where_it_is_silent() -> None:
    item = ServiceItem.objects.get(version=version_current(), name="学历公证")
    assert item.batch == "2020"
    assert item.seq == 1
    assert item.code == "992000000001"
    assert item.code_provisional
    assert item.modes == ["ONLINE", "PROXY"]
    assert item.lead_unit is not None
    assert item.lead_unit.short_name == "市司法局"
    assert [unit.short_name for unit in item.cooperating_units.all()] == ["市教委"]
    assert item.scenario_text.startswith("申请人可异地申请")
    assert item.legal_basis == ""  # never invented
    assert item.item_type == ""
    assert {theme.key for theme in item.themes.all()} == {"education", "notary"}


def test_inferred_batches_are_flagged() -> None:
    item = ServiceItem.objects.get(version=version_current(), name="正常退休提取住房公积金")
    assert item.batch == "2020"
    assert item.batch_inferred
    assert item.seq is None


def test_every_item_has_a_generic_scenario_with_a_form_and_a_chongqing_implementation() -> None:
    version = version_current()
    for item in ServiceItem.objects.filter(version=version).prefetch_related(
        "scenarios__materials", "implementations"
    ):
        scenarios = list(item.scenarios.all())
        assert len(scenarios) == 1
        assert scenarios[0].generic
        assert scenarios[0].form_schema["required"] == [
            "applicant_name",
            "id_number",
            "phone",
            "statement",
        ]
        extra = [m["key"] for m in EXTRA_MATERIALS.get(item.name, ())]
        assert [m.key for m in scenarios[0].materials.all()] == ["identity", *extra]
        assert "500000" in {i.division_id for i in item.implementations.all()}


def test_items_that_work_on_a_disability_card_ask_for_it_and_take_its_licence() -> None:
    from tongban.licenses.models import LicenseType

    with CATALOG_CSV.open(encoding="utf-8") as handle:
        names = {row["name"] for row in csv.DictReader(handle)}
    assert set(EXTRA_MATERIALS) <= names  # no extra material for an item the list lacks
    kind = LicenseType.objects.get(name="残疾人证")
    assert kind.item_names == ["残疾人证新办"]
    for name in ("残疾人证换领", "残疾人证迁移", "残疾人证注销"):
        item = ServiceItem.objects.get(version=version_current(), name=name)
        card = item.scenarios.get().materials.get(key="disability-card")
        assert (card.name, card.license_type) == ("残疾人证", kind.name)
        assert card.required
        assert card.original_required
    assert not ServiceItem.objects.filter(
        version=version_current(),
        name="残疾人证新办",
        scenarios__materials__key="disability-card",
    ).exists()


def test_demo_items_are_also_implemented_in_chengdu() -> None:
    implementation = Implementation.objects.get(
        item__version=version_current(), item__name="异地就医结算备案", division_id="510100"
    )
    assert implementation.department is not None
    assert implementation.department.key == "cd-healthcare-security"
    assert implementation.legal_limit_days is None  # unknown, shown as 待补充


def test_loading_again_changes_nothing() -> None:
    before = CatalogVersion.objects.count()
    assert "already" in catalog_load_reference(actor=SYSTEM)
    assert CatalogVersion.objects.count() == before
    assert not CatalogVersion.objects.filter(status=VersionStatus.DRAFT).exists()
