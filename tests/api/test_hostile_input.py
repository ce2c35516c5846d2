"""Input that used to reach the database driver: NUL, control characters, lone surrogates;
cross-site posts to the anonymous endpoints; CSRF on session-authenticated writes."""

import json

import pytest
from django.conf import settings
from django.test import Client

from tests.conftest import login
from tests.factories import PASSWORD, PersonFactory, StaffFactory, make_id_number
from tongban.accounts.models import Person, User

pytestmark = pytest.mark.django_db
WRITES = [
    (
        "/api/v1/accounts/sign-up",
        {
            "name": "张三",
            "id_number": make_id_number(620),
            "phone": "13800006200",
            "password": PASSWORD,
        },
    ),
    ("/api/v1/accounts/login", {"username": "13800006200", "password": PASSWORD}),
]


@pytest.mark.parametrize(("path", "body"), WRITES)
@pytest.mark.parametrize("poison", ["\x00", "\ud800", "\x07"])
def test_control_characters_in_json_are_a_400_naming_the_field(api, path, body, poison) -> None:
    bad = {**body, "username" if "username" in body else "name": "abc" + poison}
    raw = json.dumps(bad)  # json escapes them: \\u0000, \\ud800 …
    response = api.post(path, data=raw, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_characters"
    assert list(response.json()["fields"]) == ["username" if "username" in body else "name"]
    assert not Person.objects.exists()


def test_control_characters_in_query_parameters(api) -> None:
    response = api.get("/api/v1/regions/divisions", {"level": "county\x00"})
    assert response.status_code == 400
    assert response.json()["fields"] == {"level": "请删除此项中的控制字符。"}


def test_unknown_levels_are_refused(api) -> None:
    response = api.get("/api/v1/regions/divisions", {"level": "bogus"})
    assert response.status_code == 400
    assert "level" in response.json()["fields"]


@pytest.mark.parametrize("path", ["/api/v1/accounts/login", "/api/v1/accounts/sign-up"])
def test_anonymous_endpoints_take_json_only(path: str) -> None:
    person = PersonFactory(with_login=True)
    client = Client(enforce_csrf_checks=True)
    fields = (
        {"username": person.phone, "password": PASSWORD}
        if path.endswith("login")
        else {
            "name": "张三",
            "id_number": make_id_number(622),
            "phone": "13800006220",
            "password": PASSWORD,
        }
    )
    body = json.dumps(fields)
    response = client.post(
        path, data=body, content_type="text/plain", HTTP_ORIGIN="https://evil.example"
    )
    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_media_type"
    assert settings.SESSION_COOKIE_NAME not in response.cookies
    assert Person.objects.count() == 1


def test_session_writes_need_the_csrf_token() -> None:
    clerk = StaffFactory(window_clerk=True)
    client = Client(enforce_csrf_checks=True)
    login(client, clerk.user)
    body = json.dumps({"name": "王芳", "id_number": make_id_number(621)})
    response = client.post("/api/v1/accounts/persons", data=body, content_type="application/json")
    assert response.status_code == 403
    assert response.json()["code"] == "csrf_failed"
    assert not Person.objects.exists()
    client.get("/workbench/")  # any page that sets the CSRF cookie
    token = client.cookies["csrftoken"].value
    response = client.post(
        "/api/v1/accounts/persons",
        data=body,
        content_type="application/json",
        HTTP_X_CSRFTOKEN=token,
    )
    assert response.status_code == 201


def test_department_admins_change_roles_over_the_api(api) -> None:
    admin = StaffFactory(department_admin=True, department_key="cq-hrss")
    clerk = StaffFactory(window_clerk=True, department_key="cq-hrss")
    other = StaffFactory(window_clerk=True, department_key="cq-public-security")
    login(api, admin.user)
    response = api.put(
        f"/api/v1/accounts/staff/{clerk.pk}/roles",
        data=json.dumps({"roles": ["reviewer"]}),
        content_type="application/json",
    )
    assert response.status_code == 200
    assert response.json()["roles"] == ["reviewer"]
    response = api.put(
        f"/api/v1/accounts/staff/{other.pk}/roles",
        data=json.dumps({"roles": ["reviewer"]}),
        content_type="application/json",
    )
    assert response.status_code == 403
    response = api.put(
        "/api/v1/accounts/staff/999999/roles",
        data=json.dumps({"roles": ["reviewer"]}),
        content_type="application/json",
    )
    assert response.status_code == 404


def test_citizens_cannot_reach_the_roles_endpoint(api) -> None:
    clerk = StaffFactory(window_clerk=True)
    login(api, PersonFactory(with_login=True).user)
    response = api.put(
        f"/api/v1/accounts/staff/{clerk.pk}/roles",
        data=json.dumps({"roles": ["platform_admin"]}),
        content_type="application/json",
    )
    assert response.status_code == 403
    assert User.objects.filter(is_superuser=True).count() == 0
