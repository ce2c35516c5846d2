"""Data-sharing checks as materials (免提交): where a material names a check, its source
(重庆市公安局's household register) confirms the applicant's ID number and name instead of a
paper; the case shows what was verified, by whom, where and when, and asks for no original.
Whatever is refused leaves nothing on the case."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Any

import pytest
from django.db import transaction
from django.test import Client
from django.utils import timezone

from tests.cases.conftest import FORWARD, form_for
from tests.cases.license_support import CARD_SPEC, card_exchange
from tests.conftest import login
from tests.factories import PersonFactory, StaffFactory, make_id_number
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
from tongban.cases.models import Case, CaseEvent, Material, MaterialSource
from tongban.catalog.models import MaterialSpec, ServiceItem
from tongban.catalog.selectors import version_current
from tongban.core.errors import Conflict, DomainError, Forbidden, NotFound, ValidationFailed
from tongban.datashare import services as datashare
from tongban.datashare.errors import Refused
from tongban.datashare.models import Call, CallOutcome, Resource
from tongban.regions.models import Department

pytestmark = pytest.mark.django_db
CHECK = "household.identity_match"
QUESTION = "姓名与身份证号一致"
PROVIDER = "cq-public-security"
ITEM = "学历公证"  # decided by 重庆市司法局 (cq-justice) at 500000, 成都市司法局 at 510100


@pytest.fixture
def person() -> Any:
    return PersonFactory(with_login=True)


@pytest.fixture
def provider_admin() -> Any:
    return StaffFactory(department_admin=True, department_key=PROVIDER)


@pytest.fixture
def household(provider_admin: Any) -> Resource:
    department = Department.objects.get(key=PROVIDER)
    return datashare.resource_publish(
        actor=provider_admin.user,
        department=department,
        key="household",
        name="户籍人口信息",
        subject_kind="person",
        sensitivity="sensitive",
        fields=[{"key": "name", "name": "姓名", "personal": True}],
        questions=[
            {
                "key": "identity_match",
                "name": QUESTION,
                "params": ["id_number", "name"],
                "rule": {"op": "match"},
            }
        ],
    )


def load(admin: Any, resource: Resource, person: Any, name: str | None = None) -> None:
    datashare.records_load(
        actor=admin.user,
        resource=resource,
        records=[{"subject": person.id_number, "data": {"name": name or person.name}}],
    )


def grant(
    provider_admin: Any, resource: Resource, department_key: str, items: list[str] | None = None
) -> None:
    """A grant for ``department_key``, asked by its admin and approved by the provider's."""
    admin = StaffFactory(department_admin=True, department_key=department_key)
    asked = datashare.grant_request(
        actor=admin.user,
        resource=resource,
        purpose="受理申请时核验申请人身份",
        items=items or [item().code],
        questions=["identity_match"],
    )
    datashare.grant_decide(
        actor=provider_admin.user,
        grant=asked,
        approve=True,
        valid_until=timezone.localdate() + dt.timedelta(days=365),
        rate_limit=60,
    )


def item() -> ServiceItem:
    return ServiceItem.objects.get(version=version_current(), name=ITEM)


@pytest.fixture
def granted(provider_admin: Any, household: Resource, person: Any) -> Resource:
    load(provider_admin, household, person)
    grant(provider_admin, household, "cq-justice")
    return household


def apply(actor: Any, person: Any, division: str = "500000", **extra: Any) -> Case:
    return services.case_submit(
        actor=actor,
        item_code=item().code,
        scenario_key="general",
        authority_division=division,
        form_data=form_for(person),
        **extra,
    )


def verify(actor: Any, case: Case, spec_key: str = "identity") -> Material:
    return services.material_from_datashare(actor=actor, number=case.number, spec_key=spec_key)


def row(case: Case, key: str = "identity") -> services.ChecklistRow:
    return next(r for r in services.formal_review_checklist(case) if r.key == key)


def written() -> tuple[int, int]:
    return Material.objects.count(), CaseEvent.objects.count()


def _refused(actor: Any, case: Case, error: type[DomainError], code: str, **kw: Any) -> Any:
    before = written()
    with pytest.raises(error) as refused:
        verify(actor, case, **kw)
    assert refused.value.code == code
    assert written() == before
    return refused.value


def test_the_reference_data_names_resource_and_question() -> None:
    specs = MaterialSpec.objects.filter(key="identity")
    assert specs.exists()
    assert set(specs.values_list("datashare_check", flat=True)) == {CHECK}


# Verifying ---------------------------------------------------------------------------------


