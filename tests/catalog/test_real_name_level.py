"""Each item states the real-name level an applicant needs: reference rule, import, export."""

from __future__ import annotations

import pytest
from django.utils import timezone

from tongban.catalog.errors import ImportRejected
from tongban.catalog.models import ServiceItem
from tongban.catalog.reference import min_level_for
from tongban.catalog.selectors import version_current
from tongban.catalog.services import catalog_documents, catalog_import, catalog_publish
from tongban.core.audit import SYSTEM

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("name", "level"),
    [
        ("学历公证", 2),
        ("社会保险参保缴费记录查询", 2),
        ("不动产登记资料查询", 2),  # looking records up stays L2
        ("社会保障卡申领", 3),
        ("正常退休提取住房公积金", 3),
        ("夫妻投靠户口迁移", 3),
        ("企业职工基本养老保险关系转移接续", 3),
        ("排污许可", 3),
        ("个体工商户注销登记", 3),
    ],
)
def test_the_reference_rule(name: str, level: int) -> None:
    assert min_level_for(name) == level
    assert ServiceItem.objects.get(version=version_current(), name=name).min_real_name_level == (
        level
    )


def _document(name: str) -> dict:
    return next(d for d in catalog_documents(version=version_current()) if d["name"] == name)


def test_export_carries_the_level_and_import_changes_it() -> None:
    document = _document("学历公证")
    assert document["min_real_name_level"] == 2
    document["min_real_name_level"] = 3
    catalog_import(actor=SYSTEM, documents=[document])
    catalog_publish(actor=SYSTEM, valid_from=timezone.localdate(), note="提高实名等级")
    assert _document("学历公证")["min_real_name_level"] == 3


def test_a_document_without_a_level_gets_l2() -> None:
    document = _document("社会保障卡申领")
    del document["min_real_name_level"]
    catalog_import(actor=SYSTEM, documents=[document])
    catalog_publish(actor=SYSTEM, valid_from=timezone.localdate())
    assert _document("社会保障卡申领")["min_real_name_level"] == 2


@pytest.mark.parametrize("bad", [0, 4, "3", True, 2.5])
def test_a_level_outside_1_to_3_is_rejected(bad: object) -> None:
    document = _document("学历公证")
    document["min_real_name_level"] = bad
    with pytest.raises(ImportRejected) as rejected:
        catalog_import(actor=SYSTEM, documents=[document])
    assert any(p["field"] == "min_real_name_level" for p in rejected.value.problems)
