from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tongban.cases.models import Case
from tongban.cases.selectors import chain_break


class Command(BaseCommand):
    help = "Verify the tamper-evident event chains of cases (责任追溯)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        verify = sub.add_parser("verify", help="Walk every chain; exit non-zero at a break.")
        verify.add_argument("--case", dest="number", default=None, help="Only this case number.")

    def handle(self, *args: Any, **options: Any) -> None:
        cases = Case.objects.order_by("pk")
        if options["number"]:
            cases = cases.filter(number=options["number"])
            if not cases.exists():
                raise CommandError(f"no case {options['number']}")
        checked = 0
        for case in cases.iterator(chunk_size=500):
            broken = chain_break(case)
            if broken is not None:
                raise CommandError(
                    f"case {case.number}: chain broken at event {broken.seq}: {broken.reason}"
                )
            checked += 1
        self.stdout.write(f"{checked} case chain(s) verified")
