"""Parcels of a case shared by two provinces' nodes (delivery/federation.py): every step recorded
on one node goes to the other as ``cn.tongban.shipment.recorded``, so the Chongqing window and
the Sichuan department follow the same parcel.

Both nodes live in this one test database, as in tests/cases/test_federation.py: this node is
Chongqing (500000), trusting a list signed by a hub running elsewhere; to play Sichuan (510000)
a test switches TONGBAN_NODE_CODE and hands the other node's events to the handlers as the inbox
would. A PROXY case received at a 渝中区 (500103) window for 成都市人社局 (510100) is forwarded:
Sichuan holds the deciding copy, Chongqing a mirror.

One database cannot hold both nodes' copies of a parcel under one uid (nor one tracking number
twice), so the relay between the two gives the receiving copy its own (``Relay.twin``); one
test removes the sender's copy instead, as if the two databases were apart, and checks that the
copy keeps the sender's uid."""

from __future__ import annotations

import copy
import datetime as dt
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone

from tests.cases.conftest import FORWARD, scan_identity
from tests.cases.conftest import form_for as cases_form_for
from tests.factories import PersonFactory, StaffFactory
from tests.federation_support import (  # chongqing: this node, for every test here
    CHONGQING,
    GUIZHOU,
    SICHUAN,
    URLS,
    RemoteHub,
    chongqing,  # noqa: F401
    incoming,
    node,
    remote_hub,
    sent,
)
from tongban.cases import federation as cases_federation
from tongban.cases import services as cases
from tongban.cases.models import Case, CaseEvent
from tongban.cases.selectors import chain_break
from tongban.catalog.models import MaterialSpec, ServiceItem
from tongban.catalog.selectors import version_current
from tongban.core.errors import Conflict, ValidationFailed
from tongban.delivery import federation, services
from tongban.delivery.models import Shipment, ShipmentEvent
from tongban.exchange import envelope, messaging
from tongban.exchange.models import InboxMessage, InboxState, OutboxMessage

pytestmark = pytest.mark.django_db

CHENGDU = "510100"  # 成都市人社局 decides
YUZHONG = "500103"  # the window that received the case
ITEM = "失业保险金申领"  # PROXY; implemented in Chongqing and in Chengdu
RESULT_TRACKING = "SF1234567890"
ORIGINALS_TRACKING = "EA123456789CN"


# The nodes (tests/federation_support.py) -------------------------------------------------------


@pytest.fixture
def hub(settings: Any, tmp_path: Path) -> RemoteHub:
    hub = remote_hub(settings, tmp_path)
    hub.publish(dict(URLS))
    return hub


def act(who: Any, case: Case, action: str, payload: dict[str, Any] | None = None) -> Case:
    return cases.case_act(actor=who.user, number=case.number, action=action, payload=payload)


def snapshot() -> tuple[Any, ...]:
    """Everything a refused step must leave as it was."""
    return (
        list(Shipment.objects.order_by("pk").values_list("pk", "uid", "state", "delivered_at")),
        ShipmentEvent.objects.count(),
        CaseEvent.objects.count(),
        list(Case.objects.order_by("pk").values_list("pk", "originals_received_on")),
        OutboxMessage.objects.count(),
    )


# The case and its two copies -------------------------------------------------------------------


@pytest.fixture
def item(db: None) -> ServiceItem:
    return ServiceItem.objects.get(version=version_current(), name=ITEM)


@pytest.fixture
def citizen(db: None) -> Any:
    return PersonFactory(with_login=True)


@pytest.fixture
def clerk(db: None) -> Any:
    """A 渝中区 window clerk (Chongqing)."""
    return StaffFactory(window_clerk=True, department_key="cq-big-data", jurisdiction_code=YUZHONG)


@pytest.fixture
def cd_reviewer(db: None) -> Any:
    return StaffFactory(reviewer=True, department_key="cd-hrss", jurisdiction_code=CHENGDU)


@pytest.fixture
def cd_approver(db: None) -> Any:
    return StaffFactory(approver=True, department_key="cd-hrss", jurisdiction_code=CHENGDU)


