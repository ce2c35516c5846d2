import pytest

from tests.conftest import login
from tests.factories import EnterpriseFactory, PersonFactory, make_id_number
from tongban.accounts import services as account_services
from tongban.catalog.push import recommendations_for
from tongban.catalog.selectors import version_current

pytestmark = pytest.mark.django_db


def _names(person, **kwargs) -> list[str]:
    return [
        r.item.name for r in recommendations_for(person=person, version=version_current(), **kwargs)
    ]


def test_nothing_known_means_nothing_pushed() -> None:
    assert _names(PersonFactory(with_login=True)) == []


def test_a_declared_life_event_brings_its_items_with_a_reason() -> None:
    person = PersonFactory(with_login=True)
    account_services.life_event_declare(actor=person.user, kind="graduated")
    found = recommendations_for(person=person, version=version_current())
    assert [r.item.name for r in found] == [
        "大中专学生毕业户口迁移",
        "流动人员人事档案接收、转递",
        "学历公证",
    ]
    assert all(r.trigger == "graduated" and r.reason.startswith("毕业了") for r in found)


def test_each_item_once_first_rule_wins() -> None:
    person = PersonFactory(with_login=True)
    account_services.life_event_declare(actor=person.user, kind="married")
    account_services.life_event_declare(actor=person.user, kind="child_born")
    names = _names(person)
    assert names.count("生育登记（一孩/二孩）") == 1
    assert names[:2] == ["夫妻投靠户口迁移", "生育登记（一孩/二孩）"]


def test_someone_who_moved_here_gets_the_transfer_items() -> None:
    person = PersonFactory(
        with_login=True, id_number=make_id_number(5, place="510104", birth_date="19921120")
    )
    assert _names(person) == []  # the ID number's place code alone proves nothing
    account_services.life_event_declare(actor=person.user, kind="moved_province")
    assert "企业职工基本养老保险关系转移接续" in _names(person)


def test_enterprise_context() -> None:
    enterprise = EnterpriseFactory(legal_representative=PersonFactory(with_login=True))
    assert "单位社保参保证明查询打印" in _names(
        enterprise.legal_representative, enterprise=enterprise
    )


def test_inactive_rules_push_nothing() -> None:
    from tongban.catalog.models import PushRule

    PushRule.objects.update(active=False)
    person = PersonFactory(with_login=True)
    account_services.life_event_declare(actor=person.user, kind="graduated")
    assert _names(person) == []


def test_recommendations_api(api) -> None:
    person = PersonFactory(with_login=True)
    account_services.life_event_declare(actor=person.user, kind="lost_job")
    assert api.get("/api/v1/catalog/recommendations").status_code == 401
    login(api, person.user)
    body = api.get("/api/v1/catalog/recommendations").json()
    assert [r["name"] for r in body["recommendations"]] == ["失业登记", "失业保险金申领"]
    assert body["recommendations"][0]["trigger"] == "lost_job"
    other = EnterpriseFactory()
    assert api.get("/api/v1/catalog/recommendations", {"enterprise": other.uscc}).status_code == 403


def test_portal_home_shows_recommendations_and_saves_life_events(api) -> None:
    person = PersonFactory(with_login=True)
    login(api, person.user)
    page = api.get("/").content.decode()
    assert "为您推荐" in page
    assert "您的生活中发生了什么？" in page
    response = api.post("/me/life-events/", {"kind": ["retired"]})
    assert response.status_code == 302
    page = api.get("/").content.decode()
    assert "正常退休提取住房公积金" in page
    assert 'value="retired" checked' in page
    api.post("/me/life-events/", {})
    assert not person.life_events.exists()


def test_anonymous_visitors_see_no_personal_section(api) -> None:
    assert "为您推荐" not in api.get("/").content.decode()
    assert api.post("/me/life-events/", {"kind": ["retired"]}).status_code == 302  # to login
