"""JOINT cases (多地联办): legs done in order by the authorities of two places, each leg's
result checked against its schema and handed to the next."""

import datetime as dt
import json
from typing import Any

import pytest
import time_machine

from tests.cases.conftest import form_for
from tests.factories import StaffFactory
from tongban.cases import selectors, services
from tongban.cases.models import Case, CaseLeg
from tongban.cases.selectors import (
    case_legs,
    case_notice,
    chain_break,
    public_view,
    visible_cases,
)
from tongban.catalog.models import CatalogVersion, ServiceItem
from tongban.catalog.selectors import version_current
from tongban.core.errors import Conflict, Forbidden, NotFound, ValidationFailed

pytestmark = pytest.mark.django_db
SHANGHAI = dt.timezone(dt.timedelta(hours=8))

HOUSEHOLD = "大中专学生毕业户口迁移"
PENSION = "企业职工基本养老保险关系转移接续"

APPROVE_MOVE = {"permit_number": "渝准迁2026-0001", "destination_address": "重庆市渝中区解放碑街道"}
RELEASE = {"migration_certificate_number": "川迁2026-0420", "released_on": "2026-11-20"}
REGISTER = {"registered_on": "2026-11-25", "household_number": "500103-88"}


def _item(name: str) -> ServiceItem:
    return ServiceItem.objects.get(version=version_current(), name=name)


def _submit(citizen, name: str = HOUSEHOLD, **overrides) -> Case:
    data: dict[str, Any] = {
        "actor": citizen.user,
        "item_code": _item(name).code,
        "scenario_key": "general",
        "authority_division": "500000",
        "origin_division": "510100",
        "form_data": form_for(citizen),
        "mode": "JOINT",
    }
    data.update(overrides)
    return services.case_submit(**data)


def _act(staff_or_person, case: Case, action: str, payload: dict[str, Any] | None = None) -> Case:
    return services.case_act(
        actor=staff_or_person.user, number=case.number, action=action, payload=payload
    )


def _legs(case: Case) -> list[tuple[str, str]]:
    return list(case.legs.order_by("seq").values_list("key", "state"))


def _snapshot(case: Case) -> tuple[Any, ...]:
    fresh = Case.objects.get(pk=case.pk)
    legs = list(fresh.legs.order_by("seq").values_list("state", "input", "output", "finished_at"))
    return fresh.state, fresh.decided_at, legs, fresh.events.count()


@pytest.fixture
def cq_police_reviewer(db: None) -> Any:
    return StaffFactory(reviewer=True, department_key="cq-public-security")


@pytest.fixture
def cq_police_approver(db: None) -> Any:
    return StaffFactory(approver=True, department_key="cq-public-security")


@pytest.fixture
def cd_police_reviewer(db: None) -> Any:
    return StaffFactory(
        reviewer=True, department_key="cd-public-security", jurisdiction_code="510100"
    )


@pytest.fixture
def cd_police_approver(db: None) -> Any:
    return StaffFactory(
        approver=True, department_key="cd-public-security", jurisdiction_code="510100"
    )


# Household migration, Chengdu (origin) → Chongqing (destination) -----------------------------