@dataclass
class Copies:
    """The mirror at Chongqing and Sichuan's deciding copy, with the relays between them."""

    settings: Any
    mirror: Case
    deciding: Case
    updates_relayed: int = 0
    steps_relayed: dict[str, int] = field(default_factory=lambda: {CHONGQING: 0, SICHUAN: 0})
    # A parcel's uid on one node → its uid on the other (both ways).
    twin: dict[str, str] = field(default_factory=dict)

    def refresh(self) -> None:
        self.mirror.refresh_from_db()
        self.deciding.refresh_from_db()

    def copy_of(self, code: str) -> Case:
        return self.mirror if code == CHONGQING else self.deciding

    def relay_updates(self) -> int:
        """Apply at Chongqing the case updates Sichuan sent since the last relay."""
        events = sent(cases_federation.UPDATED, subject=self.deciding.uid, to=CHONGQING)
        new = events[self.updates_relayed :]
        with node(self.settings, CHONGQING):
            for event in new:
                data = {**event["data"], "uid": str(self.mirror.uid)}
                with transaction.atomic():
                    cases_federation.on_updated(incoming(SICHUAN, event["type"], data))
        self.updates_relayed = len(events)
        self.refresh()
        return len(new)

    def recorded(self, source: str) -> list[dict[str, Any]]:
        """The shipment steps ``source`` sent the other node, as it sent them."""
        to = SICHUAN if source == CHONGQING else CHONGQING
        return sent(federation.RECORDED, subject=self.copy_of(source).uid, to=to)

    def translate(self, source: str, event: dict[str, Any]) -> dict[str, Any]:
        """What ``event`` (a step ``source`` sent) is at the other node: about its copy of the
        case, and (one database) its copy of the parcel."""
        target = SICHUAN if source == CHONGQING else CHONGQING
        data = copy.deepcopy(event["data"])
        data["uid"] = str(self.copy_of(target).uid)
        parcel = data["shipment"]
        uid = parcel["uid"]
        if uid not in self.twin:
            other = str(uuid.uuid4())
            self.twin[uid], self.twin[other] = other, uid
        parcel["uid"] = self.twin[uid]
        parcel["tracking_number"] = f"{parcel['tracking_number']}@{target}"
        return data

    def relay_steps(self, source: str) -> int:
        """Apply at the other node the steps ``source`` sent since the last relay."""
        target = SICHUAN if source == CHONGQING else CHONGQING
        events = self.recorded(source)
        new = events[self.steps_relayed[source] :]
        with node(self.settings, target):
            for event in new:
                data = self.translate(source, event)
                with transaction.atomic():  # as the inbox applies it
                    federation.on_recorded(incoming(source, event["type"], data))
        self.steps_relayed[source] = len(events)
        self.refresh()
        return len(new)

    def twin_of(self, shipment: Shipment) -> Shipment:
        return Shipment.objects.get(uid=self.twin[str(shipment.uid)])


def receive_and_forward(settings: Any, clerk: Any, citizen: Any, item: ServiceItem) -> Copies:
    """The window receives the case for Chengdu and forwards it; Sichuan creates its copy and
    its first update (its number) comes back to the mirror."""
    case = cases.case_submit(
        actor=clerk.user,
        item_code=item.code,
        scenario_key="general",
        authority_division=CHENGDU,
        form_data=cases_form_for(citizen),
        mode="PROXY",
        applicant_id_number=citizen.id_number,
    )
    scan_identity(clerk.user, case.number)
    act(clerk, case, "forward", FORWARD)
    case.refresh_from_db()
    assert case.authority_node == SICHUAN
    (event,) = sent(cases_federation.HANDED_OVER, subject=case.uid, to=SICHUAN)
    data = {**event["data"], "uid": str(uuid.uuid4())}
    with node(settings, SICHUAN), transaction.atomic():
        cases_federation.on_handed_over(incoming(CHONGQING, cases_federation.HANDED_OVER, data))
    pair = Copies(settings, case, Case.objects.get(uid=data["uid"]))
    pair.relay_updates()
    assert cases_federation.is_mirror(pair.mirror)
    assert not cases_federation.is_mirror(pair.deciding)
    assert pair.deciding.peers == [CHONGQING]
    return pair


@pytest.fixture
def copies(settings: Any, hub: RemoteHub, clerk: Any, citizen: Any, item: ServiceItem) -> Copies:
    return receive_and_forward(settings, clerk, citizen, item)


