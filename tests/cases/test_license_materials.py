"""Electronic licences as materials (免提交、免核验原件): where a material accepts a licence type,
the applicant's side picks one of the applicant's licences instead of uploading; it is verified
then, the deciding side sees who issued it and when it was verified, and no original is asked
for. Whatever is refused leaves nothing behind."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from tests.cases.conftest import PDF, scan_identity
from tests.cases.license_support import (
    CARD_SPEC,
    card_exchange,
    deciders,
    disability_card,
    issued,
)
from tests.conftest import login
from tests.factories import PersonFactory, StaffFactory
from tongban.cases import licensed, services
from tongban.cases.models import Case, CaseEvent, Material, MaterialSource
from tongban.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from tongban.licenses import services as licenses
from tongban.licenses.models import License

pytestmark = pytest.mark.django_db
ISSUER = "重庆市残疾人联合会"


@pytest.fixture
def card_staff() -> dict[str, Any]:
    return deciders("cq-disabled-persons")


@pytest.fixture
def person() -> Any:
    return PersonFactory(with_login=True)


@pytest.fixture
def card(person: Any, card_staff: dict[str, Any]) -> License:
    return disability_card(person, card_staff)


@pytest.fixture
def window_clerk() -> Any:
    return StaffFactory(window_clerk=True, department_key="cq-big-data", jurisdiction_code="500103")


def spec_of(case: Case, key: str = CARD_SPEC) -> Any:
    return case.scenario.materials.get(key=key)


def hand_in(actor: Any, case: Case, identifier: str, spec_key: str = CARD_SPEC) -> Material:
    return services.material_from_license(
        actor=actor, number=case.number, spec_key=spec_key, identifier=identifier
    )


def row(case: Case, key: str = CARD_SPEC) -> services.ChecklistRow:
    return next(r for r in services.formal_review_checklist(case) if r.key == key)


def written() -> tuple[int, int]:
    return Material.objects.count(), CaseEvent.objects.count()


# Handing a licence in ------------------------------------------------------------------------


def test_the_applicant_picks_their_card_and_no_original_is_asked(
    person: Any, card: License
) -> None:
    case = card_exchange(person.user, person)
    assert row(case).original_required  # on paper, the window would check the original
    assert licensed.licenses_for_spec(person.user, case, spec_of(case)) == [card]

    material = hand_in(person.user, case, card.identifier)

    assert material.source == MaterialSource.LICENSE
    assert material.reference == card.identifier
    assert (material.license_name, material.license_number) == ("残疾人证", card.number)
    assert material.license_issuer == ISSUER
    assert material.verified_at is not None
    assert material.original_to_post is False
    assert material.path == ""
    assert material.uploaded_by == person.user
    attach = case.events.get(action="attach")
    assert attach.role == "applicant"
    assert attach.payload["license"] == card.identifier
    assert attach.payload["issuer"] == ISSUER
    checked = row(case)
    assert not checked.original_required
    assert checked.uploaded == 0
    assert checked.license.startswith(f"电子证照 残疾人证 {card.identifier}，已核验（{ISSUER}，")
    assert row(case, "identity").license == ""  # the ID card is still to be handed in


def test_picking_the_same_licence_again_changes_nothing(person: Any, card: License) -> None:
    case = card_exchange(person.user, person)
    first = hand_in(person.user, case, card.identifier)
    before = written()
    again = hand_in(person.user, case, card.identifier.lower())  # as typed, in lower case
    assert again.pk == first.pk
    assert written() == before


def test_an_agent_picks_the_principals_licence_not_their_own(
    person: Any, card: License, card_staff: dict[str, Any]
) -> None:
    agent = PersonFactory(with_login=True)
    own_card = disability_card(agent, card_staff)
    authorisation = services.agent_authorisation_grant(
        actor=person.user,
        agent_id_number=agent.id_number,
        agent_name=agent.name,
        all_items=True,
        valid_until=timezone.localdate() + dt.timedelta(days=30),
    )
    case = card_exchange(agent.user, person, authorisation_id=authorisation.pk)
    assert licensed.licenses_for_spec(agent.user, case, spec_of(case)) == [card]

    before = written()
    with pytest.raises(NotFound) as refused:
        hand_in(agent.user, case, own_card.identifier)
    assert refused.value.code == "unknown_license"
    assert written() == before

    material = hand_in(agent.user, case, card.identifier)
    assert material.reference == card.identifier
    assert material.uploaded_by == agent.user


def test_a_window_clerk_picks_the_applicants_licence_and_posts_no_original(
    person: Any, card: License, window_clerk: Any
) -> None:
    case = card_exchange(
        window_clerk.user, person, mode="PROXY", applicant_id_number=person.id_number
    )
    assert licensed.licenses_for_spec(window_clerk.user, case, spec_of(case)) == [card]
    scan_identity(window_clerk.user, case.number)
    hand_in(window_clerk.user, case, card.identifier)
    assert case.events.filter(action="attach", role="window_clerk").count() == 2

    forwarded = services.case_act(
        actor=window_clerk.user,
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
    assert forwarded.events.get(action="forward").payload["originals_to_post"] == []
    assert not services.awaits_originals(forwarded)


def test_the_paper_card_instead_is_posted_as_an_original(person: Any, window_clerk: Any) -> None:
    case = card_exchange(
        window_clerk.user, person, mode="PROXY", applicant_id_number=person.id_number
    )
    scan_identity(window_clerk.user, case.number)
    services.material_upload(
        actor=window_clerk.user,
        number=case.number,
        spec_key=CARD_SPEC,
        upload=SimpleUploadedFile("card.pdf", PDF, content_type="application/pdf"),
    )
    forwarded = services.case_act(
        actor=window_clerk.user,
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
    assert forwarded.events.get(action="forward").payload["originals_to_post"] == [CARD_SPEC]
    assert services.awaits_originals(forwarded)


# Refusals: each leaves nothing behind --------------------------------------------------------


def _refused(actor: Any, case: Case, identifier: str, error: type, code: str, **kw: Any) -> None:
    before = written()
    with pytest.raises(error) as refused:
        hand_in(actor, case, identifier, **kw)
    assert refused.value.code == code
    assert written() == before


def test_someone_elses_licence_is_as_unknown_as_none(
    person: Any, card_staff: dict[str, Any]
) -> None:
    stranger_card = disability_card(PersonFactory(with_login=True), card_staff)
    case = card_exchange(person.user, person)
    _refused(person.user, case, stranger_card.identifier, NotFound, "unknown_license")
    assert licensed.licenses_for_spec(person.user, case, spec_of(case)) == []


def test_a_revoked_licence_is_refused_with_the_reason(
    person: Any, card: License, card_staff: dict[str, Any]
) -> None:
    licenses.license_revoke(
        actor=card_staff["approver"].user, identifier=card.identifier, reason="证件信息有误"
    )
    case = card_exchange(person.user, person)
    assert licensed.licenses_for_spec(person.user, case, spec_of(case)) == []
    before = written()
    with pytest.raises(Conflict) as refused:
        hand_in(person.user, case, card.identifier)
    assert refused.value.code == "license_revoked"
    assert str(refused.value.message).startswith("此电子证照未通过核验，不能作为本材料：")
    assert written() == before


def test_a_superseded_version_is_refused_and_the_new_one_taken(
    person: Any, card: License, card_staff: dict[str, Any]
) -> None:
    newer = licenses.license_reissue(
        actor=card_staff["approver"].user, identifier=card.identifier, reason="照片更新"
    )
    case = card_exchange(person.user, person)
    assert licensed.licenses_for_spec(person.user, case, spec_of(case)) == [newer]
    _refused(person.user, case, card.identifier, Conflict, "license_superseded")
    assert hand_in(person.user, case, newer.identifier).reference == newer.identifier


def test_a_licence_of_another_type_is_refused(person: Any) -> None:
    notarial = issued("学历公证", person, deciders("cq-justice"))
    case = card_exchange(person.user, person)
    _refused(person.user, case, notarial.identifier, ValidationFailed, "license_wrong_type")


def test_a_material_no_licence_stands_for_is_refused(person: Any, card: License) -> None:
    case = card_exchange(person.user, person)
    # The ID card names 居民身份证, a licence type this node does not know.
    assert licensed.license_types_for(spec_of(case, "identity")) == []
    _refused(
        person.user,
        case,
        card.identifier,
        ValidationFailed,
        "license_not_accepted",
        spec_key="identity",
    )


def test_a_malformed_identifier_is_refused(person: Any, card: License) -> None:
    case = card_exchange(person.user, person)
    _refused(person.user, case, card.identifier[:-1] + "?", ValidationFailed, "validation_failed")


def test_nothing_is_added_once_the_case_is_accepted(
    person: Any, card: License, card_staff: dict[str, Any]
) -> None:
    case = card_exchange(person.user, person)
    services.case_act(actor=card_staff["reviewer"].user, number=case.number, action="accept")
    _refused(person.user, case, card.identifier, Conflict, "materials_closed")


def test_staff_who_do_not_take_materials_are_refused(
    person: Any, card: License, card_staff: dict[str, Any]
) -> None:
    case = card_exchange(person.user, person)
    _refused(card_staff["reviewer"].user, case, card.identifier, Forbidden, "forbidden")
    assert licensed.licenses_for_spec(card_staff["reviewer"].user, case, spec_of(case)) == []
    stranger = PersonFactory(with_login=True)
    _refused(stranger.user, case, card.identifier, NotFound, "not_found")  # the case is hidden


# The API -------------------------------------------------------------------------------------


def test_the_api_hands_a_licence_in_and_says_why_not(person: Any, card: License) -> None:
    case = card_exchange(person.user, person)
    client = login(Client(), person.user)
    url = f"/api/v1/cases/{case.number}/materials/license"
    answer = client.post(
        url, {"spec_key": CARD_SPEC, "identifier": card.identifier}, content_type="application/json"
    )
    assert answer.status_code == 201, answer.content
    body = answer.json()
    assert body["source"] == "license"
    assert body["reference"] == card.identifier
    assert body["license_issuer"] == ISSUER
    assert body["verified_at"]
    assert body["original_to_post"] is False
    checklist = client.get(f"/api/v1/cases/{case.number}/checklist").json()
    card_row = next(r for r in checklist["materials"] if r["key"] == CARD_SPEC)
    assert card_row["license"].startswith("电子证照 残疾人证")
    assert card_row["original_required"] is False

    refused = client.post(
        url,
        {"spec_key": "identity", "identifier": card.identifier},
        content_type="application/json",
    )
    assert refused.status_code == 400
    assert refused.json()["code"] == "license_not_accepted"
