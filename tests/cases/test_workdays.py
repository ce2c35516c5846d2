"""Working days across the 2026 Spring Festival and National Day, pauses, and missing years."""

import datetime as dt
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from hypothesis import given
from hypothesis import strategies as st

from tongban.cases.models import CalendarEntry
from tongban.cases.workdays import CalendarGap, Pause, WorkCalendar, parse_pause

D = dt.date
CAL = WorkCalendar()


def test_spring_festival_2026() -> None:
    # Holidays 15–23 Feb; 14 Feb (Sat) and 28 Feb (Sat) are make-up working days.
    assert not CAL.is_workday(D(2026, 2, 16))
    assert CAL.is_workday(D(2026, 2, 14))
    assert CAL.is_workday(D(2026, 2, 28))
    # Received Friday 13 Feb: day 1 is the make-up Saturday, then nothing until 24 Feb.
    assert CAL.due_date(D(2026, 2, 13), 1) == D(2026, 2, 14)
    assert CAL.due_date(D(2026, 2, 13), 2) == D(2026, 2, 24)
    # 20 working days (行政许可法 art. 42) from 12 Feb.
    assert CAL.due_date(D(2026, 2, 12), 20) == D(2026, 3, 18)


def test_national_day_2026() -> None:
    # Holidays 1–7 Oct; 20 Sep (Sun) and 10 Oct (Sat) are make-up working days.
    assert CAL.is_workday(D(2026, 9, 20))
    assert CAL.is_workday(D(2026, 10, 10))
    assert not CAL.is_workday(D(2026, 10, 5))
    assert CAL.due_date(D(2026, 9, 30), 1) == D(2026, 10, 8)
    assert CAL.due_date(D(2026, 9, 30), 3) == D(2026, 10, 10)  # the make-up Saturday counts
    # 5 working days to notify 补正 (art. 32) from Friday 25 Sep.
    assert CAL.due_date(D(2026, 9, 25), 5) == D(2026, 10, 9)


def test_the_start_day_is_not_counted_and_zero_days_is_the_start() -> None:
    monday = D(2026, 11, 23)
    assert CAL.due_date(monday, 1) == D(2026, 11, 24)
    assert CAL.due_date(monday, 0) == monday
    assert CAL.due_date(D(2026, 11, 21), 1) == monday  # from a Saturday


def test_pauses_push_the_due_date_out_both_ends_included() -> None:
    start = D(2026, 11, 2)  # Monday
    assert CAL.due_date(start, 5) == D(2026, 11, 9)
    paused = [Pause(D(2026, 11, 4), D(2026, 11, 5))]  # Wed–Thu not counted
    assert CAL.due_date(start, 5, paused) == D(2026, 11, 11)
    assert CAL.working_days_between(start, D(2026, 11, 6), paused) == 2  # Tue, Fri
    running = [Pause(D(2026, 11, 4))]  # still paused: the clock stands still
    assert CAL.working_days_between(start, D(2026, 11, 20), running) == 1


@given(
    start=st.dates(min_value=D(2004, 1, 1), max_value=D(2026, 6, 30)),
    days=st.integers(min_value=0, max_value=45),
)
def test_due_date_and_days_used_agree(start: dt.date, days: int) -> None:
    due = CAL.due_date(start, days)
    assert CAL.working_days_between(start, due) == days
    assert due == start or CAL.is_workday(due)


def test_a_year_without_data_is_an_error_not_a_guess() -> None:
    with pytest.raises(CalendarGap, match="2027"):
        CAL.due_date(D(2026, 12, 15), 20)  # runs into 2027, which the package does not know
    with pytest.raises(CalendarGap):
        CAL.is_workday(D(2003, 5, 1))


def test_table_entries_make_a_year_known_and_override_days() -> None:
    entries = {D(2027, 1, 1): False, D(2026, 12, 31): False}  # illustrative, not the real 2027 plan
    calendar = WorkCalendar(entries)
    assert not calendar.is_workday(D(2027, 1, 1))
    assert calendar.is_workday(D(2027, 1, 4))  # Monday, by the weekday rule once the year is known
    assert not calendar.is_workday(D(2027, 1, 9))  # Saturday
    assert not calendar.is_workday(D(2026, 12, 31))  # an override of a package year


def test_parse_pause() -> None:
    assert parse_pause("2026-11-02:2026-11-05") == Pause(D(2026, 11, 2), D(2026, 11, 5))
    assert parse_pause("2026-11-02:") == Pause(D(2026, 11, 2), None)
    with pytest.raises(ValueError, match="before"):
        parse_pause("2026-11-05:2026-11-02")


@pytest.mark.django_db
def test_the_command_prints_the_due_date() -> None:
    out = StringIO()
    call_command("calendar", "due", "--start", "2026-09-30", "--days", "3", stdout=out)
    assert out.getvalue().strip() == "2026-10-10"
    out = StringIO()
    call_command(
        "calendar",
        "due",
        "--start",
        "2026-11-02",
        "--days",
        "5",
        "--pause",
        "2026-11-04:2026-11-05",
        stdout=out,
    )
    assert out.getvalue().strip() == "2026-11-11"


@pytest.mark.django_db
def test_the_command_uses_the_admin_table_and_refuses_unknown_years() -> None:
    CalendarEntry.objects.filter(date__year=2027).delete()  # the tests' stand-in table
    with pytest.raises(CommandError, match="2027"):
        call_command("calendar", "due", "--start", "2026-12-30", "--days", "5")
    CalendarEntry.objects.create(date=D(2027, 1, 1), is_workday=False, note="元旦")
    out = StringIO()
    call_command("calendar", "due", "--start", "2026-12-30", "--days", "2", stdout=out)
    assert out.getvalue().strip() == "2027-01-04"
    with pytest.raises(CommandError, match="pause"):
        call_command("calendar", "due", "--start", "2026-12-30", "--days", "2", "--pause", "x")