@pytest.fixture
def with_originals(
    settings: Any, hub: RemoteHub, clerk: Any, citizen: Any, item: ServiceItem
) -> Copies:
    """The same, where the ID card's original must be posted to the deciding department."""
    specs = MaterialSpec.objects.filter(scenario__item=item, scenario__key="general")
    assert specs.filter(key="identity").update(original_required=True) == 1
    pair = receive_and_forward(settings, clerk, citizen, item)
    forward = pair.deciding.events.get(action="forward")
    assert forward.payload["originals_to_post"] == ["identity"]
    assert cases.awaits_originals(pair.deciding)
    return pair


def decide_in_sichuan(pair: Copies, reviewer: Any, approver: Any) -> None:
    with node(pair.settings, SICHUAN):
        for who, action in (
            (reviewer, "accept"),
            (reviewer, "begin_review"),
            (approver, "approve"),
        ):
            act(who, pair.deciding, action)
    pair.relay_updates()
    assert (pair.deciding.state, pair.mirror.state) == ("approved", "approved")


def post_result(pair: Copies, reviewer: Any, tracking: str = RESULT_TRACKING) -> Shipment:
    with node(pair.settings, SICHUAN):
        return services.shipment_create(
            actor=reviewer.user,
            number=pair.deciding.number,
            purpose="result",
            carrier="sf",
            tracking_number=tracking,
        )


def record(pair: Copies, who: Any, shipment: Shipment, state: str, **kw: Any) -> Shipment:
    """A step of ``shipment`` entered by ``who`` at the node holding that copy of it."""
    at = SICHUAN if shipment.case_id == pair.deciding.pk else CHONGQING
    with node(pair.settings, at):
        return services.shipment_record(actor=who.user, shipment_id=shipment.pk, state=state, **kw)


@pytest.fixture
def result(copies: Copies, cd_reviewer: Any, cd_approver: Any) -> Shipment:
    """Sichuan's result parcel to the window, its "created" step relayed to the mirror."""
    decide_in_sichuan(copies, cd_reviewer, cd_approver)
    parcel = post_result(copies, cd_reviewer)
    assert copies.relay_steps(SICHUAN) == 1
    return parcel


def states(shipment: Shipment) -> list[tuple[str, str]]:
    return list(shipment.events.order_by("at", "pk").values_list("state", "recorded_elsewhere"))


# The deciding node posts the result ------------------------------------------------------------


def test_the_result_posted_by_the_deciding_node_is_told_to_the_mirror(
    copies, cd_reviewer, cd_approver
) -> None:
    decide_in_sichuan(copies, cd_reviewer, cd_approver)
    before = OutboxMessage.objects.filter(type=federation.RECORDED).count()
    assert before == 0

    parcel = post_result(copies, cd_reviewer)

    (event,) = sent(federation.RECORDED)
    assert (event["source"], event["recipient"], event["subject"]) == (
        SICHUAN,
        CHONGQING,
        str(copies.deciding.uid),
    )
    data = event["data"]
    assert data["uid"] == str(copies.deciding.uid)
    assert data["shipment"] == {
        "uid": str(parcel.uid),
        "purpose": "result",
        "carrier": "sf",
        "tracking_number": RESULT_TRACKING,
        "from": CHENGDU,
        "to": YUZHONG,
    }
    created = parcel.events.get()
    assert data["step"]["state"] == "created"
    assert data["step"]["by"] == f"{cd_reviewer.user.get_username()}@{SICHUAN}"
    assert dt.datetime.fromisoformat(data["step"]["at"]) == created.at
    assert data["step"]["note"] == ""
    # In the case's own stream, after the case's updates to the mirror.
    message = OutboxMessage.objects.get(type=federation.RECORDED)
    updates = OutboxMessage.objects.filter(
        type=cases_federation.UPDATED, subject=str(copies.deciding.uid), recipient=CHONGQING
    )
    assert message.sequence == updates.count() + 1


