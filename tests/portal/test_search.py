"""The portal's search page: colloquial Chinese and pinyin, the mode filter, hostile input."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

from tests.portal.pages import count, hints, html, row_codes
from tongban.catalog.models import CatalogVersion, ServiceItem

pytestmark = pytest.mark.django_db

HINT_EMPTY = "用您自己的话输入要办的事，中文或拼音都可以。"
HINT_NOTHING = "没有找到相关事项。请减少关键词，或回到首页按主题查找。"
FOUND = re.compile(r"找到 (\d+) 个事项")
ROW_NAME = re.compile(r'<span class="row-name">(.*?)</span>', re.S)


def search(api: Client, q: str, **params: str) -> Any:
    response = api.get("/search/", {"q": q, **params})
    assert response.status_code == 200
    return response


def names_of(current: CatalogVersion, codes: list[str]) -> list[str]:
    by_code = dict(
        ServiceItem.objects.filter(version=current, code__in=codes).values_list("code", "name")
    )
    assert set(by_code) == set(codes), "every row links to an item of the current version"
    return [by_code[code] for code in codes]


def found_count(response: Any) -> int:
    match = FOUND.search(html(response))
    assert match is not None, hints(response)
    return int(match.group(1))


@pytest.fixture
def household_moves(current: CatalogVersion) -> dict[str, ServiceItem]:
    items = ServiceItem.objects.filter(version=current, name__contains="户口迁移")
    return {item.code: item for item in items}


def test_colloquial_query_finds_household_moves_with_highlights(
    api: Client, current: CatalogVersion, household_moves: dict[str, ServiceItem]
) -> None:
    response = search(api, "迁户口")
    codes = row_codes(response)
    assert len(household_moves) == 5
    assert set(codes) == set(household_moves)
    names = names_of(current, codes)
    assert all("户口迁移" in name for name in names)
    # The matched words are marked in each name, the rest of the name as it is.
    assert ROW_NAME.findall(html(response)) == [
        name.replace("户口迁移", "<em>户口迁移</em>") for name in names
    ]


def test_mode_filter_keeps_only_joint_items(
    api: Client, current: CatalogVersion, household_moves: dict[str, ServiceItem]
) -> None:
    response = search(api, "迁户口", mode="JOINT")
    codes = row_codes(response)
    joint = {code for code, item in household_moves.items() if item.joint}
    assert len(joint) == 3  # 工作调动 and 大中专录取学生 are not handled jointly
    assert set(codes) == joint
    assert all(ServiceItem.objects.get(version=current, code=code).joint for code in codes)
    assert re.search(r'<a href="\?q=[^"]*&amp;mode=JOINT" aria-current="true">', html(response))
    assert html(response).count('aria-current="true"') == 1
    assert found_count(response) == 3


def test_an_unknown_mode_is_ignored(api: Client, household_moves: dict[str, ServiceItem]) -> None:
    for mode in ("joint", "NOPE", "ONLINE' OR 1=1"):
        response = search(api, "迁户口", mode=mode)
        assert set(row_codes(response)) == set(household_moves)
        assert re.search(r'<a href="\?q=[^"&]*" aria-current="true">全部</a>', html(response))
        assert html(response).count('aria-current="true"') == 1


def test_pinyin_initials_find_household_moves(
    api: Client, current: CatalogVersion, household_moves: dict[str, ServiceItem]
) -> None:
    codes = row_codes(search(api, "hkqy"))
    assert set(household_moves) <= set(codes)
    # The household moves lead; anything the initials reach beyond them comes after.
    assert set(codes[: len(household_moves)]) == set(household_moves)
    assert all("户口迁移" in name for name in names_of(current, codes[:5]))


def test_full_pinyin_finds_social_security_cards(api: Client, current: CatalogVersion) -> None:
    response = search(api, "shebaoka")
    names = names_of(current, row_codes(response))
    assert names[0] == "社会保障卡申领"
    cards = set(
        ServiceItem.objects.filter(version=current, name__contains="社会保障卡").values_list(
            "name", flat=True
        )
    )
    assert len(cards) == 5
    assert set(names[: len(cards)]) == cards
    assert "<em>社会保障卡</em>申领" in html(response)


@pytest.mark.parametrize("params", [{}, {"q": ""}], ids=["no-q", "empty-q"])
def test_an_empty_query_shows_the_hint_and_no_results(api: Client, params: dict[str, str]) -> None:
    response = api.get("/search/", params)
    assert response.status_code == 200
    assert hints(response) == [HINT_EMPTY]
    assert row_codes(response) == []
    assert count('ul class="rows"', response) == 0
    assert FOUND.search(html(response)) is None


def test_a_blank_query_shows_the_hint(api: Client) -> None:
    response = search(api, "   ")
    assert row_codes(response) == []
    assert hints(response) == [HINT_EMPTY]


def test_a_query_that_finds_nothing_says_so(api: Client) -> None:
    response = search(api, "宇宙飞船")
    assert row_codes(response) == []
    assert hints(response) == [HINT_NOTHING]


@pytest.mark.parametrize(
    "q",
    ["<script>alert(1)</script>", '"><script>alert(1)</script>户口迁移'],
    ids=["script", "attribute-breakout-with-results"],
)
def test_html_in_the_query_is_escaped(api: Client, q: str) -> None:
    response = search(api, q)
    body = html(response)
    assert "<script" not in body.lower()
    assert "alert(1)</script>" not in body
    escaped = q.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    escaped = escaped.replace('"', "&quot;")
    assert f'value="{escaped}"' in body  # the search box keeps what was typed, escaped
    assert f"<title>{escaped} · 搜索" in body
    if "户口迁移" in q:
        assert len(row_codes(response)) >= 5


def test_a_raw_html_query_string_is_escaped_too(api: Client) -> None:
    # As a hand-made link would send it, without percent-encoding.
    response = api.get("/search/?q=<script>alert(1)</script>")
    assert response.status_code == 200
    assert "<script" not in html(response).lower()


@pytest.mark.parametrize(
    "q", ["户口迁移" * 75, "shebao" * 50, "a" * 300, "<" * 300], ids=["cjk", "pinyin", "a", "lt"]
)
def test_a_300_character_query_is_cut_to_100(api: Client, q: str) -> None:
    assert len(q) == 300
    response = search(api, q)
    assert response.context["query"] == q[:100]
    value = re.search(r'<input id="q" name="q" type="search" value="([^"]*)"', html(response))
    assert value is not None
    assert value.group(1) == q[:100].replace("<", "&lt;")
    if q.startswith("户口迁移"):
        assert len(row_codes(response)) >= 5


@pytest.mark.parametrize(("q", "at_least"), [("迁户口", 5), ("hkqy", 5), ("证明", 3)])
def test_the_count_matches_the_rows(api: Client, q: str, at_least: int) -> None:
    response = search(api, q)
    assert found_count(response) == len(row_codes(response)) >= at_least
    assert found_count(response) <= 20  # one page: the broad case is below


def test_the_count_matches_the_rows_for_a_broad_query(api: Client) -> None:
    first = search(api, "社保")  # more results than fit on one page
    total = found_count(first)
    assert len(row_codes(first)) == 20
    assert total > 20
    assert "page=2" in first.content.decode()
    second = search(api, "社保", page="2")
    codes = row_codes(first) + row_codes(second)
    assert len(codes) == total
    assert len(set(codes)) == total
    assert found_count(second) == total
