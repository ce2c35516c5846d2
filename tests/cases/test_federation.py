"""One case, two provinces (cases/federation.py): a Chongqing node keeps a mirror of a case that
Sichuan decides, and the two copies keep in step through the events of the exchange.

Both nodes live in this one test database. This node is Chongqing (500000), federated (a hub
is configured) and trusting a list signed by a hub running elsewhere. To play Sichuan, a test
takes an event from the outbox, gives it the uid of Sichuan's copy (a fresh one for a
handover, so the copy does not collide with the mirror), switches TONGBAN_NODE_CODE to 510000
and calls the handler as the inbox would."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.utils import timezone

from tests.cases.conftest import FORWARD, PDF, form_for, scan_identity
from tests.factories import PersonFactory, StaffFactory, make_id_number
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
from tongban.accounts.models import Person
from tongban.cases import federation, services
from tongban.cases.models import Case, CaseEvent, Material
from tongban.cases.personal import reveal
from tongban.cases.selectors import chain_break
from tongban.catalog.models import ServiceItem
from tongban.catalog.selectors import version_current
from tongban.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from tongban.exchange import blobs, envelope, keys, messaging
from tongban.exchange.models import OutboxMessage

pytestmark = pytest.mark.django_db

CHENGDU = "510100"  # where Sichuan's deciding department (成都市人社局) sits
ITEM = "失业保险金申领"  # ONLINE and PROXY; implemented in Chongqing and in Chengdu


# This node, its trust list, and the other node -----------------------------------------------


@pytest.fixture
def hub(settings: Any, tmp_path: Path) -> RemoteHub:
    return remote_hub(settings, tmp_path)


@pytest.fixture
def trusted(hub: RemoteHub) -> RemoteHub:
    """The list in force names Chongqing and Sichuan."""
    hub.publish({CHONGQING: URLS[CHONGQING], SICHUAN: URLS[SICHUAN]})
    return hub


def snapshot() -> tuple[int, int, int, int, int]:
    """How many cases, links, materials, people and outgoing messages there are."""
    return (
        Case.objects.count(),
        CaseEvent.objects.count(),
        Material.objects.count(),
        Person.objects.count(),
        OutboxMessage.objects.count(),
    )


# Cases ------------------------------------------------------------------------------------------


@pytest.fixture
def item() -> ServiceItem:
    return ServiceItem.objects.get(version=version_current(), name=ITEM)


@pytest.fixture
def citizen() -> Any:
    """A Chongqing resident with a login on the Chongqing portal."""
    return PersonFactory(with_login=True)


@pytest.fixture
def cd_reviewer() -> Any:
    return StaffFactory(reviewer=True, department_key="cd-hrss", jurisdiction_code=CHENGDU)


@pytest.fixture
def cd_approver() -> Any:
    return StaffFactory(approver=True, department_key="cd-hrss", jurisdiction_code=CHENGDU)


def submit_to_chengdu(citizen: Any, item: ServiceItem) -> Case:
    return services.case_submit(
        actor=citizen.user,
        item_code=item.code,
        scenario_key="general",
        authority_division=CHENGDU,
        form_data=form_for(citizen),
    )


def receive_at_window(citizen: Any, item: ServiceItem) -> tuple[Any, Case]:
    """A Yuzhong (500103) window clerk receives a PROXY case for Chengdu."""
    clerk = StaffFactory(
        window_clerk=True, department_key="cq-big-data", jurisdiction_code="500103"
    )
    case = services.case_submit(
        actor=clerk.user,
        item_code=item.code,
        scenario_key="general",
        authority_division=CHENGDU,
        form_data=form_for(citizen),
        mode="PROXY",
        applicant_id_number=citizen.id_number,
    )
    return clerk, case


def act(who: Any, case: Case, action: str, payload: dict[str, Any] | None = None) -> Case:
    return services.case_act(actor=who.user, number=case.number, action=action, payload=payload)


def upload(who: Any, case: Case, content: bytes = PDF) -> Material:
    return services.material_upload(
        actor=who.user,
        number=case.number,
        spec_key="identity",
        upload=SimpleUploadedFile("id-card.pdf", content, content_type="application/pdf"),
    )


def received_in_sichuan(settings: Any, mirror: Case) -> Case:
    """Sichuan receives the handover of ``mirror`` and creates its (deciding) copy."""
    (event,) = sent(federation.HANDED_OVER, subject=mirror.uid, to=SICHUAN)
    data = {**event["data"], "uid": str(uuid.uuid4())}
    with node(settings, SICHUAN), transaction.atomic():
        federation.on_handed_over(incoming(CHONGQING, federation.HANDED_OVER, data))
    return Case.objects.get(uid=data["uid"])


@dataclass
class TwoCopies:
    """The mirror at Chongqing and Sichuan's deciding copy of one case, with the events
    between them relayed in order (each once), as the two inboxes would apply them."""

    settings: Any
    mirror: Case
    deciding: Case
    updates_relayed: int = 0
    requests_relayed: int = 0

    def relay_updates(self) -> int:
        """Apply at Chongqing the UPDATED events Sichuan sent since the last relay."""
        events = sent(federation.UPDATED, subject=self.deciding.uid, to=CHONGQING)
        new = events[self.updates_relayed :]
        with node(self.settings, CHONGQING):
            for event in new:
                data = {**event["data"], "uid": str(self.mirror.uid)}
                with transaction.atomic():  # as the inbox applies it
                    federation.on_updated(incoming(SICHUAN, event["type"], data))
        self.updates_relayed = len(events)
        self.refresh()
        return len(new)

    def relay_requests(self) -> int:
        """Apply at Sichuan what Chongqing sent since the last relay (requested actions and
        files handed in)."""
        handlers: dict[str, Callable[[dict[str, Any]], None]] = {
            federation.ACTION_REQUESTED: federation.on_action_requested,
            federation.MATERIAL_ADDED: federation.on_material_added,
        }
        rows = OutboxMessage.objects.filter(
            subject=str(self.mirror.uid), recipient=SICHUAN, type__in=list(handlers)
        ).order_by("id")
        events = [json.loads(keys.unverified_payload(row.token)) for row in rows]
        new = events[self.requests_relayed :]
        with node(self.settings, SICHUAN):
            for event in new:
                data = {**event["data"], "uid": str(self.deciding.uid)}
                with transaction.atomic():  # as the inbox applies it
                    handlers[event["type"]](incoming(CHONGQING, event["type"], data))
        self.requests_relayed = len(events)
        self.refresh()
        return len(new)

    def refresh(self) -> None:
        self.mirror.refresh_from_db()
        self.deciding.refresh_from_db()


@pytest.fixture
def copies(settings: Any, trusted: RemoteHub, citizen: Any, item: ServiceItem) -> TwoCopies:
    """A case filed on the Chongqing portal for Chengdu, received in Sichuan, and the first
    update (Sichuan's number) back in Chongqing."""
    mirror = submit_to_chengdu(citizen, item)
    pair = TwoCopies(settings, mirror, received_in_sichuan(settings, mirror))
    pair.relay_updates()
    return pair


def actions(case: Case) -> list[str]:
    return list(case.events.order_by("seq").values_list("action", flat=True))


# Submitting -------------------------------------------------------------------------------------


def test_an_online_case_for_another_province_is_handed_over_and_kept_as_a_mirror(
    trusted, citizen, item
) -> None:
    mirror = submit_to_chengdu(citizen, item)

    mirror.refresh_from_db()
    assert mirror.authority_node == SICHUAN
    assert federation.is_mirror(mirror)
    assert mirror.receiving_division_id == CHONGQING
    assert mirror.state == "submitted"
    assert OutboxMessage.objects.count() == 1
    (event,) = sent(federation.HANDED_OVER)
    # Sealed with this node's key, as the trust list vouches for it.
    token = OutboxMessage.objects.get().token
    assert envelope.open_sealed(token, messaging.resolve_key) == event
    assert (event["source"], event["recipient"], event["subject"]) == (
        CHONGQING,
        SICHUAN,
        str(mirror.uid),
    )
    data = event["data"]
    assert data["uid"] == str(mirror.uid)
    assert data["number"] == mirror.number
    assert data["query_code"] == mirror.query_code
    assert (data["item"], data["scenario"], data["mode"]) == (item.code, "general", "ONLINE")
    assert (data["authority_node"], data["receiving_node"]) == (SICHUAN, CHONGQING)
    assert data["authority_division"] == CHENGDU
    assert data["authority_department"] == "cd-hrss"
    # Personal values travel in clear inside the signed event …
    assert data["applicant"] == {
        "name": citizen.name,
        "id_number": citizen.id_number,
        "phone": citizen.phone,
    }
    assert data["form_data"] == form_for(citizen)
    assert [link["action"] for link in data["history"]] == ["submit"]
    assert data["history"][0]["actor"] == f"{citizen.user.get_username()}@{CHONGQING}"
    # … and are stored encrypted here.
    stored = mirror.form_data
    assert citizen.id_number not in json.dumps(stored)
    assert citizen.phone not in json.dumps(stored)
    assert set(stored["id_number"]) == {"x-encrypted"}
    assert set(stored["phone"]) == {"x-encrypted"}
    assert reveal(mirror.scenario.form_schema, stored, masked=False) == form_for(citizen)


def test_on_its_own_a_node_decides_every_case_itself(settings, citizen, item) -> None:
    settings.TONGBAN_HUB_URL = ""
    case = submit_to_chengdu(citizen, item)
    case.refresh_from_db()
    assert case.authority_node == ""
    assert not federation.is_mirror(case)
    assert case.authority_division_id == CHENGDU
    assert OutboxMessage.objects.count() == 0


def test_a_case_for_a_province_in_this_node_is_not_handed_over(trusted, citizen, item) -> None:
    case = services.case_submit(
        actor=citizen.user,
        item_code=item.code,
        scenario_key="general",
        authority_division=CHONGQING,
        form_data=form_for(citizen),
    )
    assert case.authority_node == ""
    assert OutboxMessage.objects.count() == 0


@pytest.mark.parametrize(
    "listed",
    [
        None,  # no trust list at all
        {CHONGQING: URLS[CHONGQING], GUIZHOU: URLS[GUIZHOU]},  # Sichuan is not on it
    ],
    ids=["no-list", "not-listed"],
)
def test_a_case_for_an_unreachable_node_is_refused_and_nothing_is_written(
    hub, citizen, item, listed
) -> None:
    if listed is not None:
        hub.publish(listed)
    before = snapshot()
    with pytest.raises(ValidationFailed) as refused:
        submit_to_chengdu(citizen, item)
    assert set(refused.value.fields) == {"authority_division"}
    assert SICHUAN in str(refused.value.fields["authority_division"])
    assert snapshot() == before
    assert not Case.objects.exists()


def test_a_case_is_not_handed_over_under_an_expired_trust_list(hub, citizen, item) -> None:
    hub.publish({CHONGQING: URLS[CHONGQING], SICHUAN: URLS[SICHUAN]})
    later = time_machine.travel(timezone.now() + dt.timedelta(days=8), tick=False)
    with later, pytest.raises(ValidationFailed) as refused:
        submit_to_chengdu(citizen, item)
    assert set(refused.value.fields) == {"authority_division"}
    assert not Case.objects.exists()
    assert not OutboxMessage.objects.exists()


def test_check_reachable_names_the_field_it_is_told(hub) -> None:
    hub.publish({CHONGQING: URLS[CHONGQING], SICHUAN: URLS[SICHUAN]})
    federation.check_reachable(SICHUAN, field="origin_division")  # listed: no error
    with pytest.raises(ValidationFailed) as refused:
        federation.check_reachable(GUIZHOU, field="origin_division")
    assert set(refused.value.fields) == {"origin_division"}


def test_a_forwarded_proxy_case_is_handed_over_with_its_files_as_handles(
    settings, trusted, citizen, item
) -> None:
    clerk, case = receive_at_window(citizen, item)
    # Received at the window: still this node's own case until it is forwarded.
    assert case.authority_node == ""
    assert OutboxMessage.objects.count() == 0
    scan_identity(clerk.user, case.number)
    act(clerk, case, "forward", FORWARD)

    case.refresh_from_db()
    assert case.authority_node == SICHUAN
    assert case.state == "submitted"
    (event,) = sent(federation.HANDED_OVER, subject=case.uid, to=SICHUAN)
    data = event["data"]
    assert [link["action"] for link in data["history"]] == ["submit", "attach", "forward"]
    assert data["history"][-1]["actor"] == f"{clerk.user.get_username()}@{CHONGQING}"
    (row,) = data["materials"]
    material = case.materials.get()
    assert row["ref"] == material.ref != ""
    assert (row["sha256"], row["size"]) == (hashlib.sha256(PDF).hexdigest(), len(PDF))
    assert row["node"] == CHONGQING
    assert data["receiving_division"] == "500103"

    # Sichuan's copy knows the file only by its handle, to be fetched from Chongqing.
    deciding = received_in_sichuan(settings, case)
    copied = deciding.materials.get()
    assert (copied.ref, copied.remote_node, copied.transfer, copied.path) == (
        material.ref,
        CHONGQING,
        "pending",
        "",
    )
    assert deciding.receiving_division_id == "500103"
    assert actions(deciding) == ["submit", "attach", "forward", "handover_received"]


def test_a_proxy_case_is_not_forwarded_to_an_unreachable_node(hub, citizen, item) -> None:
    hub.publish({CHONGQING: URLS[CHONGQING]})
    clerk, case = receive_at_window(citizen, item)
    scan_identity(clerk.user, case.number)
    before = snapshot()
    with pytest.raises(ValidationFailed) as refused:
        act(clerk, case, "forward", FORWARD)
    assert set(refused.value.fields) == {"authority_division"}
    case.refresh_from_db()
    assert (case.state, case.authority_node) == ("received", "")
    assert snapshot() == before


# Receiving a handover ---------------------------------------------------------------------------


def test_the_deciding_node_creates_the_authoritative_copy(settings, trusted, citizen, item) -> None:
    mirror = submit_to_chengdu(citizen, item)
    deciding = received_in_sichuan(settings, mirror)

    assert deciding.uid != mirror.uid
    assert deciding.number != mirror.number
    assert deciding.remote_number == mirror.number
    assert deciding.query_code == mirror.query_code
    assert (deciding.authority_node, deciding.receiving_node) == ("", CHONGQING)
    assert deciding.peers == [CHONGQING]
    assert not federation.is_mirror(deciding)
    assert deciding.state == "submitted"
    assert deciding.authority_division_id == CHENGDU
    assert deciding.authority_department.key == "cd-hrss"
    assert deciding.applicant_person == citizen
    assert set(deciding.form_data["id_number"]) == {"x-encrypted"}
    assert reveal(deciding.scenario.form_schema, deciding.form_data, masked=False) == form_for(
        citizen
    )
    links = list(deciding.events.order_by("seq"))
    assert [link.action for link in links] == ["submit", "handover_received"]
    submit = links[0]
    assert submit.actor_label == f"{citizen.user.get_username()}@{CHONGQING}"
    assert submit.actor is None
    assert (submit.role, submit.from_state, submit.to_state) == ("applicant", "", "submitted")
    received = links[-1]
    assert received.payload == {"from_node": CHONGQING, "number": deciding.number}
    assert (received.from_state, received.to_state) == ("submitted", "submitted")
    assert chain_break(deciding) is None
    # The receiving node learns Sichuan's number from the link that says so.
    (update,) = sent(federation.UPDATED)
    assert (update["source"], update["recipient"], update["subject"]) == (
        SICHUAN,
        CHONGQING,
        str(deciding.uid),
    )
    assert update["data"]["link"]["action"] == "handover_received"
    assert update["data"]["link"]["actor"] == f"system@{SICHUAN}"
    assert (update["data"]["number"], update["data"]["state"]) == (deciding.number, "submitted")


def test_a_handover_received_twice_adds_nothing(settings, trusted, citizen, item) -> None:
    mirror = submit_to_chengdu(citizen, item)
    (event,) = sent(federation.HANDED_OVER)
    data = {**event["data"], "uid": str(uuid.uuid4())}
    with node(settings, SICHUAN):
        federation.on_handed_over(incoming(CHONGQING, event["type"], data))
        after_first = snapshot()
        federation.on_handed_over(incoming(CHONGQING, event["type"], data))
    assert snapshot() == after_first
    assert Case.objects.filter(uid=data["uid"]).count() == 1
    assert Case.objects.filter(remote_number=mirror.number).count() == 1


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"item": "NOSUCHITEM"}, NotFound),
        ({"scenario": "no-such-situation"}, NotFound),
        ({"authority_division": "520100"}, NotFound),  # not implemented there
        # Sichuan is told it decides a case of a Chongqing department: not its case.
        ({"authority_division": CHONGQING, "authority_department": "cq-hrss"}, Forbidden),
    ],
    ids=["unknown-item", "unknown-scenario", "unknown-implementation", "not-ours"],
)
def test_a_handover_that_does_not_fit_here_is_refused_and_nothing_is_written(
    settings, trusted, citizen, item, change, error
) -> None:
    submit_to_chengdu(citizen, item)
    (event,) = sent(federation.HANDED_OVER)
    data = {**event["data"], "uid": str(uuid.uuid4()), **change}
    # The applicant would be new there: nobody may be recorded for a handover refused.
    data["applicant"] = {**data["applicant"], "id_number": make_id_number(1, birth_date="19800101")}
    before = snapshot()
    with node(settings, SICHUAN), pytest.raises(error):
        federation.on_handed_over(incoming(CHONGQING, event["type"], data))
    assert snapshot() == before