def test_a_household_migration_from_submission_to_completion(
    citizen, cq_police_reviewer, cq_police_approver, cd_police_reviewer, cd_police_approver
) -> None:
    case = _submit(citizen)
    assert case.state == "submitted"
    assert case.mode == "JOINT"
    assert case.authority_department.key == "cq-public-security"
    assert case.events.get(action="submit").payload["legs"] == "household_migration"
    legs = list(case.legs.select_related("department").order_by("seq"))
    assert [
        (leg.seq, leg.key, leg.place, leg.division_id, leg.department.key, leg.node, leg.state)
        for leg in legs
    ] == [
        (1, "approve_move", "destination", "500000", "cq-public-security", "500000", "waiting"),
        (2, "release", "origin", "510100", "cd-public-security", "510000", "waiting"),
        (3, "register", "destination", "500000", "cq-public-security", "500000", "waiting"),
    ]
    assert [leg.roles for leg in legs] == [
        ["approver"],
        ["reviewer", "approver"],
        ["reviewer", "approver"],
    ]
    assert all(leg.started_at is None and leg.input == {} for leg in legs)
    assert services.actions_for(actor=cq_police_reviewer.user, case=case) == [
        "accept",
        "reject_intake",
        "request_supplement",
    ]
    assert services.actions_for(actor=cd_police_reviewer.user, case=case) == []
    assert services.actions_for(actor=citizen.user, case=case) == ["withdraw"]

    # 受理 at the destination: the clock starts (45 working days), the first leg begins.
    case = _act(cq_police_reviewer, case, "accept")
    assert case.state == "in_legs"
    assert case.legal_days == 45
    assert _legs(case) == [
        ("approve_move", "active"),
        ("release", "waiting"),
        ("register", "waiting"),
    ]
    assert case.legs.get(seq=1).started_at is not None
    assert case_notice(case=case, kind="acceptance")["payload"]["legal_days"] == 45
    assert services.actions_for(actor=cq_police_approver.user, case=case) == [
        "complete_leg",
        "extend",
        "refuse_leg",
    ]
    assert services.actions_for(actor=cq_police_reviewer.user, case=case) == ["pause"]
    assert services.actions_for(actor=cd_police_reviewer.user, case=case) == []
    assert services.actions_for(actor=citizen.user, case=case) == ["withdraw"]

    before = _snapshot(case)
    with pytest.raises(Forbidden):  # 准予迁入 is for an approver
        _act(cq_police_reviewer, case, "complete_leg", {"result": APPROVE_MOVE})
    with pytest.raises(Forbidden):  # the origin does not approve the move in
        _act(cd_police_approver, case, "complete_leg", {"result": APPROVE_MOVE})
    with pytest.raises(Forbidden):
        _act(citizen, case, "complete_leg", {"result": APPROVE_MOVE})
    assert _snapshot(case) == before

    case = _act(cq_police_approver, case, "complete_leg", {"result": APPROVE_MOVE})
    assert case.state == "in_legs"  # the next leg takes over
    assert case.decided_at is None
    assert _legs(case) == [
        ("approve_move", "done"),
        ("release", "active"),
        ("register", "waiting"),
    ]
    first, second = case.legs.get(seq=1), case.legs.get(seq=2)
    # The address is personal (x-personal): encrypted at rest, in the leg and in the chain.
    assert first.output["permit_number"] == APPROVE_MOVE["permit_number"]
    assert set(first.output["destination_address"]) == {"x-encrypted"}
    assert APPROVE_MOVE["destination_address"] not in json.dumps(first.output, ensure_ascii=False)
    assert first.finished_by == cq_police_approver
    assert second.input == first.output
    shown = {leg.key: leg for leg in case_legs(case)}
    assert shown["approve_move"].output == APPROVE_MOVE
    assert shown["release"].input == APPROVE_MOVE
    event = case.events.order_by("-seq").first()
    assert event is not None
    assert (event.action, event.from_state, event.to_state) == (
        "complete_leg",
        "in_legs",
        "in_legs",
    )
    assert event.role == "approver"
    assert event.payload == {
        "result": first.output,
        "leg": "approve_move",
        "next_leg": "release",
    }
    with pytest.raises(NotFound):  # a leg handing over is not the decision
        case_notice(case=case, kind="approval")

    assert services.actions_for(actor=cd_police_reviewer.user, case=case) == [
        "complete_leg",
        "pause",
        "refuse_leg",
    ]
    assert services.actions_for(actor=cd_police_approver.user, case=case) == [
        "complete_leg",
        "refuse_leg",
    ]
    assert services.actions_for(actor=cq_police_approver.user, case=case) == ["extend"]
    assert services.actions_for(actor=cq_police_reviewer.user, case=case) == []
    with pytest.raises(Forbidden):  # the destination does not release from the origin
        _act(cq_police_approver, case, "complete_leg", {"result": RELEASE})

    case = _act(cd_police_reviewer, case, "complete_leg", {"result": RELEASE})
    assert _legs(case) == [
        ("approve_move", "done"),
        ("release", "done"),
        ("register", "active"),
    ]
    assert case_legs(case)[2].input == {**APPROVE_MOVE, **RELEASE}
    assert case.events.order_by("-seq").first().role == "reviewer"
    assert services.actions_for(actor=cq_police_reviewer.user, case=case) == [
        "complete_leg",
        "pause",
        "refuse_leg",
    ]
    assert services.actions_for(actor=cd_police_reviewer.user, case=case) == []
    with pytest.raises(Forbidden):
        _act(cd_police_reviewer, case, "complete_leg", {"result": REGISTER})
    with pytest.raises(NotFound):
        case_notice(case=case, kind="approval")

    # The last leg decides the case.
    case = _act(cq_police_reviewer, case, "complete_leg", {"result": REGISTER})
    assert case.state == "approved"
    assert case.decided_at is not None
    assert case.approved_on is not None
    assert all(state == "done" for _key, state in _legs(case))
    last = case.events.order_by("-seq").first()
    assert last is not None
    assert (last.to_state, last.payload["leg"]) == ("approved", "register")
    assert "next_leg" not in last.payload
    notice = case_notice(case=case, kind="approval")
    assert notice["seq"] == last.seq
    assert notice["department"] == "重庆市公安局"
    assert selectors.case_clock(case).flag == ""
    assert services.actions_for(actor=cq_police_reviewer.user, case=case) == ["deliver"]
    with pytest.raises(Conflict) as stale:  # no leg is left to complete
        _act(cq_police_reviewer, case, "complete_leg", {"result": REGISTER})
    assert stale.value.fields == {"allowed_actions": "deliver"}

    case = _act(cq_police_reviewer, case, "deliver")
    case = _act(cq_police_reviewer, case, "complete")
    assert case.state == "completed"
    assert case.closed_at is not None
    assert case.assignee == cq_police_reviewer
    assert all(state == "done" for _key, state in _legs(case))
    assert list(case.events.values_list("action", flat=True)) == [
        "submit",
        "accept",
        "complete_leg",
        "complete_leg",
        "complete_leg",
        "deliver",
        "complete",
    ]
    assert chain_break(case) is None

    view = public_view(number=case.number, code=case.query_code)
    assert view["state_label"] == "已办结"
    assert [entry["label"] for entry in view["timeline"]] == [
        "提交申请",
        "受理",
        "完成本环节：迁入地审核，准予迁入",
        "完成本环节：迁出地办理迁出",
        "完成本环节：迁入地办理落户",
        "送达结果",
        "办结",
    ]
    text = str(view)
    for secret in (
        citizen.name,
        citizen.id_number,
        citizen.phone,
        APPROVE_MOVE["destination_address"],
        RELEASE["migration_certificate_number"],
        REGISTER["household_number"],
    ):
        assert secret not in text


