"""One case from submission to the end, on one node, in the ONLINE and PROXY modes."""

import datetime as dt
import json
from io import StringIO

import pytest
import time_machine
from django.core.management import CommandError, call_command

from tests.cases.conftest import FORWARD, form_for, scan_identity
from tests.factories import PersonFactory, StaffFactory
from tongban.cases import services
from tongban.cases.models import Case, CaseEvent
from tongban.cases.selectors import case_clock, chain_break, public_view
from tongban.core.errors import Conflict, Forbidden, NotFound, ValidationFailed

pytestmark = pytest.mark.django_db
SHANGHAI = dt.timezone(dt.timedelta(hours=8))


def _submit(citizen, item, **overrides) -> Case:
    data = {
        "actor": citizen.user,
        "item_code": item.code,
        "scenario_key": "general",
        "authority_division": "500000",
        "form_data": form_for(citizen),
    }
    data.update(overrides)
    return services.case_submit(**data)


def test_an_online_case_from_submission_to_completion(
    item, citizen, cq_reviewer, cq_approver
) -> None:
    case = _submit(citizen, item)
    assert case.state == "submitted"
    assert len(case.number) == 43
    assert case.number.startswith(
        "0" * 19 + item.code
    )  # provisional: the department's USCC is unknown
    assert case.authority_department.key == "cq-justice"
    assert services.actions_for(actor=citizen.user, case=case) == ["withdraw"]
    assert services.actions_for(actor=cq_reviewer.user, case=case) == [
        "accept",
        "reject_intake",
        "request_supplement",
    ]

    for actor, action, payload in [
        (cq_reviewer, "request_supplement", {"missing": ["学历证书扫描件"]}),
        (citizen, "supplement", {}),
        (cq_reviewer, "accept", {}),
        (cq_reviewer, "begin_review", {}),
        (cq_reviewer, "pause", {"kind": "expert_review", "reason": "学历真实性核查"}),
        (cq_reviewer, "resume", {}),
        (cq_approver, "extend", {"reason": "需进一步核实"}),
        (cq_approver, "approve", {}),
        (cq_reviewer, "deliver", {}),
        (cq_reviewer, "complete", {}),
    ]:
        case = services.case_act(
            actor=actor.user, number=case.number, action=action, payload=payload
        )
    assert case.state == "completed"
    assert case.closed_at is not None
    assert case.assignee == cq_reviewer
    assert case.legal_days == 20  # the statutory limit: the catalogue has none yet
    assert case.extension_days == 10
    assert list(case.events.values_list("action", flat=True)) == [
        "submit",
        "request_supplement",
        "supplement",
        "accept",
        "begin_review",
        "pause",
        "resume",
        "extend",
        "approve",
        "deliver",
        "complete",
    ]
    assert chain_break(case) is None
    with pytest.raises(Conflict) as stale:
        services.case_act(actor=cq_reviewer.user, number=case.number, action="accept")
    assert stale.value.code == "action_not_allowed"
    assert stale.value.fields == {"allowed_actions": ""}


def test_a_denial_carries_the_remedy(item, citizen, cq_reviewer, cq_approver) -> None:
    case = _submit(citizen, item)
    services.case_act(actor=cq_reviewer.user, number=case.number, action="accept")
    services.case_act(actor=cq_reviewer.user, number=case.number, action="begin_review")
    with pytest.raises(ValidationFailed) as missing:
        services.case_act(actor=cq_approver.user, number=case.number, action="deny")
    assert set(missing.value.fields) == {"reasons"}
    case = services.case_act(
        actor=cq_approver.user, number=case.number, action="deny", payload={"reasons": "材料不实"}
    )
    event = case.events.get(action="deny")
    assert "行政复议" in event.payload["remedy"]
    assert "行政诉讼" in event.payload["remedy"]


