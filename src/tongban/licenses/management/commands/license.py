from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import segno
from django.core.management.base import BaseCommand, CommandError, CommandParser

from tongban.core.audit import SYSTEM
from tongban.core.errors import DomainError


class Command(BaseCommand):
    help = (
        "Electronic licences and seals: `tongban license seal create|list`, `license verify`, "
        "`license export`."
    )

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

        verify = sub.add_parser(
            "verify",
            help="Verify a licence offline: a PDF, a file holding the QR text, or the text itself "
            "(- reads standard input). Exit 0 only when valid; otherwise 1, with the reason.",
        )
        verify.add_argument("source", help="A PDF or text file, the QR text, or -.")
        verify.add_argument(
            "--trust-list",
            help="The hub's signed trust list to take the issuer keys from (a file or an "
            "http(s) URL); it must verify with the hub keys this node pins. Default: the "
            "list in force on this node, and this node's own seals.",
        )
        export = sub.add_parser(
            "export", help="Write a licence of this node as a signed PDF and/or a QR image."
        )
        export.add_argument("identifier", help="The licence identifier (1.2.156.3005.2.…).")
        export.add_argument("--pdf", help="Write the signed PDF here.")
        export.add_argument("--qr", help="Write the QR code here (.svg or .png).")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["topic"] == "verify":
            self._verify(options)
        elif options["topic"] == "export":
            self._export(options)
        elif options["action"] == "create":
            self._create(options)
        else:
            self._list()

    def _verify(self, options: dict[str, Any]) -> None:
        from tongban.licenses import credential, verification

        listed = _trust_list(options["trust_list"]) if options["trust_list"] else None
        source = options["source"]
        data: bytes
        if source == "-":
            data = sys.stdin.buffer.read(MAX_INPUT + 1)
        elif Path(source).is_file():
            with Path(source).open("rb") as file:
                data = file.read(MAX_INPUT + 1)
        elif source.startswith(credential.PREFIX) or source.count(".") == 2:
            data = source.encode("utf-8")  # the QR text, or its JWS form
        else:
            raise CommandError(f"{source}: no such file (nor a licence's QR text)")
        if len(data) > MAX_INPUT:
            raise CommandError("the input is larger than any licence (20 MB)")
        local = listed is None
        if data.lstrip()[:5] == b"%PDF-":
            outcome = verification.verify_pdf(data, listed=listed, local=local)
        else:
            text = data.decode("utf-8", "replace")
            outcome = verification.verify_text(text, listed=listed, local=local)
        claims = outcome.claims
        if claims:
            for label, value in (
                ("identifier", claims.get("lid")),
                ("licence", f"{claims.get('nm', '')} {claims.get('no', '')}"),
                ("holder", f"{claims.get('hn', '')} ({claims.get('hc', '')})"),
                ("issuer", f"{outcome.issuer} [{claims.get('iss', '')}], node {outcome.node}"),
                ("issued", claims.get("iat")),
                ("valid until", claims.get("exp") or "no end"),
                ("status from", _freshness(outcome)),
            ):
                self.stdout.write(f"{label:>12}: {value}")
        if outcome.valid:
            self.stdout.write(f"VALID ({outcome.form}): {outcome.message}")
            return
        self.stdout.write(f"NOT VALID ({outcome.form}): {outcome.code}: {outcome.message}")
        raise SystemExit(1)

    def _export(self, options: dict[str, Any]) -> None:
        from tongban.licenses import selectors
        from tongban.licenses.models import License

        if not options["pdf"] and not options["qr"]:
            raise CommandError("say what to write: --pdf FILE and/or --qr FILE")
        found = (
            License.objects.select_related("issuer", "seal")
            .filter(identifier=options["identifier"].strip().upper())
            .first()
        )
        if found is None:
            raise CommandError(f"this node issued no licence {options['identifier']}")
        if options["qr"]:
            target = Path(options["qr"])
            if target.suffix.lower() not in (".svg", ".png"):
                raise CommandError("the QR file ends in .svg or .png")
            segno.make(found.credential, error="m").save(str(target), scale=4, border=4)
            self.stdout.write(f"QR code: {target}")
        if options["pdf"]:
            Path(options["pdf"]).write_bytes(selectors.license_pdf(found))
            self.stdout.write(f"signed PDF: {options['pdf']}")

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


MAX_INPUT = 20 * 1024 * 1024


def _trust_list(source: str) -> Any:
    """The trust list in a file or at a URL, verified with the hub keys this node pins."""
    from django.conf import settings
    from django.utils import timezone

    from tongban.exchange import services as exchange
    from tongban.exchange import transport, trust

    if source.startswith(("http://", "https://")):
        try:
            status, body = transport.call("GET", source, limit=MAX_INPUT)
        except (transport.Unreachable, transport.TooLarge) as error:
            raise CommandError(f"the trust list cannot be fetched from {source}: {error}") from None
        if status != 200:
            raise CommandError(f"the trust list cannot be fetched from {source}: HTTP {status}")
        token = body.decode("ascii", "replace").strip()
    else:
        try:
            token = Path(source).read_text(encoding="ascii", errors="replace").strip()
        except OSError as error:
            raise CommandError(f"the trust list cannot be read: {error}") from None
    try:
        return trust.verify_list(
            token,
            hub_code=settings.TONGBAN_HUB_CODE,
            hub_keys=exchange.pinned_hub_keys(),
            at=timezone.now(),
        )
    except trust.TrustError as error:
        raise CommandError(f"the trust list is not one to rely on: {error}") from None


def _freshness(outcome: Any) -> str:
    if outcome.status_source == "issuer":
        return "the issuing node's own record (current)"
    if outcome.status_source == "revocation_list":
        return f"the issuing node's revocation list, fetched {outcome.status_as_of:%Y-%m-%d %H:%M}"
    return "no revocation list of the issuing node held yet: revocation not checked"