def test_the_applicants_identity_is_verified_at_the_source_and_no_paper_is_asked(
    person: Any, granted: Resource
) -> None:
    case = apply(person.user, person)
    material = verify(person.user, case)

    assert material.source == MaterialSource.DATASHARE
    call = Call.objects.get(uid=material.reference)
    assert call.case_number == case.number
    assert call.consumer_department_key == "cq-justice"
    assert call.outcome == CallOutcome.ANSWERED
    assert call.summary == {"answer": True}
    assert call.purpose == "受理申请时核验申请人身份"
    assert material.check_question == QUESTION
    assert material.check_provider == granted.department_name
    assert material.check_node == "500000"
    assert material.verified_at is not None
    assert material.uploaded_by == person.user
    assert (material.path, material.original_to_post) == ("", False)

    attach = case.events.get(action="attach")
    assert attach.role == "applicant"
    assert attach.payload["datashare_call"] == material.reference
    assert attach.payload["question"] == QUESTION
    checked = row(case)
    assert checked.uploaded == 0
    assert not checked.original_required
    assert QUESTION in checked.datashare
    assert granted.department_name in checked.datashare
    assert checked.license == ""


def test_the_applicants_province_comes_first_among_the_sources_granted(
    provider_admin: Any, granted: Resource
) -> None:
    """A Sichuan-born applicant: Sichuan's household register (known here from Sichuan's
    catalogue) would come first, but the deciding department holds no grant for it, so the
    register it may ask answers."""
    sichuan_born = PersonFactory(with_login=True, id_number=make_id_number(77, place="510104"))
    load(provider_admin, granted, sichuan_born)
    Resource.objects.create(
        node=SICHUAN,
        key="household",
        name="户籍人口信息",
        department_name="成都市公安局",
        subject_kind="person",
        sensitivity="sensitive",
        fields=granted.fields,
        questions=granted.questions,
        updated_at=timezone.now(),
        fetched_at=timezone.now(),
    )
    case = apply(sichuan_born.user, sichuan_born)
    material = verify(sichuan_born.user, case)
    assert material.check_node == CHONGQING
    assert Call.objects.get(uid=material.reference).provider_node == CHONGQING


def test_verifying_again_asks_nothing_and_returns_the_material(
    person: Any, granted: Resource
) -> None:
    case = apply(person.user, person)
    first = verify(person.user, case)
    calls, before = Call.objects.count(), written()
    assert verify(person.user, case).pk == first.pk
    assert (Call.objects.count(), written()) == (calls, before)


def test_a_window_clerk_verifies_and_forwards_without_a_scan_or_an_original(
    person: Any, granted: Resource
) -> None:
    clerk = StaffFactory(
        window_clerk=True, department_key="cq-big-data", jurisdiction_code="500103"
    )
    case = apply(clerk.user, person, mode="PROXY", applicant_id_number=person.id_number)
    verify(clerk.user, case)
    assert case.events.get(action="attach").role == "window_clerk"
    forwarded = services.case_act(
        actor=clerk.user, number=case.number, action="forward", payload=FORWARD
    )
    assert forwarded.events.get(action="forward").payload["originals_to_post"] == []


def test_the_deciding_reviewer_may_verify(person: Any, granted: Resource) -> None:
    reviewer = StaffFactory(reviewer=True, department_key="cq-justice")
    case = apply(person.user, person)
    verify(reviewer.user, case)
    assert case.events.get(action="attach").role == "reviewer"


# Refusals: each leaves nothing on the case --------------------------------------------------


def test_a_name_the_source_does_not_confirm_is_refused_and_the_paper_needed(
    person: Any, provider_admin: Any, household: Resource
) -> None:
    load(provider_admin, household, person, name="张冠李")
    grant(provider_admin, household, "cq-justice")
    case = apply(person.user, person)
    error = _refused(person.user, case, Conflict, "datashare_mismatch")
    assert error.status == 409
    logged = Call.objects.get(case_number=case.number)  # the no stays in the evidence log
    assert logged.summary == {"answer": False}
    assert row(case).datashare == ""


def test_without_a_grant_nothing_is_asked(
    person: Any, provider_admin: Any, household: Resource
) -> None:
    load(provider_admin, household, person)
    case = apply(person.user, person)
    _refused(person.user, case, Conflict, "no_grant")
    assert not Call.objects.exists()


def test_a_grant_for_other_items_is_refused_by_the_source(
    person: Any, provider_admin: Any, household: Resource
) -> None:
    load(provider_admin, household, person)
    other = ServiceItem.objects.filter(version=version_current()).exclude(name=ITEM).first()
    assert other is not None
    grant(provider_admin, household, "cq-justice", items=[other.code])
    case = apply(person.user, person)
    _refused(person.user, case, Refused, "purpose_mismatch")
    assert Call.objects.get(case_number=case.number).outcome == CallOutcome.REFUSED


def test_a_material_without_a_check_is_refused(person: Any, granted: Resource) -> None:
    case = card_exchange(person.user, person)
    _refused(person.user, case, ValidationFailed, "datashare_not_accepted", spec_key=CARD_SPEC)