def _decided_already(data: dict[str, Any]) -> dict[str, Any]:
    approve = {**data["history"][0], "action": "approve", "role": "approver", "to": "approved"}
    return {"history": [*data["history"], approve]}


@pytest.mark.parametrize(
    "change",
    [
        lambda data: {"state": "approved"},
        lambda data: {"state": "teleported"},
        _decided_already,
        lambda data: {"receiving_node": GUIZHOU},
    ],
    ids=["decided-state", "unknown-state", "decision-in-history", "another-receiver"],
)
def test_the_receiving_node_is_believed_only_about_what_it_did(
    settings, trusted, citizen, item, change
) -> None:
    """A handover cannot bring the deciding node a case already decided, nor one received
    elsewhere: the deciding department's work is done at the deciding node only."""
    submit_to_chengdu(citizen, item)
    (event,) = sent(federation.HANDED_OVER)
    data = {**event["data"], "uid": str(uuid.uuid4())}
    data.update(change(data))
    before = snapshot()
    # Applied in a transaction of its own, as the inbox applies it (a refusal rolls it back).
    refused = pytest.raises((ValidationFailed, Forbidden))
    with node(settings, SICHUAN), refused, transaction.atomic():
        federation.on_handed_over(incoming(CHONGQING, event["type"], data))
    assert snapshot() == before


