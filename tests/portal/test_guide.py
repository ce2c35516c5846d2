"""The guide (办事指南) of an item, the windows that receive it, and the theme pages."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from tests.portal.pages import count, html, row_codes
from tongban.catalog.models import CatalogVersion, ServiceItem
from tongban.core.audit import SYSTEM
from tongban.ops.demo import load_demo
from tongban.regions.services import hall_create

pytestmark = pytest.mark.django_db

MISSING = "待补充"
GENERIC_NOTE = "通用情形，部门尚未细分具体情形"
FACT = re.compile(r"<dt>(.*?)</dt><dd>(.*?)</dd>", re.S)
PLACE = re.compile(r'<div class="place">\s*<h3>(.*?)</h3>(.*?)</div>', re.S)
WINDOW = re.compile(r"<li>(.*?)</li>", re.S)


def facts(fragment: str) -> dict[str, str]:
    return {term: value.strip() for term, value in FACT.findall(fragment)}


def basic_facts(body: str) -> dict[str, str]:
    section = re.search(r"<h2>基本信息</h2>(.*?)</section>", body, re.S)
    assert section is not None
    return facts(section.group(1))


def places(body: str) -> dict[str, dict[str, Any]]:
    """Per implementation heading ("重庆市 · 重庆市司法局"): its facts and its windows."""
    found = {}
    for heading, rest in PLACE.findall(body):
        windows = re.search(r'<ul class="windows">(.*?)</ul>', rest, re.S)
        found[heading] = {
            "facts": facts(rest),
            "windows": [
                re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", li)).strip()
                for li in WINDOW.findall(windows.group(1) if windows else "")
            ],
        }
    return found


@pytest.fixture
def notary(item_named: Callable[[str], ServiceItem]) -> ServiceItem:
    return item_named("学历公证")


def guide(api: Client, item: ServiceItem) -> str:
    response = api.get(f"/items/{item.code}/")
    assert response.status_code == 200
    return html(response)


def test_guide_of_a_reference_item(api: Client, notary: ServiceItem) -> None:
    body = guide(api, notary)
    assert re.findall(r"<h1>(.*?)</h1>", body) == ["学历公证"]
    assert f"编码 {notary.code}" in body
    assert "目录版本 v1" in body
    basic = basic_facts(body)
    assert basic["牵头单位"] == "重庆市司法局"  # the full name, not 市司法局
    assert basic["配合单位"] == "重庆市教育委员会"
    assert basic["事项类型"] == MISSING
    assert basic["设定依据"] == MISSING
    assert basic["申请条件"] == MISSING
    assert basic["批次"] == "2020"

    scenario = re.search(r'<div class="scenario">(.*?)</div>\s*</section>', body, re.S)
    assert scenario is not None
    assert re.search(rf"<h3>一般情形 <span class=\"note\">（{GENERIC_NOTE}）</span></h3>", body)
    material = re.search(r"<li>\s*<strong>申请人有效身份证件</strong>(.*?)</li>", body, re.S)
    assert material is not None
    assert "必须提交" in material.group(1)
    assert "持有电子证照即可免交纸质材料：居民身份证" in material.group(1)

    where = places(body)
    assert list(where) == ["重庆市 · 重庆市司法局", "成都市 · 成都市司法局"]
    for place in where.values():
        assert place["facts"]["承诺时限"] == MISSING
        assert place["facts"]["法定时限"] == MISSING
        assert place["facts"]["收费标准"] == MISSING
        assert place["facts"]["办理渠道"].split() == ["网上办理", "窗口办理", "结果邮寄"]
        assert place["windows"] == []  # no service hall exists yet


def test_guide_lists_the_windows_serving_the_department_cross_province_first(
    api: Client, notary: ServiceItem
) -> None:
    hall_create(
        actor=SYSTEM,
        key="aa-test-hall",  # sorts first: its general window would lead without the rule
        name="测试甲政务服务中心",
        division_code="500103",
        windows=[
            {
                "number": "01",
                "name": "综合受理窗口",
                "kind": "general",
                "departments": ["cq-justice"],
            },
            {"number": "02", "name": "社保窗口", "kind": "department", "departments": ["cq-hrss"]},
        ],
    )
    hall_create(
        actor=SYSTEM,
        key="zz-test-hall",
        name="测试乙政务服务中心",
        division_code="500112",
        windows=[
            {
                "number": "09",
                "name": "跨省通办窗口",
                "kind": "cross_province",
                "departments": ["cq-justice", "cq-education"],
                "off_hours": True,
            }
        ],
    )
    hall_create(
        actor=SYSTEM,
        key="cd-test-hall",
        name="测试成都政务服务中心",
        division_code="510104",
        windows=[
            {
                "number": "A1",
                "name": "司法窗口",
                "kind": "department",
                "departments": ["cd-justice"],
            }
        ],
    )
    where = places(guide(api, notary))
    assert where["重庆市 · 重庆市司法局"]["windows"] == [
        "测试乙政务服务中心 09 跨省通办窗口 错时延时服务",
        "测试甲政务服务中心 01 综合受理窗口",
    ]
    assert where["成都市 · 成都市司法局"]["windows"] == ["测试成都政务服务中心 A1 司法窗口"]


def test_guide_lists_the_demo_halls_windows(
    api: Client, notary: ServiceItem, item_named: Callable[[str], ServiceItem]
) -> None:
    load_demo()
    where = places(guide(api, notary))
    assert where["重庆市 · 重庆市司法局"]["windows"] == [
        "重庆市政务服务中心 A02 综合受理窗口",
        "渝中区政务服务中心 02 综合受理窗口",
    ]
    assert where["成都市 · 成都市司法局"]["windows"] == []  # this node loads Chongqing's halls

    pension = item_named("企业职工基本养老保险关系转移接续")
    where = places(guide(api, pension))
    assert where["重庆市 · 重庆市人力资源和社会保障局"]["windows"] == [
        "重庆市政务服务中心 A01 跨省通办窗口 错时延时服务",
        "渝中区政务服务中心 01 跨省通办窗口 错时延时服务",
        "重庆市政务服务中心 B02 市人力社保局窗口",
    ]


@pytest.mark.parametrize("code", ["NOPE", "000000000000", "992000000001x"])
def test_an_unknown_code_is_a_404_page_in_chinese(api: Client, code: str) -> None:
    response = api.get(f"/items/{code}/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
    body = html(response)
    assert "<h1>该目录版本中没有此编码的事项。</h1>" in body
    assert not body.lstrip().startswith("{")


def test_a_published_new_version_changes_the_guide(
    api: Client,
    notary: ServiceItem,
    current: CatalogVersion,
    publish: Callable[..., CatalogVersion],
) -> None:
    def amend(documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
        document = next(d for d in documents if d["code"] == notary.code)
        document["legal_basis"] = "《中华人民共和国公证法》"
        document["cooperating_units"] = []
        chongqing = next(i for i in document["implementations"] if i["division"] == "500000")
        chongqing |= {"promised_limit_days": 5, "legal_limit_days": 15, "fee": "免费"}
        return [document]

    version = publish(amend)
    assert version.number == 2
    body = guide(api, notary)
    assert "目录版本 v2" in body
    basic = basic_facts(body)
    assert basic["设定依据"] == "《中华人民共和国公证法》"
    assert basic["配合单位"] == "—"
    where = places(body)
    chongqing = where["重庆市 · 重庆市司法局"]["facts"]
    assert chongqing["承诺时限"] == "5 个工作日"
    assert chongqing["法定时限"] == "15 个工作日"
    assert chongqing["收费标准"] == "免费"
    assert where["成都市 · 成都市司法局"]["facts"]["承诺时限"] == MISSING
    # Version 1 is a record: its row is unchanged.
    notary.refresh_from_db()
    assert notary.version == current
    assert notary.legal_basis == ""


def test_a_version_valid_from_tomorrow_does_not_change_the_guide_yet(
    api: Client, notary: ServiceItem, publish: Callable[..., CatalogVersion]
) -> None:
    def amend(documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
        document = next(d for d in documents if d["code"] == notary.code)
        document["legal_basis"] = "《中华人民共和国公证法》"
        return [document]

    publish(amend, valid_from=timezone.localdate() + dt.timedelta(days=1))
    body = guide(api, notary)
    assert "目录版本 v1" in body
    assert basic_facts(body)["设定依据"] == MISSING


def test_theme_page_lists_only_items_with_that_theme(api: Client, current: CatalogVersion) -> None:
    response = api.get("/themes/social-insurance/")
    assert response.status_code == 200
    assert re.findall(r"<h1>(.*?)</h1>", html(response)) == ["社保"]
    codes = row_codes(response)
    expected = ServiceItem.objects.filter(version=current, themes__key="social-insurance")
    assert len(codes) == expected.count() == 22
    assert codes == sorted(expected.values_list("code", flat=True))
    assert (
        not ServiceItem.objects.filter(version=current, code__in=codes)
        .exclude(themes__key="social-insurance")
        .exists()
    )
    assert "<em>" not in html(response)  # no search highlights here


@pytest.mark.parametrize("key", ["nope", "Social-Insurance"])
def test_an_unknown_theme_is_a_404_page(api: Client, key: str) -> None:
    response = api.get(f"/themes/{key}/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
    assert "<h1>页面不存在</h1>" in html(response)
    assert count('li class="row"', response) == 0
