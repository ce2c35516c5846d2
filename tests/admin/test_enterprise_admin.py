"""Registering an enterprise in the admin runs enterprise_register."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from tests.factories import PersonFactory, make_uscc
from tongban.accounts.models import Enterprise, EnterpriseMember, MemberRole, Person, Staff
from tongban.core.models import AuditEntry

pytestmark = pytest.mark.django_db

ADD_URL = reverse("admin:accounts_enterprise_add")


@pytest.fixture
def representative() -> Person:
    return PersonFactory(name="张三")


def _new_enterprise(representative: Person, **overrides: Any) -> dict[str, Any]:
    return {
        "uscc": make_uscc(801, division="500103"),
        "name": "重庆示例科技有限公司",
        "legal_representative_id_number": representative.id_number,
        "legal_representative_name": "张三",
    } | overrides


def test_adding_an_enterprise_registers_it_with_its_representative(
    admin_ui: Client, platform_admin: Staff, representative: Person
) -> None:
    response = admin_ui.post(ADD_URL, _new_enterprise(representative))
    assert response.status_code == 302
    enterprise = Enterprise.objects.get()
    assert enterprise.uscc == make_uscc(801, division="500103")
    assert enterprise.name == "重庆示例科技有限公司"
    assert enterprise.legal_representative == representative
    assert enterprise.registered_division_id == "500103"
    assert list(EnterpriseMember.objects.values_list("person_id", "role")) == [
        (representative.pk, MemberRole.LEGAL_REPRESENTATIVE)
    ]
    entry = AuditEntry.objects.get(action="enterprise.registered")
    assert entry.target_id == str(enterprise.pk)
    assert entry.actor == platform_admin.user


def test_a_wrong_uscc_check_character_is_shown_and_nothing_is_created(
    admin_ui: Client, representative: Person
) -> None:
    good = make_uscc(802)
    bad = good[:-1] + ("0" if good[-1] != "0" else "1")
    response = admin_ui.post(ADD_URL, _new_enterprise(representative, uscc=bad))
    assert response.status_code == 200
    form = response.context["adminform"].form
    assert form.errors["uscc"] == ["统一社会信用代码校验码不正确。"]
    assert "统一社会信用代码校验码不正确。" in response.content.decode()
    assert not Enterprise.objects.exists()
    assert not AuditEntry.objects.filter(action="enterprise.registered").exists()


def test_a_representative_name_that_does_not_match_is_refused(
    admin_ui: Client, representative: Person
) -> None:
    response = admin_ui.post(
        ADD_URL, _new_enterprise(representative, legal_representative_name="李四")
    )
    assert response.status_code == 200
    form = response.context["adminform"].form
    assert form.errors["legal_representative_name"] == ["姓名与公民身份号码不一致。"]
    assert not Enterprise.objects.exists()


def test_the_add_page_posts_no_inline_formset(admin_ui: Client, representative: Person) -> None:
    # The service creates the enterprise while the form is cleaned, so nothing may be able to
    # fail after it: an inline formset rejected then would leave the enterprise behind under a
    # page that reports an error. The add page therefore carries no inline.
    assert admin_ui.get(ADD_URL).context["inline_admin_formsets"] == []
    response = admin_ui.post(ADD_URL, _new_enterprise(representative))
    assert response.status_code == 302
    assert Enterprise.objects.count() == 1
