import json

import pytest

from tests.conftest import login
from tests.factories import (
    PASSWORD,
    PersonFactory,
    StaffFactory,
    make_id_number,
    make_uscc,
)
from tongban.accounts.models import Enterprise, Staff, StaffRole, User

pytestmark = pytest.mark.django_db


def _post(client, path, body, **headers):
    return client.post(path, data=json.dumps(body), content_type="application/json", **headers)


def test_sign_up_then_log_in_by_phone_and_see_only_masked_data(api) -> None:
    id_number = make_id_number(301)
    response = _post(
        api,
        "/api/v1/accounts/sign-up",
        {"name": "张三丰", "id_number": id_number, "phone": "13800001111", "password": PASSWORD},
    )
    assert response.status_code == 201
    body = response.json()
    assert body["name"] == "张*丰"
    assert body["id_number"] == id_number[:4] + "*" * 10 + id_number[-4:]
    assert body["phone"] == "138****1111"
    assert body["real_name_level"] == 1

    response = _post(
        api, "/api/v1/accounts/login", {"username": "13800001111", "password": PASSWORD}
    )
    assert response.status_code == 200
    me = api.get("/api/v1/accounts/me").json()
    assert me["person"]["id_number"] == body["id_number"]
    assert me["staff"] is None
    assert id_number not in json.dumps(me)


def test_a_wrong_password_is_401_and_does_not_log_in(api) -> None:
    person = PersonFactory(with_login=True)
    response = _post(
        api, "/api/v1/accounts/login", {"username": person.id_number, "password": "nope-nope-nope"}
    )
    assert response.status_code == 401
    assert response.json()["code"] == "login_failed"
    assert api.get("/api/v1/accounts/me").status_code == 401


def test_logout(api) -> None:
    person = PersonFactory(with_login=True)
    login(api, person.user)
    assert api.post("/api/v1/accounts/logout").status_code == 204
    assert api.get("/api/v1/accounts/me").status_code == 401


def test_bad_sign_up_writes_nothing(api) -> None:
    users = User.objects.count()
    response = _post(
        api,
        "/api/v1/accounts/sign-up",
        {
            "name": "张三",
            "id_number": make_id_number(302)[:-1] + "0",
            "phone": "13800001112",
            "password": PASSWORD,
        },
    )
    # The check digit of make_id_number(302) is not 0 for this sequence; if it were, the test
    # would register a person, so assert the precondition.
    assert make_id_number(302)[-1] != "0"
    assert response.status_code == 400
    assert response.json()["fields"] == {"id_number": "公民身份号码校验位不正确，请核对。"}
    assert User.objects.count() == users


def test_duplicate_sign_up_is_409(api) -> None:
    person = PersonFactory()
    response = _post(
        api,
        "/api/v1/accounts/sign-up",
        {
            "name": person.name,
            "id_number": person.id_number,
            "phone": "13800001113",
            "password": PASSWORD,
        },
    )
    assert response.status_code == 409
    assert response.json()["code"] == "person_exists"
    assert response.json()["fields"] == {"id_number": "该公民身份号码已注册。"}


def test_a_clerk_registers_and_looks_up_a_person_at_the_window(api, clerk) -> None:
    login(api, clerk.user)
    id_number = make_id_number(303)
    response = _post(api, "/api/v1/accounts/persons", {"name": "王芳", "id_number": id_number})
    assert response.status_code == 201
    response = _post(api, "/api/v1/accounts/persons/lookup", {"id_number": id_number})
    assert response.status_code == 200
    assert response.json()["name"] == "王*"
    response = _post(api, "/api/v1/accounts/persons/lookup", {"id_number": make_id_number(304)})
    assert response.status_code == 404


def test_citizens_cannot_look_up_other_people(api) -> None:
    login(api, PersonFactory(with_login=True).user)
    other = PersonFactory()
    response = _post(api, "/api/v1/accounts/persons/lookup", {"id_number": other.id_number})
    assert response.status_code == 403
    assert response.json() == {"code": "forbidden", "message": "您无权执行此操作。", "fields": {}}