def test_case_legs_describe_each_leg_for_the_page_and_the_api(citizen, cq_police_reviewer) -> None:
    case = _act(cq_police_reviewer, _submit(citizen), "accept")
    views = selectors.case_legs(case)
    assert [(v.seq, v.key, v.place_label, v.division_name, v.department) for v in views] == [
        (1, "approve_move", "迁入地", "重庆市", "重庆市公安局"),
        (2, "release", "迁出地", "成都市", "成都市公安局"),
        (3, "register", "迁入地", "重庆市", "重庆市公安局"),
    ]
    assert [v.state_label for v in views] == ["办理中", "等待", "等待"]


@pytest.mark.parametrize(
    ("result", "fields"),
    [
        (None, {"result.permit_number", "result.destination_address"}),
        ({}, {"result.permit_number", "result.destination_address"}),
        ({"permit_number": "渝准迁2026-0001"}, {"result.destination_address"}),
        ({**APPROVE_MOVE, "permit_number": 20260001}, {"result.permit_number"}),
        ({**APPROVE_MOVE, "permit_number": ""}, {"result.permit_number"}),
        ({**APPROVE_MOVE, "approved": True}, {"result.approved"}),
        ({**APPROVE_MOVE, "permit_number": "渝" * 33}, {"result.permit_number"}),
        ("准予迁入", {"result"}),  # not an object at all
        (["permit_number"], {"result"}),
    ],
)
def test_a_bad_leg_result_is_refused_and_nothing_changes(
    citizen, cq_police_reviewer, cq_police_approver, result, fields
) -> None:
    case = _act(cq_police_reviewer, _submit(citizen), "accept")
    before = _snapshot(case)
    payload = {} if result is None else {"result": result}
    with pytest.raises(ValidationFailed) as problem:
        _act(cq_police_approver, case, "complete_leg", payload)
    assert set(problem.value.fields) == fields
    assert _snapshot(case) == before


