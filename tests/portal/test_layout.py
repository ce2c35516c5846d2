"""What every portal page shares: a mobile viewport, one heading, the portal stylesheet."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.contrib.staticfiles import finders
from django.templatetags.static import static
from django.test import Client

import tongban
from tests.portal.pages import count, html, row_codes
from tongban.catalog.models import CatalogVersion, ServiceItem

pytestmark = pytest.mark.django_db

STYLESHEET = Path(tongban.__file__).parent / "portal" / "static" / "portal" / "portal.css"
# Page → how many <h1> it has. The search page has none: its heading is the search box.
PAGES = {
    "home": ("/", 1),
    "search": ("/search/?q=迁户口", 0),
    "guide": ("/items/{code}/", 1),
    "theme": ("/themes/social-insurance/", 1),
    "not-found": ("/themes/nope/", 1),
}


def get(api: Client, page: str, current: CatalogVersion) -> Any:
    url = PAGES[page][0].format(code=ServiceItem.objects.get(version=current, name="学历公证").code)
    response = api.get(url)
    assert response.status_code == (404 if page == "not-found" else 200)
    return response


@pytest.mark.parametrize("page", PAGES)
def test_page_has_a_viewport_and_one_heading(
    api: Client, current: CatalogVersion, page: str
) -> None:
    response = get(api, page, current)
    body = html(response)
    assert '<html lang="zh-hans">' in body
    assert '<meta charset="utf-8">' in body
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in body
    assert count("h1", response) == PAGES[page][1]
    assert re.search(r"<title>[^<]*· 通办</title>", body)


def test_the_search_page_has_results_but_no_heading(api: Client, current: CatalogVersion) -> None:
    response = get(api, "search", current)
    assert len(row_codes(response)) == 5
    assert count("h1", response) == 0


@pytest.mark.parametrize("page", PAGES)
def test_page_links_the_portal_stylesheet(api: Client, current: CatalogVersion, page: str) -> None:
    links = re.findall(r'<link rel="stylesheet" href="([^"]+)">', html(get(api, page, current)))
    assert links == [static("portal/portal.css")] == ["/static/portal/portal.css"]


def test_the_stylesheet_exists_where_the_link_points() -> None:
    # Tests run with DEBUG=False and an empty STATIC_ROOT, so WhiteNoise does not serve it
    # here; check that the static files finders resolve the linked path to the shipped file.
    found = finders.find("portal/portal.css")
    assert found is not None
    assert Path(found).resolve() == STYLESHEET.resolve()
    css = STYLESHEET.read_text(encoding="utf-8")
    assert ".search" in css
    assert ".badge-joint" in css