def test_wrong_actors_are_refused_and_nothing_changes(item, citizen, cq_reviewer) -> None:
    case = _submit(citizen, item)
    other_department = StaffFactory(reviewer=True, department_key="cq-hrss")
    chengdu = StaffFactory(reviewer=True, department_key="cd-justice", jurisdiction_code="510100")
    stranger = PersonFactory(with_login=True)
    with pytest.raises(Forbidden):  # the applicant sees the case; accepting is not theirs
        services.case_act(actor=citizen.user, number=case.number, action="accept")
    # Whoever may not see the case is told it does not exist, as for an unknown number.
    for actor in (other_department.user, chengdu.user, StaffFactory(approver=True).user):
        with pytest.raises(NotFound):
            services.case_act(actor=actor, number=case.number, action="accept")
    with pytest.raises(NotFound):
        services.case_act(actor=stranger.user, number=case.number, action="withdraw")
    case.refresh_from_db()
    assert case.state == "submitted"
    assert case.events.count() == 1


def test_a_stale_action_is_a_409_naming_what_is_possible(item, citizen, cq_reviewer) -> None:
    case = _submit(citizen, item)
    services.case_act(actor=cq_reviewer.user, number=case.number, action="accept")
    with pytest.raises(Conflict) as stale:
        services.case_act(actor=cq_reviewer.user, number=case.number, action="accept")
    assert stale.value.fields["allowed_actions"] == "begin_review,extend,withdraw"
    with pytest.raises(NotFound):
        services.case_act(actor=cq_reviewer.user, number=case.number, action="teleport")
    with pytest.raises(NotFound):
        services.case_act(actor=cq_reviewer.user, number="9" * 43, action="accept")


def test_forged_form_fields_are_refused(item, citizen) -> None:
    form = {**form_for(citizen), "phone": "123", "is_approved": True}
    with pytest.raises(ValidationFailed) as problem:
        _submit(citizen, item, form_data=form)
    assert set(problem.value.fields) == {"form_data.phone", "form_data.is_approved"}
    assert not Case.objects.exists()


def test_the_item_must_be_implemented_where_the_case_is_sent(item, citizen) -> None:
    with pytest.raises(ValidationFailed) as problem:
        _submit(citizen, item, authority_division="440000")
    assert "authority_division" in problem.value.fields


def test_a_proxy_case_is_received_here_and_decided_there(item, citizen) -> None:
    """收受分离: a Chongqing window receives, Chengdu's 司法局 decides."""
    clerk = StaffFactory(
        window_clerk=True, department_key="cq-big-data", jurisdiction_code="500103"
    )
    chengdu = StaffFactory(reviewer=True, department_key="cd-justice", jurisdiction_code="510100")
    case = services.case_submit(
        actor=clerk.user,
        item_code=item.code,
        scenario_key="general",
        authority_division="510100",
        form_data=form_for(citizen),
        mode="PROXY",
        applicant_id_number=citizen.id_number,
    )
    assert case.state == "received"
    assert case.received_by == clerk
    assert case.receiving_division_id == "500103"
    assert case.applicant_person == citizen
    with pytest.raises(Forbidden):  # a Chengdu reviewer cannot forward a Chongqing receipt
        services.case_act(
            actor=chengdu.user,
            number=case.number,
            action="forward",
            payload=FORWARD,
        )
    with pytest.raises(ValidationFailed):
        services.case_act(actor=clerk.user, number=case.number, action="forward")
    with pytest.raises(ValidationFailed) as unscanned:  # present on the checklist, not scanned
        services.case_act(actor=clerk.user, number=case.number, action="forward", payload=FORWARD)
    assert "checklist.identity" in unscanned.value.fields
    scan_identity(clerk.user, case.number)
    services.case_act(actor=clerk.user, number=case.number, action="forward", payload=FORWARD)
    forward = case.events.get(action="forward")
    assert forward.payload["identity"] == FORWARD["identity"]
    assert forward.actor == clerk.user
    with pytest.raises(Forbidden):  # the clerk does not decide
        services.case_act(actor=clerk.user, number=case.number, action="accept")
    case = services.case_act(actor=chengdu.user, number=case.number, action="accept")
    assert case.state == "accepted"
    assert case.assignee == chengdu
    assert case.received_by == clerk