def test_nobody_else_verifies(person: Any, granted: Resource) -> None:
    case = apply(person.user, person)
    _refused(StaffFactory(supervisor=True).user, case, Forbidden, "forbidden")
    _refused(PersonFactory(with_login=True).user, case, NotFound, "not_found")  # hidden
    other = StaffFactory(reviewer=True, department_key="cq-hrss")
    _refused(other.user, case, NotFound, "not_found")


def test_nothing_is_verified_once_the_case_is_accepted(person: Any, granted: Resource) -> None:
    case = apply(person.user, person)
    reviewer = StaffFactory(reviewer=True, department_key="cq-justice")
    services.case_act(actor=reviewer.user, number=case.number, action="accept")
    _refused(person.user, case, Conflict, "materials_closed")


# The API and the page -------------------------------------------------------------------------


def test_the_api_verifies_and_says_why_not(
    person: Any, provider_admin: Any, household: Resource
) -> None:
    load(provider_admin, household, person)
    client = login(Client(), person.user)
    case = apply(person.user, person)
    url = f"/api/v1/cases/{case.number}/materials/datashare"
    refused = client.post(url, {"spec_key": "identity"}, content_type="application/json")
    assert refused.status_code == 409
    assert refused.json()["code"] == "no_grant"

    grant(provider_admin, household, "cq-justice")
    answer = client.post(url, {"spec_key": "identity"}, content_type="application/json")
    assert answer.status_code == 201, answer.content
    body = answer.json()
    assert body["source"] == "datashare"
    assert body["check_question"] == QUESTION
    assert body["check_node"] == "500000"
    assert body["verified_at"]
    checklist = client.get(f"/api/v1/cases/{case.number}/checklist").json()
    identity = next(r for r in checklist["materials"] if r["key"] == "identity")
    assert QUESTION in identity["datashare"]


def test_the_case_page_offers_the_check_and_shows_what_was_verified(
    person: Any, granted: Resource
) -> None:
    case = apply(person.user, person)
    client = login(Client(), person.user)
    page = client.get(f"/cases/{case.number}/").content.decode()
    assert 'name="hand_in" value="datashare"' in page

    done = client.post(
        f"/cases/{case.number}/materials/", {"hand_in": "datashare", "spec_key": "identity"}
    )
    assert done.status_code == 302
    page = client.get(f"/cases/{case.number}/").content.decode()
    assert 'value="datashare"' not in page
    assert "datashare-material" in page
    assert QUESTION in page
    assert Material.objects.get(case=case).reference in page


# Across provinces ------------------------------------------------------------------------------


@pytest.fixture
def trusted(settings: Any, tmp_path: Path) -> RemoteHub:
    hub = remote_hub(settings, tmp_path)
    hub.publish({CHONGQING: URLS[CHONGQING], SICHUAN: URLS[SICHUAN]})
    return hub


def test_a_check_made_at_the_window_reaches_the_deciding_node(
    settings: Any, trusted: RemoteHub, person: Any, provider_admin: Any, household: Resource
) -> None:
    load(provider_admin, household, person)
    grant(provider_admin, household, "cq-big-data")  # the window's department asks
    clerk = StaffFactory(
        window_clerk=True, department_key="cq-big-data", jurisdiction_code="500103"
    )
    case = apply(clerk.user, person, "510100", mode="PROXY", applicant_id_number=person.id_number)
    material = verify(clerk.user, case)
    assert Call.objects.get(uid=material.reference).consumer_department_key == "cq-big-data"

    services.case_act(actor=clerk.user, number=case.number, action="forward", payload=FORWARD)
    (event,) = sent(federation.HANDED_OVER, subject=case.uid, to=SICHUAN)
    data = {**event["data"], "uid": str(uuid.uuid4())}
    with node(settings, SICHUAN), transaction.atomic():
        federation.on_handed_over(incoming(CHONGQING, federation.HANDED_OVER, data))
    deciding = Case.objects.get(uid=data["uid"])
    copied = deciding.materials.get()
    assert copied.source == MaterialSource.DATASHARE
    assert (copied.reference, copied.check_question) == (material.reference, QUESTION)
    assert (copied.check_provider, copied.check_node) == (household.department_name, "500000")
    assert copied.transfer == ""
    assert QUESTION in row(deciding).datashare
    assert not row(deciding).original_required


def test_the_applicant_cannot_verify_on_a_copy(
    settings: Any, trusted: RemoteHub, person: Any, granted: Resource
) -> None:
    mirror = apply(person.user, person, "510100")
    assert federation.is_mirror(mirror)
    error = _refused(person.user, mirror, ValidationFailed, "datashare_not_here")
    assert error.status == 400
