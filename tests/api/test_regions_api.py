import pytest

from tongban.core.audit import SYSTEM
from tongban.regions.services import hall_create

pytestmark = pytest.mark.django_db


def test_list_provinces(api) -> None:
    response = api.get("/api/v1/regions/divisions", {"level": "province"})
    assert response.status_code == 200
    body = response.json()
    assert len(body) == 31
    assert {
        "code": "500000",
        "name": "重庆市",
        "level": "province",
        "parent_code": "100000",
    } in body


def test_children_of_a_division(api) -> None:
    body = api.get("/api/v1/regions/divisions", {"parent": "510100"}).json()
    assert len(body) == 20
    assert body[0] == {
        "code": "510104",
        "name": "锦江区",
        "level": "county",
        "parent_code": "510100",
    }


def test_one_division(api) -> None:
    assert api.get("/api/v1/regions/divisions/500103").json()["name"] == "渝中区"


@pytest.mark.parametrize("code", ["5001", "abcdef", "0500000"])
def test_malformed_division_codes_are_400_naming_the_field(api, code: str) -> None:
    response = api.get(f"/api/v1/regions/divisions/{code}")
    assert response.status_code == 400
    assert response.json()["fields"] == {"code": "行政区划代码为6位数字，例如 500000。"}


def test_unknown_division_is_404(api) -> None:
    response = api.get("/api/v1/regions/divisions/500199")
    assert response.status_code == 404
    assert response.json()["message"] == "没有使用该代码的行政区划。"


def test_unknown_parent_filter_is_an_error_not_an_empty_list(api) -> None:
    assert api.get("/api/v1/regions/divisions", {"parent": "12"}).status_code == 400


def test_departments_of_a_division(api) -> None:
    body = api.get("/api/v1/regions/departments", {"division": "500000"}).json()
    short_names = {row["short_name"] for row in body}
    assert {"市公安局", "市人力社保局", "重庆海关"} <= short_names
    assert all(row["division_code"] == "500000" for row in body)


def test_halls_with_windows_and_hours(api) -> None:
    hall_create(
        actor=SYSTEM,
        key="yz",
        name="渝中区政务服务中心",
        division_code="500103",
        opening_periods=[{"weekdays": [1], "start": "09:00", "end": "12:00", "kind": "regular"}],
        windows=[
            {
                "number": "01",
                "name": "跨省通办窗口",
                "kind": "cross_province",
                "departments": ["cq-hrss"],
                "off_hours": True,
            }
        ],
    )
    body = api.get("/api/v1/regions/halls", {"division": "500103"}).json()
    window_id = body[0]["windows"][0].pop("id")  # for naming the receiving window of a case
    assert isinstance(window_id, int)
    assert body == [
        {
            "key": "yz",
            "name": "渝中区政务服务中心",
            "division_code": "500103",
            "address": "",
            "phone": "",
            "opening_periods": [
                {"weekday": 1, "start": "09:00:00", "end": "12:00:00", "kind": "regular"}
            ],
            "windows": [
                {
                    "number": "01",
                    "name": "跨省通办窗口",
                    "kind": "cross_province",
                    "off_hours": True,
                    "departments": ["cq-hrss"],
                }
            ],
        }
    ]