def test_only_window_clerks_receive_proxy_cases(item, citizen, cq_reviewer) -> None:
    with pytest.raises(Forbidden):
        services.case_submit(
            actor=cq_reviewer.user,
            item_code=item.code,
            scenario_key="general",
            authority_division="510100",
            form_data=form_for(citizen),
            mode="PROXY",
            applicant_id_number=citizen.id_number,
        )


def test_withdrawal_ends_the_case(item, citizen, cq_reviewer) -> None:
    case = _submit(citizen, item)
    services.case_act(actor=cq_reviewer.user, number=case.number, action="accept")
    case = services.case_act(actor=citizen.user, number=case.number, action="withdraw")
    assert case.state == "withdrawn"
    with pytest.raises(Conflict):
        services.case_act(actor=citizen.user, number=case.number, action="withdraw")


def test_numbers_count_per_day(item, citizen) -> None:
    first = _submit(citizen, item)
    second = _submit(citizen, item)
    assert first.number[:-4] == second.number[:-4]
    assert int(second.number[-4:]) == int(first.number[-4:]) + 1


def test_the_clock_across_national_day(item, citizen, cq_reviewer) -> None:
    from tongban.catalog.models import CatalogVersion

    # The catalogue was published "today"; let it be in force since the start of the year.
    CatalogVersion.objects.filter(pk=item.version_id).update(valid_from=dt.date(2026, 1, 1))
    with time_machine.travel(dt.datetime(2026, 9, 25, 10, tzinfo=SHANGHAI), tick=False):
        case = _submit(citizen, item)
        case = services.case_act(actor=cq_reviewer.user, number=case.number, action="accept")
    assert case.accepted_on == dt.date(2026, 9, 25)
    clock = case_clock(case, today=dt.date(2026, 10, 9))
    # 20 working days: Golden Week not counted, the make-up Saturday 10 Oct counted.
    assert clock.legal_due == dt.date(2026, 10, 29)
    assert clock.used == 5  # 28–30 Sep, 8–9 Oct
    assert clock.left == 15
    assert clock.flag == ""
    assert case_clock(case, today=dt.date(2026, 10, 28)).flag == "yellow"
    assert case_clock(case, today=dt.date(2026, 11, 2)).flag == "red"


def test_the_public_look_up_shows_no_personal_data(item, citizen, cq_reviewer) -> None:
    case = _submit(citizen, item)
    services.case_act(actor=cq_reviewer.user, number=case.number, action="accept")
    view = public_view(number=case.number, code=case.query_code.lower())
    assert view["state_label"] == "已受理"
    assert [entry["label"] for entry in view["timeline"]] == ["提交申请", "受理"]
    text = str(view)
    assert citizen.name not in text
    assert citizen.id_number not in text
    with pytest.raises(NotFound):
        public_view(number=case.number, code="WRONG123")


def test_tampering_breaks_the_chain_and_the_command_says_where(item, citizen, cq_reviewer) -> None:
    case = _submit(citizen, item)
    services.case_act(actor=cq_reviewer.user, number=case.number, action="accept")
    services.case_act(actor=cq_reviewer.user, number=case.number, action="begin_review")
    out = StringIO()
    call_command("audit", "verify", stdout=out)
    assert "1 case chain(s) verified" in out.getvalue()
    CaseEvent.objects.filter(case=case, seq=2).update(to_state="approved")
    broken = chain_break(case)
    assert broken is not None
    assert broken.seq == 2
    with pytest.raises(CommandError, match="event 2"):
        call_command("audit", "verify", "--case", case.number)


def test_personal_fields_of_the_form_are_stored_encrypted_and_shown_masked(item, citizen) -> None:
    from django.db import connection

    from tongban.cases.personal import reveal

    case = _submit(citizen, item)
    with connection.cursor() as cursor:
        cursor.execute("SELECT form_data FROM cases_case WHERE id = %s", [case.pk])
        raw = cursor.fetchone()[0]
    stored = json.loads(raw) if isinstance(raw, str) else raw
    assert citizen.id_number not in json.dumps(stored, ensure_ascii=False)
    assert citizen.phone not in json.dumps(stored, ensure_ascii=False)
    assert set(stored["id_number"]) == {"x-encrypted"}
    assert stored["statement"].startswith("申请学历公证")  # the statement is not personal
    shown = reveal(case.scenario.form_schema, case.form_data)
    assert shown["id_number"] == citizen.id_number_masked
    assert shown["phone"] == citizen.phone_masked
    assert (
        reveal(case.scenario.form_schema, case.form_data, masked=False)["id_number"]
        == citizen.id_number
    )


