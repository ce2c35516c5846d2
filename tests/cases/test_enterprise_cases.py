"""The enterprise, not the person, is the applicant; a removed handler loses its cases at once."""

from __future__ import annotations

import pytest

from tests.cases.conftest import form_for
from tests.factories import EnterpriseFactory, PersonFactory
from tongban.accounts import services as accounts
from tongban.accounts.models import MemberRole
from tongban.cases import selectors, services
from tongban.catalog.models import ServiceItem
from tongban.core.errors import Forbidden, NotFound

pytestmark = pytest.mark.django_db


def test_a_removed_handler_loses_the_enterprises_cases(item: ServiceItem) -> None:
    representative = PersonFactory(with_login=True)
    enterprise = EnterpriseFactory(legal_representative=representative)
    handler = PersonFactory(with_login=True)
    accounts.enterprise_member_add(
        actor=representative.user,
        enterprise=enterprise,
        id_number=handler.id_number,
        name=handler.name,
        role=MemberRole.AUTHORISED_HANDLER,
    )
    case = services.case_submit(
        actor=handler.user,
        item_code=item.code,
        scenario_key="general",
        authority_division="500000",
        form_data=form_for(handler),
        enterprise_uscc=enterprise.uscc,
    )
    assert (case.applicant_enterprise, case.applicant_person, case.agent) == (
        enterprise,
        None,
        handler,
    )
    assert selectors.case_applicant_label(case) == enterprise.name
    assert case in selectors.cases_of_applicant(actor=representative.user)
    assert services.actions_for(actor=handler.user, case=case) == ["withdraw"]

    accounts.enterprise_member_remove(
        actor=representative.user, enterprise=enterprise, person_id=handler.pk
    )
    assert case not in selectors.visible_cases(actor=handler.user)
    with pytest.raises(NotFound):
        selectors.case_get(actor=handler.user, number=case.number)
    with pytest.raises(NotFound):
        services.case_act(actor=handler.user, number=case.number, action="withdraw")
    with pytest.raises(Forbidden):
        services.case_submit(
            actor=handler.user,
            item_code=item.code,
            scenario_key="general",
            authority_division="500000",
            form_data=form_for(handler),
            enterprise_uscc=enterprise.uscc,
        )
    # The enterprise's own representative still acts on it.
    services.case_act(actor=representative.user, number=case.number, action="withdraw")
