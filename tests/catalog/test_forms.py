import json

import pytest

from tests.factories import make_id_number
from tongban.catalog.forms import form_errors
from tongban.catalog.reference import GENERIC_FORM_SCHEMA

GOOD = {
    "applicant_name": "张三",
    "id_number": make_id_number(1),
    "phone": "13800000001",
    "statement": "申请学历公证",
}


def test_a_complete_form_passes() -> None:
    assert form_errors(GENERIC_FORM_SCHEMA, GOOD) == {}


def test_every_problem_is_named_in_chinese() -> None:
    data = {"id_number": "123", "phone": "12", "statement": "x" * 2001, "extra": 1}
    errors = {
        name: str(message) for name, message in form_errors(GENERIC_FORM_SCHEMA, data).items()
    }
    assert errors == {
        "applicant_name": "此项为必填项。",
        "id_number": "公民身份号码的格式不正确。",
        "phone": "联系电话的格式不正确。",
        "statement": "最多 2000 个字符。",
        "extra": "此项不属于本表单。",
    }


def test_not_an_object() -> None:
    assert set(form_errors(GENERIC_FORM_SCHEMA, ["x"])) == {"form"}


@pytest.mark.django_db
def test_the_check_endpoint(api) -> None:
    code = api.get("/api/v1/catalog/items", {"q": "学历公证", "limit": 1}).json()["items"][0][
        "code"
    ]
    url = f"/api/v1/catalog/items/{code}/scenarios/general/check"
    assert api.post(url, data=json.dumps(GOOD), content_type="application/json").json() == {
        "valid": True
    }
    response = api.post(
        url, data=json.dumps({**GOOD, "phone": "1"}), content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["fields"] == {"phone": "联系电话的格式不正确。"}
    missing = api.post(
        f"/api/v1/catalog/items/{code}/scenarios/nope/check",
        data="{}",
        content_type="application/json",
    )
    assert missing.status_code == 404