def test_the_receiving_nodes_links_are_signed_for_by_its_own_people(
    settings, trusted, citizen, item
) -> None:
    submit_to_chengdu(citizen, item)
    (event,) = sent(federation.HANDED_OVER)
    data = {**event["data"], "uid": str(uuid.uuid4())}
    data["history"] = [{**data["history"][0], "actor": "reviewer@510000"}]
    with node(settings, SICHUAN):
        federation.on_handed_over(incoming(CHONGQING, event["type"], data))
    submit = Case.objects.get(uid=data["uid"]).events.get(action="submit")
    assert submit.actor_label == f"reviewer@{CHONGQING}"


def test_the_mirror_takes_over_the_deciding_nodes_number(copies) -> None:
    mirror = copies.mirror
    assert mirror.remote_number == copies.deciding.number
    assert mirror.state == "submitted"
    links = list(mirror.events.order_by("seq"))
    assert [link.action for link in links] == ["submit", "handover_received"]
    assert links[-1].actor_label == f"system@{SICHUAN}"
    assert chain_break(mirror) is None


# Acting on a mirror -------------------------------------------------------------------------------


@pytest.mark.parametrize("action", ["accept", "request_supplement", "reject_intake"])
def test_the_deciding_departments_actions_are_refused_on_a_mirror(
    copies, cd_reviewer, action
) -> None:
    before = snapshot()
    with pytest.raises(Conflict) as refused:
        act(cd_reviewer, copies.mirror, action, {"missing": ["身份证"]})
    assert refused.value.code == "decided_elsewhere"
    assert SICHUAN in str(refused.value.message)
    assert snapshot() == before
    copies.refresh()
    assert copies.mirror.state == "submitted"


