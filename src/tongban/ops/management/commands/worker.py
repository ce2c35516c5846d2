from __future__ import annotations

from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = "Run a background worker for this node's tasks (django-tasks database backend)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--queue-name", default="*", help="Queues to serve ('*' for all).")
        parser.add_argument("--interval", type=float, default=1.0, help="Seconds between polls.")
        parser.add_argument("--max-tasks", type=int, default=None, help="Exit after N tasks.")

    def handle(self, *args: Any, **options: Any) -> None:
        arguments = ["--queue-name", options["queue_name"], "--interval", str(options["interval"])]
        if options["max_tasks"] is not None:
            arguments += ["--max-tasks", str(options["max_tasks"])]
        call_command("db_worker", *arguments)
