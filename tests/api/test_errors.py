"""The one error shape {code, message, fields}, Chinese by default, English on request."""

import json

import pytest

pytestmark = pytest.mark.django_db


def _post(api, path, body, **headers):
    return api.post(
        path,
        data=json.dumps(body) if not isinstance(body, str) else body,
        content_type="application/json",
        **headers,
    )


def test_validation_errors_are_chinese_by_default(api) -> None:
    response = _post(
        api,
        "/api/v1/accounts/sign-up",
        {"name": "张三", "id_number": "123", "phone": "138", "password": "Correct-Horse-42"},
    )
    assert response.status_code == 400
    body = response.json()
    assert body == {
        "code": "validation_failed",
        "message": "部分字段填写有误。",
        "fields": {"id_number": "公民身份号码应为18位。", "phone": "手机号码应为11位数字。"},
    }


def test_english_with_accept_language(api) -> None:
    response = _post(
        api,
        "/api/v1/accounts/sign-up",
        {"name": "张三", "id_number": "123", "phone": "138", "password": "Correct-Horse-42"},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 400
    assert response.json()["message"] == "Some fields are invalid."
    assert response.json()["fields"]["id_number"] == "A resident ID number has 18 characters."
    assert response.headers["Content-Language"] == "en"


def test_missing_and_mistyped_fields_use_the_same_shape(api) -> None:
    response = _post(api, "/api/v1/accounts/sign-up", {"name": 3, "phone": "13800000000"})
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "validation_failed"
    assert body["fields"] == {
        "name": "应为文本。",
        "id_number": "此项为必填项。",
        "password": "此项为必填项。",
    }


def test_a_body_that_is_not_json(api) -> None:
    response = _post(api, "/api/v1/accounts/sign-up", "{not json")
    assert response.status_code == 400
    assert response.json() == {
        "code": "invalid_body",
        "message": "请求体不是有效的 JSON。",
        "fields": {},
    }


def test_unknown_endpoints_and_wrong_methods_are_json(api) -> None:
    response = api.get("/api/v1/does-not-exist")
    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "message": "接口或对象不存在。", "fields": {}}
    response = api.delete("/api/v1/regions/divisions")
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"


def test_protected_endpoints_answer_401_json(api) -> None:
    response = api.get("/api/v1/accounts/me")
    assert response.status_code == 401
    assert response.json() == {"code": "not_authenticated", "message": "请先登录。", "fields": {}}


def test_pages_outside_the_api_keep_html_errors(api) -> None:
    response = api.get("/no-such-page")
    assert response.status_code == 404
    assert not response.headers["Content-Type"].startswith("application/json")