def test_a_withdrawal_on_the_mirror_is_sent_as_a_request(copies, citizen) -> None:
    links_before = copies.mirror.events.count()
    returned = act(citizen, copies.mirror, "withdraw", {"note": "已在本地领取"})
    assert returned.state == "submitted"
    copies.refresh()
    assert copies.mirror.state == "submitted"
    assert copies.mirror.closed_at is None
    assert copies.mirror.events.count() == links_before
    (event,) = sent(federation.ACTION_REQUESTED, subject=copies.mirror.uid)
    assert (event["source"], event["recipient"]) == (CHONGQING, SICHUAN)
    assert event["data"] == {
        "uid": str(copies.mirror.uid),
        "action": "withdraw",
        "payload": {"note": "已在本地领取"},
        "actor": f"{citizen.user.get_username()}@{CHONGQING}",
        "role": "applicant",
        "leg": None,
    }


def test_a_request_the_mirror_can_tell_is_hopeless_is_not_sent(copies, citizen) -> None:
    stranger = PersonFactory(with_login=True)
    before = snapshot()
    with pytest.raises(Conflict) as not_now:  # nothing to supplement yet
        act(citizen, copies.mirror, "supplement")
    assert not_now.value.code == "action_not_allowed"
    with pytest.raises(ValidationFailed):  # a detail the action does not take
        act(citizen, copies.mirror, "withdraw", {"approved": True})
    with pytest.raises(NotFound):  # not the applicant: the copy is not theirs to see
        act(stranger, copies.mirror, "withdraw")
    assert snapshot() == before


