import datetime as dt

import pytest
from django.utils import timezone

from tongban.catalog.selectors import version_current
from tongban.catalog.services import catalog_documents, catalog_import, catalog_publish
from tongban.core.audit import SYSTEM

pytestmark = pytest.mark.django_db


def test_all_115_items_are_listed_with_paging(api) -> None:
    first = api.get("/api/v1/catalog/items", {"limit": 100}).json()
    assert first["count"] == 115
    assert first["version"] == 1
    assert len(first["items"]) == 100
    rest = api.get("/api/v1/catalog/items", {"limit": 100, "offset": 100}).json()
    codes = [item["code"] for item in first["items"] + rest["items"]]
    assert len(set(codes)) == 115
    assert codes == sorted(codes)


@pytest.mark.parametrize(
    ("params", "check"),
    [
        ({"mode": "JOINT"}, lambda item: "JOINT" in item["modes"]),
        ({"batch": "2021+"}, lambda item: item["batch"] == "2021+"),
        ({"theme": "housing-fund"}, lambda item: "公积金" in item["name"]),
        ({"department": "cq-justice"}, lambda item: _involves(item["code"], "cq-justice")),
    ],
)
def test_filters(api, params, check) -> None:
    body = api.get("/api/v1/catalog/items", {**params, "limit": 200}).json()
    assert body["count"] > 0
    assert body["count"] < 115
    assert all(check(item) for item in body["items"])


def _involves(code: str, key: str) -> bool:
    from tongban.catalog.models import ServiceItem

    item = ServiceItem.objects.get(version=version_current(), code=code)
    keys = {item.lead_unit.key if item.lead_unit else None}
    keys |= {unit.key for unit in item.cooperating_units.all()}
    keys |= {i.department.key for i in item.implementations.all() if i.department}
    return key in keys


def test_jurisdiction_filter_finds_the_chengdu_demo_items(api) -> None:
    body = api.get("/api/v1/catalog/items", {"jurisdiction": "510100", "limit": 200}).json()
    assert body["count"] == 14
    assert "异地就医结算备案" in {item["name"] for item in body["items"]}


def test_q_orders_by_relevance(api) -> None:
    body = api.get("/api/v1/catalog/items", {"q": "公积金", "limit": 5}).json()
    assert body["count"] >= 5
    assert all("公积金" in item["name"] for item in body["items"])
    # The list follows the search ranking, not code order.
    ranked = [
        r["code"]
        for r in api.get("/api/v1/catalog/search", {"q": "公积金", "limit": 5}).json()["results"]
    ]
    assert [item["code"] for item in body["items"]] == ranked


def test_the_guide_of_an_item(api) -> None:
    listing = api.get("/api/v1/catalog/items", {"q": "学历公证", "limit": 1}).json()
    code = listing["items"][0]["code"]
    guide = api.get(f"/api/v1/catalog/items/{code}").json()
    assert guide["name"] == "学历公证"
    assert guide["lead_unit"]["short_name"] == "市司法局"
    assert [u["short_name"] for u in guide["cooperating_units"]] == ["市教委"]
    assert guide["scenarios"][0]["generic"] is True
    assert guide["scenarios"][0]["materials"][0]["license_type"] == "居民身份证"
    assert {i["division_code"] for i in guide["implementations"]} == {"500000", "510100"}
    assert guide["legal_basis"] == ""
    assert guide["implementations"][0]["legal_limit_days"] is None


def test_any_version_can_be_read(api) -> None:
    document = next(
        d for d in catalog_documents(version=version_current()) if d["name"] == "学历公证"
    )
    document["name"] = "学历公证（新）"
    catalog_import(actor=SYSTEM, documents=[document])
    catalog_publish(actor=SYSTEM, valid_from=timezone.localdate())
    assert api.get(f"/api/v1/catalog/items/{document['code']}").json()["name"] == "学历公证（新）"
    assert (
        api.get(f"/api/v1/catalog/items/{document['code']}", {"version": 1}).json()["name"]
        == "学历公证"
    )
    diff = api.get("/api/v1/catalog/versions/1/diff/2").json()
    assert diff["changed"][document["code"]]["name"] == ["学历公证", "学历公证（新）"]
    versions = api.get("/api/v1/catalog/versions").json()
    assert [v["number"] for v in versions] == [2, 1]


def test_a_future_version_is_readable_but_not_in_force(api) -> None:
    catalog_import(actor=SYSTEM, documents=catalog_documents(version=version_current())[:1])
    catalog_publish(actor=SYSTEM, valid_from=timezone.localdate() + dt.timedelta(days=30))
    assert api.get("/api/v1/catalog/items").json()["version"] == 1
    assert api.get("/api/v1/catalog/items", {"version": 2}).json()["version"] == 2


def test_search_returns_scored_highlighted_results(api) -> None:
    body = api.get("/api/v1/catalog/search", {"q": "迁户口", "limit": 3}).json()
    assert 1 <= len(body["results"]) <= 3
    top = body["results"][0]
    assert "户口迁移" in top["name"]
    assert "<em>" in top["highlight"]
    assert top["score"] > 0
    assert [r["score"] for r in body["results"]] == sorted(
        (r["score"] for r in body["results"]), reverse=True
    )


@pytest.mark.parametrize(
    "q", ["", "   ", "😀😀", "' OR 1=1 --", "社保'; DROP TABLE catalog_serviceitem; --"]
)
def test_odd_queries_never_fail(api, q: str) -> None:
    response = api.get("/api/v1/catalog/search", {"q": q})
    assert response.status_code == 200
    assert isinstance(response.json()["results"], list)
    assert api.get("/api/v1/catalog/items", {"q": q}).status_code == 200


def test_overlong_queries_and_bad_paging_are_400(api) -> None:
    assert api.get("/api/v1/catalog/search", {"q": "社" * 101}).status_code == 400
    response = api.get("/api/v1/catalog/items", {"limit": 0, "offset": -1})
    assert response.status_code == 400
    assert set(response.json()["fields"]) == {"limit", "offset"}
    assert api.get("/api/v1/catalog/items", {"mode": "FAX"}).json()["fields"] == {
        "mode": "请从以下选项中选择：ONLINE, PROXY, JOINT。"
    }


def test_unknown_item_and_version_are_404(api) -> None:
    assert api.get("/api/v1/catalog/items/000000000000").status_code == 404
    response = api.get("/api/v1/catalog/items", {"version": 99})
    assert response.status_code == 404
    assert response.json()["code"] == "no_such_version"


def test_themes(api) -> None:
    themes = api.get("/api/v1/catalog/themes").json()
    assert {"key": "social-insurance", "name": "社保"} in themes


def test_drafts_are_for_catalogue_managers_only(api) -> None:
    from tests.conftest import login
    from tests.factories import StaffFactory
    from tongban.catalog.services import catalog_draft

    draft = catalog_draft(actor=SYSTEM)
    assert api.get("/api/v1/catalog/items", {"version": draft.number}).status_code == 404
    login(api, StaffFactory(window_clerk=True).user)
    assert api.get("/api/v1/catalog/items", {"version": draft.number}).status_code == 404
    login(api, StaffFactory(platform_admin=True).user)
    assert api.get("/api/v1/catalog/items", {"version": draft.number}).json()["count"] == 115
