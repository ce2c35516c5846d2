"""Real-name levels: in-person verification at a window, and a provider plugged in."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from django.test import override_settings

from tests.accounts.face_double import PATH, SECRET, sign
from tests.factories import PersonFactory, StaffFactory
from tongban.accounts import services, verification
from tongban.accounts.models import RealNameLevel, VerificationRecord
from tongban.accounts.verification import IN_PERSON
from tongban.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from tongban.core.models import AuditEntry

pytestmark = pytest.mark.django_db

BOTH = [
    "tongban.accounts.verification.InPersonVerification",
    PATH,
    "tests.accounts.face_double.IdentityCheckDouble",
]


@pytest.fixture
def clerk(db: None) -> Any:
    return StaffFactory(window_clerk=True, department_key="cq-big-data")


@pytest.fixture
def newcomer(db: None) -> Any:
    return PersonFactory(with_login=True, real_name_level=RealNameLevel.REGISTERED)


def test_a_clerk_verifies_in_person_and_it_is_recorded(clerk: Any, newcomer: Any) -> None:
    record = services.person_verify_in_person(
        actor=clerk.user, person=newcomer, document_checked="resident_id_card", note="窗口核验"
    )
    newcomer.refresh_from_db()
    assert newcomer.real_name_level == RealNameLevel.VERIFIED_IN_PERSON
    assert record is not None
    assert (record.method, record.level_before, record.level_after) == (IN_PERSON, 1, 3)
    assert record.verified_by == clerk.user
    assert record.evidence["document_checked"] == "resident_id_card"
    assert record.evidence["staff"] == clerk.employee_number
    audit = AuditEntry.objects.get(action="person.real_name_level_raised")
    assert audit.changes["real_name_level"] == [1, 3]


def test_levels_never_go_down_and_no_change_writes_nothing(clerk: Any) -> None:
    person = PersonFactory()  # already L3
    assert (
        services.person_verify_in_person(
            actor=clerk.user, person=person, document_checked="passport"
        )
        is None
    )
    assert not VerificationRecord.objects.filter(verified_by=clerk.user).exists()
    person.refresh_from_db()
    assert person.real_name_level == RealNameLevel.VERIFIED_IN_PERSON


@pytest.mark.parametrize("role", ["reviewer", "approver", "supervisor"])
def test_only_window_staff_verify_in_person(role: str, newcomer: Any) -> None:
    staff = StaffFactory(**{role: True})
    with pytest.raises(Forbidden):
        services.person_verify_in_person(
            actor=staff.user, person=newcomer, document_checked="resident_id_card"
        )
    with pytest.raises(Forbidden):  # and a citizen cannot verify themselves
        services.person_verify_in_person(
            actor=newcomer.user, person=newcomer, document_checked="resident_id_card"
        )
    newcomer.refresh_from_db()
    assert newcomer.real_name_level == 1


def test_the_document_checked_is_one_of_the_known_ones(clerk: Any, newcomer: Any) -> None:
    with pytest.raises(ValidationFailed) as refused:
        services.person_verify_in_person(
            actor=clerk.user, person=newcomer, document_checked="library_card"
        )
    assert "document_checked" in refused.value.fields


def test_the_window_finds_the_person_by_id_number_and_name(clerk: Any, newcomer: Any) -> None:
    with pytest.raises(ValidationFailed) as wrong_name:
        services.person_verify_at_window(
            actor=clerk.user,
            id_number=newcomer.id_number,
            name="别人",
            document_checked="resident_id_card",
        )
    assert "name" in wrong_name.value.fields
    person, record = services.person_verify_at_window(
        actor=clerk.user,
        id_number=newcomer.id_number,
        name=newcomer.name,
        document_checked="resident_id_card",
    )
    assert person == newcomer
    assert record is not None


def test_the_shipped_registry_has_in_person_verification() -> None:
    methods = verification.methods()
    assert list(methods) == [IN_PERSON]
    assert methods[IN_PERSON].level == RealNameLevel.VERIFIED_IN_PERSON
    assert not methods[IN_PERSON].online
    with pytest.raises(NotFound):
        verification.method_get("face")


def test_in_person_verification_is_not_started_online(newcomer: Any) -> None:
    with pytest.raises(Conflict):
        services.person_verification_start(actor=newcomer.user, method_key=IN_PERSON)
    with pytest.raises(Conflict):
        services.person_verification_complete(method_key=IN_PERSON, payload={})


# A provider plugged in ------------------------------------------------------------------------


def _state(person: Any, key: str = "face_double") -> str:
    start = services.person_verification_start(actor=person.user, method_key=key)
    return parse_qs(urlparse(start.redirect_url).query)["state"][0]


@override_settings(TONGBAN_VERIFICATION_METHODS=BOTH)
def test_a_provider_raises_the_level_with_a_signed_verdict(newcomer: Any) -> None:
    state = _state(newcomer)
    verdict = sign({"state": state, "reference": "F-1", "passed": True, "score": 0.97})
    assert services.person_verification_complete(method_key="face_double", payload=verdict) == (
        "raised"
    )
    newcomer.refresh_from_db()
    assert newcomer.real_name_level == RealNameLevel.VERIFIED_IN_PERSON
    record = VerificationRecord.objects.get(person=newcomer)
    assert (record.method, record.reference, record.verified_by) == ("face_double", "F-1", None)
    # The same verdict again is a replay.
    with pytest.raises(Conflict) as replay:
        services.person_verification_complete(method_key="face_double", payload=verdict)
    assert replay.value.code == "verification_replayed"


@override_settings(TONGBAN_VERIFICATION_METHODS=BOTH)
def test_a_lower_provider_never_lowers_the_level() -> None:
    person = PersonFactory(with_login=True)  # L3
    verdict = sign({"state": _state(person, "identity_double"), "reference": "I-1", "passed": True})
    result = services.person_verification_complete(method_key="identity_double", payload=verdict)
    assert result == "unchanged"
    person.refresh_from_db()
    assert person.real_name_level == RealNameLevel.VERIFIED_IN_PERSON


@override_settings(TONGBAN_VERIFICATION_METHODS=BOTH)
def test_a_forged_verdict_is_refused(newcomer: Any) -> None:
    state = _state(newcomer)
    forged = sign({"state": state, "reference": "F-2", "passed": True}, secret=b"guess")
    with pytest.raises(Forbidden) as refused:
        services.person_verification_complete(method_key="face_double", payload=forged)
    assert refused.value.code == "verification_signature_invalid"
    tampered = {**sign({"state": state, "reference": "F-2", "passed": False}), "passed": True}
    with pytest.raises(Forbidden):
        services.person_verification_complete(method_key="face_double", payload=tampered)
    newcomer.refresh_from_db()
    assert newcomer.real_name_level == 1


@override_settings(TONGBAN_VERIFICATION_METHODS=BOTH)
def test_a_verdict_needs_a_state_this_node_issued_for_that_method(newcomer: Any) -> None:
    made_up = sign({"state": "person:1", "reference": "F-3", "passed": True})
    with pytest.raises(Forbidden) as refused:
        services.person_verification_complete(method_key="face_double", payload=made_up)
    assert refused.value.code == "verification_state_invalid"
    # A state issued for the L2 method does not pass through the L3 one.
    other = sign({"state": _state(newcomer, "identity_double"), "reference": "F-4", "passed": True})
    with pytest.raises(Forbidden):
        services.person_verification_complete(method_key="face_double", payload=other)
    newcomer.refresh_from_db()
    assert newcomer.real_name_level == 1


@override_settings(TONGBAN_VERIFICATION_METHODS=BOTH)
def test_a_failed_check_is_audited_and_changes_nothing(newcomer: Any) -> None:
    verdict = sign({"state": _state(newcomer), "reference": "F-5", "passed": False})
    assert services.person_verification_complete(method_key="face_double", payload=verdict) == (
        "failed"
    )
    newcomer.refresh_from_db()
    assert newcomer.real_name_level == 1
    assert AuditEntry.objects.filter(action="person.verification_failed").exists()


@override_settings(TONGBAN_VERIFICATION_METHODS=BOTH)
def test_methods_reaching_a_level() -> None:
    assert [m.key for m in verification.methods_reaching(3)] == [IN_PERSON, "face_double"]
    assert len(verification.methods_reaching(2)) == 3
    assert SECRET  # the double's secret never appears in production settings
