"""Shipments (邮政寄递) through the services: the window posts the originals of a PROXY case to
the deciding department, whose time limit waits for them; the department posts the result."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import time_machine
from django.utils import timezone

from tests.cases.conftest import form_for
from tests.delivery.conftest import decide, forward, receive
from tests.factories import PersonFactory, StaffFactory
from tongban.cases import services as cases
from tongban.cases.models import Case
from tongban.cases.selectors import chain_break
from tongban.catalog.models import CatalogVersion, ServiceItem
from tongban.core.audit import SYSTEM
from tongban.core.errors import (
    Conflict,
    DomainError,
    Forbidden,
    NotAuthenticated,
    NotFound,
    ValidationFailed,
)
from tongban.core.models import AuditEntry
from tongban.delivery import services
from tongban.delivery.models import Shipment, ShipmentEvent

pytestmark = pytest.mark.django_db
SHANGHAI = dt.timezone(dt.timedelta(hours=8))
TRACKING = "EA123456789CN"


def post_originals(clerk: Any, case: Case, tracking: str = TRACKING, **changes: Any) -> Shipment:
    arguments = {
        "actor": clerk.user,
        "number": case.number,
        "purpose": "originals",
        "carrier": "ems",
        "tracking_number": tracking,
        **changes,
    }
    return services.shipment_create(**arguments)


def post_result(staff: Any, case: Case, tracking: str = "SF1234567890", **changes: Any) -> Shipment:
    arguments = {
        "actor": staff.user,
        "number": case.number,
        "purpose": "result",
        "carrier": "sf",
        "tracking_number": tracking,
        **changes,
    }
    return services.shipment_create(**arguments)


def step(staff: Any, shipment: Shipment, state: str, **changes: Any) -> Shipment:
    return services.shipment_record(
        actor=getattr(staff, "user", staff), shipment_id=shipment.pk, state=state, **changes
    )


def stored() -> tuple[Any, ...]:
    """Everything a refused request must leave unchanged."""
    return (
        list(Shipment.objects.order_by("pk").values_list("pk", "state", "delivered_at")),
        ShipmentEvent.objects.count(),
        AuditEntry.objects.filter(action__startswith="shipment.").count(),
        list(Case.objects.order_by("pk").values_list("state", "originals_received_on")),
    )


# The PROXY flow with originals ---------------------------------------------------------------


def test_originals_are_posted_and_the_authority_accepts_once_they_arrive(
    window_clerk, reviewer, received
) -> None:
    with pytest.raises(Conflict):  # still at the window
        post_originals(window_clerk, received)
    assert not Shipment.objects.exists()

    case = forward(window_clerk, received)
    parcel = post_originals(window_clerk, case)
    assert (parcel.purpose, parcel.carrier, parcel.tracking_number, parcel.state) == (
        "originals",
        "ems",
        TRACKING,
        "created",
    )
    assert (parcel.from_division_id, parcel.to_division_id) == ("500103", "500000")
    assert parcel.created_by == window_clerk.user
    assert list(parcel.events.values_list("state", flat=True)) == ["created"]
    assert cases.awaits_originals(case)

    with pytest.raises(Conflict) as waiting:
        cases.case_act(actor=reviewer.user, number=case.number, action="accept")
    assert waiting.value.code == "awaiting_originals"
    case.refresh_from_db()
    assert (case.state, case.accepted_on) == ("submitted", None)

    # Either side enters the steps it reads on the carrier's site.
    step(window_clerk, parcel, "picked_up", note="营业厅揽收")
    step(reviewer, parcel, "in_transit")
    step(window_clerk, parcel, "in_transit", note="到达成都转运中心")
    case.refresh_from_db()
    assert case.originals_received_on is None
    assert not case.events.filter(action="originals_received").exists()
    parcel = step(reviewer, parcel, "delivered", note="司法局收发室签收")

    parcel.refresh_from_db()
    assert parcel.state == "delivered"
    assert parcel.delivered_at is not None
    assert list(parcel.events.order_by("at", "pk").values_list("state", "note")) == [
        ("created", ""),
        ("picked_up", "营业厅揽收"),
        ("in_transit", ""),
        ("in_transit", "到达成都转运中心"),
        ("delivered", "司法局收发室签收"),
    ]
    case.refresh_from_db()
    assert case.originals_received_on == timezone.localdate()
    assert case.state == "submitted"
    arrival = case.events.get(action="originals_received")
    assert arrival.payload == {"on": timezone.localdate().isoformat()}
    assert (arrival.from_state, arrival.to_state) == ("submitted", "submitted")
    assert arrival.seq == case.events.order_by("-seq").first().seq
    assert chain_break(case) is None
    assert not cases.awaits_originals(case)

    case = cases.case_act(actor=reviewer.user, number=case.number, action="accept")
    assert (case.state, case.accepted_on) == ("accepted", timezone.localdate())
    assert chain_break(case) is None


def test_a_case_without_originals_to_post_does_not_wait(window_clerk, reviewer, citizen, item):
    case = forward(window_clerk, receive(window_clerk, citizen, item))
    assert not cases.awaits_originals(case)
    assert cases.case_act(actor=reviewer.user, number=case.number, action="accept").state == (
        "accepted"
    )


def test_a_lost_parcel_keeps_the_case_waiting_until_another_one_arrives(
    window_clerk, reviewer, forwarded
) -> None:
    first = post_originals(window_clerk, forwarded)
    step(window_clerk, first, "picked_up")
    step(window_clerk, first, "lost")
    forwarded.refresh_from_db()
    assert forwarded.originals_received_on is None
    assert cases.awaits_originals(forwarded)
    second = post_originals(window_clerk, forwarded, tracking="EA987654321CN")
    step(window_clerk, second, "picked_up")
    step(reviewer, second, "delivered")
    forwarded.refresh_from_db()
    assert forwarded.originals_received_on == timezone.localdate()
    assert forwarded.events.filter(action="originals_received").count() == 1


def test_the_deemed_acceptance_waits_for_the_originals_and_counts_from_their_arrival(
    window_clerk, reviewer, citizen, item, originals
) -> None:
    CatalogVersion.objects.filter(pk=item.version_id).update(valid_from=dt.date(2026, 1, 1))
    with time_machine.travel(dt.datetime(2026, 11, 2, 10, tzinfo=SHANGHAI), tick=False):  # Mon
        case = forward(window_clerk, receive(window_clerk, citizen, item))
        parcel = post_originals(window_clerk, case)
        step(window_clerk, parcel, "picked_up")
    # Without originals it would be deemed accepted on 10 Nov; it waits while they travel.
    assert cases.cases_deem_accepted(today=dt.date(2026, 11, 10)) == []
    assert cases.cases_deem_accepted(today=dt.date(2026, 11, 30)) == []
    with time_machine.travel(dt.datetime(2026, 11, 5, 15, tzinfo=SHANGHAI), tick=False):  # Thu
        step(reviewer, parcel, "delivered")
    case.refresh_from_db()
    assert case.originals_received_on == dt.date(2026, 11, 5)
    # Five working days from Thursday 5 Nov: 6, 9, 10, 11 and 12 Nov.
    assert cases.cases_deem_accepted(today=dt.date(2026, 11, 12)) == []
    assert cases.cases_deem_accepted(today=dt.date(2026, 11, 13)) == [case.number]
    case.refresh_from_db()
    assert (case.state, case.accepted_on) == ("accepted", dt.date(2026, 11, 5))
    accept = case.events.get(action="accept")
    assert accept.payload["deemed"] is True
    assert accept.payload["received_on"] == "2026-11-05"
    assert chain_break(case) is None


def test_originals_delivered_before_the_case_came_back_count_from_its_return(
    window_clerk, reviewer, citizen, item, originals
) -> None:
    """The later of the two days counts: the case (back from a supplement) or the originals."""
    CatalogVersion.objects.filter(pk=item.version_id).update(valid_from=dt.date(2026, 1, 1))
    with time_machine.travel(dt.datetime(2026, 11, 2, 10, tzinfo=SHANGHAI), tick=False):
        case = forward(window_clerk, receive(window_clerk, citizen, item))
        parcel = post_originals(window_clerk, case)
        step(window_clerk, parcel, "picked_up")
        step(reviewer, parcel, "delivered")
        cases.case_act(
            actor=reviewer.user,
            number=case.number,
            action="request_supplement",
            payload={"missing": ["学历证书复印件"]},
        )
    with time_machine.travel(dt.datetime(2026, 11, 9, 10, tzinfo=SHANGHAI), tick=False):
        cases.case_act(actor=citizen.user, number=case.number, action="supplement")
    # From Monday 9 Nov: 10, 11, 12, 13 and 16 Nov.
    assert cases.cases_deem_accepted(today=dt.date(2026, 11, 16)) == []
    assert cases.cases_deem_accepted(today=dt.date(2026, 11, 17)) == [case.number]


# Results --------------------------------------------------------------------------------------


def test_the_result_goes_out_after_the_decision_from_the_deciding_department(
    window_clerk, reviewer, approver, citizen, item
) -> None:
    case = forward(window_clerk, receive(window_clerk, citizen, item))
    with pytest.raises(Conflict):
        post_result(reviewer, case)
    case = decide(reviewer, approver, case)
    assert case.state == "approved"
    with pytest.raises(Forbidden):  # the window does not post the result
        post_result(window_clerk, case)
    assert not Shipment.objects.exists()

    back_to_window = post_result(reviewer, case)
    assert (back_to_window.from_division_id, back_to_window.to_division_id) == (
        "500000",
        "500103",
    )
    home = post_result(approver, case, tracking="SF0000000001", to_division=" 510100 ")
    assert home.to_division_id == "510100"
    assert home.purpose == "result"
    # Either side records the steps; a delivered result does not touch the case's originals.
    step(reviewer, back_to_window, "picked_up")
    step(window_clerk, back_to_window, "delivered")
    case.refresh_from_db()
    assert case.originals_received_on is None
    assert not case.events.filter(action="originals_received").exists()


@pytest.mark.parametrize("to_division", ["999999", "5001", "abcdef", "500103 x", "\x00"])
def test_the_result_goes_to_a_known_division(reviewer, decided, to_division) -> None:
    before = stored()
    with pytest.raises(ValidationFailed) as problem:
        post_result(reviewer, decided, to_division=to_division)
    assert set(problem.value.fields) == {"to_division"}
    assert stored() == before


def test_denied_and_completed_cases_have_a_result_too(
    window_clerk, reviewer, approver, citizen, item
) -> None:
    case = forward(window_clerk, receive(window_clerk, citizen, item))
    for staff, action, payload in (
        (reviewer, "accept", None),
        (reviewer, "begin_review", None),
        (approver, "deny", {"reasons": "学历证书无法核实。"}),
    ):
        case = cases.case_act(actor=staff.user, number=case.number, action=action, payload=payload)
    assert case.state == "denied"
    post_result(reviewer, case)
    case = cases.case_act(actor=reviewer.user, number=case.number, action="complete")
    post_result(reviewer, case, tracking="SF0000000002")
    assert Shipment.objects.filter(case=case, purpose="result").count() == 2


# Wrong actors ---------------------------------------------------------------------------------


def _actors() -> dict[str, Any]:
    return {
        "citizen": lambda case: case.applicant_person.user,
        "stranger": lambda case: PersonFactory(with_login=True).user,
        "other department": lambda case: StaffFactory(reviewer=True, department_key="cq-hrss").user,
        "clerk of another district": lambda case: (
            StaffFactory(
                window_clerk=True, department_key="cq-big-data", jurisdiction_code="500104"
            ).user
        ),
        "Chengdu's justice bureau": lambda case: (
            StaffFactory(
                reviewer=True, department_key="cd-justice", jurisdiction_code="510100"
            ).user
        ),
    }


@pytest.mark.parametrize("who", list(_actors()))
def test_outsiders_neither_register_nor_record(who, window_clerk, forwarded) -> None:
    """The applicant sees the case and posts nothing (403); whoever does not see it is told
    there is no such case or parcel (404)."""
    refused = Forbidden if who == "citizen" else NotFound
    parcel = post_originals(window_clerk, forwarded)
    actor = _actors()[who](forwarded)
    before = stored()
    with pytest.raises(refused):
        services.shipment_create(
            actor=actor,
            number=forwarded.number,
            purpose="originals",
            carrier="ems",
            tracking_number="EA000000001CN",
        )
    with pytest.raises(refused):
        services.shipment_create(
            actor=actor,
            number=forwarded.number,
            purpose="result",
            carrier="ems",
            tracking_number="EA000000001CN",
        )
    with pytest.raises(refused):
        step(actor, parcel, "picked_up")
    assert stored() == before


def test_anonymous_callers_must_log_in(window_clerk, forwarded) -> None:
    from django.contrib.auth.models import AnonymousUser

    parcel = post_originals(window_clerk, forwarded)
    before = stored()
    with pytest.raises(NotAuthenticated):
        services.shipment_create(
            actor=AnonymousUser(),
            number=forwarded.number,
            purpose="originals",
            carrier="ems",
            tracking_number="EA000000001CN",
        )
    with pytest.raises(NotAuthenticated):
        step(AnonymousUser(), parcel, "picked_up")
    assert stored() == before


def test_the_deciding_department_does_not_post_the_originals(reviewer, forwarded) -> None:
    before = stored()
    with pytest.raises(Forbidden):
        post_originals(reviewer, forwarded)
    assert stored() == before


def test_an_online_case_has_no_originals_by_post(citizen, item, reviewer, approver) -> None:
    case = cases.case_submit(
        actor=citizen.user,
        item_code=item.code,
        scenario_key="general",
        authority_division="500000",
        form_data=form_for(citizen),
    )
    # A clerk whose jurisdiction is the node's own division (500000, where online cases are
    # "received") is no receiving window of them.
    node_clerk = StaffFactory(window_clerk=True, department_key="cq-big-data")
    before = stored()
    with pytest.raises(Forbidden):  # the deciding department posts results, not originals
        post_originals(reviewer, case)
    with pytest.raises(NotFound):  # an online case is not the clerk's to see
        post_originals(node_clerk, case)
    assert stored() == before

    case = decide(reviewer, approver, case)
    parcel = post_result(reviewer, case, to_division="500103")
    assert parcel.from_division_id == "500000"
    before = stored()
    with pytest.raises(NotFound):
        step(node_clerk, parcel, "picked_up")
    with pytest.raises(NotFound):
        post_result(node_clerk, case, tracking="SF0000000003")
    assert stored() == before


def test_unknown_cases_and_shipments_are_not_found(window_clerk) -> None:
    with pytest.raises(NotFound):
        services.shipment_create(
            actor=window_clerk.user,
            number="X" * 20,
            purpose="originals",
            carrier="ems",
            tracking_number=TRACKING,
        )
    with pytest.raises(NotFound):
        services.shipment_record(actor=window_clerk.user, shipment_id=987654, state="picked_up")


# Bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"purpose": "gift"}, "purpose"),
        ({"purpose": ""}, "purpose"),
        ({"carrier": "ups"}, "carrier"),
        ({"carrier": "EMS"}, "carrier"),
        ({"tracking_number": "EA 123456789CN"}, "tracking_number"),
        ({"tracking_number": "EA123456\x00789CN"}, "tracking_number"),
        ({"tracking_number": "EA123456\x07789CN"}, "tracking_number"),
        ({"tracking_number": "EA123456\n789CN"}, "tracking_number"),
        ({"tracking_number": "12345"}, "tracking_number"),
        ({"tracking_number": "A" * 41}, "tracking_number"),
        ({"tracking_number": ""}, "tracking_number"),
        ({"tracking_number": "顺丰1234567"}, "tracking_number"),
    ],
)
def test_bad_registrations_are_refused_and_nothing_is_stored(
    window_clerk, forwarded, changes, field
) -> None:
    before = stored()
    with pytest.raises(ValidationFailed) as problem:
        post_originals(window_clerk, forwarded, **changes)
    assert set(problem.value.fields) == {field}
    assert stored() == before


def test_all_field_problems_are_reported_at_once(window_clerk, forwarded) -> None:
    with pytest.raises(ValidationFailed) as problem:
        post_originals(window_clerk, forwarded, purpose="x", carrier="y", tracking_number="z")
    assert set(problem.value.fields) == {"purpose", "carrier", "tracking_number"}


def test_spaces_around_a_tracking_number_are_dropped(window_clerk, forwarded) -> None:
    assert post_originals(window_clerk, forwarded, tracking=f"  {TRACKING} ").tracking_number == (
        TRACKING
    )


def test_a_tracking_number_is_registered_once_per_carrier(
    window_clerk, citizen, item, forwarded
) -> None:
    post_originals(window_clerk, forwarded)
    other = forward(window_clerk, receive(window_clerk, citizen, item))
    before = stored()
    for case in (forwarded, other):  # neither for this case nor for another one
        with pytest.raises(Conflict) as twice:
            post_originals(window_clerk, case)
        assert twice.value.code == "duplicate_tracking"
    assert stored() == before
    assert post_originals(window_clerk, other, carrier="sf").carrier == "sf"  # another carrier's


def test_a_concurrent_registration_of_the_same_number_is_a_conflict(
    window_clerk, citizen, item, forwarded, monkeypatch
) -> None:
    """Two clerks registering one number at once both pass the look-up; the database's unique
    constraint stops the second, which gets the same Conflict, not a 500."""
    from django.db.models.query import QuerySet

    post_originals(window_clerk, forwarded)
    other = forward(window_clerk, receive(window_clerk, citizen, item))
    before = stored()
    monkeypatch.setattr(QuerySet, "exists", lambda self: False)  # the look-up misses it
    with pytest.raises(Conflict) as twice:
        post_originals(window_clerk, other)
    assert twice.value.code == "duplicate_tracking"
    monkeypatch.undo()
    assert stored() == before


@pytest.fixture
def moving(window_clerk, forwarded) -> Shipment:
    """Originals picked up an hour ago."""
    parcel = post_originals(window_clerk, forwarded)
    return step(window_clerk, parcel, "picked_up")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"state": "flying"}, "state"),
        ({"state": ""}, "state"),
        ({"at": timezone.now() + dt.timedelta(days=1)}, "at"),
        ({"at": timezone.now() - dt.timedelta(days=3)}, "at"),  # before the pick-up
        ({"note": "x" * 256}, "note"),
        ({"note": "签收\x00"}, "note"),
    ],
)
def test_bad_steps_are_refused_and_nothing_changes(
    window_clerk, moving, forwarded, changes, field
) -> None:
    arguments = {"state": "in_transit", **changes}
    before = stored()
    with pytest.raises(ValidationFailed) as problem:
        step(window_clerk, moving, **arguments)
    assert set(problem.value.fields) == {field}
    assert stored() == before


def test_a_step_time_is_at_most_a_few_minutes_ahead(window_clerk, moving) -> None:
    soon = timezone.now() + dt.timedelta(minutes=2)
    assert step(window_clerk, moving, "in_transit", at=soon).events.order_by("-at").first().at == (
        soon
    )
    later = soon + dt.timedelta(hours=1)
    with pytest.raises(ValidationFailed):
        step(window_clerk, moving, "delivered", at=later)


def test_a_step_time_without_a_zone_is_read_as_local_time(window_clerk, moving) -> None:
    naive = timezone.localtime().replace(tzinfo=None, microsecond=0) + dt.timedelta(minutes=1)
    parcel = step(window_clerk, moving, "in_transit", at=naive)
    assert parcel.events.order_by("-at").first().at == timezone.make_aware(naive)


@pytest.mark.parametrize(
    ("path", "target"),
    [
        ((), "delivered"),  # created → delivered
        ((), "in_transit"),
        ((), "created"),
        (("picked_up",), "picked_up"),
        (("picked_up", "delivered"), "in_transit"),
        (("picked_up", "delivered"), "delivered"),
        (("picked_up", "returned"), "delivered"),
        (("lost",), "picked_up"),
    ],
)
def test_illegal_transitions_are_conflicts(window_clerk, forwarded, path, target) -> None:
    parcel = post_originals(window_clerk, forwarded)
    for state in path:
        step(window_clerk, parcel, state)
    before = stored()
    with pytest.raises(Conflict) as problem:
        step(window_clerk, parcel, target)
    assert problem.value.code == "shipment_state"
    assert stored() == before


# Audit ----------------------------------------------------------------------------------------


def test_every_registration_and_step_is_audited(window_clerk, reviewer, forwarded) -> None:
    parcel = post_originals(window_clerk, forwarded)
    step(window_clerk, parcel, "picked_up")
    step(reviewer, parcel, "delivered")
    entries = list(
        AuditEntry.objects.filter(target_type="delivery.shipment", target_id=str(parcel.pk))
        .order_by("pk")
        .values_list("action", "actor", "changes")
    )
    assert entries == [
        (
            "shipment.created",
            window_clerk.user.pk,
            {"case": forwarded.number, "purpose": "originals", "tracking": TRACKING},
        ),
        ("shipment.updated", window_clerk.user.pk, {"state": "picked_up"}),
        ("shipment.updated", reviewer.user.pk, {"state": "delivered"}),
    ]


def test_the_system_may_record_a_step(window_clerk, forwarded) -> None:
    """A carrier adapter polling the carrier records its steps as the node itself."""
    parcel = post_originals(window_clerk, forwarded)
    step(SYSTEM, parcel, "picked_up")
    parcel = step(SYSTEM, parcel, "delivered")
    assert parcel.state == "delivered"
    forwarded.refresh_from_db()
    assert forwarded.originals_received_on == timezone.localdate()
    assert chain_break(forwarded) is None


def test_errors_are_domain_errors() -> None:
    assert issubclass(Conflict, DomainError)


def test_item_fixture_is_the_notary(item: ServiceItem) -> None:
    assert item.name == "学历公证"
