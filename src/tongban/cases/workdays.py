"""Working days as 行政许可法 art. 82 counts them. Pure: no Django.

The State Council announces each year's statutory holidays and make-up working days (调休);
`chinese-calendar` knows the years it was released with, and a table kept by administrators
adds later years or corrects a day. A date in a year neither knows is an error
(``CalendarGap``): a silent weekends-only guess would miss a whole Golden Week.

Counting (what the tests pin down):
- the start day is not counted; the due date is the N-th working day after it;
- working days inside a pause (both ends included) are not counted and push the due date out.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import chinese_calendar

ONE_DAY = dt.timedelta(days=1)
# Far enough for any legal limit (at most 45 + 15 working days, plus pauses) to land.
_MAX_SCAN_DAYS = 3 * 366


class CalendarGap(LookupError):
    """No calendar data for a year: an administrator must enter that year's holidays."""

    def __init__(self, year: int) -> None:
        self.year = year
        super().__init__(
            f"no working-day calendar for {year}: enter that year's statutory holidays and "
            "make-up working days (admin: 工作日历) before counting dates in it"
        )


@dataclass(frozen=True)
class Pause:
    """A stretch when the clock stands still (补正 waiting, excluded steps); both ends included.
    ``end`` None means the pause is still running."""

    start: dt.date
    end: dt.date | None = None

    def covers(self, day: dt.date) -> bool:
        return self.start <= day and (self.end is None or day <= self.end)


class WorkCalendar:
    """Working days from chinese-calendar plus administrator entries.

    ``entries`` maps a date to True (a working day, e.g. a make-up Saturday) or False (a
    holiday). A year the package does not know counts as known once it has any entry.
    """

    def __init__(self, entries: Mapping[dt.date, bool] | None = None) -> None:
        self._entries = dict(entries or {})
        self._table_years = {day.year for day in self._entries}

    def is_workday(self, day: dt.date) -> bool:
        if day in self._entries:
            return self._entries[day]
        try:
            return bool(chinese_calendar.is_workday(day))
        except NotImplementedError:
            if day.year in self._table_years:
                return day.isoweekday() <= 5
            raise CalendarGap(day.year) from None

    def due_date(self, start: dt.date, days: int, pauses: Sequence[Pause] = ()) -> dt.date:
        """The ``days``-th counted working day after ``start``."""
        if days < 0:
            raise ValueError("days must not be negative")
        day, counted = start, 0
        for _ in range(_MAX_SCAN_DAYS):
            if counted == days:
                return day
            day += ONE_DAY
            if self._counts(day, pauses):
                counted += 1
        raise ValueError("the due date lies more than three years ahead")

    def working_days_between(
        self, start: dt.date, end: dt.date, pauses: Sequence[Pause] = ()
    ) -> int:
        """Counted working days in (start, end]: the days used by ``end``. 0 if end ≤ start."""
        counted, day = 0, start
        while day < end:
            day += ONE_DAY
            if self._counts(day, pauses):
                counted += 1
        return counted

    def _counts(self, day: dt.date, pauses: Iterable[Pause]) -> bool:
        return self.is_workday(day) and not any(pause.covers(day) for pause in pauses)


def parse_pause(text: str) -> Pause:
    """``YYYY-MM-DD:YYYY-MM-DD`` (or an open ``YYYY-MM-DD:``) → Pause."""
    first, _, second = text.partition(":")
    start = dt.date.fromisoformat(first)
    end = dt.date.fromisoformat(second) if second else None
    if end is not None and end < start:
        raise ValueError(f"pause {text} ends before it starts")
    return Pause(start=start, end=end)