@pytest.mark.parametrize(
    ("result", "fields"),
    [
        ({**RELEASE, "released_on": "2026/11/20"}, {"result.released_on"}),
        ({**RELEASE, "released_on": "20 Nov 2026"}, {"result.released_on"}),
        ({**RELEASE, "released_on": 20261120}, {"result.released_on"}),
        ({"released_on": "2026-11-20"}, {"result.migration_certificate_number"}),
        ({**RELEASE, "note": "x", "extra": 1}, {"result.note", "result.extra"}),
    ],
)
def test_a_bad_result_of_the_origin_leg_is_refused_and_nothing_changes(
    citizen, cq_police_reviewer, cq_police_approver, cd_police_reviewer, result, fields
) -> None:
    case = _act(cq_police_reviewer, _submit(citizen), "accept")
    case = _act(cq_police_approver, case, "complete_leg", {"result": APPROVE_MOVE})
    before = _snapshot(case)
    with pytest.raises(ValidationFailed) as problem:
        _act(cd_police_reviewer, case, "complete_leg", {"result": result})
    assert set(problem.value.fields) == fields
    assert _snapshot(case) == before
    assert case.legs.get(seq=2).state == "active"


def test_a_date_in_the_wrong_format_is_named_by_its_title(
    citizen, cq_police_reviewer, cq_police_approver, cd_police_reviewer
) -> None:
    case = _act(cq_police_reviewer, _submit(citizen), "accept")
    case = _act(cq_police_approver, case, "complete_leg", {"result": APPROVE_MOVE})
    with pytest.raises(ValidationFailed) as problem:
        _act(cd_police_reviewer, case, "complete_leg", {"result": {**RELEASE, "released_on": "x"}})
    assert "迁出日期" in str(problem.value.fields["result.released_on"])


def test_an_origin_given_as_a_district_is_served_by_its_city(
    citizen, cq_police_reviewer, cq_police_approver, cd_police_reviewer
) -> None:
    case = _submit(citizen, origin_division="510104")  # 锦江区, served by 成都市公安局
    release = case.legs.select_related("department").get(key="release")
    assert (release.division_id, release.department.key, release.node) == (
        "510104",
        "cd-public-security",
        "510000",
    )
    case = _act(cq_police_reviewer, case, "accept")
    case = _act(cq_police_approver, case, "complete_leg", {"result": APPROVE_MOVE})
    case = _act(cd_police_reviewer, case, "complete_leg", {"result": RELEASE})
    assert case.legs.get(key="release").state == "done"


# Refusal, withdrawal, pauses ------------------------------------------------------------------


def test_the_transfer_out_refuses_and_the_case_is_denied(citizen) -> None:
    cq_hrss = StaffFactory(reviewer=True, department_key="cq-hrss")
    cd_hrss = StaffFactory(reviewer=True, department_key="cd-hrss", jurisdiction_code="510100")
    case = _submit(citizen, PENSION)
    assert [leg.department.key for leg in case.legs.select_related("department")] == [
        "cq-hrss",
        "cd-hrss",
        "cq-hrss",
    ]
    case = _act(cq_hrss, case, "accept")
    case = _act(cq_hrss, case, "complete_leg", {"result": {"contact_letter_number": "渝联2026-7"}})
    assert case.legs.get(key="certify_contributions").input == {
        "contact_letter_number": "渝联2026-7"
    }
    before = _snapshot(case)
    with pytest.raises(ValidationFailed) as missing:
        _act(cd_hrss, case, "refuse_leg")
    assert set(missing.value.fields) == {"reasons"}
    with pytest.raises(Forbidden):  # the transfer-in cannot refuse for the transfer-out
        _act(cq_hrss, case, "refuse_leg", {"reasons": "无参保记录"})
    assert _snapshot(case) == before

    case = _act(cd_hrss, case, "refuse_leg", {"reasons": "本地无该参保人缴费记录"})
    assert case.state == "denied"
    assert case.decided_at is not None
    assert case.approved_on is None
    assert _legs(case) == [
        ("request_transfer", "done"),
        ("certify_contributions", "refused"),
        ("complete_transfer", "cancelled"),
    ]
    assert case.legs.get(key="certify_contributions").finished_by == cd_hrss
    event = case.events.order_by("-seq").first()
    assert event is not None
    assert (event.action, event.to_state, event.role) == ("refuse_leg", "denied", "reviewer")
    assert event.payload["leg"] == "certify_contributions"
    assert event.payload["reasons"] == "本地无该参保人缴费记录"
    assert event.payload["remedy"] == services.DENIAL_REMEDY
    assert "行政复议" in case_notice(case=case, kind="denial")["payload"]["remedy"]
    with pytest.raises(NotFound):
        case_notice(case=case, kind="approval")

    with pytest.raises(Forbidden):  # closing the case is the deciding department's
        _act(cd_hrss, case, "complete")
    assert services.actions_for(actor=cq_hrss.user, case=case) == ["complete"]
    case = _act(cq_hrss, case, "complete")
    assert case.state == "completed"
    assert case.closed_at is not None
    assert chain_break(case) is None
    labels = [e["label"] for e in public_view(number=case.number, code=case.query_code)["timeline"]]
    assert labels[-2:] == ["本环节不予办理：转出地核对缴费，开具参保缴费凭证并转移基金", "办结"]


