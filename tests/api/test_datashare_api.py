"""The data-sharing API (/api/v1/datashare): the catalogue, publishing, verifications and
look-ups with every refusal through HTTP (each one in the evidence log), grants, disputes and
monitoring. State is built through the datashare services, as the staff who own it."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from tests.conftest import login
from tests.factories import PersonFactory, StaffFactory
from tongban.catalog.models import ServiceItem
from tongban.catalog.selectors import version_current
from tongban.datashare import services
from tongban.datashare.models import Grant, Resource
from tongban.regions.models import Department

pytestmark = pytest.mark.django_db

BASE = "/api/v1/datashare"
PURPOSE = "核验社保待遇申领人户籍"
FIELDS = [
    {"key": "id_number", "name": "公民身份号码", "personal": True},
    {"key": "name", "name": "姓名", "personal": True},
    {"key": "address", "name": "户籍地址", "personal": True},
    {"key": "district", "name": "户籍所在区县"},
]
QUESTIONS = [
    {
        "key": "registered",
        "name": "姓名与身份号码是否为本市户籍人口",
        "params": ["id_number", "name"],
        "rule": {"op": "match"},
    },
    {
        "key": "in_yuzhong",
        "name": "是否渝中区户籍",
        "params": ["id_number"],
        "rule": {"op": "equals", "field": "district", "value": "渝中区"},
    },
]
ADDRESS = "重庆市渝中区解放碑街道民族路88号"


@dataclasses.dataclass
class World:
    resource: Resource
    grant: Grant
    item: ServiceItem
    subject: Any  # the person the source holds a record about
    police: Client  # 重庆市公安局's department admin: provides the resource
    hrss_admin: Client  # 重庆市人社局's department admin: holds the grant
    hrss_clerk: Client  # and its window clerk, who makes the calls
    justice_clerk: Client  # a clerk of a department without a grant
    supervisor: Client
    citizen: Client

    def verify(self, client: Client | None = None, **body: Any) -> Any:
        payload = {
            "question": "registered",
            "params": {"id_number": self.subject.id_number, "name": self.subject.name},
            "purpose": PURPOSE,
            **body,
        }
        return (client or self.hrss_clerk).post(
            f"{BASE}/{self.resource.ref}/verify", payload, content_type="application/json"
        )

    def query(self, client: Client | None = None, **body: Any) -> Any:
        payload = {
            "fields": ["address"],
            "params": {"id_number": self.subject.id_number},
            "purpose": PURPOSE,
            **body,
        }
        return (client or self.hrss_clerk).post(
            f"{BASE}/{self.resource.ref}/query", payload, content_type="application/json"
        )

    def last_call(self) -> dict[str, Any]:
        response = self.hrss_clerk.get(f"{BASE}/calls")
        assert response.status_code == 200
        return dict(response.json()["items"][0])


def _world(*, rate_limit: int = 100) -> World:
    police = StaffFactory(department_admin=True, department_key="cq-public-security")
    hrss_admin = StaffFactory(department_admin=True, department_key="cq-hrss")
    item = ServiceItem.objects.get(version=version_current(), name="学历公证")
    resource = services.resource_publish(
        actor=police.user,
        department=Department.objects.get(key="cq-public-security"),
        key="hukou",
        name="户籍信息",
        subject_kind="person",
        sensitivity="sensitive",
        fields=FIELDS,
        questions=QUESTIONS,
    )
    subject = PersonFactory()
    services.records_load(
        actor=police.user,
        resource=resource,
        records=[
            {
                "subject": subject.id_number,
                "data": {
                    "id_number": subject.id_number,
                    "name": subject.name,
                    "address": ADDRESS,
                    "district": "渝中区",
                },
            }
        ],
    )
    grant = services.grant_request(
        actor=hrss_admin.user,
        resource=resource,
        purpose=PURPOSE,
        items=[item.code],
        questions=["registered"],
        fields=["address"],
    )
    grant = services.grant_decide(
        actor=police.user,
        grant=grant,
        approve=True,
        valid_until=timezone.localdate() + dt.timedelta(days=365),
        rate_limit=rate_limit,
    )
    return World(
        resource=resource,
        grant=grant,
        item=item,
        subject=subject,
        police=login(Client(), police.user),
        hrss_admin=login(Client(), hrss_admin.user),
        hrss_clerk=login(Client(), StaffFactory(window_clerk=True, department_key="cq-hrss").user),
        justice_clerk=login(
            Client(), StaffFactory(window_clerk=True, department_key="cq-justice").user
        ),
        supervisor=login(Client(), StaffFactory(supervisor=True).user),
        citizen=login(Client(), PersonFactory(with_login=True).user),
    )


@pytest.fixture
def world(db: None) -> World:
    return _world()


def _post(client: Client, path: str, body: Any) -> Any:
    return client.post(BASE + path, body, content_type="application/json")


# The catalogue and publishing ---------------------------------------------------------------


def test_staff_read_the_catalogue_without_source_data(world: World) -> None:
    listed = world.hrss_clerk.get(f"{BASE}/resources")
    assert listed.status_code == 200
    [entry] = [r for r in listed.json() if r["ref"] == world.resource.ref]
    assert entry["provider"] == "重庆市公安局"
    assert [q["key"] for q in entry["questions"]] == ["registered", "in_yuzhong"]
    assert world.hrss_clerk.get(f"{BASE}/resources?q=户籍").json()[0]["key"] == "hukou"
    assert world.hrss_clerk.get(f"{BASE}/resources?node=510000").json() == []
    for ref in (world.resource.ref, "hukou"):
        one = world.hrss_clerk.get(f"{BASE}/resources/{ref}")
        assert one.status_code == 200
        assert one.json()["ref"] == world.resource.ref
    for response in (listed, one):
        text = response.content.decode()
        assert world.subject.id_number not in text
        assert ADDRESS not in text
    assert world.hrss_clerk.get(f"{BASE}/resources/500000.nothing").status_code == 404


def test_the_catalogue_is_for_staff(world: World) -> None:
    assert Client().get(f"{BASE}/resources").status_code == 401
    assert world.citizen.get(f"{BASE}/resources").status_code == 403


def _definition(**changes: Any) -> dict[str, Any]:
    return {
        "key": "hukou",
        "name": "户籍信息",
        "subject_kind": "person",
        "sensitivity": "sensitive",
        "fields": FIELDS,
        "questions": QUESTIONS,
        **changes,
    }


def test_a_department_admin_publishes_and_updates_a_resource(world: World) -> None:
    created = _post(world.police, "/resources", _definition(key="residence", name="居住证信息"))
    assert created.status_code == 200, created.json()
    assert created.json()["ref"] == "500000.residence"
    assert created.json()["provider"] == "重庆市公安局"
    updated = _post(world.police, "/resources", _definition(name="户籍人口信息", update_hours=12))
    assert updated.status_code == 200
    assert (updated.json()["name"], updated.json()["update_hours"]) == ("户籍人口信息", 12)
    world.resource.refresh_from_db()
    assert world.resource.name == "户籍人口信息"


def test_publishing_refuses_a_bad_definition_with_fields(world: World) -> None:
    response = _post(
        world.police,
        "/resources",
        _definition(key="Bad Key", sensitivity="secret", questions=[{"key": "x"}]),
    )
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "validation_failed"
    assert {"key", "sensitivity"} <= set(body["fields"])


def test_publishing_is_for_the_department_admin(world: World) -> None:
    # Another department's admin may not take over 公安局's key, nor publish for 公安局.
    taken = _post(world.hrss_admin, "/resources", _definition())
    assert (taken.status_code, taken.json()["code"]) == (409, "key_taken")
    for_other = _post(
        world.hrss_admin, "/resources", _definition(department_key="cq-public-security")
    )
    assert for_other.status_code == 403
    assert _post(world.hrss_clerk, "/resources", _definition(key="x1")).status_code == 403
    assert _post(world.citizen, "/resources", _definition(key="x2")).status_code == 403
    unknown = _post(world.police, "/resources", _definition(department_key="no-such-dept"))
    assert (unknown.status_code, list(unknown.json()["fields"])) == (400, ["department_key"])


def test_a_platform_admin_publishes_for_a_department(world: World) -> None:
    admin = login(Client(), StaffFactory(platform_admin=True).user)
    response = _post(admin, "/resources", _definition(key="x3", department_key="cq-hrss"))
    assert response.status_code == 200


# Calls --------------------------------------------------------------------------------------


def test_a_verification_is_answered_and_logged_without_personal_data(world: World) -> None:
    yes = world.verify()
    assert yes.status_code == 200, yes.json()
    body = yes.json()
    assert body["answer"] is True
    assert body["kind"] == "verify"
    assert body["provider"] == "重庆市公安局"
    assert len(body["request_hash"]) == 64
    assert len(body["response_hash"]) == 64
    no = world.verify(params={"id_number": world.subject.id_number, "name": "别人"})
    assert no.json()["answer"] is False

    entry = world.hrss_clerk.get(f"{BASE}/calls/{body['call']}")
    assert entry.status_code == 200
    logged = entry.json()
    assert logged["outcome"] == "answered"
    assert logged["summary"] == {"answer": True}
    assert logged["request_hash"] == body["request_hash"]
    assert logged["response_hash"] == body["response_hash"]
    assert logged["grant"] == str(world.grant.uid)
    listed = world.hrss_clerk.get(f"{BASE}/calls")
    for response in (entry, listed):
        text = response.content.decode()
        assert world.subject.id_number not in text
        assert world.subject.name not in text
    assert "request_token" not in listed.json()["items"][0]


def test_a_look_up_returns_the_granted_fields_only(world: World) -> None:
    response = world.query()
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["found"], body["records"]) == (1, [{"address": ADDRESS}])
    logged = world.hrss_clerk.get(f"{BASE}/calls/{body['call']}").json()
    assert logged["summary"] == {"found": 1, "fields": ["address"]}
    assert ADDRESS not in str(logged)


def test_the_fixed_paths_are_not_taken_for_a_resource(world: World) -> None:
    # "/calls/verify" and "/resources/query" are the fixed routes, not calls to a resource
    # named "calls" or "resources".
    assert world.hrss_clerk.get(f"{BASE}/calls/verify").status_code == 400
    assert world.hrss_clerk.get(f"{BASE}/resources/query").status_code == 404


def _expire(grant: Grant) -> None:
    # NOTE: the services refuse a validity in the past; only the row can be made to lapse.
    Grant.objects.filter(pk=grant.pk).update(
        valid_from=timezone.localdate() - dt.timedelta(days=30),
        valid_until=timezone.localdate() - dt.timedelta(days=1),
    )


def _not_yet(grant: Grant) -> None:
    # NOTE: as for _expire: a grant whose first day is tomorrow, by its row.
    Grant.objects.filter(pk=grant.pk).update(valid_from=timezone.localdate() + dt.timedelta(days=1))


REFUSALS: list[tuple[str, Any, int, str]] = [
    ("no grant", lambda w: w.verify(w.justice_clerk), 403, "no_grant"),
    ("expired", lambda w: (_expire(w.grant), w.verify())[1], 403, "grant_expired"),
    ("not yet", lambda w: (_not_yet(w.grant), w.verify())[1], 403, "grant_not_in_force"),
    ("field", lambda w: w.query(fields=["address", "name"]), 403, "field_not_granted"),
    (
        "question",
        lambda w: w.verify(question="in_yuzhong", params={"id_number": w.subject.id_number}),
        403,
        "question_not_granted",
    ),
    ("purpose", lambda w: w.verify(purpose="随便查查"), 403, "purpose_mismatch"),
    (
        "params",
        lambda w: w.verify(params={"id_number": w.subject.id_number}),
        400,
        "malformed_query",
    ),
    ("unknown question", lambda w: w.verify(question="nope"), 400, "malformed_query"),
    ("unknown field", lambda w: w.query(fields=["salary"]), 400, "malformed_query"),
    (
        "unknown resource",
        lambda w: _post(
            w.hrss_clerk, "/500000.nothing/verify", {"question": "x", "params": {}, "purpose": "x"}
        ),
        404,
        "unknown_resource",
    ),
]


@pytest.mark.parametrize(
    ("name", "ask", "status", "code"), REFUSALS, ids=[row[0] for row in REFUSALS]
)
def test_every_refusal_goes_out_with_its_status_and_is_logged(
    world: World, name: str, ask: Any, status: int, code: str
) -> None:
    response = ask(world)
    assert response.status_code == status, response.json()
    body = response.json()
    assert body["code"] == code
    assert set(body) == {"code", "message", "fields"}
    asker = world.justice_clerk if code == "no_grant" else world.hrss_clerk
    logged = asker.get(f"{BASE}/calls?outcome=refused").json()["items"]
    assert [(e["outcome"], e["code"]) for e in logged] == [("refused", code)]


def test_malformed_parameters_are_named(world: World) -> None:
    missing = world.verify(params={"id_number": world.subject.id_number})
    assert (missing.status_code, list(missing.json()["fields"])) == (400, ["params.name"])
    invalid = world.verify(params={"id_number": "123", "name": "某"})
    assert (invalid.status_code, list(invalid.json()["fields"])) == (400, ["params.id_number"])
    extra = world.query(params={"id_number": world.subject.id_number, "x": "1"})
    assert (extra.status_code, list(extra.json()["fields"])) == (400, ["params.x"])


def test_the_rate_limit_is_one_call_a_minute(db: None) -> None:
    world = _world(rate_limit=1)
    assert world.verify().status_code == 200
    again = world.verify()
    assert (again.status_code, again.json()["code"]) == (429, "rate_limited")
    assert world.last_call()["code"] == "rate_limited"


def test_an_unknown_case_is_refused_and_logged(world: World) -> None:
    response = world.verify(case="12345678901234567890")
    assert (response.status_code, response.json()["code"]) == (404, "unknown_case")
    assert world.last_call()["code"] == "unknown_case"


def test_callers_of_other_roles_are_refused(world: World) -> None:
    assert world.verify(world.citizen).status_code == 403
    assert world.verify(world.supervisor).status_code == 403
    assert world.query(Client()).status_code == 401
    # Nothing to log: no department asked.
    assert world.supervisor.get(f"{BASE}/calls").json()["count"] == 0


def test_a_refusal_for_a_role_is_in_chinese_by_default(world: World) -> None:
    response = world.verify(world.citizen)
    assert response.json()["message"] == "您无权执行此操作。"
    english = world.citizen.post(
        f"{BASE}/{world.resource.ref}/verify",
        {"question": "registered", "params": {}, "purpose": PURPOSE},
        content_type="application/json",
        headers={"accept-language": "en"},
    )
    assert english.json()["message"] == "You are not allowed to do this."


def test_a_data_sharing_refusal_is_in_chinese_by_default(world: World) -> None:
    message = world.verify(world.justice_clerk).json()["message"]
    assert any("\u4e00" <= ch <= "\u9fff" for ch in message), message


# Grants -------------------------------------------------------------------------------------


def test_a_grant_is_requested_decided_and_revoked(world: World) -> None:
    justice_admin = login(
        Client(), StaffFactory(department_admin=True, department_key="cq-justice").user
    )
    asked = _post(
        justice_admin,
        "/grants",
        {
            "resource": world.resource.ref,
            "purpose": "核验公证申请人户籍",
            "items": [world.item.code],
            "questions": ["registered", "in_yuzhong"],
        },
    )
    assert asked.status_code == 201, asked.json()
    uid = asked.json()["uid"]
    assert asked.json()["state"] == "requested"
    provided = world.police.get(f"{BASE}/grants?side=provided&state=requested").json()
    assert [g["uid"] for g in provided["items"]] == [uid]
    assert justice_admin.get(f"{BASE}/grants?side=provided").json()["count"] == 0
    assert justice_admin.get(f"{BASE}/grants/{uid}").json()["consumer"] == "重庆市司法局"

    # Only the provider decides; within what was asked; with a last day and a rate.
    assert _post(justice_admin, f"/grants/{uid}/decide", {"approve": True}).status_code == 403
    incomplete = _post(world.police, f"/grants/{uid}/decide", {"approve": True})
    assert incomplete.status_code == 400
    assert {"valid_until", "rate_limit"} <= set(incomplete.json()["fields"])
    decided = _post(
        world.police,
        f"/grants/{uid}/decide",
        {
            "approve": True,
            "questions": ["registered"],
            "valid_until": str(timezone.localdate() + dt.timedelta(days=90)),
            "rate_limit": 5,
        },
    )
    assert decided.status_code == 200, decided.json()
    assert (decided.json()["state"], decided.json()["questions"]) == ("approved", ["registered"])
    again = _post(world.police, f"/grants/{uid}/decide", {"approve": False, "reason": "重复"})
    assert (again.status_code, again.json()["code"]) == (409, "stale_state")

    assert _post(world.police, f"/grants/{uid}/revoke", {"reason": ""}).status_code == 400
    revoked = _post(world.police, f"/grants/{uid}/revoke", {"reason": "用途已完成"})
    assert (revoked.status_code, revoked.json()["state"]) == (200, "revoked")


def test_a_request_is_refused_with_a_reason_or_withdrawn(world: World) -> None:
    # 人社局 gives up its grant, asks again, and the new request is refused.
    withdrawn = _post(world.hrss_admin, f"/grants/{world.grant.uid}/withdraw", {})
    assert (withdrawn.status_code, withdrawn.json()["state"]) == (200, "withdrawn")
    assert world.verify().json()["code"] == "no_grant"
    asked = _post(
        world.hrss_admin,
        "/grants",
        {"resource": "hukou", "purpose": PURPOSE, "items": [world.item.code], "fields": ["name"]},
    )
    assert asked.status_code == 201
    uid = asked.json()["uid"]
    without = _post(world.police, f"/grants/{uid}/decide", {"approve": False})
    assert list(without.json()["fields"]) == ["reason"]
    refused = _post(world.police, f"/grants/{uid}/decide", {"approve": False, "reason": "无依据"})
    assert (refused.json()["state"], refused.json()["reason"]) == ("refused", "无依据")


def test_grants_are_for_department_admins_and_supervisors(world: World) -> None:
    assert world.hrss_clerk.get(f"{BASE}/grants").status_code == 403
    assert world.citizen.get(f"{BASE}/grants").status_code == 403
    held = world.hrss_admin.get(f"{BASE}/grants?side=held").json()
    assert [g["uid"] for g in held["items"]] == [str(world.grant.uid)]
    assert world.supervisor.get(f"{BASE}/grants").json()["count"] == 1
    assert world.hrss_admin.get(f"{BASE}/grants?side=sideways").status_code == 400
    other_admin = login(
        Client(), StaffFactory(department_admin=True, department_key="cq-justice").user
    )
    assert other_admin.get(f"{BASE}/grants/{world.grant.uid}").status_code == 404
    assert world.hrss_admin.get(f"{BASE}/grants/not-a-uuid").status_code == 400


# Disputes and monitoring --------------------------------------------------------------------


def test_a_dispute_is_raised_resolved_and_counted(world: World) -> None:
    call = world.verify().json()["call"]
    world.verify(purpose="随便查查")  # a refusal, for the monitoring
    raised = _post(
        world.hrss_clerk, f"/calls/{call}/disputes", {"kind": "stale", "reason": "已迁出"}
    )
    assert raised.status_code == 201, raised.json()
    dispute = raised.json()
    assert (dispute["call"], dispute["state"], dispute["resource"]) == (
        call,
        "open",
        world.resource.ref,
    )
    twice = _post(world.hrss_clerk, f"/calls/{call}/disputes", {"kind": "stale", "reason": "再"})
    assert (twice.status_code, twice.json()["code"]) == (409, "dispute_open")
    # The answering department's admin sees it and decides it; the asker may not.
    assert world.police.get(f"{BASE}/disputes?state=open").json()["count"] == 1
    resolve = f"/disputes/{dispute['uid']}/resolve"
    assert _post(world.hrss_admin, resolve, {"upheld": True, "outcome": "x"}).status_code == 403
    resolved = _post(world.police, resolve, {"upheld": True, "outcome": "已更新户籍迁出记录"})
    assert (resolved.status_code, resolved.json()["state"]) == (200, "upheld")

    monitoring = world.supervisor.get(f"{BASE}/monitoring")
    assert monitoring.status_code == 200
    [row] = monitoring.json()
    assert (row["resource_key"], row["consumer"]) == ("hukou", "重庆市人力资源和社会保障局")
    assert (row["calls"], row["answered"], row["refused"], row["quality_flags"]) == (2, 1, 1, 1)
    since = (timezone.now() + dt.timedelta(minutes=5)).isoformat()
    assert world.supervisor.get(f"{BASE}/monitoring", {"since": since}).json() == []
    assert world.police.get(f"{BASE}/monitoring").status_code == 403


# Counting calls across the join with their disputes once counted a call with two disputes
# twice (selectors.monitoring, fixed since): kept as the regression test.
def test_monitoring_counts_a_call_with_two_disputes_once(world: World) -> None:
    call = world.verify().json()["call"]
    for kind in ("stale", "wrong_answer"):
        assert (
            _post(
                world.hrss_clerk, f"/calls/{call}/disputes", {"kind": kind, "reason": "有误"}
            ).status_code
            == 201
        )
    [row] = world.supervisor.get(f"{BASE}/monitoring").json()
    assert (row["calls"], row["answered"], row["quality_flags"]) == (1, 1, 2)


def test_the_evidence_log_is_read_by_department_and_filtered(world: World) -> None:
    call = world.verify().json()["call"]
    world.verify(world.justice_clerk)
    mine = world.hrss_clerk.get(f"{BASE}/calls").json()
    assert [e["uid"] for e in mine["items"]] == [call]
    assert world.justice_clerk.get(f"{BASE}/calls/{call}").status_code == 404
    assert world.citizen.get(f"{BASE}/calls").status_code == 403
    # The provider's admin sees the calls answered for its resource.
    assert world.police.get(f"{BASE}/calls?resource={world.resource.ref}").json()["count"] == 2
    assert world.supervisor.get(f"{BASE}/calls?outcome=answered").json()["count"] == 1
    assert world.supervisor.get(f"{BASE}/calls?side=local&case=x").json()["count"] == 0
    assert world.hrss_clerk.get(f"{BASE}/calls?limit=0").status_code == 400
    detail = world.hrss_clerk.get(f"{BASE}/calls/{call}?side=local").json()
    assert (detail["request_token"], detail["response_token"]) == ("", "")
