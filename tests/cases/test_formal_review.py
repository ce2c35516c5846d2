"""The window's identity check and formal review (形式审查) before a PROXY case is forwarded."""

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.cases.conftest import FORWARD, PDF, form_for, scan_identity
from tests.factories import StaffFactory
from tongban.cases import services
from tongban.cases.models import Case
from tongban.catalog.models import MaterialSpec
from tongban.core.errors import ValidationFailed

pytestmark = pytest.mark.django_db
IDENTITY_PARTS = ("method", "document", "holder")


@pytest.fixture
def window_clerk(db: None) -> Any:
    return StaffFactory(window_clerk=True, department_key="cq-big-data", jurisdiction_code="500103")


@pytest.fixture
def received(item, citizen, window_clerk) -> Case:
    """A Chongqing window receives a case that 成都市司法局 decides."""
    return services.case_submit(
        actor=window_clerk.user,
        item_code=item.code,
        scenario_key="general",
        authority_division="510100",
        form_data=form_for(citizen),
        mode="PROXY",
        applicant_id_number=citizen.id_number,
    )


@pytest.fixture
def more_materials(item) -> None:
    """The catalogue's scenarios ask for the ID card only; give this one a diploma whose
    original is posted (required) and an optional translation (original also posted)."""
    scenario = item.scenarios.get(key="general")
    MaterialSpec.objects.create(
        scenario=scenario, key="diploma", name="毕业证书", original_required=True, order=1
    )
    MaterialSpec.objects.create(
        scenario=scenario,
        key="translation",
        name="翻译件",
        required=False,
        original_required=True,
        order=2,
    )


def _scan(clerk_user: Any, number: str, spec_key: str) -> None:
    services.material_upload(
        actor=clerk_user,
        number=number,
        spec_key=spec_key,
        upload=SimpleUploadedFile(f"{spec_key}.pdf", PDF, content_type="application/pdf"),
    )


def _forward(clerk, case: Case, payload: dict[str, Any]) -> Case:
    return services.case_act(
        actor=clerk.user, number=case.number, action="forward", payload=payload
    )


def _with(**changes: Any) -> dict[str, Any]:
    """FORWARD with some of its parts changed (None: left out)."""
    payload: dict[str, Any] = {
        "identity": dict(FORWARD["identity"]),
        "checklist": dict(FORWARD["checklist"]),
    }
    for path, value in changes.items():
        part, _sep, name = path.partition("__")
        target = payload if not name else payload[part]
        key = name or part
        if value is None:
            target.pop(key, None)
        else:
            target[key] = value
    return payload


@pytest.mark.parametrize(
    ("payload", "fields"),
    [
        ({}, {"identity", "checklist"}),  # both are required details of `forward`
        (_with(identity=None), {"identity"}),
        (_with(identity="已核验"), {"identity"} | {f"identity.{n}" for n in IDENTITY_PARTS}),
        (_with(identity__method=None), {"identity.method"}),
        (_with(identity__method="telepathy"), {"identity.method"}),
        (_with(identity__method=["id_card_reader"]), {"identity.method"}),
        (_with(identity__document="library_card"), {"identity.document"}),
        (_with(identity__document={"resident_id_card": True}), {"identity.document"}),
        (_with(identity__holder="neighbour"), {"identity.holder"}),
        (_with(identity__holder=""), {"identity.holder"}),
        (_with(checklist=None), {"checklist"}),
        (_with(checklist=["identity"]), {"checklist", "checklist.identity"}),
        (_with(checklist={}), {"checklist.identity"}),
        (_with(checklist__diploma="present"), {"checklist.diploma"}),
        (_with(checklist__identity="missing"), {"checklist.identity"}),
        (_with(checklist__identity="not_applicable"), {"checklist.identity"}),
        (_with(checklist__identity="yes"), {"checklist.identity"}),
        (_with(checklist__identity=["present"]), {"checklist.identity"}),
        (_with(checklist__identity=True), {"checklist.identity"}),
    ],
)
def test_an_incomplete_formal_review_is_refused_and_nothing_changes(
    received, window_clerk, payload, fields
) -> None:
    scan_identity(window_clerk.user, received.number)
    events = received.events.count()
    with pytest.raises(ValidationFailed) as problem:
        _forward(window_clerk, received, payload)
    assert set(problem.value.fields) == fields
    received.refresh_from_db()
    assert received.state == "received"
    assert received.events.count() == events
    assert not received.events.filter(action="forward").exists()


