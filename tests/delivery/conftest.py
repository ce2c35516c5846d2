"""A PROXY case received at a 渝中区 window for 重庆市司法局, whose ID card's original is posted."""

from __future__ import annotations

from typing import Any

import pytest

from tests.cases.conftest import FORWARD, form_for, scan_identity
from tests.factories import PersonFactory, StaffFactory
from tongban.cases import services
from tongban.cases.models import Case
from tongban.catalog.models import MaterialSpec, ServiceItem
from tongban.catalog.selectors import version_current


@pytest.fixture
def item(db: None) -> ServiceItem:
    """学历公证, decided by 重庆市司法局 (500000); the generic scenario asks for the ID card."""
    return ServiceItem.objects.get(version=version_current(), name="学历公证")


@pytest.fixture
def originals(item: ServiceItem) -> None:
    """The ID card's original goes by post (the forward lists it in originals_to_post)."""
    MaterialSpec.objects.filter(scenario__item=item, key="identity").update(original_required=True)


@pytest.fixture
def citizen(db: None) -> Any:
    return PersonFactory(with_login=True)


@pytest.fixture
def window_clerk(db: None) -> Any:
    """A clerk at a 渝中区 (500103) window."""
    return StaffFactory(window_clerk=True, department_key="cq-big-data", jurisdiction_code="500103")


@pytest.fixture
def reviewer(db: None) -> Any:
    return StaffFactory(reviewer=True, department_key="cq-justice")


@pytest.fixture
def approver(db: None) -> Any:
    return StaffFactory(approver=True, department_key="cq-justice")


def receive(clerk: Any, person: Any, item: ServiceItem) -> Case:
    return services.case_submit(
        actor=clerk.user,
        item_code=item.code,
        scenario_key="general",
        authority_division="500000",
        form_data=form_for(person),
        mode="PROXY",
        applicant_id_number=person.id_number,
    )


def forward(clerk: Any, case: Case) -> Case:
    scan_identity(clerk.user, case.number)
    return services.case_act(
        actor=clerk.user, number=case.number, action="forward", payload=FORWARD
    )


def decide(reviewer: Any, approver: Any, case: Case) -> Case:
    """Accept, review and approve (the originals, if any, must have arrived)."""
    for staff, action in ((reviewer, "accept"), (reviewer, "begin_review"), (approver, "approve")):
        case = services.case_act(actor=staff.user, number=case.number, action=action)
    return case


@pytest.fixture
def received(window_clerk: Any, citizen: Any, item: ServiceItem, originals: None) -> Case:
    return receive(window_clerk, citizen, item)


@pytest.fixture
def forwarded(window_clerk: Any, received: Case) -> Case:
    """Forwarded to 重庆市司法局 with the ID card's original to post."""
    case = forward(window_clerk, received)
    assert case.events.get(action="forward").payload["originals_to_post"] == ["identity"]
    return case


@pytest.fixture
def decided(
    window_clerk: Any, reviewer: Any, approver: Any, citizen: Any, item: ServiceItem
) -> Case:
    """A PROXY case without originals to post, approved by 重庆市司法局."""
    return decide(reviewer, approver, forward(window_clerk, receive(window_clerk, citizen, item)))