def test_applied_on_the_mirror_the_parcel_is_created_with_the_same_uid(
    copies, cd_reviewer, cd_approver
) -> None:
    decide_in_sichuan(copies, cd_reviewer, cd_approver)
    parcel = post_result(copies, cd_reviewer)
    (event,) = sent(federation.RECORDED)
    created_at = parcel.events.get().at
    # The two databases are apart: Sichuan's copy of the parcel is not in Chongqing's.
    parcel.delete()
    outbox_before = OutboxMessage.objects.count()

    data = {**event["data"], "uid": str(copies.mirror.uid)}
    with transaction.atomic():
        federation.on_recorded(incoming(SICHUAN, federation.RECORDED, data))

    copy_ = Shipment.objects.get()
    assert copy_.uid == parcel.uid
    assert copy_.case == copies.mirror
    assert (copy_.purpose, copy_.carrier, copy_.tracking_number) == (
        "result",
        "sf",
        RESULT_TRACKING,
    )
    assert (copy_.from_division_id, copy_.to_division_id) == (CHENGDU, YUZHONG)
    assert (copy_.state, copy_.delivered_at, copy_.created_by) == ("created", None, None)
    step = copy_.events.get()
    assert step.state == "created"
    assert step.at == created_at
    assert step.recorded_by is None
    assert step.recorded_elsewhere.endswith(f"@{SICHUAN}")
    assert step.recorded_elsewhere == f"{cd_reviewer.user.get_username()}@{SICHUAN}"
    # A mirror passes nothing on.
    assert OutboxMessage.objects.count() == outbox_before


def test_a_step_is_recorded_once_per_node_through_the_inbox(
    copies, hub, cd_reviewer, cd_approver
) -> None:
    """Sichuan's signed step, received by Chongqing's inbox: applied by the registered
    handler."""
    assert messaging._handlers[federation.RECORDED] is federation.on_recorded
    decide_in_sichuan(copies, cd_reviewer, cd_approver)
    post_result(copies, cd_reviewer)
    (event,) = sent(federation.RECORDED)
    data = copies.translate(SICHUAN, event)
    token = envelope.seal(
        envelope.make_event(
            source=SICHUAN,
            recipient=CHONGQING,
            type=federation.RECORDED,
            subject=str(copies.mirror.uid),
            sequence=1,
            data=data,
            time=timezone.now(),
        ),
        hub.pairs[SICHUAN],
    )
    message, new = messaging.inbox_receive(token=token)
    assert new
    message.refresh_from_db()
    assert message.state == InboxState.APPLIED, message.error
    copy_ = Shipment.objects.get(uid=data["shipment"]["uid"])
    assert copy_.case == copies.mirror
    messaging.inbox_receive(token=token)  # again: nothing more
    assert copy_.events.count() == 1


# Steps recorded on the mirror go back -------------------------------------------------------------


def test_a_step_recorded_on_the_mirror_moves_the_deciding_nodes_parcel(
    copies, result, clerk
) -> None:
    mirrored = copies.twin_of(result)
    assert mirrored.case == copies.mirror
    assert states(mirrored) == [("created", f"{copies_user(result)}@{SICHUAN}")]

    record(copies, clerk, mirrored, "picked_up", note="营业厅揽收")
    record(copies, clerk, mirrored, "delivered", note="窗口签收")
    mirrored.refresh_from_db()
    assert mirrored.state == "delivered"

    steps = copies.recorded(CHONGQING)
    assert [e["data"]["step"]["state"] for e in steps] == ["picked_up", "delivered"]
    assert {e["data"]["shipment"]["uid"] for e in steps} == {str(mirrored.uid)}
    by = f"{clerk.user.get_username()}@{CHONGQING}"
    assert {e["data"]["step"]["by"] for e in steps} == {by}
    assert copies.relay_steps(CHONGQING) == 2

    result.refresh_from_db()
    assert result.state == "delivered"
    assert result.delivered_at == mirrored.delivered_at
    assert list(result.events.order_by("at", "pk").values_list("state", "note")) == [
        ("created", ""),
        ("picked_up", "营业厅揽收"),
        ("delivered", "窗口签收"),
    ]
    assert states(result)[1:] == [("picked_up", by), ("delivered", by)]
    # The deciding node tells no one else (the mirror it came from already knows).
    assert copies.recorded(SICHUAN)[1:] == []


def copies_user(shipment: Shipment) -> str:
    return shipment.events.get(state="created").recorded_by.get_username()


