"""case_submit refuses a person below the item's real-name level, before writing anything."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import translation

from tests.cases.conftest import form_for
from tests.factories import EnterpriseFactory, PersonFactory, StaffFactory
from tongban.accounts import services as accounts
from tongban.accounts.models import MemberRole, RealNameLevel
from tongban.cases import services
from tongban.cases.models import Case
from tongban.catalog.models import ServiceItem
from tongban.catalog.selectors import version_current
from tongban.core.errors import Forbidden
from tongban.core.models import AuditEntry

pytestmark = pytest.mark.django_db


@pytest.fixture
def benefit(db: None) -> ServiceItem:
    """失业保险金申领: L3, ONLINE and PROXY, decided by 重庆市人力社保局 at 500000."""
    return ServiceItem.objects.get(version=version_current(), name="失业保险金申领")


def _submit(actor: Any, item: ServiceItem, person: Any, **extra: Any) -> Case:
    return services.case_submit(
        actor=actor,
        item_code=item.code,
        scenario_key="general",
        authority_division="500000",
        form_data=form_for(person),
        **extra,
    )


def test_a_registered_person_is_asked_to_step_up(item: ServiceItem) -> None:
    """学历公证 needs L2; a new account is L1."""
    newcomer = PersonFactory(with_login=True, real_name_level=RealNameLevel.REGISTERED)
    with translation.override("zh-hans"), pytest.raises(Forbidden) as refused:
        _submit(newcomer.user, item, newcomer)
    error = refused.value
    assert error.code == "real_name_level_too_low"
    assert "L2" in str(error.message)
    assert "L1" in str(error.message)
    assert "窗口" in str(error.message)  # how: in-person verification at a window
    assert not Case.objects.exists()
    entry = AuditEntry.objects.get(action="case.refused_real_name_level")
    assert entry.changes == {"item": item.code, "needed": 2, "held": 1}


def test_verified_in_person_applies_for_an_l3_item(benefit: ServiceItem) -> None:
    newcomer = PersonFactory(with_login=True, real_name_level=RealNameLevel.REGISTERED)
    with pytest.raises(Forbidden):
        _submit(newcomer.user, benefit, newcomer)
    clerk = StaffFactory(window_clerk=True, department_key="cq-big-data")
    accounts.person_verify_in_person(
        actor=clerk.user, person=newcomer, document_checked="resident_id_card"
    )
    case = _submit(newcomer.user, benefit, newcomer)
    assert case.applicant_person == newcomer


def test_for_an_enterprise_the_acting_person_needs_the_level(benefit: ServiceItem) -> None:
    representative = PersonFactory(with_login=True)  # L3
    enterprise = EnterpriseFactory(legal_representative=representative)
    handler = PersonFactory(with_login=True, real_name_level=RealNameLevel.REGISTERED)
    accounts.enterprise_member_add(
        actor=representative.user,
        enterprise=enterprise,
        id_number=handler.id_number,
        name=handler.name,
        role=MemberRole.AUTHORISED_HANDLER,
    )
    with pytest.raises(Forbidden) as refused:
        _submit(handler.user, benefit, handler, enterprise_uscc=enterprise.uscc)
    assert refused.value.code == "real_name_level_too_low"
    case = _submit(representative.user, benefit, representative, enterprise_uscc=enterprise.uscc)
    assert (case.applicant_enterprise, case.agent) == (enterprise, representative)


def test_at_a_window_only_a_recorded_check_counts(benefit: ServiceItem) -> None:
    clerk = StaffFactory(window_clerk=True, department_key="cq-big-data")
    person = PersonFactory(real_name_level=RealNameLevel.REGISTERED)
    proxy = {"mode": "PROXY", "applicant_id_number": person.id_number}
    with pytest.raises(Forbidden) as refused:
        _submit(clerk.user, benefit, person, **proxy)
    assert refused.value.code == "real_name_level_too_low"
    assert not Case.objects.exists()
    accounts.person_verify_in_person(
        actor=clerk.user, person=person, document_checked="resident_id_card"
    )
    case = _submit(clerk.user, benefit, person, **proxy)
    assert (case.applicant_person, case.received_by) == (person, clerk)
