import datetime as dt
import json
from pathlib import Path

import pytest
from django.utils import timezone

from tests.factories import StaffFactory
from tongban.catalog import files
from tongban.catalog.errors import ImportRejected
from tongban.catalog.models import CatalogVersion, ServiceItem, VersionStatus
from tongban.catalog.selectors import item_get, version_current, version_get
from tongban.catalog.services import (
    catalog_diff,
    catalog_documents,
    catalog_draft,
    catalog_import,
    catalog_publish,
)
from tongban.core.audit import SYSTEM
from tongban.core.errors import Conflict, Forbidden, ValidationFailed

pytestmark = pytest.mark.django_db


def _documents() -> list[dict]:
    return catalog_documents(version=version_current())


def test_a_draft_copies_the_published_version_and_publishing_freezes_it() -> None:
    draft = catalog_draft(actor=SYSTEM)
    assert draft.number == 2
    assert draft.status == VersionStatus.DRAFT
    assert catalog_diff(old=version_current(), new=draft) == {
        "added": [],
        "removed": [],
        "changed": {},
    }
    assert catalog_draft(actor=SYSTEM) == draft  # one draft at a time

    document = next(d for d in _documents() if d["name"] == "学历公证")
    document["legal_basis"] = "《中华人民共和国公证法》"
    document["implementations"][0]["legal_limit_days"] = 15
    document["implementations"][0]["promised_limit_days"] = 5
    catalog_import(actor=SYSTEM, documents=[document])
    published = catalog_publish(actor=SYSTEM, valid_from=timezone.localdate(), note="测试")

    assert published.status == VersionStatus.PUBLISHED
    changes = catalog_diff(old=version_get(number=1), new=published)
    assert changes["added"] == changes["removed"] == []
    assert set(changes["changed"]) == {document["code"]}
    assert changes["changed"][document["code"]]["legal_basis"] == ["", "《中华人民共和国公证法》"]
    # Version 1 still says what it said: cases filed under it keep their rules.
    assert item_get(version=version_get(number=1), code=document["code"]).legal_basis == ""
    assert version_current() == published


def test_publishing_needs_a_draft_and_a_valid_date() -> None:
    with pytest.raises(Conflict):
        catalog_publish(actor=SYSTEM, valid_from=dt.date(2027, 1, 1))
    catalog_draft(actor=SYSTEM)
    with pytest.raises(ValidationFailed) as problem:
        catalog_publish(actor=SYSTEM, valid_from=dt.date(2000, 1, 1))
    assert "valid_from" in problem.value.fields


def test_a_future_version_is_not_in_force_yet() -> None:
    catalog_draft(actor=SYSTEM)
    future = catalog_publish(actor=SYSTEM, valid_from=dt.date(2099, 1, 1))
    assert version_current().number == 1
    assert version_get(number=future.number) == future


def test_only_platform_admins_manage_the_catalogue() -> None:
    clerk = StaffFactory(window_clerk=True)
    with pytest.raises(Forbidden):
        catalog_draft(actor=clerk.user)
    with pytest.raises(Forbidden):
        catalog_import(actor=clerk.user, documents=_documents()[:1])
    admin = StaffFactory(platform_admin=True)
    assert catalog_draft(actor=admin.user).is_draft


def test_a_bad_import_reports_every_problem_and_writes_nothing() -> None:
    documents = _documents()[:3]
    documents[1]["code"] = documents[0]["code"]
    documents[2]["implementations"][0]["division"] = "599999"
    before = ServiceItem.objects.count()
    with pytest.raises(ImportRejected) as rejected:
        catalog_import(actor=SYSTEM, documents=documents, rows=[2, 3, 4])
    problems = {(p["row"], p["field"]) for p in rejected.value.problems}
    assert problems == {(3, "code"), (4, "implementations.0.division")}
    assert ServiceItem.objects.count() == before
    assert not CatalogVersion.objects.filter(status=VersionStatus.DRAFT).exists()


def test_replace_removes_items_missing_from_the_file() -> None:
    documents = _documents()[:2]
    report = catalog_import(actor=SYSTEM, documents=documents, replace=True)
    assert len(report.updated) == 2
    assert len(report.removed) == 113
    assert ServiceItem.objects.filter(version__number=report.version).count() == 2