def test_a_step_arriving_after_a_later_one_is_kept_but_the_state_stays(
    copies, result, clerk, cd_reviewer
) -> None:
    mirrored = copies.twin_of(result)
    record(copies, clerk, mirrored, "picked_up")
    copies.relay_steps(CHONGQING)
    result.refresh_from_db()
    assert result.state == "picked_up"

    # Each node records its own next step before hearing of the other's.
    record(copies, cd_reviewer, result, "in_transit", note="到达重庆转运中心")
    record(copies, clerk, mirrored, "delivered", note="窗口签收")
    copies.relay_steps(SICHUAN)  # "in_transit" reaches a mirror already delivered
    copies.relay_steps(CHONGQING)  # "delivered" reaches Sichuan in transit

    mirrored.refresh_from_db()
    result.refresh_from_db()
    assert mirrored.state == "delivered"
    delivered_at = mirrored.events.get(state="delivered").at
    assert mirrored.delivered_at == delivered_at
    history = list(mirrored.events.order_by("at", "pk").values_list("state", "recorded_elsewhere"))
    assert [state for state, _by in history] == ["created", "picked_up", "in_transit", "delivered"]
    assert dict(history)["in_transit"] == f"{cd_reviewer.user.get_username()}@{SICHUAN}"
    assert result.state == "delivered"
    assert result.delivered_at == delivered_at
    assert sorted(result.events.values_list("state", flat=True)) == sorted(
        ["created", "picked_up", "in_transit", "delivered"]
    )

    # A step after "delivered" arriving at Sichuan (the mirror's clerk mis-read the slip).
    late = copies.recorded(CHONGQING)[-1]
    moved = copy.deepcopy(late)
    moved["data"]["step"]["state"] = "in_transit"
    with node(copies.settings, SICHUAN), transaction.atomic():
        federation.on_recorded(
            incoming(CHONGQING, federation.RECORDED, copies.translate(CHONGQING, moved))
        )
    result.refresh_from_db()
    assert result.state == "delivered"
    assert result.delivered_at == delivered_at
    assert result.events.filter(state="in_transit").count() == 2


def test_the_deciding_node_passes_a_mirrors_step_to_the_other_mirrors(
    copies, result, clerk
) -> None:
    Case.objects.filter(pk=copies.deciding.pk).update(peers=[CHONGQING, GUIZHOU])
    mirrored = copies.twin_of(result)
    record(copies, clerk, mirrored, "picked_up")
    copies.relay_steps(CHONGQING)
    to_guizhou = sent(federation.RECORDED, to=GUIZHOU)
    assert len(to_guizhou) == 1
    (event,) = to_guizhou
    assert event["source"] == SICHUAN
    assert event["data"]["uid"] == str(copies.deciding.uid)
    assert event["data"]["shipment"]["uid"] == str(result.uid)
    assert event["data"]["step"]["state"] == "picked_up"
    # Who recorded it, where: the Chongqing clerk, not Sichuan.
    assert event["data"]["step"]["by"] == f"{clerk.user.get_username()}@{CHONGQING}"
    # Nothing goes back to the node it came from.
    assert len(copies.recorded(SICHUAN)) == 1  # only "created"


# Originals, posted by the window to the deciding department ---------------------------------------


