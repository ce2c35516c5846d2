"""Two reviewers accept the same case at the same moment: the row lock lets exactly one win."""

import threading

import pytest
from django.db import connection, connections

from tests.cases.conftest import form_for
from tests.factories import PersonFactory, StaffFactory
from tongban.cases import services
from tongban.cases.models import Case
from tongban.core.errors import Conflict

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL"),
]


def test_a_concurrent_double_accept_has_exactly_one_winner() -> None:
    from tongban.catalog.models import ServiceItem
    from tongban.catalog.selectors import version_current

    item = ServiceItem.objects.get(version=version_current(), name="学历公证")
    citizen = PersonFactory(with_login=True)
    reviewers = [StaffFactory(reviewer=True, department_key="cq-justice") for _ in range(2)]
    case = services.case_submit(
        actor=citizen.user,
        item_code=item.code,
        scenario_key="general",
        authority_division="500000",
        form_data=form_for(citizen),
    )
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def accept(reviewer) -> None:
        try:
            barrier.wait(timeout=10)
            services.case_act(actor=reviewer.user, number=case.number, action="accept")
            outcomes.append("won")
        except Conflict:
            outcomes.append("conflict")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=accept, args=(reviewer,)) for reviewer in reviewers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["conflict", "won"]
    case = Case.objects.get(pk=case.pk)
    assert case.state == "accepted"
    assert list(case.events.values_list("action", flat=True)) == ["submit", "accept"]
