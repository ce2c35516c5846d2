from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tongban.ops import demo_flows


class Command(BaseCommand):
    help = "Show the demo at work (`tongban demo flows`)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="target", required=True)
        flows = sub.add_parser(
            "flows",
            help=(
                "Drive one demo case per mode (ONLINE, PROXY, JOINT) end to end through the "
                "HTTP API of a node loaded with `tongban init --demo`; one JSON line per case."
            ),
        )
        flows.add_argument("--url", default="http://127.0.0.1:8000", help="The node's address.")
        flows.add_argument(
            "--timeout", type=float, default=30.0, help="Seconds to wait for each HTTP answer."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["target"] == "flows":
            self._flows(options)

    def _flows(self, options: dict[str, Any]) -> None:
        def report(outcome: demo_flows.Outcome) -> None:
            if outcome.run.number:
                self.stdout.write(json.dumps(outcome.run.line(), ensure_ascii=False))
                self.stdout.flush()
            if outcome.problem:
                self.stderr.write(f"{outcome.run.mode}: {outcome.problem}")

        try:
            outcomes = demo_flows.run_flows(
                options["url"], on_outcome=report, timeout=options["timeout"]
            )
        except demo_flows.FlowError as error:
            raise CommandError(str(error)) from None
        failed = [outcome for outcome in outcomes if not outcome.ok]
        if failed:
            raise CommandError(
                f"{len(failed)} of {len(outcomes)} demo cases did not reach their final state: "
                + "; ".join(f"{outcome.run.mode}: {outcome.problem}" for outcome in failed)
            )
