"""Slot computation (pure): weekday hours, off-hours kinds, holidays and make-up working days."""

import datetime as dt

import pytest

from tongban.cases.workdays import CalendarGap, WorkCalendar
from tongban.delivery.slots import (
    DayType,
    Schedule,
    SlotKind,
    day_type,
    schedule_problems,
    slots_on,
)

T = dt.time


def week(*, saturday: bool = True) -> list[Schedule]:
    rows = []
    for day in range(1, 6):
        rows += [
            Schedule(day, T(9), T(12), 30, 2, SlotKind.REGULAR),
            Schedule(day, T(12), T(13, 30), 30, 1, SlotKind.LUNCHTIME),
            Schedule(day, T(17, 30), T(19), 45, 1, SlotKind.EVENING),
        ]
    if saturday:
        rows.append(Schedule(6, T(9), T(11), 60, 2, SlotKind.WEEKEND))
    return rows


def slots_of(day: dt.date, calendar: WorkCalendar | None = None, **kwargs):
    calendar = calendar or WorkCalendar()
    return slots_on(day, kind_of_day=day_type(calendar, day), schedules=week(), **kwargs)


def test_a_working_tuesday_has_regular_lunchtime_and_evening_slots() -> None:
    found = slots_of(dt.date(2026, 9, 22))
    assert [(s.start, s.kind) for s in found] == [
        (T(9), "regular"),
        (T(9, 30), "regular"),
        (T(10), "regular"),
        (T(10, 30), "regular"),
        (T(11), "regular"),
        (T(11, 30), "regular"),
        (T(12), "lunchtime"),
        (T(12, 30), "lunchtime"),
        (T(13), "lunchtime"),
        (T(17, 30), "evening"),
        (T(18, 15), "evening"),  # 19:00 would end at 19:45, after closing: cut
    ]
    assert found[0].capacity == 2
    assert found[6].capacity == 1
    assert found[-1].end == T(19)


def test_an_ordinary_saturday_opens_only_weekend_hours() -> None:
    found = slots_of(dt.date(2026, 9, 19))
    assert [(s.start, s.end, s.kind) for s in found] == [
        (T(9), T(10), "weekend"),
        (T(10), T(11), "weekend"),
    ]
    assert slots_of(dt.date(2026, 9, 13)) == []  # a Sunday without weekend hours


@pytest.mark.parametrize(
    "day",
    [
        dt.date(2026, 9, 25),  # Friday, Mid-autumn Festival
        dt.date(2026, 9, 26),  # Saturday inside the Mid-autumn holiday: no weekend service
        dt.date(2026, 10, 1),  # National Day
        dt.date(2026, 10, 3),  # Saturday of Golden Week
    ],
)
def test_statutory_holidays_are_closed(day: dt.date) -> None:
    assert day_type(WorkCalendar(), day) is DayType.HOLIDAY
    assert slots_of(day) == []


@pytest.mark.parametrize("day", [dt.date(2026, 9, 20), dt.date(2026, 10, 10)])
def test_a_make_up_working_day_opens_monday_hours(day: dt.date) -> None:
    assert day_type(WorkCalendar(), day) is DayType.WORKDAY
    found = slots_of(day)
    assert {s.kind for s in found} == {"regular", "lunchtime", "evening"}
    assert found == slots_on(
        day,
        kind_of_day=DayType.WORKDAY,
        schedules=[s for s in week() if s.weekday == 1],
    )


def test_the_administrators_table_overrides_and_extends_the_calendar() -> None:
    calendar = WorkCalendar({dt.date(2026, 9, 22): False, dt.date(2099, 1, 5): True})
    assert slots_of(dt.date(2026, 9, 22), calendar) == []
    assert slots_of(dt.date(2099, 1, 5), calendar)  # a Monday of a year the table knows
    assert [s.kind for s in slots_of(dt.date(2099, 1, 3), calendar)] == ["weekend"] * 2


def test_a_year_nobody_entered_is_an_error_not_a_guess() -> None:
    with pytest.raises(CalendarGap):
        slots_of(dt.date(2099, 1, 5))


def test_a_closed_window_offers_nothing() -> None:
    assert slots_of(dt.date(2026, 9, 22), closed=True) == []


def test_schedule_problems() -> None:
    ok = Schedule(1, T(9), T(12), 30, 2, SlotKind.REGULAR)
    rows = [
        ok,
        Schedule(1, T(11), T(13), 30, 2, SlotKind.LUNCHTIME),  # overlaps the first
        Schedule(6, T(9), T(12), 30, 2, SlotKind.REGULAR),  # regular hours on a Saturday
        Schedule(2, T(9), T(9, 20), 30, 2, SlotKind.REGULAR),  # no slot fits
        Schedule(2, T(13), T(12), 30, 2, SlotKind.REGULAR),
        Schedule(3, T(9), T(12), 30, 0, SlotKind.REGULAR),
        Schedule(8, T(9), T(12), 30, 1, SlotKind.REGULAR),
        Schedule(7, T(9), T(12), 3, 1, SlotKind.WEEKEND),
    ]
    assert schedule_problems(rows) == {
        1: "overlap",
        2: "kind_day",
        3: "length",
        4: "order",
        5: "capacity",
        6: "weekday",
        7: "length",
    }
    assert schedule_problems([ok]) == {}