# Requests at the deciding node ------------------------------------------------------------------


def test_a_withdrawal_requested_by_the_receiving_node_is_applied_and_reported_back(
    copies, citizen
) -> None:
    act(citizen, copies.mirror, "withdraw")
    assert copies.relay_requests() == 1

    deciding = copies.deciding
    assert deciding.state == "withdrawn"
    assert deciding.closed_at is not None
    last = deciding.events.order_by("-seq").first()
    assert (last.action, last.role, last.actor_label) == (
        "withdraw",
        "applicant",
        f"{citizen.user.get_username()}@{CHONGQING}",
    )
    assert (last.from_state, last.to_state) == ("submitted", "withdrawn")
    assert copies.relay_updates() == 1
    assert copies.mirror.state == "withdrawn"
    assert copies.mirror.closed_at is not None
    assert actions(copies.mirror)[-1] == "withdraw"
    assert chain_break(copies.mirror) is None
    assert chain_break(deciding) is None


def test_a_supplement_goes_round_both_nodes(copies, citizen, cd_reviewer, settings) -> None:
    with node(settings, SICHUAN):
        act(cd_reviewer, copies.deciding, "request_supplement", {"missing": ["失业证明"]})
    copies.relay_updates()
    assert copies.mirror.state == "awaiting_supplement"
    copied = copies.mirror.events.order_by("-seq").first()
    assert (copied.action, copied.actor_label, copied.role) == (
        "request_supplement",
        f"{cd_reviewer.user.get_username()}@{SICHUAN}",
        "reviewer",
    )
    assert copied.payload == {"missing": ["失业证明"]}

    act(citizen, copies.mirror, "supplement")
    assert copies.mirror.state == "awaiting_supplement"  # until Sichuan says otherwise
    copies.relay_requests()
    assert copies.deciding.state == "submitted"
    copies.relay_updates()
    assert copies.mirror.state == "submitted"
    assert actions(copies.mirror) == actions(copies.deciding)
    assert actions(copies.deciding) == [
        "submit",
        "handover_received",
        "request_supplement",
        "supplement",
    ]


