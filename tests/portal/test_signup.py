"""Opening an account on the portal: here on a single node (and on the hub), at the hub for a
node that signs people in through it. Every page names the platform the person is on."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings as django_settings
from django.test import Client

from tests.factories import PersonFactory, make_id_number, make_phone
from tongban.accounts.models import Person

pytestmark = pytest.mark.django_db

PASSWORD = "Tongban-Signup-2026"


def _form(sequence: int, **changes: str) -> dict[str, str]:
    return {
        "name": "陈晓",
        "id_number": make_id_number(sequence),
        "phone": make_phone(sequence),
        "password": PASSWORD,
        **changes,
    }


def test_a_person_opens_an_account_and_is_signed_in_where_they_were_going(client: Client) -> None:
    page = client.get("/signup/?next=/me/cases/")
    assert page.status_code == 200
    assert "注册账号" in page.content.decode()

    answer = client.post("/signup/", {**_form(601), "next": "/me/cases/"})

    assert answer.status_code == 302
    assert answer["Location"] == "/me/cases/"
    person = Person.objects.get(name="陈晓")
    assert person.user is not None
    assert person.real_name_level == 1
    assert client.get("/api/v1/accounts/me").status_code == 200


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"id_number": "500103199903070000"}, "id_number"),
        ({"phone": "12345"}, "phone"),
        ({"password": "123"}, "password"),
        ({"name": ""}, "name"),
    ],
)
def test_bad_values_are_named_and_nothing_is_written(
    client: Client, changes: dict[str, str], field: str
) -> None:
    answer = client.post("/signup/", _form(602, **changes))

    assert answer.status_code == 400
    assert answer.context["problem"].fields[field]
    assert not Person.objects.exists()
    assert answer.context["values"]["password"] == ""  # never sent back


def test_a_registered_id_number_is_refused(client: Client) -> None:
    PersonFactory(id_number=make_id_number(603))

    answer = client.post("/signup/", _form(603))

    assert answer.status_code == 409
    assert Person.objects.count() == 1


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil.example"])
def test_the_return_address_stays_on_this_site(client: Client, target: str) -> None:
    answer = client.post("/signup/", {**_form(604), "next": target})

    assert answer.status_code == 302
    assert answer["Location"] == "/"


def test_on_a_node_with_a_hub_the_account_is_opened_at_the_hub(
    client: Client, settings: Any
) -> None:
    settings.TONGBAN_HUB_URL = "https://hub.example.cn"
    settings.TONGBAN_NODE_CODE = "510000"

    answer = client.get("/signup/?next=/me/cases/")

    assert answer.status_code == 302
    assert answer["Location"].startswith("/sso/login/?")
    query = parse_qs(urlsplit(answer["Location"]).query)
    assert query == {"next": ["/me/cases/"], "prompt": ["create"]}
    hub = client.get(answer["Location"])
    assert hub["Location"].startswith("https://hub.example.cn/oidc/authorize/?")
    assert parse_qs(urlsplit(hub["Location"]).query)["prompt"] == ["create"]
    assert not Person.objects.exists()


def test_pages_name_the_platform(client: Client, settings: Any) -> None:
    assert "重庆市" in client.get("/").content.decode()
    settings.TONGBAN_NODE_CODE = django_settings.TONGBAN_HUB_CODE
    assert "全国一体化政务服务平台" in client.get("/").content.decode()
