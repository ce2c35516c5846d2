"""A test hall with one off-hours window and a week of appointment hours, frozen on a working
Tuesday (22 Sep 2026, 10:00 in Shanghai): Mid-autumn is 25–27 Sep, a make-up working Sunday
20 Sep, National Day 1–7 Oct, a make-up working Saturday 10 Oct.

The fixtures ``frozen`` and ``window`` are registered for every test directory in
tests/conftest.py (``pytest_plugins``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
import time_machine

from tongban.core.audit import SYSTEM
from tongban.delivery import appointments
from tongban.regions.models import Window
from tongban.regions.services import hall_create

SHANGHAI = dt.timezone(dt.timedelta(hours=8))
NOW = dt.datetime(2026, 9, 22, 10, tzinfo=SHANGHAI)  # a working Tuesday

WEEK: list[dict[str, Any]] = [
    row
    for day in range(1, 6)
    for row in (
        {
            "weekday": day,
            "start": "09:00",
            "end": "12:00",
            "slot_minutes": 30,
            "capacity": 2,
            "kind": "regular",
        },
        {
            "weekday": day,
            "start": "12:00",
            "end": "13:30",
            "slot_minutes": 30,
            "capacity": 1,
            "kind": "lunchtime",
        },
        {
            "weekday": day,
            "start": "17:30",
            "end": "19:00",
            "slot_minutes": 30,
            "capacity": 1,
            "kind": "evening",
        },
    )
] + [
    {
        "weekday": 6,
        "start": "09:00",
        "end": "12:00",
        "slot_minutes": 60,
        "capacity": 2,
        "kind": "weekend",
    }
]


def at(day: int, hour: int, minute: int = 0, *, month: int = 9) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, minute, tzinfo=SHANGHAI)


def make_window(
    *,
    key: str = "appt-hall",
    division: str = "500103",
    departments: tuple[str, ...] = ("cq-hrss",),
    number: str = "A01",
    schedules: list[dict[str, Any]] | None = None,
) -> Window:
    hall = hall_create(
        actor=SYSTEM,
        key=key,
        name=f"测试政务服务中心 {key}",
        division_code=division,
        address="（测试）",
        windows=[
            {
                "number": number,
                "name": "跨省通办窗口",
                "kind": "cross_province",
                "departments": list(departments),
                "off_hours": True,
            }
        ],
    )
    window = hall.windows.get()
    appointments.schedule_replace(
        actor=SYSTEM, window_id=window.pk, schedules=WEEK if schedules is None else schedules
    )
    return window


def book(actor: Any, window: Window, starts_at: dt.datetime, **kwargs: Any) -> Any:
    return appointments.appointment_book(
        actor=getattr(actor, "user", actor),
        window_id=window.pk,
        starts_at=starts_at,
        purpose=kwargs.pop("purpose", "assisted"),
        **kwargs,
    )


@pytest.fixture
def frozen() -> Iterator[Any]:
    """The clock at NOW; tests move it with ``frozen.move_to(...)``."""
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def window(db: None, frozen: Any) -> Window:
    """Window A01 of a 渝中区 (500103) hall serving 重庆市人社局, with a week of hours."""
    from tongban.catalog.models import CatalogVersion

    # The catalogue in force on the frozen date (named items are looked up in it).
    CatalogVersion.objects.update(valid_from=dt.date(2026, 1, 1))
    return make_window()
