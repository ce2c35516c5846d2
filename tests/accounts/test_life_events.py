import datetime as dt
import json

import pytest
from django.utils import timezone

from tests.conftest import login
from tests.factories import EnterpriseFactory, PersonFactory, StaffFactory, make_id_number
from tongban.accounts import services
from tongban.accounts.models import LifeEvent
from tongban.accounts.selectors import person_facts
from tongban.core.errors import Forbidden, ValidationFailed
from tongban.core.models import AuditEntry

pytestmark = pytest.mark.django_db


def test_a_person_declares_and_withdraws_a_life_event() -> None:
    person = PersonFactory(with_login=True)
    services.life_event_declare(
        actor=person.user, kind="graduated", occurred_on=dt.date(2026, 6, 30)
    )
    services.life_event_declare(
        actor=person.user, kind="graduated", occurred_on=dt.date(2026, 6, 30)
    )
    assert (
        AuditEntry.objects.filter(action="person.life_event_declared").count() == 1
    )  # no-op repeat
    assert list(person.life_events.values_list("kind", flat=True)) == ["graduated"]
    services.life_event_withdraw(actor=person.user, kind="graduated")
    assert not LifeEvent.objects.exists()


def test_bad_kinds_and_future_dates_are_refused() -> None:
    person = PersonFactory(with_login=True)
    with pytest.raises(ValidationFailed) as problem:
        services.life_event_declare(actor=person.user, kind="won_lottery")
    assert "kind" in problem.value.fields
    with pytest.raises(ValidationFailed) as problem:
        services.life_event_declare(
            actor=person.user,
            kind="married",
            occurred_on=timezone.localdate() + dt.timedelta(days=1),
        )
    assert "occurred_on" in problem.value.fields


def test_staff_without_a_person_record_cannot_declare() -> None:
    with pytest.raises(Forbidden):
        services.life_event_declare(actor=StaffFactory().user, kind="married")


def test_derived_facts() -> None:
    local = PersonFactory(id_number=make_id_number(1, place="500103", birth_date="19990307"))
    assert person_facts(person=local, node_code="500000") == set()
    # 长寿县, issued in Sichuan before Chongqing became a municipality: not evidence of moving.
    old_chongqing = PersonFactory(
        id_number=make_id_number(2, place="510221", birth_date="19600101")
    )
    assert (
        person_facts(person=old_chongqing, node_code="500000", today=dt.date(2019, 12, 31)) == set()
    )
    senior = old_chongqing
    assert "retirement_age" not in person_facts(
        person=senior, node_code="500000", today=dt.date(2019, 12, 31)
    )
    assert "retirement_age" in person_facts(
        person=senior, node_code="500000", today=dt.date(2020, 1, 1)
    )
    enterprise = EnterpriseFactory(legal_representative=local)
    assert person_facts(person=enterprise.legal_representative, node_code="500000") == {
        "legal_representative",
        "enterprise_member",
    }


def test_life_events_over_the_api(api) -> None:
    person = PersonFactory(with_login=True)
    login(api, person.user)
    response = api.post(
        "/api/v1/accounts/me/life-events",
        data=json.dumps({"kind": "child_born", "occurred_on": "2026-10-01"}),
        content_type="application/json",
    )
    assert response.status_code == 201
    assert response.json() == {
        "kind": "child_born",
        "label": "生育子女",
        "occurred_on": "2026-10-01",
    }
    assert [e["kind"] for e in api.get("/api/v1/accounts/me/life-events").json()] == ["child_born"]
    assert api.delete("/api/v1/accounts/me/life-events/child_born").status_code == 204
    assert api.get("/api/v1/accounts/me/life-events").json() == []