def test_withdrawing_mid_legs_cancels_the_legs_left(
    citizen, cq_police_reviewer, cq_police_approver, cd_police_reviewer
) -> None:
    case = _act(cq_police_reviewer, _submit(citizen), "accept")
    case = _act(cq_police_approver, case, "complete_leg", {"result": APPROVE_MOVE})
    case = _act(citizen, case, "withdraw")
    assert case.state == "withdrawn"
    assert case.closed_at is not None
    assert _legs(case) == [
        ("approve_move", "done"),
        ("release", "cancelled"),
        ("register", "cancelled"),
    ]
    assert case.legs.get(key="release").finished_at is not None
    with pytest.raises(Conflict):
        _act(cd_police_reviewer, case, "complete_leg", {"result": RELEASE})
    assert services.actions_for(actor=cd_police_reviewer.user, case=case) == []


def test_a_rejected_intake_cancels_every_leg(citizen, cq_police_reviewer) -> None:
    case = _act(
        cq_police_reviewer,
        _submit(citizen),
        "reject_intake",
        {"reasons": "不属于本机关职权", "apply_instead": "户籍所在地派出所"},
    )
    assert case.state == "rejected_intake"
    assert {state for _key, state in _legs(case)} == {"cancelled"}


def test_a_supplement_round_keeps_the_legs_waiting(citizen, cq_police_reviewer) -> None:
    case = _act(cq_police_reviewer, _submit(citizen), "request_supplement", {"missing": ["毕业证"]})
    case = _act(citizen, case, "supplement")
    assert case.state == "submitted"
    assert {state for _key, state in _legs(case)} == {"waiting"}
    case = _act(cq_police_reviewer, case, "accept")
    assert _legs(case)[0] == ("approve_move", "active")


def test_the_current_legs_reviewer_pauses_and_resumes_and_the_destination_extends(
    citizen, cq_police_reviewer, cq_police_approver, cd_police_reviewer, cd_police_approver
) -> None:
    case = _act(cq_police_reviewer, _submit(citizen), "accept")
    case = _act(cq_police_approver, case, "complete_leg", {"result": APPROVE_MOVE})
    pause = {"kind": "inspection", "reason": "核查原户籍信息"}
    for outsider in (cq_police_reviewer, cd_police_approver):  # not the leg's, not a reviewer
        with pytest.raises(Forbidden):
            _act(outsider, case, "pause", pause)
    with pytest.raises(ValidationFailed) as bad_kind:
        _act(cd_police_reviewer, case, "pause", {"kind": "nap", "reason": "x"})
    assert set(bad_kind.value.fields) == {"kind"}
    case = _act(cd_police_reviewer, case, "pause", pause)
    assert case.state == "paused"
    assert case.pauses.filter(ended_on__isnull=True).count() == 1
    assert case.events.order_by("-seq").first().role == "reviewer"
    assert _legs(case)[1] == ("release", "active")  # the leg waits with the clock
    assert services.actions_for(actor=cd_police_reviewer.user, case=case) == ["resume"]
    assert services.actions_for(actor=cq_police_approver.user, case=case) == ["extend"]
    with pytest.raises(Conflict) as paused:
        _act(cd_police_reviewer, case, "complete_leg", {"result": RELEASE})
    assert paused.value.fields == {"allowed_actions": "extend,resume,withdraw"}
    with pytest.raises(Forbidden):
        _act(cq_police_reviewer, case, "resume")

    with pytest.raises(Forbidden):  # extending the time limit is the deciding authority's
        _act(cd_police_approver, case, "extend", {"reason": "情况复杂"})
    case = _act(cq_police_approver, case, "extend", {"reason": "情况复杂"})
    assert case.extension_days == 10
    assert case.state == "paused"

    case = _act(cd_police_reviewer, case, "resume")
    assert case.state == "in_legs"
    assert not case.pauses.filter(ended_on__isnull=True).exists()
    case = _act(cd_police_reviewer, case, "complete_leg", {"result": RELEASE})
    assert _legs(case)[2] == ("register", "active")
    assert chain_break(case) is None


