"""The portal's home page: popular services, theme tiles, the search form, its language."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from tests.portal.pages import html
from tongban.catalog.models import CatalogVersion, ServiceItem, Theme
from tongban.portal.views import POPULAR

pytestmark = pytest.mark.django_db

CARD = re.compile(
    r'<a class="card" href="/items/([^/"]+)/">\s*<span class="card-name">([^<]*)</span>'
)
TILE = re.compile(r'<a href="/themes/([^/"]+)/"><span>([^<]*)</span><small>(\d+)</small></a>')


def cards(response: Any) -> list[tuple[str, str]]:
    return CARD.findall(html(response))


def tiles(response: Any) -> dict[str, tuple[str, int]]:
    return {key: (name, int(n)) for key, name, n in TILE.findall(html(response))}


def test_home_is_in_chinese_by_default(api: Client, current: CatalogVersion) -> None:
    response = api.get("/")
    assert response.status_code == 200
    assert response["Content-Language"] == "zh-hans"
    body = html(response)
    assert '<html lang="zh-hans">' in body
    assert "跨省通办" in body
    assert "热门事项" in body
    assert "按主题查找" in body
    assert "Popular services" not in body
    total = ServiceItem.objects.filter(version=current).count()
    assert total == 115
    assert f"{total} 个事项可以跨省办理" in body


def test_home_lists_the_popular_items_in_order_with_links_to_their_guides(
    api: Client, item_named: Callable[[str], ServiceItem]
) -> None:
    listed = cards(api.get("/"))
    assert len(listed) == len(POPULAR) == 8
    assert listed == [(item_named(name).code, name) for name in POPULAR]
    medical = item_named("异地就医结算备案")
    assert listed[0] == (medical.code, "异地就医结算备案")


def test_home_leaves_out_popular_items_the_catalogue_no_longer_has(
    api: Client, item_named: Callable[[str], ServiceItem], publish: Callable[..., CatalogVersion]
) -> None:
    notary = item_named("学历公证")
    version = publish(
        lambda documents: [d for d in documents if d["name"] != "学历公证"], replace=True
    )
    assert version.number == 2
    response = api.get("/")
    assert response.status_code == 200
    names = [name for _code, name in cards(response)]
    assert names == [name for name in POPULAR if name != "学历公证"]
    assert f"/items/{notary.code}/" not in html(response)
    assert "114 个事项可以跨省办理" in html(response)


def test_theme_tiles_count_the_items_of_the_current_version(
    api: Client, current: CatalogVersion
) -> None:
    shown = tiles(api.get("/"))
    housing_fund = ServiceItem.objects.filter(version=current, themes__key="housing-fund").count()
    assert housing_fund == 7
    assert shown["housing-fund"] == ("公积金", housing_fund)
    # Every tile, in the themes' display order, counts what the database holds.
    expected = {
        theme.key: (theme.name, ServiceItem.objects.filter(version=current, themes=theme).count())
        for theme in Theme.objects.order_by("order", "key")
    }
    assert shown == {key: value for key, value in expected.items() if value[1]}
    assert list(shown) == [key for key, value in expected.items() if value[1]]


def test_theme_tiles_follow_a_newly_published_version(
    api: Client, publish: Callable[..., CatalogVersion]
) -> None:
    def add_housing_fund_theme(documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
        notary = next(d for d in documents if d["name"] == "学历公证")
        notary["themes"] = sorted([*notary["themes"], "housing-fund"])
        return [notary]

    before = tiles(api.get("/"))["housing-fund"][1]
    publish(add_housing_fund_theme)
    assert tiles(api.get("/"))["housing-fund"] == ("公积金", before + 1)


def test_home_has_the_search_form(api: Client) -> None:
    body = html(api.get("/"))
    form = re.search(
        r'<form class="wrap search" action="([^"]*)" method="get"[^>]*>(.*?)</form>', body, re.S
    )
    assert form is not None
    assert form.group(1) == "/search/"
    assert re.search(r'<input id="q" name="q" type="search"', form.group(2))
    assert 'maxlength="100"' in form.group(2)


def test_home_in_english_on_request(api: Client) -> None:
    response = api.get("/", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    assert response["Content-Language"] == "en"
    body = html(response)
    assert '<html lang="en">' in body
    assert "Popular services" in body
    assert "Browse by theme" in body
    assert "115 services can be handled across provinces" in body
    assert "热门事项" not in body
    # The data stays as the catalogue has it.
    assert "异地就医结算备案" in body
