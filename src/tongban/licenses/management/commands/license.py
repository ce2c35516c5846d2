from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tongban.core.audit import SYSTEM
from tongban.core.errors import DomainError


class Command(BaseCommand):
    help = "Electronic licences and seals: `tongban license seal create|list`."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="topic", required=True)
        seal = sub.add_parser("seal", help="Departments' seals (signing keys and certificates).")
        seal_sub = seal.add_subparsers(dest="action", required=True)
        create = seal_sub.add_parser(
            "create",
            help="Make a department's seal; its current one is retired (what it signed still "
            "verifies).",
        )
        create.add_argument("department", help="The department's key, e.g. cq-justice.")
        create.add_argument("--years", type=int, default=3, help="Validity (%(default)s).")
        seal_sub.add_parser("list", help="Every seal of this node, current ones first.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "create":
            self._create(options)
        else:
            self._list()

    def _create(self, options: dict[str, Any]) -> None:
        from tongban.licenses import services

        try:
            seal = services.seal_create(
                actor=SYSTEM, department_key=options["department"], years=options["years"]
            )
        except DomainError as error:
            fields = "; ".join(f"{k}: {v}" for k, v in error.fields.items())
            raise CommandError(f"{error.message}{' (' + fields + ')' if fields else ''}") from None
        self.stdout.write(
            f"{seal.department.name}: seal {seal.kid}, valid until {seal.not_after:%Y-%m-%d}"
        )

    def _list(self) -> None:
        from tongban.licenses.models import Seal

        for seal in Seal.objects.select_related("department").order_by(
            "retired_at", "department__key", "-created_at"
        ):
            state = f"retired {seal.retired_at:%Y-%m-%d}" if seal.retired_at else "current"
            self.stdout.write(
                f"{seal.department.key:<28} {seal.kid}  {seal.not_after:%Y-%m-%d}  {state}"
            )
