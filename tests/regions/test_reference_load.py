import csv
from pathlib import Path

import pytest

from tongban.core.models import AuditEntry
from tongban.regions.models import Department, Division, DivisionLevel
from tongban.regions.selectors import department_by_short_name
from tongban.regions.services import regions_load_reference

pytestmark = pytest.mark.django_db
CATALOG = Path(__file__).resolve().parents[3] / "shared" / "data" / "catalog.csv"


def test_all_provinces_every_chongqing_county_and_the_sichuan_cities_are_loaded() -> None:
    assert Division.objects.filter(level=DivisionLevel.PROVINCE).count() == 31
    assert Division.objects.filter(parent_id="500000").count() == 38
    assert Division.objects.filter(parent_id="510000", level=DivisionLevel.PREFECTURE).count() == 21
    assert Division.objects.get(code="500103").name == "渝中区"
    assert Division.objects.get(code="510100").name == "成都市"
    assert Division.objects.get(code="100000").level == DivisionLevel.NATIONAL


def test_every_division_except_the_nation_has_a_parent() -> None:
    assert list(Division.objects.filter(parent__isnull=True).values_list("code", flat=True)) == [
        "100000"
    ]


def test_every_unit_the_catalogue_names_is_a_department() -> None:
    # The reference catalogue lives beside the project in ../shared when it is checked out.
    if not CATALOG.exists():
        pytest.skip("shared/data/catalog.csv not present")
    units = set()
    with CATALOG.open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            for cell in [row["lead_unit"], *row["cooperating_units"].split("|")]:
                units.update(part.strip() for part in cell.split("、") if part.strip())
    missing = {unit for unit in units if department_by_short_name(short_name=unit) is None}
    assert not missing


def test_the_units_listed_in_the_data_readme_are_chongqing_departments() -> None:
    names = [
        "市司法局",
        "市教委",
        "市公安局",
        "市人力社保局",
        "市医保局",
        "市规划自然资源局",
        "市生态环境局",
        "市住房城乡建委",
        "市卫生健康委",
        "市市场监管局",
        "市商务委",
        "重庆市税务局",
        "市药监局",
        "民航重庆监管局",
        "市林业局",
        "市邮政管理局",
        "市残联",
        "市民政局",
        "市高法院",
        "人行重庆营管部",
        "重庆海关",
    ]
    for short_name in names:
        department = department_by_short_name(short_name=short_name)
        assert department is not None, short_name
        assert department.division_id == "500000"
    assert Department.objects.filter(division_id="510100").count() >= 15


def test_loading_again_changes_nothing() -> None:
    audit_rows = AuditEntry.objects.count()
    report = regions_load_reference()
    assert report.created == {}
    assert report.updated == {}
    assert AuditEntry.objects.count() == audit_rows


def test_a_changed_file_updates_rows_and_audits_old_and_new(tmp_path: Path) -> None:
    source = Path(__file__).resolve().parents[2] / "src" / "tongban" / "regions" / "data"
    divisions = tmp_path / "divisions.csv"
    divisions.write_text(
        (source / "divisions.csv")
        .read_text(encoding="utf-8")
        .replace("500103,渝中区", "500103,渝中区（测试）"),
        encoding="utf-8",
    )
    report = regions_load_reference(
        divisions_csv=divisions, departments_csv=source / "departments.csv"
    )
    assert report.updated == {"division": 1}
    assert Division.objects.get(code="500103").name == "渝中区（测试）"
    entry = AuditEntry.objects.get(action="division.updated", target_id="500103")
    assert entry.changes == {"name": ["渝中区", "渝中区（测试）"]}
