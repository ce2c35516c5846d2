from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "openapi.json"


def current_schema() -> str:
    from tongban.api.main import api

    schema = api.get_openapi_schema(path_prefix="/api/v1/")
    return json.dumps(schema, ensure_ascii=False, indent=2, sort_keys=True) + "\n"


class Command(BaseCommand):
    help = "Write the API's OpenAPI schema to src/tongban/api/openapi.json (or --check it)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--check", action="store_true", help="Fail if the file is stale.")

    def handle(self, *args: Any, **options: Any) -> None:
        schema = current_schema()
        if options["check"]:
            if not SCHEMA_FILE.exists() or SCHEMA_FILE.read_text(encoding="utf-8") != schema:
                raise CommandError("openapi.json is stale: run `make openapi` and commit it")
            self.stdout.write("openapi.json is current")
            return
        SCHEMA_FILE.write_text(schema, encoding="utf-8")
        self.stdout.write(f"wrote {SCHEMA_FILE}")