def test_withdrawing_a_paused_joint_case_ends_the_pause_and_the_legs(
    citizen, cq_police_reviewer
) -> None:
    case = _act(cq_police_reviewer, _submit(citizen), "accept")
    case = _act(cq_police_reviewer, case, "pause", {"kind": "testing", "reason": "送检"})
    case = _act(citizen, case, "withdraw")
    assert case.state == "withdrawn"
    assert not case.pauses.filter(ended_on__isnull=True).exists()
    assert {state for _key, state in _legs(case)} == {"cancelled"}


def test_a_joint_case_deemed_accepted_opens_its_first_leg(citizen, cq_police_approver) -> None:
    """Found by this test: the tick accepted a JOINT case without starting a leg, leaving it
    in_legs with nobody able to act on it."""
    item = _item(HOUSEHOLD)
    CatalogVersion.objects.filter(pk=item.version_id).update(valid_from=dt.date(2026, 1, 1))
    with time_machine.travel(dt.datetime(2026, 11, 2, 10, tzinfo=SHANGHAI), tick=False):
        case = _submit(citizen)
    assert services.cases_deem_accepted(today=dt.date(2026, 11, 10)) == [case.number]
    case.refresh_from_db()
    assert case.state == "in_legs"
    assert case.legal_days == 45
    assert _legs(case)[0] == ("approve_move", "active")
    assert services.actions_for(actor=cq_police_approver.user, case=case) == [
        "complete_leg",
        "extend",
        "refuse_leg",
    ]
    case = _act(cq_police_approver, case, "complete_leg", {"result": APPROVE_MOVE})
    assert _legs(case)[1] == ("release", "active")
    assert chain_break(case) is None


# Submitting -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "overrides", "fields"),
    [
        (HOUSEHOLD, {"origin_division": None}, {"origin_division"}),
        (HOUSEHOLD, {"origin_division": "  "}, {"origin_division"}),
        (HOUSEHOLD, {"origin_division": "519999"}, {"origin_division"}),
        (HOUSEHOLD, {"origin_division": "500000"}, {"origin_division"}),
        (HOUSEHOLD, {"origin_division": "440000"}, {"origin_division"}),  # not implemented there
        (HOUSEHOLD, {"authority_division": "440000"}, {"authority_division"}),
        (
            HOUSEHOLD,
            {"authority_division": "", "origin_division": ""},
            {"authority_division", "origin_division"},
        ),
        # 机关事业单位养老保险: JOINT in the catalogue, but no leg plan yet (and only Chongqing).
        (
            "机关事业单位基本养老保险关系转移接续（含职业年金）",
            {},
            {"mode", "origin_division"},
        ),
        (
            "机关事业单位基本养老保险关系转移接续（含职业年金）",
            {"authority_division": "500000", "origin_division": "500103"},
            {"mode"},
        ),
        ("学历公证", {}, {"mode"}),  # ONLINE and PROXY only
        (
            HOUSEHOLD,
            {"form_data": {}},
            {f"form_data.{f}" for f in ("applicant_name", "id_number", "phone", "statement")},
        ),
    ],
)
def test_bad_joint_submissions_name_the_field_and_create_nothing(
    citizen, name, overrides, fields
) -> None:
    with pytest.raises(ValidationFailed) as problem:
        _submit(citizen, name, **overrides)
    assert set(problem.value.fields) == fields
    assert not Case.objects.exists()
    assert not CaseLeg.objects.exists()


def test_other_modes_have_no_legs(citizen) -> None:
    """The origin is a JOINT detail: other modes ignore it and create no legs."""
    case = _submit(citizen, "学历公证", mode="ONLINE", origin_division="510100")
    assert case.workflow == "online"
    assert not case.legs.exists()
    assert selectors.case_legs(case) == []


# Who sees a JOINT case --------------------------------------------------------------------------


def test_the_origin_departments_staff_see_the_case_others_do_not(citizen) -> None:
    case = _submit(citizen)

    def sees(**staff: Any) -> bool:
        actor = StaffFactory(**staff).user
        return visible_cases(actor=actor).filter(pk=case.pk).exists()

    assert sees(reviewer=True, department_key="cd-public-security", jurisdiction_code="510100")
    assert sees(reviewer=True, department_key="cq-public-security")
    assert not sees(reviewer=True, department_key="cd-hrss", jurisdiction_code="510100")
    assert not sees(reviewer=True, department_key="cd-justice", jurisdiction_code="510100")
    # Each case once, though it has two legs at the destination.
    destination = StaffFactory(reviewer=True, department_key="cq-public-security").user
    assert visible_cases(actor=destination).filter(pk=case.pk).count() == 1
