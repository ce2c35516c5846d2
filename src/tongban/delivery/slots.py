"""Appointment slots of a window, computed from its weekly schedules. Pure: no Django.

Slots are never stored one by one: a day's slots follow from the window's schedules, the
kind of day on the Chinese calendar and the window's closures. The rules (what the tests pin
down):

- a working day Monday to Friday opens the schedules of its weekday of every kind but
  ``weekend`` (regular hours, the lunchtime 错时 and the evening 延时 ones);
- a make-up working day (调休上班, a Saturday or Sunday) opens Monday's weekday schedules: the
  State Council's notice names the day, not the weekday it stands in for, and halls run their
  ordinary weekday hours on it;
- an ordinary Saturday or Sunday opens only that weekday's ``weekend`` schedules;
- a statutory holiday (and its weekend days, e.g. a Saturday in Golden Week) is closed;
- a closed window (a closure on that date) offers nothing.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

import chinese_calendar

from tongban.cases.workdays import WorkCalendar

# A slot shorter than this is a queue ticket, not an appointment; longer is a half day.
MIN_SLOT_MINUTES = 5
MAX_SLOT_MINUTES = 240
MAX_CAPACITY = 50
WEEKDAYS = range(1, 6)
WEEKEND = (6, 7)
MAKE_UP_WEEKDAY = 1  # see the module docstring


class SlotKind(StrEnum):
    REGULAR = "regular"
    LUNCHTIME = "lunchtime"  # 错时: through the lunch break
    EVENING = "evening"  # 延时: after closing time
    WEEKEND = "weekend"  # 周末

    @property
    def off_hours(self) -> bool:
        return self is not SlotKind.REGULAR


class DayType(StrEnum):
    WORKDAY = "workday"
    REST = "rest"  # an ordinary weekend day
    HOLIDAY = "holiday"  # a statutory holiday, including the weekend days inside it


@dataclass(frozen=True)
class Schedule:
    """Weekly hours of one window on one weekday (1 = Monday), cut into slots."""

    weekday: int
    start: dt.time
    end: dt.time
    slot_minutes: int
    capacity: int
    kind: SlotKind


@dataclass(frozen=True)
class Slot:
    day: dt.date
    start: dt.time
    end: dt.time
    kind: SlotKind
    capacity: int

    def starts_at(self, tz: dt.tzinfo) -> dt.datetime:
        return dt.datetime.combine(self.day, self.start, tzinfo=tz)

    def ends_at(self, tz: dt.tzinfo) -> dt.datetime:
        return dt.datetime.combine(self.day, self.end, tzinfo=tz)


def day_type(calendar: WorkCalendar, day: dt.date) -> DayType:
    """Raises ``CalendarGap`` for a year the calendar does not know (never a guess)."""
    if calendar.is_workday(day):
        return DayType.WORKDAY
    if day.isoweekday() in WEEKDAYS:
        return DayType.HOLIDAY  # a weekday off is a holiday
    try:
        _off, name = chinese_calendar.get_holiday_detail(day)
    except NotImplementedError:
        # A year only the administrators' table knows: it says working or not, and a
        # weekend day it leaves alone is an ordinary one.
        return DayType.REST
    return DayType.HOLIDAY if name is not None else DayType.REST


def schedules_for(
    kind_of_day: DayType, weekday: int, schedules: Iterable[Schedule]
) -> list[Schedule]:
    """The schedules that open on a day of this kind and weekday."""
    if kind_of_day is DayType.HOLIDAY:
        return []
    if kind_of_day is DayType.REST:
        return [s for s in schedules if s.weekday == weekday and s.kind is SlotKind.WEEKEND]
    source = weekday if weekday in WEEKDAYS else MAKE_UP_WEEKDAY
    return [s for s in schedules if s.weekday == source and s.kind is not SlotKind.WEEKEND]


def slots_on(
    day: dt.date, *, kind_of_day: DayType, schedules: Iterable[Schedule], closed: bool = False
) -> list[Slot]:
    """The day's slots in time order; a slot that would run past its schedule's end is cut."""
    if closed:
        return []
    slots = []
    for schedule in schedules_for(kind_of_day, day.isoweekday(), schedules):
        step = dt.timedelta(minutes=schedule.slot_minutes)
        start = dt.datetime.combine(day, schedule.start)
        end = dt.datetime.combine(day, schedule.end)
        while start + step <= end:
            slots.append(
                Slot(
                    day=day,
                    start=start.time(),
                    end=(start + step).time(),
                    kind=schedule.kind,
                    capacity=schedule.capacity,
                )
            )
            start += step
    return sorted(slots, key=lambda slot: slot.start)


def schedule_problems(schedules: Sequence[Schedule]) -> dict[int, str]:
    """Index → what is wrong with that schedule (English; the service translates the kinds of
    problem it knows by their key): ``weekday``, ``order``, ``length``, ``capacity``,
    ``kind_day`` (weekend hours on a weekday or the other way round), ``overlap``."""
    problems: dict[int, str] = {}
    for index, s in enumerate(schedules):
        if s.weekday not in range(1, 8):
            problems[index] = "weekday"
        elif s.start >= s.end:
            problems[index] = "order"
        elif (
            not MIN_SLOT_MINUTES <= s.slot_minutes <= MAX_SLOT_MINUTES
            or _minutes(s.start, s.end) < s.slot_minutes
        ):
            problems[index] = "length"
        elif not 1 <= s.capacity <= MAX_CAPACITY:
            problems[index] = "capacity"
        elif (s.kind is SlotKind.WEEKEND) != (s.weekday in WEEKEND):
            problems[index] = "kind_day"
    by_day = sorted(
        (s.weekday, s.start, s.end, index)
        for index, s in enumerate(schedules)
        if index not in problems
    )
    for (day, _start, end, _index), (next_day, next_start, _end, next_index) in itertools.pairwise(
        by_day
    ):
        if day == next_day and next_start < end:
            problems.setdefault(next_index, "overlap")
    return problems


def _minutes(start: dt.time, end: dt.time) -> int:
    return (end.hour * 60 + end.minute) - (start.hour * 60 + start.minute)
