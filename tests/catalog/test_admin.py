"""The catalogue in the Django admin, as a platform admin: only the draft is editable."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.messages import constants as levels
from django.db.models import Model
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from tests.admin_forms import form_data
from tests.conftest import login
from tests.factories import StaffFactory
from tongban.accounts.models import Staff
from tongban.catalog.models import CatalogVersion, ServiceItem, VersionStatus
from tongban.core.models import AuditEntry

pytestmark = pytest.mark.django_db

VERSIONS = reverse("admin:catalog_catalogversion_changelist")
ITEMS = reverse("admin:catalog_serviceitem_changelist")


@pytest.fixture
def admin_ui(platform_admin: Staff) -> Client:
    """A browser logged in to the Django admin as a platform admin (a superuser)."""
    assert platform_admin.user.is_superuser
    client = Client()
    login(client, platform_admin.user)
    return client


@pytest.fixture
def v1() -> CatalogVersion:
    return CatalogVersion.objects.get(number=1)


def item(version: CatalogVersion, name: str = "学历公证") -> ServiceItem:
    return ServiceItem.objects.get(version=version, name=name)


def change_url(obj: Model) -> str:
    meta = obj._meta
    return reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[obj.pk])


def run_action(client: Client, action: str, version: CatalogVersion) -> Any:
    """Run an action of the versions changelist; the page it redirects to."""
    response = client.post(
        VERSIONS, {"action": action, ACTION_CHECKBOX_NAME: [str(version.pk)]}, follow=True
    )
    assert response.redirect_chain == [(VERSIONS, 302)]
    assert response.status_code == 200
    return response


def messages_of(response: Any) -> list[tuple[int, str]]:
    return [(message.level, str(message)) for message in response.context["messages"]]


@pytest.mark.parametrize(
    ("model", "title"),
    [
        ("catalogversion", "目录版本"),
        ("serviceitem", "政务服务事项"),
        ("scenario", "办事情形"),
        ("theme", "主题"),
        ("searchsynonym", "搜索同义词"),
        ("pushrule", "推送规则"),
    ],
)
def test_catalogue_changelists_render_in_chinese(admin_ui: Client, model: str, title: str) -> None:
    response = admin_ui.get(reverse(f"admin:catalog_{model}_changelist"))
    assert response.status_code == 200
    body = response.content.decode()
    assert '<html lang="zh-hans"' in body
    assert re.search(rf"<title>选择 ?{title} ?(来修改|查看) \| 通办管理后台</title>", body)


def test_the_items_changelist_lists_the_115_reference_items(
    admin_ui: Client, v1: CatalogVersion
) -> None:
    response = admin_ui.get(ITEMS, {"version__id__exact": v1.pk})
    assert response.status_code == 200
    assert response.context["cl"].result_count == 115
    assert "政务服务事项" in response.content.decode()


def test_a_published_item_is_read_only(admin_ui: Client, v1: CatalogVersion) -> None:
    notary = item(v1)
    url = change_url(notary)
    page = admin_ui.get(url)
    assert page.status_code == 200
    body = page.content.decode()
    assert "政务服务事项" in body
    assert "学历公证" in body
    assert 'name="_save"' not in body
    assert 'name="_continue"' not in body
    assert "<textarea" not in body  # legal basis and the rest are shown, not edited

    response = admin_ui.post(url, {"name": "改名", "legal_basis": "随便", "_save": "保存"})
    assert response.status_code == 403
    notary.refresh_from_db()
    assert (notary.name, notary.legal_basis) == ("学历公证", "")
    assert not AuditEntry.objects.filter(action="serviceitem.updated").exists()


def test_a_published_scenario_is_read_only(admin_ui: Client, v1: CatalogVersion) -> None:
    scenario = item(v1).scenarios.get()
    page = admin_ui.get(change_url(scenario))
    assert page.status_code == 200
    assert "申请人有效身份证件" in page.content.decode()
    assert 'name="_save"' not in page.content.decode()
    response = admin_ui.post(change_url(scenario), {"name": "改名", "_save": "保存"})
    assert response.status_code == 403
    scenario.refresh_from_db()
    assert scenario.name == "一般情形"


def test_empty_fields_show_to_be_supplied_in_the_changelist(
    admin_ui: Client, v1: CatalogVersion
) -> None:
    response = admin_ui.get(ITEMS, {"q": "学历公证", "version__id__exact": v1.pk})
    assert response.context["cl"].result_count == 1
    body = response.content.decode()
    header = re.search(r'<th scope="col" class="column-missing">(.*?)</th>', body, re.S)
    assert header is not None
    assert "待补充" in header.group(1)
    row = re.search(r'<td class="field-missing">(.*?)</td>', body)
    assert row is not None
    assert row.group(1) == "事项类型、设定依据、申请条件"

    # No lead unit and no modes: 待补充 in those columns too.
    response = admin_ui.get(ITEMS, {"q": "正常退休提取住房公积金", "version__id__exact": v1.pk})
    body = response.content.decode()
    assert re.search(r'<td class="field-lead_unit[^"]*">待补充</td>', body)
    assert re.search(r'<td class="field-mode_list">待补充</td>', body)


def test_open_a_draft_then_edit_an_item_through_the_admin(
    admin_ui: Client, platform_admin: Staff, v1: CatalogVersion
) -> None:
    response = run_action(admin_ui, "open_draft", v1)
    assert messages_of(response) == [(levels.INFO, "草稿 v2 已打开，可以编辑。")]
    draft = CatalogVersion.objects.get(number=2)
    assert draft.status == VersionStatus.DRAFT
    assert draft.items.count() == 115

    draft_item = item(draft)
    url = change_url(draft_item)
    page = admin_ui.get(url)
    assert page.status_code == 200
    assert 'name="_save"' in page.content.decode()
    data = form_data(page)
    assert data["name"] == "学历公证"
    assert data["scenarios-TOTAL_FORMS"] == "1"
    assert data["implementations-TOTAL_FORMS"] == "2"
    data["legal_basis"] = "《中华人民共和国公证法》"
    data["_save"] = "保存"

    response = admin_ui.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    draft_item.refresh_from_db()
    assert draft_item.legal_basis == "《中华人民共和国公证法》"
    assert draft_item.scenarios.count() == 1
    assert draft_item.implementations.count() == 2

    entry = AuditEntry.objects.get(action="serviceitem.updated")
    assert entry.actor == platform_admin.user
    assert (entry.target_type, entry.target_id) == ("catalog.serviceitem", str(draft_item.pk))
    assert entry.changes == {"legal_basis": ["", "《中华人民共和国公证法》"]}
    # Inline rows were posted back unchanged: nothing else is recorded.
    assert not AuditEntry.objects.filter(
        action__in=["scenario.updated", "implementation.updated"]
    ).exists()

    published = item(v1)
    assert published.legal_basis == ""


def test_publish_the_draft_from_the_admin(
    admin_ui: Client, platform_admin: Staff, v1: CatalogVersion
) -> None:
    run_action(admin_ui, "open_draft", v1)
    draft = CatalogVersion.objects.get(status=VersionStatus.DRAFT)

    response = run_action(admin_ui, "publish_today", draft)
    assert messages_of(response) == [(levels.INFO, "版本 2 已发布。")]
    draft.refresh_from_db()
    assert draft.status == VersionStatus.PUBLISHED
    assert draft.valid_from == timezone.localdate()
    assert draft.published_by == platform_admin.user
    assert abs(timezone.now() - draft.published_at) < dt.timedelta(minutes=1)
    assert 'name="_save"' not in admin_ui.get(change_url(item(draft))).content.decode()

    response = run_action(admin_ui, "publish_today", draft)
    assert messages_of(response) == [(levels.ERROR, "没有可发布的草稿。")]
    assert not CatalogVersion.objects.filter(status=VersionStatus.DRAFT).exists()
    assert CatalogVersion.objects.filter(status=VersionStatus.PUBLISHED).count() == 2


def test_opening_a_draft_twice_keeps_the_one_draft(admin_ui: Client, v1: CatalogVersion) -> None:
    run_action(admin_ui, "open_draft", v1)
    response = run_action(admin_ui, "open_draft", v1)
    assert messages_of(response) == [(levels.INFO, "草稿 v2 已打开，可以编辑。")]
    assert CatalogVersion.objects.count() == 2


@pytest.mark.parametrize(
    "url",
    [
        VERSIONS,
        ITEMS,
        reverse("admin:catalog_searchsynonym_changelist"),
        reverse("admin:catalog_pushrule_changelist"),
    ],
)
def test_a_window_clerk_cannot_reach_the_catalogue_admin(url: str) -> None:
    clerk = StaffFactory(window_clerk=True)
    client = Client()
    login(client, clerk.user)
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_a_window_clerk_cannot_run_the_catalogue_actions(v1: CatalogVersion) -> None:
    clerk = StaffFactory(window_clerk=True)
    client = Client()
    login(client, clerk.user)
    response = client.post(VERSIONS, {"action": "open_draft", ACTION_CHECKBOX_NAME: [str(v1.pk)]})
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))
    assert CatalogVersion.objects.count() == 1


def test_renaming_a_draft_item_in_the_admin_reaches_the_draft_search(
    admin_ui: Client, v1: CatalogVersion
) -> None:
    run_action(admin_ui, "open_draft", v1)
    draft = CatalogVersion.objects.get(status=VersionStatus.DRAFT)
    draft_item = item(draft)
    search = "/api/v1/catalog/search"
    before = admin_ui.get(search, {"q": "学历公证", "version": draft.number}).json()
    assert before["results"][0]["code"] == draft_item.code

    url = change_url(draft_item)
    data = form_data(admin_ui.get(url)) | {"name": "毕业证书公证", "_save": "保存"}
    assert admin_ui.post(url, data).status_code == 302
    assert ServiceItem.objects.get(pk=draft_item.pk).name == "毕业证书公证"

    after = admin_ui.get(search, {"q": "毕业证书公证", "version": draft.number}).json()
    assert after["results"][0]["code"] == draft_item.code
    assert after["results"][0]["name"] == "毕业证书公证"
