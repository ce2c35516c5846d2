import json
import logging

import pytest

from tests.factories import PASSWORD, make_id_number

pytestmark = pytest.mark.django_db


def test_every_response_carries_a_request_id(api) -> None:
    generated = api.get("/healthz")["X-Request-ID"]
    assert len(generated) == 32
    assert api.get("/healthz", HTTP_X_REQUEST_ID="abc-123")["X-Request-ID"] == "abc-123"
    # A hostile id (too long, odd characters) is replaced, not echoed.
    assert api.get("/healthz", HTTP_X_REQUEST_ID="<script>")["X-Request-ID"] != "<script>"


def test_request_logs_name_the_event_and_route_without_personal_data(api, caplog) -> None:
    id_number = make_id_number(401)
    caplog.set_level(logging.INFO)
    response = api.post(
        "/api/v1/accounts/sign-up?ref=" + id_number,
        data=json.dumps(
            {
                "name": "隐私测试",
                "id_number": id_number,
                "phone": "13800004010",
                "password": PASSWORD,
            }
        ),
        content_type="application/json",
    )
    assert response.status_code == 201
    text = "\n".join(
        str(record.msg) + str(getattr(record, "__dict__", "")) for record in caplog.records
    )
    assert "http.request" in text
    assert "person.signed_up" in text
    assert id_number not in text
    assert "13800004010" not in text
    assert "隐私测试" not in text


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path", ["/items/%00/", "/search/?q=%00", "/cases/%01/notices/acceptance/", "/?x%00=1"]
)
def test_control_characters_in_a_page_request_are_a_400_page(api, path) -> None:
    response = api.get(path)
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")
    assert "控制字符" in response.content.decode() or "无法处理" in response.content.decode()


@pytest.mark.django_db
def test_control_characters_in_a_posted_form_are_a_400_page(api) -> None:
    response = api.post("/login/", {"username": "a\x00b", "password": "x"})
    assert response.status_code == 400
