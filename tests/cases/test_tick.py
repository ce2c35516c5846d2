"""行政许可法 art. 32: no supplement notice within 5 working days of receipt → accepted on the day
of receipt. And deadline alerts for open cases."""

import datetime as dt
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command

from tests.cases.conftest import form_for
from tongban.cases import services
from tongban.cases.models import CaseAlert
from tongban.cases.selectors import chain_break
from tongban.catalog.models import CatalogVersion

pytestmark = pytest.mark.django_db
SHANGHAI = dt.timezone(dt.timedelta(hours=8))


@pytest.fixture(autouse=True)
def _catalogue_in_force_all_year(item) -> None:
    CatalogVersion.objects.filter(pk=item.version_id).update(valid_from=dt.date(2026, 1, 1))


def _submit_on(day: dt.date, citizen, item):
    with time_machine.travel(
        dt.datetime(day.year, day.month, day.day, 10, tzinfo=SHANGHAI), tick=False
    ):
        return services.case_submit(
            actor=citizen.user,
            item_code=item.code,
            scenario_key="general",
            authority_division="500000",
            form_data=form_for(citizen),
        )


def test_an_unanswered_application_counts_as_accepted_on_the_day_of_receipt(item, citizen) -> None:
    case = _submit_on(dt.date(2026, 11, 2), citizen, item)  # Monday
    assert services.cases_deem_accepted(today=dt.date(2026, 11, 9)) == []  # the 5th working day
    assert services.cases_deem_accepted(today=dt.date(2026, 11, 10)) == [case.number]
    case.refresh_from_db()
    assert case.state == "accepted"
    assert case.accepted_on == dt.date(2026, 11, 2)
    event = case.events.get(action="accept")
    assert (event.role, event.actor_label, event.payload["deemed"]) == ("system", "system", True)
    assert chain_break(case) is None
    assert services.cases_deem_accepted(today=dt.date(2026, 11, 20)) == []  # once


def test_a_supplement_notice_in_time_stops_it(item, citizen, cq_reviewer) -> None:
    case = _submit_on(dt.date(2026, 11, 2), citizen, item)
    services.case_act(
        actor=cq_reviewer.user,
        number=case.number,
        action="request_supplement",
        payload={"missing": ["x"]},
    )
    assert services.cases_deem_accepted(today=dt.date(2026, 11, 20)) == []
    case.refresh_from_db()
    assert case.state == "awaiting_supplement"


def test_golden_week_is_not_counted(item, citizen) -> None:
    case = _submit_on(dt.date(2026, 9, 30), citizen, item)
    # Working days after 30 Sep: 8, 9, 10 (make-up Saturday), 12, 13 Oct → deadline 13 Oct.
    assert services.cases_deem_accepted(today=dt.date(2026, 10, 13)) == []
    assert services.cases_deem_accepted(today=dt.date(2026, 10, 14)) == [case.number]


def test_alerts_are_raised_once_per_level(item, citizen, cq_reviewer) -> None:
    case = _submit_on(dt.date(2026, 9, 1), citizen, item)
    with time_machine.travel(dt.datetime(2026, 9, 1, 11, tzinfo=SHANGHAI), tick=False):
        services.case_act(actor=cq_reviewer.user, number=case.number, action="accept")
    assert services.cases_raise_alerts(today=dt.date(2026, 9, 10)) == 0
    assert services.cases_raise_alerts(today=dt.date(2026, 9, 25)) == 1  # yellow
    assert services.cases_raise_alerts(today=dt.date(2026, 9, 25)) == 0
    assert services.cases_raise_alerts(today=dt.date(2026, 10, 20)) == 1  # red
    assert set(CaseAlert.objects.values_list("level", flat=True)) == {"yellow", "red"}


def test_the_tick_command(item, citizen) -> None:
    out = StringIO()
    call_command("cases", "tick", stdout=out)
    assert "deemed accepted" in out.getvalue()
