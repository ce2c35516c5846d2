from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tongban.cases.selectors import work_calendar
from tongban.cases.workdays import CalendarGap, parse_pause


class Command(BaseCommand):
    help = "Working-day arithmetic on the node's calendar (statutory holidays and make-up days)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        due = sub.add_parser("due", help="The due date N working days after a start date.")
        due.add_argument("--start", required=True, type=dt.date.fromisoformat, help="YYYY-MM-DD")
        due.add_argument("--days", required=True, type=int, help="working days (N ≥ 0)")
        due.add_argument(
            "--pause",
            action="append",
            default=[],
            help="YYYY-MM-DD:YYYY-MM-DD, both ends included; may be repeated",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            pauses = [parse_pause(text) for text in options["pause"]]
        except ValueError as problem:
            raise CommandError(f"bad --pause: {problem}") from None
        if options["days"] < 0:
            raise CommandError("--days must not be negative")
        try:
            due = work_calendar().due_date(options["start"], options["days"], pauses)
        except CalendarGap as gap:
            raise CommandError(str(gap)) from None
        self.stdout.write(due.isoformat())