def test_a_request_overtaken_by_a_decision_is_refused_in_the_chain(
    copies, citizen, cd_reviewer, cd_approver, settings
) -> None:
    """The applicant withdraws on the mirror while Sichuan has already approved: the
    refusal is a link (so the mirror learns it), not a failed message."""
    with node(settings, SICHUAN):
        for who, action in [
            (cd_reviewer, "accept"),
            (cd_reviewer, "begin_review"),
            (cd_approver, "approve"),
        ]:
            act(who, copies.deciding, action)
    act(citizen, copies.mirror, "withdraw")  # the mirror still says "submitted"
    updates_before = len(sent(federation.UPDATED, subject=copies.deciding.uid))

    copies.relay_requests()
    deciding = copies.deciding
    assert deciding.state == "approved"
    refusal = deciding.events.order_by("-seq").first()
    assert refusal.action == "request_refused"
    assert (refusal.from_state, refusal.to_state) == ("approved", "approved")
    assert refusal.actor_label == f"system@{SICHUAN}"
    assert refusal.payload["action"] == "withdraw"
    assert refusal.payload["from_node"] == CHONGQING
    assert refusal.payload["reason"]
    updates = sent(federation.UPDATED, subject=deciding.uid, to=CHONGQING)
    assert len(updates) == updates_before + 1
    assert updates[-1]["data"]["link"]["action"] == "request_refused"
    assert updates[-1]["data"]["state"] == "approved"

    copies.relay_updates()
    assert copies.mirror.state == "approved"
    assert actions(copies.mirror)[-1] == "request_refused"


def test_an_action_request_from_a_node_without_a_copy_is_refused(copies, settings) -> None:
    data = {
        "uid": str(copies.deciding.uid),
        "action": "withdraw",
        "payload": {},
        "actor": "someone@520000",
        "role": "applicant",
        "leg": None,
    }
    before = snapshot()
    with node(settings, SICHUAN), pytest.raises(federation.CaseNotHere):
        federation.on_action_requested(incoming(GUIZHOU, federation.ACTION_REQUESTED, data))
    assert snapshot() == before
    copies.refresh()
    assert copies.deciding.state == "submitted"


def test_only_the_receiving_node_may_ask_for_the_applicants_actions(copies, settings) -> None:
    # Guizhou holds a copy too (as the node of a leg would), but did not receive the case.
    Case.objects.filter(pk=copies.deciding.pk).update(peers=[CHONGQING, GUIZHOU])
    data = {
        "uid": str(copies.deciding.uid),
        "action": "withdraw",
        "payload": {},
        "actor": "someone@520000",
        "role": "applicant",
        "leg": None,
    }
    with node(settings, SICHUAN):
        federation.on_action_requested(incoming(GUIZHOU, federation.ACTION_REQUESTED, data))
    copies.refresh()
    assert copies.deciding.state == "submitted"
    refusal = copies.deciding.events.order_by("-seq").first()
    assert refusal.action == "request_refused"
    assert refusal.payload["from_node"] == GUIZHOU
    assert GUIZHOU in refusal.payload["reason"]
    # Both nodes holding a copy learn of the refusal.
    for peer in (CHONGQING, GUIZHOU):
        last = sent(federation.UPDATED, subject=copies.deciding.uid, to=peer)[-1]
        assert last["data"]["link"]["action"] == "request_refused"


def test_a_mirror_does_not_take_action_requests(copies, citizen, settings) -> None:
    act(citizen, copies.mirror, "withdraw")
    (event,) = sent(federation.ACTION_REQUESTED)
    before = snapshot()
    with pytest.raises(federation.CaseNotHere):  # Chongqing's mirror, asked by Sichuan
        federation.on_action_requested(incoming(SICHUAN, event["type"], event["data"]))
    assert snapshot() == before


def test_the_deciding_departments_action_cannot_be_requested_by_a_mirror(copies, settings) -> None:
    data = {
        "uid": str(copies.deciding.uid),
        "action": "accept",
        "payload": {},
        "actor": "clerk@500000",
        "role": "reviewer",
        "leg": None,
    }
    with node(settings, SICHUAN):
        federation.on_action_requested(incoming(CHONGQING, federation.ACTION_REQUESTED, data))
    copies.refresh()
    assert copies.deciding.state == "submitted"
    assert copies.deciding.accepted_on is None
    assert actions(copies.deciding)[-1] == "request_refused"