def test_enterprise_registration_and_members(api) -> None:
    representative = PersonFactory(with_login=True)
    login(api, representative.user)
    code = make_uscc(305)
    response = _post(
        api,
        "/api/v1/accounts/enterprises",
        {
            "uscc": code,
            "name": "重庆某某有限公司",
            "legal_representative_id_number": representative.id_number,
            "legal_representative_name": representative.name,
        },
    )
    assert response.status_code == 201
    assert response.json()["registered_division_code"] == "500103"
    handler = PersonFactory()
    response = _post(
        api,
        f"/api/v1/accounts/enterprises/{code}/members",
        {"id_number": handler.id_number, "name": handler.name, "role": "authorised_handler"},
    )
    assert response.status_code == 201
    assert response.json() == {"person_id": handler.pk, "role": "authorised_handler"}


def test_members_of_an_unknown_enterprise_is_404(api, clerk) -> None:
    login(api, clerk.user)
    response = _post(
        api,
        f"/api/v1/accounts/enterprises/{make_uscc(306)}/members",
        {"id_number": "x", "name": "x", "role": "authorised_handler"},
    )
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("uscc", "91500103MA000000", "统一社会信用代码应为18位。"),
        ("legal_representative_id_number", "12345", "公民身份号码应为18位。"),
    ],
)
def test_bad_enterprise_input_names_the_field(api, clerk, field, value, message) -> None:
    login(api, clerk.user)
    representative = PersonFactory()
    body = {
        "uscc": make_uscc(307),
        "name": "重庆某某有限公司",
        "legal_representative_id_number": representative.id_number,
        "legal_representative_name": representative.name,
        field: value,
    }
    response = _post(api, "/api/v1/accounts/enterprises", body)
    assert response.status_code == 400
    assert response.json()["fields"][field] == message
    assert not Enterprise.objects.exists()


def test_staff_creation_over_the_api(api, platform_admin) -> None:
    login(api, platform_admin.user)
    body = {
        "username": "api-clerk",
        "password": PASSWORD,
        "name": "接口同事",
        "employee_number": "API001",
        "department_key": "cq-hrss",
        "jurisdiction_code": "500103",
        "roles": ["window_clerk"],
    }
    response = _post(api, "/api/v1/accounts/staff", body)
    assert response.status_code == 201
    assert response.json()["roles"] == ["window_clerk"]
    assert response.json()["jurisdiction_code"] == "500103"
    response = _post(
        api,
        "/api/v1/accounts/staff",
        {**body, "username": "x2", "employee_number": "API002", "jurisdiction_code": "5001"},
    )
    assert response.status_code == 400
    assert response.json()["fields"] == {
        "jurisdiction_code": "行政区划代码为6位数字，例如 500000。"
    }
    response = _post(
        api,
        "/api/v1/accounts/staff",
        {**body, "username": "x3", "employee_number": "API003", "jurisdiction_code": "510104"},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.json()["fields"] == {
        "jurisdiction_code": "The jurisdiction must lie within the department's own division."
    }
    assert Staff.objects.filter(user__username__in=["x2", "x3"]).count() == 0


def test_a_clerk_cannot_create_staff_over_the_api(api, clerk) -> None:
    login(api, clerk.user)
    response = _post(
        api,
        "/api/v1/accounts/staff",
        {
            "username": "x",
            "password": PASSWORD,
            "name": "x",
            "employee_number": "X1",
            "department_key": "cq-hrss",
            "jurisdiction_code": "500000",
            "roles": [StaffRole.APPROVER],
        },
    )
    assert response.status_code == 403


def test_staff_see_themselves(api) -> None:
    staff = StaffFactory(approver=True)
    login(api, staff.user)
    me = api.get("/api/v1/accounts/me").json()
    assert me["staff"]["roles"] == ["approver"]
    assert me["person"] is None
