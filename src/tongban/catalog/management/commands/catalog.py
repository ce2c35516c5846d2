from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from tongban.catalog import files, selectors, services
from tongban.catalog.errors import ImportRejected
from tongban.core.audit import SYSTEM
from tongban.core.errors import DomainError


class Command(BaseCommand):
    help = "Manage the service catalogue: import, export, diff and publish versions."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        importer = sub.add_parser("import", help="Import items into the draft (all or nothing).")
        importer.add_argument("file", type=Path, help=".json, .csv or .xlsx")
        importer.add_argument(
            "--replace", action="store_true", help="Remove draft items that the file lacks."
        )
        exporter = sub.add_parser("export", help="Export a version (default: the one in force).")
        exporter.add_argument("file", type=Path, help=".json, .csv or .xlsx")
        exporter.add_argument("--version", type=int, default=None, dest="catalog_version")
        differ = sub.add_parser("diff", help="What changed from version V1 to V2.")
        differ.add_argument("old", type=int)
        differ.add_argument("new", type=int)
        differ.add_argument("--json", action="store_true", help="Machine-readable output.")
        publisher = sub.add_parser("publish", help="Publish the draft as a new version.")
        publisher.add_argument("--valid-from", type=dt.date.fromisoformat, required=True)
        publisher.add_argument("--note", default="")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            getattr(self, f"_{options['action']}")(options)
        except files.FileRejected as refusal:
            raise CommandError(str(refusal)) from None
        except ImportRejected as rejected:
            for problem in rejected.problems:
                self.stderr.write(
                    f"row {problem['row']} [{problem['code'] or '-'}] {problem['field'] or '-'}: "
                    f"{problem['reason']}"
                )
            raise CommandError(
                f"{len(rejected.problems)} problem(s); nothing was imported"
            ) from None
        except DomainError as error:
            raise CommandError(str(error)) from None

    def _import(self, options: dict[str, Any]) -> None:
        parsed = files.read_file(options["file"])
        with tqdm(
            total=len(parsed.documents), unit="item", desc="import", file=self.stderr._out
        ) as bar:
            report = services.catalog_import(
                actor=SYSTEM,
                documents=parsed.documents,
                rows=parsed.rows,
                replace=options["replace"],
                progress=bar.update,
            )
        self.stdout.write(
            f"draft v{report.version}: {len(report.created)} created, "
            f"{len(report.updated)} updated, {len(report.removed)} removed"
        )

    def _export(self, options: dict[str, Any]) -> None:
        version = selectors.version_get(number=options["catalog_version"])
        documents = services.catalog_documents(version=version)
        files.write_file(options["file"], documents, version=version.number)
        self.stdout.write(f"v{version.number}: {len(documents)} items written to {options['file']}")

    def _diff(self, options: dict[str, Any]) -> None:
        old = selectors.version_get(number=options["old"])
        new = selectors.version_get(number=options["new"])
        changes = services.catalog_diff(old=old, new=new)
        if options["json"]:
            self.stdout.write(json.dumps(changes, ensure_ascii=False, indent=2))
            return
        self.stdout.write(f"v{old.number} → v{new.number}")
        for code in changes["added"]:
            self.stdout.write(f"+ {code}")
        for code in changes["removed"]:
            self.stdout.write(f"- {code}")
        for code, fields in changes["changed"].items():
            self.stdout.write(f"~ {code}")
            for name, (before, after) in fields.items():
                self.stdout.write(f"    {name}: {_short(before)} → {_short(after)}")
        total = len(changes["added"]) + len(changes["removed"]) + len(changes["changed"])
        self.stdout.write(f"{total} item(s) differ")

    def _publish(self, options: dict[str, Any]) -> None:
        version = services.catalog_publish(
            actor=SYSTEM, valid_from=options["valid_from"], note=options["note"]
        )
        self.stdout.write(f"published v{version.number}, valid from {version.valid_from}")


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value
    return text if len(text) <= 80 else text[:77] + "…"
