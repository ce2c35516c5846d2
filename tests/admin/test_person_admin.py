"""Adding and finding natural persons in the admin: through the service, never in clear."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from tests.factories import PersonFactory, make_id_number
from tongban.accounts.models import Person, Staff
from tongban.core.models import AuditEntry

pytestmark = pytest.mark.django_db

ADD_URL = reverse("admin:accounts_person_add")
CHANGELIST_URL = reverse("admin:accounts_person_changelist")


def _listed_ids(html: str) -> list[int]:
    return [int(pk) for pk in re.findall(r"/admin/accounts/person/(\d+)/change/", html)]


def test_adding_a_person_registers_them_through_the_service(
    admin_ui: Client, platform_admin: Staff
) -> None:
    id_number = make_id_number(701)
    response = admin_ui.post(
        ADD_URL, {"name": "王小明", "id_number": id_number, "phone": "13912340701"}
    )
    assert response.status_code == 302
    assert response["Location"] == CHANGELIST_URL
    person = Person.objects.get()
    assert person.name == "王小明"
    assert person.id_number == id_number
    assert person.phone == "13912340701"
    assert person.user is None
    entry = AuditEntry.objects.get(action="person.registered_at_window")
    assert entry.target_id == str(person.pk)
    assert entry.actor == platform_admin.user
    assert id_number not in str(entry.changes)


def test_the_id_number_is_stored_encrypted(admin_ui: Client) -> None:
    id_number = make_id_number(702)
    admin_ui.post(ADD_URL, {"name": "王小明", "id_number": id_number, "phone": ""})
    row = Person.objects.values("id_number_encrypted", "id_number_hash").get()
    assert row["id_number_encrypted"]
    assert id_number not in row["id_number_encrypted"]
    assert id_number[:17] not in row["id_number_encrypted"]
    assert id_number not in row["id_number_hash"]


def test_the_changelist_shows_the_masked_id_number_only(admin_ui: Client) -> None:
    id_number = make_id_number(703)
    admin_ui.post(ADD_URL, {"name": "王小明", "id_number": id_number, "phone": "13912340703"})
    html = admin_ui.get(CHANGELIST_URL).content.decode()
    assert id_number[:4] + "*" * 10 + id_number[-4:] in html
    assert id_number not in html
    assert "139****0703" in html
    assert "13912340703" not in html
    assert "王*明" in html


def _bad_id_number(sequence: int) -> str:
    good = make_id_number(sequence)
    return good[:-1] + ("0" if good[-1] != "0" else "1")


def test_a_wrong_check_digit_redisplays_the_form_with_the_chinese_error(
    admin_ui: Client,
) -> None:
    response = admin_ui.post(
        ADD_URL, {"name": "王小明", "id_number": _bad_id_number(704), "phone": ""}
    )
    assert response.status_code == 200
    form = response.context["adminform"].form
    assert form.errors["id_number"] == ["公民身份号码校验位不正确，请核对。"]
    assert "公民身份号码校验位不正确，请核对。" in response.content.decode()
    assert not Person.objects.exists()
    assert not AuditEntry.objects.filter(action="person.registered_at_window").exists()


def test_a_refused_id_number_reports_only_the_id_number(admin_ui: Client) -> None:
    response = admin_ui.post(
        ADD_URL, {"name": "王小明", "id_number": _bad_id_number(705), "phone": ""}
    )
    assert response.context["adminform"].form.errors == {
        "id_number": ["公民身份号码校验位不正确，请核对。"]
    }


def test_a_duplicate_id_number_is_refused_on_the_field(admin_ui: Client) -> None:
    existing = PersonFactory()
    response = admin_ui.post(
        ADD_URL, {"name": "王小明", "id_number": existing.id_number, "phone": ""}
    )
    assert response.status_code == 200
    form = response.context["adminform"].form
    assert form.errors["id_number"] == ["该公民身份号码已注册。"]
    assert Person.objects.count() == 1


def test_the_search_box_does_not_match_identifiers(admin_ui: Client) -> None:
    """A GET search would put the full number in the URL, the history and the result links;
    identifiers are found through the POST look-up form instead."""
    person = PersonFactory(id_number=make_id_number(715), phone="13912340708")
    for term in (person.id_number, person.phone):
        response = admin_ui.get(CHANGELIST_URL, {"q": term})
        assert response.status_code == 200
        assert _listed_ids(response.content.decode()) == []


def test_searching_by_name_still_works(admin_ui: Client) -> None:
    wanted = PersonFactory(name="欧阳娜娜")
    PersonFactory(name="张三")
    response = admin_ui.get(CHANGELIST_URL, {"q": "欧阳"})
    assert _listed_ids(response.content.decode()) == [wanted.pk]


def test_a_person_cannot_be_deleted_in_the_admin(admin_ui: Client) -> None:
    person = PersonFactory()
    response = admin_ui.get(reverse("admin:accounts_person_delete", args=[person.pk]))
    assert response.status_code == 403
    assert Person.objects.filter(pk=person.pk).exists()


def test_the_lookup_form_opens_the_person_without_the_number_in_any_url(admin_ui: Client) -> None:
    person = PersonFactory()
    lookup = reverse("admin:accounts_person_lookup")
    assert lookup in admin_ui.get(reverse("admin:accounts_person_changelist")).content.decode()
    response = admin_ui.post(lookup, {"identifier": person.id_number})
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:accounts_person_change", args=[person.pk])
    assert person.id_number not in response["Location"]
    by_phone = admin_ui.post(lookup, {"identifier": person.phone})
    assert by_phone["Location"] == response["Location"]


@pytest.mark.parametrize(
    ("identifier", "message"),
    [
        ("张三", "请输入完整的公民身份号码或手机号码。"),
        (make_id_number(888), "没有使用该公民身份号码或手机号码的注册人员。"),
    ],
)
def test_the_lookup_form_explains_a_miss(admin_ui: Client, identifier: str, message: str) -> None:
    response = admin_ui.post(reverse("admin:accounts_person_lookup"), {"identifier": identifier})
    assert response.status_code == 200
    assert message in response.content.decode()


def test_the_lookup_form_is_for_admin_users_only() -> None:
    citizen = PersonFactory(with_login=True)
    client = Client()
    client.force_login(citizen.user)
    response = client.post(
        reverse("admin:accounts_person_lookup"), {"identifier": citizen.id_number}
    )
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_a_persons_page_is_read_only(admin_ui: Client) -> None:
    person = PersonFactory()
    page = admin_ui.get(reverse("admin:accounts_person_change", args=[person.pk]))
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    response = admin_ui.post(
        reverse("admin:accounts_person_change", args=[person.pk]), {"name": "改名"}
    )
    assert response.status_code == 403
    person.refresh_from_db()
    assert person.name != "改名"
