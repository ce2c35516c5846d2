from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from tongban.ops import cluster


class Command(BaseCommand):
    help = "Run the hub and provincial nodes on this machine (up, status, verify, down)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        up = sub.add_parser("up", help="Initialise, enrol and start the nodes in the background.")
        up.add_argument(
            "--nodes",
            default=",".join(cluster.DEFAULT_NODES),
            help="Node codes, comma-separated (the hub 100000 is always included).",
        )
        up.add_argument("--base-port", type=int, default=8100, help="The hub's port; then +1…")
        up.add_argument(
            "--via-hub",
            default="",
            help=(
                "Node codes, comma-separated, that peers reach only through the hub's relay "
                "(their URL is not published in the trust list)."
            ),
        )
        up.add_argument(
            "--postgres",
            nargs="?",
            const="postgresql://postgres@127.0.0.1:5432",
            help="A PostgreSQL database per node on this server (default: SQLite files).",
        )
        sub.add_parser("status", help="One JSON line per node: code, url, pid, healthy.")
        sub.add_parser("verify", help="Verify every node's case audit chains and evidence log.")
        sub.add_parser("down", help="Stop every node.")

    def handle(self, *args: Any, **options: Any) -> None:
        root = Path(settings.TONGBAN_DATA_DIR) / "cluster"
        try:
            if options["action"] == "up":
                layout = cluster.plan(
                    root,
                    [c.strip() for c in options["nodes"].split(",") if c.strip()],
                    options["base_port"],
                    options["postgres"],
                    frozenset(c.strip() for c in options["via_hub"].split(",") if c.strip()),
                )
                lines = list(cluster.up(layout, admin_url=options["postgres"]))
            else:
                layout = cluster.Layout.load(root)
                lines = list(getattr(cluster, options["action"])(layout))
        except cluster.ClusterError as error:
            raise CommandError(str(error)) from None
        for line in lines:
            self.stdout.write(json.dumps(line, ensure_ascii=False))
        if options["action"] == "verify" and not all(line["ok"] for line in lines):
            raise CommandError("some node did not verify")
        if options["action"] in ("up", "status") and not all(line["healthy"] for line in lines):
            raise CommandError("some node is not healthy")