def test_originals_delivered_as_recorded_on_the_mirror_arrive_at_the_deciding_node(
    with_originals, clerk, cd_reviewer, spy_originals
) -> None:
    pair = with_originals
    with node(pair.settings, SICHUAN), pytest.raises(Conflict) as waiting:
        act(cd_reviewer, pair.deciding, "accept")
    assert waiting.value.code == "awaiting_originals"

    parcel = services.shipment_create(
        actor=clerk.user,
        number=pair.mirror.number,
        purpose="originals",
        carrier="ems",
        tracking_number=ORIGINALS_TRACKING,
    )
    assert (parcel.from_division_id, parcel.to_division_id) == (YUZHONG, CHENGDU)
    record(pair, clerk, parcel, "picked_up")
    record(pair, clerk, parcel, "delivered", note="人社局收发室签收")
    # On the mirror nothing is recorded about the case: the deciding node does that.
    pair.refresh()
    assert pair.mirror.originals_received_on is None
    assert not pair.mirror.events.filter(action="originals_received").exists()
    assert spy_originals == []
    steps = pair.recorded(CHONGQING)
    assert [e["data"]["step"]["state"] for e in steps] == ["created", "picked_up", "delivered"]
    assert {e["data"]["shipment"]["purpose"] for e in steps} == {"originals"}

    assert pair.relay_steps(CHONGQING) == 3

    arrived = pair.twin_of(parcel)
    assert arrived.case == pair.deciding
    assert (arrived.purpose, arrived.state) == ("originals", "delivered")
    delivered = parcel.events.get(state="delivered").at
    assert arrived.delivered_at == delivered
    on = timezone.localtime(delivered).date()
    assert pair.deciding.originals_received_on == on
    assert len(spy_originals) == 1
    link = pair.deciding.events.order_by("-seq").first()
    assert link.action == "originals_received"
    assert link.payload == {"on": on.isoformat()}
    assert (link.from_state, link.to_state) == ("submitted", "submitted")
    assert chain_break(pair.deciding) is None
    assert not cases.awaits_originals(pair.deciding)
    with node(pair.settings, SICHUAN):
        accepted = act(cd_reviewer, pair.deciding, "accept")
    assert accepted.state == "accepted"

    # The mirror learns the arrival from the deciding node's update.
    pair.relay_updates()
    assert pair.mirror.originals_received_on == on
    assert pair.mirror.events.filter(action="originals_received").count() == 1
    assert pair.mirror.state == "accepted"
    assert chain_break(pair.mirror) is None


