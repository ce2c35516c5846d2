from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from tongban.accounts.sso import provider as sso_provider
from tongban.catalog.services import catalog_load_reference
from tongban.core.audit import SYSTEM
from tongban.core.pii import ensure_key_file
from tongban.exchange.services import (
    is_hub,
    node_identity_ensure,
    signing_pair,
    trust_list_to_serve,
)
from tongban.licenses.services import license_types_load_reference, seals_ensure
from tongban.ops import demo
from tongban.regions.models import Division
from tongban.regions.services import regions_load_reference


class Command(BaseCommand):
    help = (
        "Prepare this node: create the data directory and personal-data keys, migrate the "
        "database and load reference data (divisions, departments). Safe to run again."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--demo",
            action="store_true",
            help="Also load demo halls, staff, persons and enterprises (never on a real node).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        data_dir = settings.TONGBAN_DATA_DIR
        data_dir.mkdir(parents=True, exist_ok=True)
        if ensure_key_file(settings.TONGBAN_PII_KEY_FILE):
            self.stdout.write(f"created personal-data keys at {settings.TONGBAN_PII_KEY_FILE}")
            self.stdout.write("  back this file up: without it stored ID numbers cannot be read")
        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write(f"database migrated ({settings.DATABASES['default']['ENGINE']})")
        report = regions_load_reference()
        self.stdout.write(f"reference data: created {report.created}, updated {report.updated}")
        self.stdout.write(catalog_load_reference(actor=SYSTEM))
        self.stdout.write(license_types_load_reference())
        for seal in seals_ensure():
            self.stdout.write(f"seal of {seal.department.name}: {seal.kid}")
        division = Division.objects.filter(code=settings.TONGBAN_NODE_CODE).first()
        _node, created = node_identity_ensure(
            name=division.name if division else settings.TONGBAN_NODE_CODE
        )
        kid = signing_pair().kid
        if created:
            self.stdout.write(
                f"created the node signing key {kid} in {settings.TONGBAN_NODE_KEY_DIR}"
            )
        else:
            self.stdout.write(f"node signing key: {kid}")
        if is_hub():
            trust_list_to_serve()
            if sso_provider.signing_key_ensure():
                self.stdout.write(
                    f"created the single sign-on key at {settings.TONGBAN_SSO_KEY_FILE}"
                )
            self.stdout.write(f"single sign-on clients: {sso_provider.clients_sync()}")
        if options["demo"]:
            summary = demo.load_demo()
            for line in summary:
                self.stdout.write(f"demo: {line}")
        self.stdout.write(self.style.SUCCESS(f"node {settings.TONGBAN_NODE_CODE} is ready"))
