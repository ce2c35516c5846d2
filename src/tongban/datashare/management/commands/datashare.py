from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Count

from tongban.core.audit import SYSTEM
from tongban.core.errors import DomainError

MAX_INPUT = 200 * 1024 * 1024  # a department's export of source records


class Command(BaseCommand):
    help = (
        "Data sharing: `tongban datashare resources`, `datashare load`, "
        "`datashare verify-log`, `datashare sync`."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser(
            "resources",
            help="The data resources this node serves and those it holds of its peers.",
        )
        load = sub.add_parser(
            "load",
            help="Load source records into one of this node's resources, from a JSON list of "
            '{"subject": ID number or USCC, "data": {field: value}}.',
        )
        load.add_argument("resource", help="The resource's key, e.g. household.")
        load.add_argument("file", help="The JSON file of records.")
        load.add_argument(
            "--replace",
            action="store_true",
            help="Drop the resource's records first (a full export rather than additions).",
        )
        sub.add_parser(
            "verify-log",
            help="Check the hash chain of the data-sharing evidence log. Exit 0 when it holds; "
            "otherwise 1, with the first broken entry.",
        )
        sub.add_parser(
            "sync",
            help="Fetch every peer's resource catalogue now (`tongban exchange tick` does it "
            "every few minutes).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "resources":
            self._resources()
        elif action == "load":
            self._load(options)
        elif action == "verify-log":
            self._verify_log()
        else:
            self._sync()

    def _resources(self) -> None:
        from tongban.datashare.models import Resource
        from tongban.datashare.services import own_node

        rows = Resource.objects.annotate(count=Count("records")).order_by("node", "key")
        for resource in rows:
            mine = resource.node == own_node()
            held = f"{resource.count} records" if mine else "peer's"
            state = "" if resource.active else "  out of service"
            self.stdout.write(
                f"{resource.ref:<28} {resource.name}（{resource.department_name}） "
                f"{resource.subject_kind} {resource.sensitivity} {held}{state}"
            )

    def _load(self, options: dict[str, Any]) -> None:
        from tongban.datashare import services
        from tongban.datashare.models import Resource

        resource = Resource.objects.filter(
            node=services.own_node(), key=options["resource"]
        ).first()
        if resource is None:
            raise CommandError(f"this node serves no data resource {options['resource']!r}")
        path = Path(options["file"])
        try:
            if path.stat().st_size > MAX_INPUT:
                raise CommandError(f"{path}: larger than 200 MB; split the export")
            records = json.loads(path.read_text(encoding="utf-8"))
        except OSError as error:
            raise CommandError(f"{path}: cannot be read: {error}") from None
        except ValueError as error:
            raise CommandError(f"{path}: not JSON: {error}") from None
        if not isinstance(records, list):
            raise CommandError(f"{path}: give a JSON list of records")
        try:
            count = services.records_load(
                actor=SYSTEM, resource=resource, records=records, replace=options["replace"]
            )
        except DomainError as error:
            fields = "; ".join(f"{k}: {v}" for k, v in error.fields.items())
            raise CommandError(f"{error.message}{' (' + fields + ')' if fields else ''}") from None
        verb = "replaced by" if options["replace"] else "added:"
        self.stdout.write(f"{resource.ref}: records {verb} {count}")

    def _verify_log(self) -> None:
        from tongban.datashare.models import Call
        from tongban.datashare.services import evidence_verify

        broken = evidence_verify()
        if broken is None:
            self.stdout.write(f"evidence log intact: {Call.objects.count()} entries")
            return
        self.stdout.write(f"evidence log BROKEN at entry {broken.seq}: {broken.reason}")
        raise SystemExit(1)

    def _sync(self) -> None:
        from tongban.datashare.services import catalogue_sync

        count = catalogue_sync(force=True)
        self.stdout.write(f"{count} peer resources fetched")
