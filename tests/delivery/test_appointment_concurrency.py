"""Many people take the last places of a slot at the same moment: the guarded increment on the
slot's counter row lets exactly ``capacity`` of them in; one person's parallel requests for
the same time book once."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from django.db import connection, connections

from tests.delivery.appointments_support import at, book
from tests.factories import PersonFactory
from tongban.core.errors import Conflict
from tongban.delivery.models import Appointment, SlotCounter

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL"),
]


def race(calls: list[Callable[[], object]]) -> list[str]:
    barrier = threading.Barrier(len(calls))
    outcomes: list[str] = []

    def run(call: Callable[[], object]) -> None:
        try:
            barrier.wait(timeout=10)
            call()
            outcomes.append("booked")
        except Conflict as refused:
            outcomes.append(refused.code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return sorted(outcomes)


def test_six_people_two_places(window) -> None:
    people = [PersonFactory(with_login=True) for _ in range(6)]
    outcomes = race([lambda p=p: book(p, window, at(23, 9)) for p in people])
    assert outcomes == ["booked"] * 2 + ["slot_full"] * 4
    assert SlotCounter.objects.get(starts_at=at(23, 9)).booked == 2
    assert Appointment.objects.filter(starts_at=at(23, 9)).count() == 2


def test_one_person_twice_at_once(window, citizen) -> None:
    outcomes = race([lambda: book(citizen, window, at(23, 9)) for _ in range(3)])
    assert outcomes == ["booked", "double_booking", "double_booking"]
    assert SlotCounter.objects.get(starts_at=at(23, 9)).booked == 1