def test_a_material_marked_present_must_be_scanned_in_first(received, window_clerk) -> None:
    with pytest.raises(ValidationFailed) as problem:
        _forward(window_clerk, received, FORWARD)
    assert set(problem.value.fields) == {"checklist.identity"}
    assert "上传" in str(problem.value.fields["checklist.identity"])
    received.refresh_from_db()
    assert received.state == "received"
    assert received.events.count() == 1


def test_the_forward_event_records_the_identity_check_and_the_checklist(
    received, window_clerk
) -> None:
    scan_identity(window_clerk.user, received.number)
    payload = _with(identity__note="证件在有效期内")  # extra details are not kept
    case = _forward(window_clerk, received, payload)
    assert case.state == "submitted"  # now at the deciding authority
    event = case.events.get(action="forward")
    assert event.payload["identity"] == FORWARD["identity"]
    assert event.payload["checklist"] == {"identity": "present"}
    assert event.payload["originals_to_post"] == []
    assert event.role == "window_clerk"


def test_required_and_optional_materials_and_the_originals_to_post(
    received, window_clerk, more_materials
) -> None:
    scan_identity(window_clerk.user, received.number)
    complete = {"identity": "present", "diploma": "present", "translation": "missing"}
    with pytest.raises(ValidationFailed) as unscanned:
        _forward(window_clerk, received, _with(checklist=complete))
    assert set(unscanned.value.fields) == {"checklist.diploma"}
    with pytest.raises(ValidationFailed) as forgotten:
        _forward(window_clerk, received, _with(checklist={"identity": "present"}))
    assert set(forgotten.value.fields) == {"checklist.diploma", "checklist.translation"}
    with pytest.raises(ValidationFailed) as missing:
        _forward(window_clerk, received, _with(checklist={**complete, "diploma": "missing"}))
    assert set(missing.value.fields) == {"checklist.diploma"}

    _scan(window_clerk.user, received.number, "diploma")
    with pytest.raises(ValidationFailed) as unscanned_optional:
        _forward(window_clerk, received, _with(checklist={**complete, "translation": "present"}))
    assert set(unscanned_optional.value.fields) == {"checklist.translation"}
    with pytest.raises(ValidationFailed) as not_applicable:  # a required one always applies
        _forward(window_clerk, received, _with(checklist={**complete, "diploma": "not_applicable"}))
    assert set(not_applicable.value.fields) == {"checklist.diploma"}
    assert received.events.filter(action="forward").count() == 0
    case = _forward(window_clerk, received, _with(checklist=complete))
    event = case.events.get(action="forward")
    assert event.payload["checklist"] == complete
    # The optional translation is missing, so only the diploma's original goes by post.
    assert event.payload["originals_to_post"] == ["diploma"]


def test_an_optional_material_present_has_its_original_posted(
    received, window_clerk, more_materials
) -> None:
    for key in ("identity", "diploma", "translation"):
        _scan(window_clerk.user, received.number, key)
    checklist = {"identity": "present", "diploma": "present", "translation": "present"}
    case = _forward(window_clerk, received, _with(checklist=checklist))
    assert case.events.get(action="forward").payload["originals_to_post"] == [
        "diploma",
        "translation",
    ]


def test_the_checklist_counts_the_files_scanned_in(received, window_clerk, more_materials) -> None:
    rows = services.formal_review_checklist(received)
    assert [(r.key, r.required, r.original_required, r.uploaded) for r in rows] == [
        ("identity", True, False, 0),
        ("diploma", True, True, 0),
        ("translation", False, True, 0),
    ]
    scan_identity(window_clerk.user, received.number)
    scan_identity(window_clerk.user, received.number)  # front and back
    _scan(window_clerk.user, received.number, "diploma")
    rows = services.formal_review_checklist(received)
    assert [(r.key, r.uploaded) for r in rows] == [
        ("identity", 2),
        ("diploma", 1),
        ("translation", 0),
    ]
    assert rows[0].name == "申请人有效身份证件"
    assert "pdf" in rows[0].accepted_types
