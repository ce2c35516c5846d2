"""A licence issued in one province is accepted as material in another without originals: a
Chongqing 残疾人证 handed in for 残疾人证迁移 decided in Chengdu reaches Sichuan's copy of the
case as verified here (issuer, time), and Sichuan asks for no original. Two nodes in one test
database, as in test_federation.py."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from django.db import transaction

from tests.cases.conftest import form_for, scan_identity
from tests.cases.license_support import CARD_SPEC, disability_card, item_named
from tests.factories import PersonFactory, StaffFactory
from tests.federation_support import (  # chongqing: this node, for every test here
    CHONGQING,
    SICHUAN,
    URLS,
    RemoteHub,
    chongqing,  # noqa: F401
    incoming,
    node,
    remote_hub,
    sent,
)
from tongban.cases import federation, services
from tongban.cases.models import Case, Material, MaterialSource
from tongban.licenses.models import License

pytestmark = pytest.mark.django_db
CHENGDU = "510100"  # 成都市残疾人联合会 decides 残疾人证迁移 there
MOVE_CARD = "残疾人证迁移"
ISSUER = "重庆市残疾人联合会"


@pytest.fixture
def trusted(settings: Any, tmp_path: Path) -> RemoteHub:
    hub = remote_hub(settings, tmp_path)
    hub.publish({CHONGQING: URLS[CHONGQING], SICHUAN: URLS[SICHUAN]})
    return hub


@pytest.fixture
def person() -> Any:
    return PersonFactory(with_login=True)


@pytest.fixture
def card(person: Any) -> License:
    return disability_card(person)


def received_in_sichuan(settings: Any, mirror: Case) -> Case:
    (event,) = sent(federation.HANDED_OVER, subject=mirror.uid, to=SICHUAN)
    data = {**event["data"], "uid": str(uuid.uuid4())}
    with node(settings, SICHUAN), transaction.atomic():
        federation.on_handed_over(incoming(CHONGQING, federation.HANDED_OVER, data))
    return Case.objects.get(uid=data["uid"])


def card_row(case: Case) -> services.ChecklistRow:
    return next(r for r in services.formal_review_checklist(case) if r.key == CARD_SPEC)


def test_a_licence_picked_on_the_mirror_reaches_the_deciding_copy(
    settings: Any, trusted: RemoteHub, person: Any, card: License
) -> None:
    mirror = services.case_submit(
        actor=person.user,
        item_code=item_named(MOVE_CARD).code,
        scenario_key="general",
        authority_division=CHENGDU,
        form_data=form_for(person),
    )
    deciding = received_in_sichuan(settings, mirror)
    picked = services.material_from_license(
        actor=person.user, number=mirror.number, spec_key=CARD_SPEC, identifier=card.identifier
    )
    (event,) = sent(federation.MATERIAL_ADDED, subject=mirror.uid, to=SICHUAN)
    with node(settings, SICHUAN), transaction.atomic():
        federation.on_material_added(
            incoming(CHONGQING, event["type"], {**event["data"], "uid": str(deciding.uid)})
        )

    copied = deciding.materials.get()
    assert copied.source == MaterialSource.LICENSE
    assert (copied.reference, copied.license_issuer) == (card.identifier, ISSUER)
    assert (copied.license_name, copied.license_number) == ("残疾人证", card.number)
    assert copied.verified_at == picked.verified_at
    assert copied.transfer == ""  # nothing to fetch: there is no file
    assert not copied.original_to_post
    attach = deciding.events.order_by("-seq").first()
    assert attach.action == "attach"
    assert attach.payload["license"] == card.identifier
    row = card_row(deciding)
    assert row.license.startswith(f"电子证照 残疾人证 {card.identifier}，已核验（{ISSUER}，")
    assert not row.original_required


def test_a_window_hands_the_licence_over_and_posts_no_original(
    settings: Any, trusted: RemoteHub, person: Any, card: License
) -> None:
    clerk = StaffFactory(
        window_clerk=True, department_key="cq-big-data", jurisdiction_code="500103"
    )
    case = services.case_submit(
        actor=clerk.user,
        item_code=item_named(MOVE_CARD).code,
        scenario_key="general",
        authority_division=CHENGDU,
        form_data=form_for(person),
        mode="PROXY",
        applicant_id_number=person.id_number,
    )
    scan_identity(clerk.user, case.number)
    services.material_from_license(
        actor=clerk.user, number=case.number, spec_key=CARD_SPEC, identifier=card.identifier
    )
    services.case_act(
        actor=clerk.user,
        number=case.number,
        action="forward",
        payload={
            "identity": {
                "method": "id_card_reader",
                "document": "resident_id_card",
                "holder": "applicant",
            },
            "checklist": {"identity": "present", CARD_SPEC: "present"},
        },
    )
    deciding = received_in_sichuan(settings, case)
    licence = deciding.materials.get(source=MaterialSource.LICENSE)
    assert (licence.reference, licence.license_issuer) == (card.identifier, ISSUER)
    assert licence.verified_at is not None
    assert Material.objects.filter(case=deciding, source=MaterialSource.UPLOAD).count() == 1
    assert not card_row(deciding).original_required
    assert not services.awaits_originals(deciding)
