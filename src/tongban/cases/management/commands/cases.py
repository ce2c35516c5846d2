from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import close_old_connections

from tongban.cases.services import authorisations_expire, cases_deem_accepted, cases_raise_alerts


class Command(BaseCommand):
    help = (
        "Periodic case work: deemed acceptance (行政许可法 art. 32), deadline alerts and "
        "expired agent authorisations."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        tick = sub.add_parser("tick", help="Run the periodic work once, or every N seconds.")
        tick.add_argument("--every", type=int, default=0, help="Repeat every N seconds (0: once).")

    def handle(self, *args: Any, **options: Any) -> None:
        while True:
            accepted = cases_deem_accepted()
            alerts = cases_raise_alerts()
            expired = authorisations_expire()
            self.stdout.write(
                f"deemed accepted: {len(accepted)}; new alerts: {alerts}; "
                f"authorisations expired: {expired}"
            )
            if options["every"] <= 0:
                return
            close_old_connections()
            time.sleep(options["every"])