def test_a_new_item_and_implementation_codes_from_a_known_uscc() -> None:
    from tests.factories import make_uscc
    from tongban.regions.models import Department

    uscc = make_uscc(4242, division="500000")
    Department.objects.filter(key="cq-justice").update(uscc=uscc)
    document = next(d for d in _documents() if d["name"] == "学历公证")
    document["code"] = "000117051000"
    document["code_provisional"] = False
    document["implementations"][0]["code"] = ""
    report = catalog_import(actor=SYSTEM, documents=[document])
    assert report.created == ["000117051000"]
    item = item_get(version=version_get(number=report.version), code="000117051000")
    chongqing = item.implementations.get(division_id="500000")
    assert chongqing.code == uscc + "2" + "000117051000"  # provincial-level body
    assert len(chongqing.code) == 31


@pytest.mark.parametrize("suffix", ["json", "csv", "xlsx"])
def test_export_then_import_round_trips_losslessly(tmp_path: Path, suffix: str) -> None:
    documents = _documents()
    # Values a spreadsheet would run as formulas, and one that starts with an apostrophe.
    documents[0]["legal_basis"] = '=HYPERLINK("http://example.invalid","x")'
    documents[1]["conditions"] = "'quoted"
    documents[2]["scenario_text"] = "+86 @ -1"
    path = tmp_path / f"catalog.{suffix}"
    files.write_file(path, documents, version=1)
    parsed = files.read_file(path)
    assert parsed.documents == documents
    report = catalog_import(actor=SYSTEM, documents=parsed.documents, rows=parsed.rows)
    assert catalog_documents(version=version_get(number=report.version)) == sorted(
        documents, key=lambda d: d["code"]
    )


def test_spreadsheet_cells_never_start_with_a_formula(tmp_path: Path) -> None:
    documents = _documents()[:1]
    documents[0]["name"] = "=1+1"
    path = tmp_path / "catalog.xlsx"
    files.write_file(path, documents, version=1)
    from openpyxl import load_workbook

    sheet = load_workbook(path)["items"]
    values = [cell.value for row in sheet.iter_rows(min_row=2) for cell in row]
    assert "'=1+1" in values
    assert not any(isinstance(v, str) and v.startswith("=") for v in values)
    csv_path = tmp_path / "catalog.csv"
    files.write_file(csv_path, documents, version=1)
    assert ",'=1+1," in csv_path.read_text(encoding="utf-8-sig")


def test_gb18030_csv_from_a_chinese_spreadsheet_is_read(tmp_path: Path) -> None:
    utf8 = tmp_path / "utf8.csv"
    files.write_file(utf8, _documents()[:2], version=1)
    gbk = tmp_path / "gbk.csv"
    gbk.write_bytes(utf8.read_text(encoding="utf-8-sig").encode("gb18030"))
    assert files.read_file(gbk).documents == files.read_file(utf8).documents


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("x.txt", b"", ".json"),
        ("x.csv", b"", "文件为空"),
        ("x.csv", b"code,name\n1,2\n", "缺少"),
        ("x.csv", b"\xff\xfe\x00\x00garbage\x81", "UTF-8"),
        ("x.json", b"{not json", "JSON"),
        ("x.json", b'{"items": 3}', "items"),
        ("x.xlsx", b"PK\x03\x04 not really a zip", "xlsx"),
    ],
)
def test_unreadable_files_are_refused_with_a_reason(
    tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(files.FileRejected, match=message):
        files.read_file(path)


def test_huge_files_are_refused_before_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(files, "MAX_FILE_BYTES", 10)
    path = tmp_path / "x.json"
    path.write_text(json.dumps({"items": []}))
    with pytest.raises(files.FileRejected, match="MB"):
        files.read_file(path)


def test_a_cell_that_does_not_parse_is_reported_on_its_field(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    files.write_file(path, _documents()[:1], version=1)
    text = path.read_text(encoding="utf-8-sig")
    header, row = text.splitlines()[:2]
    columns = header.split(",")
    # Break the scenarios cell (JSON) of the first row by appending garbage to the file's JSON.
    broken = row.replace('[{""', '[{{""', 1)
    path.write_text(header + "\n" + broken + "\n", encoding="utf-8")
    parsed = files.read_file(path)
    with pytest.raises(ImportRejected) as rejected:
        catalog_import(actor=SYSTEM, documents=parsed.documents, rows=parsed.rows)
    assert rejected.value.problems[0]["row"] == 2
    assert rejected.value.problems[0]["field"] == "scenarios"
    assert "scenarios" in columns