# Updates at the mirror ----------------------------------------------------------------------------


def test_an_update_moves_the_mirror_and_copies_the_link(
    copies, cd_reviewer, cd_approver, settings
) -> None:
    with node(settings, SICHUAN):
        act(cd_reviewer, copies.deciding, "accept")
        act(cd_reviewer, copies.deciding, "begin_review")
        act(cd_reviewer, copies.deciding, "pause", {"kind": "expert_review", "reason": "核查"})
    assert copies.relay_updates() == 3
    mirror = copies.mirror
    assert mirror.state == "paused"
    assert mirror.accepted_on is not None
    assert mirror.accepted_on == copies.deciding.accepted_on
    assert (mirror.legal_days, mirror.promised_days) == (
        copies.deciding.legal_days,
        copies.deciding.promised_days,
    )
    assert list(mirror.pauses.values_list("kind", "reason")) == [("expert_review", "核查")]
    accept = mirror.events.get(action="accept")
    assert accept.actor is None
    assert accept.actor_label == f"{cd_reviewer.user.get_username()}@{SICHUAN}"
    assert (accept.from_state, accept.to_state) == ("submitted", "accepted")
    assert actions(mirror) == actions(copies.deciding)
    assert chain_break(mirror) is None


@pytest.mark.parametrize("source", [GUIZHOU, CHONGQING])
def test_an_update_from_a_node_that_does_not_decide_is_refused(
    copies, cd_reviewer, settings, source
) -> None:
    with node(settings, SICHUAN):
        act(cd_reviewer, copies.deciding, "accept")
    event = sent(federation.UPDATED, subject=copies.deciding.uid)[-1]
    data = {**event["data"], "uid": str(copies.mirror.uid)}
    before = snapshot()
    with pytest.raises(federation.CaseNotHere):
        federation.on_updated(incoming(source, event["type"], data))
    assert snapshot() == before
    copies.refresh()
    assert copies.mirror.state == "submitted"
    assert copies.mirror.accepted_on is None


def test_an_update_for_the_authoritative_copy_or_an_unknown_case_is_refused(
    copies, cd_reviewer, settings
) -> None:
    with node(settings, SICHUAN):
        act(cd_reviewer, copies.deciding, "accept")
    event = sent(federation.UPDATED, subject=copies.deciding.uid)[-1]
    before = snapshot()
    with node(settings, SICHUAN), pytest.raises(federation.CaseNotHere):
        # The authoritative copy changes only by its own department's actions.
        federation.on_updated(incoming(CHONGQING, event["type"], event["data"]))
    with pytest.raises(federation.CaseNotHere):
        federation.on_updated(
            incoming(SICHUAN, event["type"], {**event["data"], "uid": str(uuid.uuid4())})
        )
    with pytest.raises(ValidationFailed):
        federation.on_updated(incoming(SICHUAN, event["type"], {**event["data"], "uid": "x"}))
    assert snapshot() == before


# Files --------------------------------------------------------------------------------------------


def test_a_file_handed_in_on_the_mirror_is_announced_not_linked(copies, citizen) -> None:
    links_before = copies.mirror.events.count()
    material = upload(citizen, copies.mirror)
    assert material.path
    assert material.ref
    copies.refresh()
    assert copies.mirror.events.count() == links_before  # the link comes back from Sichuan
    (event,) = sent(federation.MATERIAL_ADDED, subject=copies.mirror.uid, to=SICHUAN)
    data = event["data"]
    assert data["uid"] == str(copies.mirror.uid)
    assert data["role"] == "applicant"
    assert data["actor"] == f"{citizen.user.get_username()}@{CHONGQING}"
    assert data["material"]["ref"] == material.ref
    assert data["material"]["sha256"] == hashlib.sha256(PDF).hexdigest()
    assert (data["material"]["size"], data["material"]["node"]) == (len(PDF), CHONGQING)

    copies.relay_requests()
    copied = copies.deciding.materials.get()
    assert (copied.ref, copied.remote_node, copied.transfer, copied.path) == (
        material.ref,
        CHONGQING,
        "pending",
        "",
    )
    attach = copies.deciding.events.order_by("-seq").first()
    assert attach.action == "attach"
    assert attach.actor_label == f"{citizen.user.get_username()}@{CHONGQING}"
    assert attach.payload == {"material": "identity", "sha256": copied.sha256, "size": len(PDF)}
    copies.relay_updates()
    assert actions(copies.mirror)[-1] == "attach"
    assert chain_break(copies.mirror) is None


def test_a_file_announcement_from_a_node_without_a_copy_is_refused(
    copies, citizen, settings
) -> None:
    upload(citizen, copies.mirror)
    (event,) = sent(federation.MATERIAL_ADDED)
    data = {**event["data"], "uid": str(copies.deciding.uid)}
    before = snapshot()
    with node(settings, SICHUAN), pytest.raises(federation.CaseNotHere):
        federation.on_material_added(incoming(GUIZHOU, event["type"], data))
    assert snapshot() == before


