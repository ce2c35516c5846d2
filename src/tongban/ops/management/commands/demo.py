from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from tongban.ops import cluster, demo, demo_cluster, demo_flows


class Command(BaseCommand):
    help = "Show the demo at work (`tongban demo flows`); demo staff codes (`tongban demo otp`)."

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
            "--cluster",
            action="store_true",
            help=(
                "Run the cross-province cases on the local cluster (`tongban cluster up` with "
                "500000 and 510000) instead: received or applied in Chongqing, decided in "
                "Sichuan, and joint cases with a leg on each node."
            ),
        )
        flows.add_argument(
            "--timeout", type=float, default=30.0, help="Seconds to wait for each HTTP answer."
        )

        otp = sub.add_parser(
            "otp",
            help=(
                "Print the current authenticator code of a demo staff login (e.g. clerk), to "
                "sign in at the workbench. Demo logins only; never a real account's."
            ),
        )
        otp.add_argument("username")
        otp.add_argument(
            "--node",
            help=(
                "The code of another node of the local cluster (e.g. 510000): its demo staff's "
                "code, computed without opening that node's database."
            ),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["target"] == "flows":
            self._flows(options)
        elif options["target"] == "otp":
            try:
                code, seconds = demo.demo_otp_code(options["username"], node=options["node"])
            except LookupError as error:
                raise CommandError(str(error)) from None
            self.stdout.write(code)
            self.stderr.write(f"valid for {seconds} more seconds")

    def _flows(self, options: dict[str, Any]) -> None:
        def report(outcome: demo_flows.Outcome) -> None:
            if outcome.run.number:
                self.stdout.write(json.dumps(outcome.run.line(), ensure_ascii=False))
                self.stdout.flush()
            if outcome.problem:
                self.stderr.write(f"{outcome.run.mode}: {outcome.problem}")

        try:
            if options["cluster"]:
                outcomes = demo_cluster.run_cluster_flows(
                    self._cluster_urls(), on_outcome=report, timeout=options["timeout"]
                )
            else:
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

    def _cluster_urls(self) -> dict[str, str]:
        """The node URLs of the local cluster (`tongban cluster up` under this data dir)."""
        try:
            layout = cluster.Layout.load(Path(settings.TONGBAN_DATA_DIR) / "cluster")
        except cluster.ClusterError as error:
            raise CommandError(str(error)) from None
        return {member.code: member.url for member in layout.members}