def test_withdrawing_a_paused_case_ends_the_pause(item, citizen, cq_reviewer) -> None:
    """Found by the state machine: leaving a paused state other than by resume left the clock
    paused on a closed case."""
    case = _submit(citizen, item)
    for action, payload in [
        ("accept", {}),
        ("begin_review", {}),
        ("pause", {"kind": "testing", "reason": "送检"}),
    ]:
        services.case_act(
            actor=cq_reviewer.user, number=case.number, action=action, payload=payload
        )
    case = services.case_act(actor=citizen.user, number=case.number, action="withdraw")
    assert case.state == "withdrawn"
    assert not case.pauses.filter(ended_on__isnull=True).exists()
    assert case_clock(case).paused is False


def test_online_cases_are_seen_by_the_deciding_department_and_supervisors_only(
    item, citizen, cq_reviewer
) -> None:
    """An ONLINE case is "received" at the node, but that does not open it to every staff
    member of the province: other departments and window clerks do not see it."""
    from tongban.cases.selectors import staff_queue, visible_cases

    case = _submit(citizen, item)
    other_department = StaffFactory(reviewer=True, department_key="cq-hrss")
    clerk = StaffFactory(window_clerk=True, department_key="cq-big-data")
    supervisor = StaffFactory(supervisor=True, department_key="cq-big-data")
    for staff, sees in ((cq_reviewer, True), (other_department, False), (clerk, False)):
        assert visible_cases(actor=staff.user).filter(pk=case.pk).exists() is sees
        assert staff_queue(actor=staff.user, view="open").filter(pk=case.pk).exists() is sees
    assert visible_cases(actor=supervisor.user).filter(pk=case.pk).exists()
    assert staff_queue(actor=cq_reviewer.user).filter(pk=case.pk).exists()  # todo: accept


def test_a_proxy_case_is_seen_by_the_windows_clerks_not_by_every_department(
    item, citizen, cq_reviewer
) -> None:
    from tongban.cases.selectors import visible_cases

    clerk = StaffFactory(
        window_clerk=True, department_key="cq-big-data", jurisdiction_code="500103"
    )
    case = services.case_submit(
        actor=clerk.user,
        item_code=item.code,
        scenario_key="general",
        authority_division="500000",
        form_data=form_for(citizen),
        mode="PROXY",
        applicant_id_number=citizen.id_number,
    )
    city_clerk = StaffFactory(window_clerk=True, department_key="cq-big-data")
    other_department = StaffFactory(reviewer=True, department_key="cq-hrss")
    for staff, sees in (
        (clerk, True),
        (city_clerk, True),
        (cq_reviewer, True),
        (other_department, False),
    ):
        assert visible_cases(actor=staff.user).filter(pk=case.pk).exists() is sees


def test_missing_materials_given_as_text_are_kept_as_a_list_of_lines(
    item, citizen, cq_reviewer
) -> None:
    case = _submit(citizen, item)
    services.case_act(
        actor=cq_reviewer.user,
        number=case.number,
        action="request_supplement",
        payload={"missing": "学历证书扫描件\n\n  身份证复印件  "},
    )
    event = case.events.order_by("-seq").first()
    assert event is not None
    assert event.payload["missing"] == ["学历证书扫描件", "身份证复印件"]


def test_public_labels_name_the_steps_between_nodes() -> None:
    from tongban.cases.selectors import _EVENT_LABELS

    assert _EVENT_LABELS["handover_received"] == "办理地已接收"
    assert _EVENT_LABELS["request_refused"] == "办理地未执行请求"