def test_a_file_is_given_only_to_a_node_holding_a_copy_of_its_case(copies, citizen) -> None:
    material = upload(citizen, copies.mirror)
    content, content_type = federation.provide_material(SICHUAN, material.ref)
    assert (content, content_type) == (PDF, "application/pdf")
    # Refused (whether it says "not yours" or, revealing nothing, "no such file").
    with pytest.raises((Forbidden, NotFound)):
        federation.provide_material(GUIZHOU, material.ref)
    with pytest.raises(NotFound):
        federation.provide_material(SICHUAN, uuid.uuid4().hex)
    with pytest.raises(NotFound):
        federation.provide_material(SICHUAN, "")


def test_a_fetched_file_that_does_not_match_its_hash_is_refused_and_not_stored(
    copies, citizen, settings
) -> None:
    upload(citizen, copies.mirror)
    copies.relay_requests()
    pending = copies.deciding.materials.get()
    forged = PDF.replace(b"1 0 obj", b"2 0 obj")
    assert len(forged) == len(PDF)
    assert hashlib.sha256(forged).hexdigest() != pending.sha256
    with node(settings, SICHUAN):
        federation._store_fetched(pending, forged)
    pending.refresh_from_db()
    assert (pending.transfer, pending.path) == ("failed", "")
    assert "SHA-256" in pending.transfer_error
    assert not default_storage.exists(f"cases/{copies.deciding.pk}")


def test_a_fetched_file_that_is_not_a_document_is_refused(copies, citizen, settings) -> None:
    """A peer announces (and then serves) a script: hash and size agree, the kind does not."""
    upload(citizen, copies.mirror)
    (event,) = sent(federation.MATERIAL_ADDED)
    script = b"#!/bin/sh\necho hi\n"
    row = {
        **event["data"]["material"],
        "ref": uuid.uuid4().hex,
        "size": len(script),
        "sha256": hashlib.sha256(script).hexdigest(),
    }
    data = {**event["data"], "uid": str(copies.deciding.uid), "material": row}
    with node(settings, SICHUAN):
        federation.on_material_added(incoming(CHONGQING, event["type"], data))
        pending = copies.deciding.materials.get()
        assert pending.transfer == "pending"
        federation._store_fetched(pending, script)
    pending.refresh_from_db()
    assert (pending.transfer, pending.path) == ("failed", "")
    assert "PDF" in pending.transfer_error
    assert not default_storage.exists(f"cases/{copies.deciding.pk}")


def test_a_fetched_file_with_the_announced_hash_is_stored(copies, citizen, settings) -> None:
    upload(citizen, copies.mirror)
    copies.relay_requests()
    pending = copies.deciding.materials.get()
    with node(settings, SICHUAN):
        federation._store_fetched(pending, PDF)
    pending.refresh_from_db()
    assert pending.transfer == "fetched"
    assert pending.transfer_error == ""
    assert pending.path.startswith(f"cases/{copies.deciding.pk}/")
    assert pending.path.endswith(".pdf")
    assert pending.scan_status == "not_scanned"
    with default_storage.open(pending.path, "rb") as handle:
        assert handle.read() == PDF


def test_the_sweep_fetches_pending_files_from_the_node_that_has_them(
    copies, citizen, settings, monkeypatch
) -> None:
    material = upload(citizen, copies.mirror)
    copies.relay_requests()
    asked: list[tuple[str, str, str]] = []

    def fetch(*, peer: str, kind: str, ref: str, **_limits: Any) -> bytes:
        asked.append((peer, kind, ref))
        # What Chongqing's blob endpoint answers Sichuan.
        return federation.provide_material(SICHUAN, ref)[0]

    monkeypatch.setattr(blobs, "fetch", fetch)
    with node(settings, SICHUAN):
        assert federation.materials_fetch() == 1
        assert federation.materials_fetch() == 0  # nothing pending any more
    assert asked == [(CHONGQING, federation.BLOB_KIND, material.ref)]
    fetched = copies.deciding.materials.get()
    assert fetched.transfer == "fetched"
    assert fetched.path != material.path


def test_a_file_that_cannot_be_fetched_now_stays_pending(
    copies, citizen, settings, monkeypatch
) -> None:
    upload(citizen, copies.mirror)
    copies.relay_requests()

    def unreachable(*, peer: str, kind: str, ref: str, **_limits: Any) -> bytes:
        raise blobs.FetchFailed("unreachable: connection refused")

    monkeypatch.setattr(blobs, "fetch", unreachable)
    with node(settings, SICHUAN):
        assert federation.materials_fetch() == 0
    pending = copies.deciding.materials.get()
    assert (pending.transfer, pending.path) == ("pending", "")
    assert "unreachable" in pending.transfer_error
