"""Staff, cases and logged-in clients for the workbench pages."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from tests.cases.conftest import form_for
from tests.conftest import login
from tests.factories import PersonFactory, StaffFactory
from tongban.cases import services
from tongban.cases.models import Case
from tongban.catalog.models import ServiceItem
from tongban.catalog.selectors import version_current

HOUSEHOLD = "大中专学生毕业户口迁移"


def item_named(name: str) -> ServiceItem:
    return ServiceItem.objects.get(version=version_current(), name=name)


@pytest.fixture
def notary(db: None) -> ServiceItem:
    """学历公证: ONLINE and PROXY, decided by 重庆市司法局 (500000) and 成都市司法局 (510100)."""
    return item_named("学历公证")


@pytest.fixture
def citizen(db: None) -> Any:
    return PersonFactory(with_login=True)


@pytest.fixture
def reviewer(db: None) -> Any:
    return StaffFactory(reviewer=True, department_key="cq-justice")


@pytest.fixture
def approver(db: None) -> Any:
    return StaffFactory(approver=True, department_key="cq-justice")


@pytest.fixture
def hrss_reviewer(db: None) -> Any:
    return StaffFactory(reviewer=True, department_key="cq-hrss")


@pytest.fixture
def window_clerk(db: None) -> Any:
    """A clerk at a 渝中区 window."""
    return StaffFactory(window_clerk=True, department_key="cq-big-data", jurisdiction_code="500103")


def desk(user: Any) -> Client:
    """A browser logged in as ``user`` (a User, or anything with one)."""
    client = Client()
    return login(client, getattr(user, "user", user))


def online_case(person: Any, item: ServiceItem, *, division: str = "500000") -> Case:
    return services.case_submit(
        actor=person.user,
        item_code=item.code,
        scenario_key="general",
        authority_division=division,
        form_data=form_for(person),
    )


def proxy_case(clerk: Any, person: Any, item: ServiceItem, *, division: str = "510100") -> Case:
    """Received at the clerk's window for the authority at ``division``."""
    return services.case_submit(
        actor=clerk.user,
        item_code=item.code,
        scenario_key="general",
        authority_division=division,
        form_data=form_for(person),
        mode="PROXY",
        applicant_id_number=person.id_number,
    )


def act(staff: Any, case: Case, action: str, payload: dict[str, Any] | None = None) -> Case:
    return services.case_act(actor=staff.user, number=case.number, action=action, payload=payload)


def snapshot(case: Case) -> tuple[Any, ...]:
    """What an action that was refused must leave unchanged."""
    fresh = Case.objects.get(pk=case.pk)
    legs = list(fresh.legs.order_by("seq").values_list("state", "input", "output"))
    return fresh.state, fresh.accepted_on, fresh.assignee_id, legs, fresh.events.count()
