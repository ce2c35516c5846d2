from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import close_old_connections

from tongban.delivery.appointments import appointments_send_reminders


class Command(BaseCommand):
    help = "Periodic appointment work: reminders the day before and shortly before."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        tick = sub.add_parser("tick", help="Send due reminders once, or every N seconds.")
        tick.add_argument("--every", type=int, default=0, help="Repeat every N seconds (0: once).")

    def handle(self, *args: Any, **options: Any) -> None:
        while True:
            sent = appointments_send_reminders()
            self.stdout.write(f"reminders sent: {sent}")
            if options["every"] <= 0:
                return
            close_old_connections()
            time.sleep(options["every"])