@pytest.fixture
def spy_originals(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every call of cases.services.case_originals_received (wherever it is called from)."""
    calls: list[dict[str, Any]] = []
    real = cases.case_originals_received

    def spy(**kwargs: Any) -> Case:
        calls.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(cases, "case_originals_received", spy)
    monkeypatch.setattr(services, "case_originals_received", spy)
    return calls


def test_on_a_mirror_delivered_originals_do_not_record_the_arrival_locally(
    copies, clerk, spy_originals
) -> None:
    parcel = services.shipment_create(
        actor=clerk.user,
        number=copies.mirror.number,
        purpose="originals",
        carrier="ems",
        tracking_number=ORIGINALS_TRACKING,
    )
    record(copies, clerk, parcel, "picked_up")
    record(copies, clerk, parcel, "delivered")
    parcel.refresh_from_db()
    assert parcel.state == "delivered"
    copies.refresh()
    assert spy_originals == []
    assert copies.mirror.originals_received_on is None
    assert not copies.mirror.events.filter(action="originals_received").exists()
    assert chain_break(copies.mirror) is None


def test_originals_delivered_as_recorded_at_the_deciding_node_reach_the_mirror_as_a_step(
    with_originals, clerk, cd_reviewer, spy_originals
) -> None:
    """The department enters the arrival itself: recorded there, and on the mirror only as the
    parcel's step (the case's arrival comes with the deciding node's update)."""
    pair = with_originals
    parcel = services.shipment_create(
        actor=clerk.user,
        number=pair.mirror.number,
        purpose="originals",
        carrier="ems",
        tracking_number=ORIGINALS_TRACKING,
    )
    record(pair, clerk, parcel, "picked_up")
    pair.relay_steps(CHONGQING)
    arrived = pair.twin_of(parcel)
    record(pair, cd_reviewer, arrived, "delivered", note="收发室签收")
    pair.refresh()
    on = timezone.localtime(arrived.events.get(state="delivered").at).date()
    assert pair.deciding.originals_received_on == on
    assert len(spy_originals) == 1

    assert pair.relay_steps(SICHUAN) == 1
    parcel.refresh_from_db()
    assert parcel.state == "delivered"
    assert parcel.events.get(state="delivered").recorded_elsewhere.endswith(f"@{SICHUAN}")
    assert len(spy_originals) == 1  # not again on the mirror
    assert pair.mirror.originals_received_on is None
    assert not pair.mirror.events.filter(action="originals_received").exists()
    pair.relay_updates()
    assert pair.mirror.originals_received_on == on
    assert chain_break(pair.mirror) is None


def test_a_delivered_result_does_not_record_originals(copies, result, clerk) -> None:
    mirrored = copies.twin_of(result)
    record(copies, clerk, mirrored, "picked_up")
    record(copies, clerk, mirrored, "delivered")
    copies.relay_steps(CHONGQING)
    copies.refresh()
    assert copies.deciding.originals_received_on is None
    assert not copies.deciding.events.filter(action="originals_received").exists()


# Steps that are refused ---------------------------------------------------------------------------


def _first_step(pair: Copies, reviewer: Any, approver: Any) -> dict[str, Any]:
    decide_in_sichuan(pair, reviewer, approver)
    post_result(pair, reviewer)
    (event,) = sent(federation.RECORDED)
    return event


def test_a_step_from_a_node_holding_no_copy_is_refused(
    copies, cd_reviewer, cd_approver, settings
) -> None:
    event = _first_step(copies, cd_reviewer, cd_approver)
    before = snapshot()
    # Guizhou tells Sichuan about Sichuan's own case: Guizhou holds no copy of it.
    data = {**copies.translate(SICHUAN, event), "uid": str(copies.deciding.uid)}
    with node(settings, SICHUAN), pytest.raises(cases_federation.CaseNotHere):
        federation.on_recorded(incoming(GUIZHOU, federation.RECORDED, data))
    # Chongqing tells its own mirror: only the deciding node is believed there.
    data = copies.translate(SICHUAN, event)
    with pytest.raises(cases_federation.CaseNotHere):
        federation.on_recorded(incoming(CHONGQING, federation.RECORDED, data))
    # A case this node does not hold at all.
    stranger = {**data, "uid": str(uuid.uuid4())}
    with pytest.raises(cases_federation.CaseNotHere):
        federation.on_recorded(incoming(SICHUAN, federation.RECORDED, stranger))
    assert snapshot() == before


def test_a_step_from_a_node_holding_no_copy_is_rejected_by_the_inbox(
    copies, hub, cd_reviewer, cd_approver, settings
) -> None:
    event = _first_step(copies, cd_reviewer, cd_approver)
    data = {**copies.translate(SICHUAN, event), "uid": str(copies.deciding.uid)}
    token = envelope.seal(
        envelope.make_event(
            source=GUIZHOU,
            recipient=SICHUAN,
            type=federation.RECORDED,
            subject=str(copies.deciding.uid),
            sequence=1,
            data=data,
            time=timezone.now(),
        ),
        hub.pairs[GUIZHOU],
    )
    shipments_before = (Shipment.objects.count(), ShipmentEvent.objects.count())
    with node(settings, SICHUAN):
        message, _new = messaging.inbox_receive(token=token)
    message.refresh_from_db()
    assert message.state == InboxState.REJECTED
    assert message.error.startswith("case_not_here")
    assert (Shipment.objects.count(), ShipmentEvent.objects.count()) == shipments_before
    (told,) = OutboxMessage.objects.filter(type=messaging.REJECTED)
    assert told.recipient == GUIZHOU
    assert InboxMessage.objects.count() == 1


def _set(path: str, value: Any) -> Any:
    def change(data: dict[str, Any]) -> None:
        part, name = path.split(".")
        data[part][name] = value

    return change


@pytest.mark.parametrize(
    "change",
    [
        _set("step.state", "teleported"),
        _set("step.state", None),
        _set("shipment.purpose", "gift"),
        _set("shipment.uid", "not-a-uuid"),
        _set("shipment.uid", None),
        _set("step.at", "yesterday"),
        _set("step.at", None),
        _set("shipment.from", "999999"),
        _set("shipment.to", "990000"),
        _set("shipment.to", ""),
    ],
    ids=[
        "unknown-state",
        "no-state",
        "unknown-purpose",
        "malformed-uid",
        "no-uid",
        "malformed-time",
        "no-time",
        "unknown-from",
        "unknown-to",
        "no-to",
    ],
)
def test_a_malformed_step_is_refused_and_nothing_is_written(
    copies, cd_reviewer, cd_approver, change
) -> None:
    event = _first_step(copies, cd_reviewer, cd_approver)
    data = copies.translate(SICHUAN, event)
    change(data)
    before = snapshot()
    with pytest.raises(ValidationFailed), transaction.atomic():
        federation.on_recorded(incoming(SICHUAN, federation.RECORDED, data))
    assert snapshot() == before
    # The same step, well-formed, is taken.
    federation.on_recorded(incoming(SICHUAN, federation.RECORDED, copies.translate(SICHUAN, event)))
    assert Shipment.objects.filter(case=copies.mirror).count() == 1


def test_a_step_naming_a_parcel_of_another_case_is_refused(
    copies, result, clerk, citizen, item
) -> None:
    """A parcel uid known here, but of another case: never moved through this case."""
    mirrored = copies.twin_of(result)
    other = cases.case_submit(
        actor=clerk.user,
        item_code=item.code,
        scenario_key="general",
        authority_division=CHONGQING,
        form_data=cases_form_for(citizen),
        mode="PROXY",
        applicant_id_number=citizen.id_number,
    )
    assert other.pk != copies.mirror.pk
    (event,) = copies.recorded(SICHUAN)
    data = copies.translate(SICHUAN, event)
    data["step"]["state"] = "lost"
    Shipment.objects.filter(pk=mirrored.pk).update(case=other)
    before = snapshot()
    with pytest.raises(ValidationFailed), transaction.atomic():
        federation.on_recorded(incoming(SICHUAN, federation.RECORDED, data))
    assert snapshot() == before


@pytest.mark.parametrize("part", ["shipment", "step"])
def test_a_step_whose_parts_are_not_objects_is_refused(
    copies, cd_reviewer, cd_approver, part
) -> None:
    event = _first_step(copies, cd_reviewer, cd_approver)
    data = copies.translate(SICHUAN, event)
    data[part] = ["not", "an", "object"]
    before = snapshot()
    with pytest.raises(ValidationFailed), transaction.atomic():
        federation.on_recorded(incoming(SICHUAN, federation.RECORDED, data))
    assert snapshot() == before


def test_a_step_whose_parcel_is_not_an_object_does_not_hold_back_the_case(
    copies, hub, cd_reviewer, cd_approver
) -> None:
    event = _first_step(copies, cd_reviewer, cd_approver)
    good = copies.translate(SICHUAN, event)
    bad = {**copy.deepcopy(good), "shipment": ["not", "an", "object"]}

    def signed(sequence: int, data: dict[str, Any]) -> str:
        made = envelope.make_event(
            source=SICHUAN,
            recipient=CHONGQING,
            type=federation.RECORDED,
            subject=str(copies.mirror.uid),
            sequence=sequence,
            data=data,
            time=timezone.now(),
        )
        return envelope.seal(made, hub.pairs[SICHUAN])

    messaging.inbox_receive(token=signed(1, bad))
    messaging.inbox_receive(token=signed(2, good))
    states = dict(InboxMessage.objects.values_list("sequence", "state"))
    assert states == {1: InboxState.REJECTED, 2: InboxState.APPLIED}
    assert Shipment.objects.filter(case=copies.mirror).count() == 1


def test_a_tracking_number_already_used_here_does_not_hold_back_the_case(
    copies, hub, clerk, citizen, item, cd_reviewer, cd_approver
) -> None:
    # A parcel of a Chongqing case of its own, registered with the same number by mistake.
    own = cases.case_submit(
        actor=clerk.user,
        item_code=item.code,
        scenario_key="general",
        authority_division=CHONGQING,
        form_data=cases_form_for(citizen),
        mode="PROXY",
        applicant_id_number=citizen.id_number,
    )
    event = _first_step(copies, cd_reviewer, cd_approver)
    clash = copies.translate(SICHUAN, event)
    Shipment.objects.create(
        case=own,
        purpose="originals",
        carrier="sf",
        tracking_number=clash["shipment"]["tracking_number"],
        from_division_id=YUZHONG,
        to_division_id=CHONGQING,
    )
    later = copy.deepcopy(clash)
    later["shipment"]["uid"] = str(uuid.uuid4())
    later["shipment"]["tracking_number"] = "SF9999999999"

    def signed(sequence: int, data: dict[str, Any]) -> str:
        made = envelope.make_event(
            source=SICHUAN,
            recipient=CHONGQING,
            type=federation.RECORDED,
            subject=str(copies.mirror.uid),
            sequence=sequence,
            data=data,
            time=timezone.now(),
        )
        return envelope.seal(made, hub.pairs[SICHUAN])

    messaging.inbox_receive(token=signed(1, clash))
    messaging.inbox_receive(token=signed(2, later))
    states = dict(InboxMessage.objects.values_list("sequence", "state"))
    assert states[1] != InboxState.FAILED
    assert states[2] == InboxState.APPLIED
