from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import close_old_connections

from tongban.cases.services import cases_deem_accepted, cases_raise_alerts
from tongban.delivery.appointments import appointments_send_reminders


class Command(BaseCommand):
    help = (
        "The node's periodic domain work in one process (as `tongban serve` runs it): "
        "appointment reminders every --every seconds; deemed acceptance and deadline alerts "
        "every --cases-every seconds. `cases tick` and `appointments tick` run each alone."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--every", type=int, default=0, help="Repeat every N seconds (0: once)."
        )
        parser.add_argument(
            "--cases-every", type=int, default=3600, help="Case work at most every N seconds."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        # One process instead of one per domain: each is a whole Django process, and they all
        # start with the web server on a small machine.
        cases_due = 0.0
        while True:
            if time.monotonic() >= cases_due:
                accepted = cases_deem_accepted()
                alerts = cases_raise_alerts()
                self.stdout.write(f"deemed accepted: {len(accepted)}; new alerts: {alerts}")
                cases_due = time.monotonic() + options["cases_every"]
            self.stdout.write(f"reminders sent: {appointments_send_reminders()}")
            if options["every"] <= 0:
                return
            close_old_connections()
            time.sleep(options["every"])
