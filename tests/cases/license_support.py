"""Electronic licences to hand in as materials, issued the way the node issues them: by approving
the case that produces them (a 残疾人证 by approving 残疾人证新办 at 重庆市残疾人联合会)."""

from __future__ import annotations

from typing import Any

from tests.cases.conftest import form_for
from tests.factories import PersonFactory, StaffFactory
from tongban.cases import services as cases
from tongban.cases.models import Case
from tongban.catalog.models import ServiceItem
from tongban.catalog.selectors import version_current
from tongban.licenses.models import License

NEW_CARD = "残疾人证新办"
EXCHANGE_CARD = "残疾人证换领"  # asks for the card: material "disability-card"
CARD_SPEC = "disability-card"


def item_named(name: str) -> ServiceItem:
    return ServiceItem.objects.get(version=version_current(), name=name)


def deciders(department_key: str) -> dict[str, Any]:
    return {
        "reviewer": StaffFactory(reviewer=True, department_key=department_key),
        "approver": StaffFactory(approver=True, department_key=department_key),
    }


def approved(item: ServiceItem, staff: dict[str, Any], person: Any | None = None) -> Case:
    """A case for ``item`` applied for online at 500000 by ``person`` (a new one by default)
    and approved by ``staff`` ("reviewer", "approver"): the one way tests issue a licence."""
    person = person or PersonFactory(with_login=True)
    case = cases.case_submit(
        actor=person.user,
        item_code=item.code,
        scenario_key="general",
        authority_division="500000",
        form_data=form_for(person),
    )
    for who, action in (
        ("reviewer", "accept"),
        ("reviewer", "begin_review"),
        ("approver", "approve"),
    ):
        case = cases.case_act(actor=staff[who].user, number=case.number, action=action)
    return case


def issued(item_name: str, person: Any, staff: dict[str, Any]) -> License:
    """The licence approving ``item_name`` for ``person`` issues (applied online at 500000)."""
    return License.objects.get(case=approved(item_named(item_name), staff, person))


def disability_card(person: Any, staff: dict[str, Any] | None = None) -> License:
    return issued(NEW_CARD, person, staff or deciders("cq-disabled-persons"))


def card_exchange(actor: Any, person: Any, **extra: Any) -> Case:
    """A 残疾人证换领 case for ``person``, filed by ``actor`` (ONLINE unless ``extra`` says)."""
    return cases.case_submit(
        actor=actor,
        item_code=item_named(EXCHANGE_CARD).code,
        scenario_key="general",
        authority_division="500000",
        form_data=form_for(person),
        **extra,
    )
