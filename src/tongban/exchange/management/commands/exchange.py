from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from tongban.core.audit import SYSTEM
from tongban.core.errors import DomainError
from tongban.core.logging import get_logger
from tongban.exchange import client, messaging, services
from tongban.exchange.models import EvidenceEntry

log = get_logger(__name__)


class Command(BaseCommand):
    help = "This node's keys, its registration with the hub and the trust list."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="what", required=True)
        keys = sub.add_parser("keys", help="List this node's keys; rotate or revoke one.")
        keys.add_argument("--rotate", action="store_true", help="Create the next signing key.")
        keys.add_argument(
            "--activate-in-hours",
            type=float,
            default=0,
            help="Sign with the new key only after this delay (time for peers to learn it).",
        )
        keys.add_argument(
            "--revoke", metavar="KID", help="Stop trusting this key at once (write --revoke=KID)."
        )
        sub.add_parser("public-keys", help="Print this node's public keys as a JWK set.")
        enrol = sub.add_parser("enrol", help="(hub) Print a one-time enrolment code for a node.")
        enrol.add_argument("node_code")
        register = sub.add_parser("register", help="Register this node (or new keys) with the hub.")
        register.add_argument("--enrolment", help="The hub's one-time code (first time only).")
        tick = sub.add_parser(
            "tick",
            help="Refresh the trust list (the hub: re-issue it daily) and deliver due messages.",
        )
        tick.add_argument("--every", type=float, help="Repeat every this many seconds.")
        sub.add_parser(
            "deliver",
            help="Send outgoing messages as they are committed, until stopped (`serve` runs it).",
        )
        sub.add_parser("verify", help="Verify the evidence log of messages sent and received.")
        probe = sub.add_parser(
            "probe",
            help=(
                "Send numbered probe messages to a peer (which records each as it applies it); "
                "goes on after the last probe sent before."
            ),
        )
        probe.add_argument("node_code", help="The peer.")
        probe.add_argument("--count", type=int, default=1, help="Send probes up to this number.")
        probe.add_argument(
            "--subjects", type=int, default=10, help="Spread over this many subjects."
        )
        probe.add_argument(
            "--rollback-every",
            type=int,
            default=0,
            help="Roll every k-th probe's transaction back on purpose (it must never arrive).",
        )
        probe.add_argument(
            "--rate", type=float, default=0.0, help="Probes per second (0: flat out)."
        )
        listing = sub.add_parser("trust-list", help="Show the trust list in force.")
        listing.add_argument("--fetch", action="store_true", help="Fetch it from the hub first.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            getattr(self, "_" + options["what"].replace("-", "_"))(options)
        except DomainError as error:
            raise CommandError(f"{error.message} [{error.code}]") from None

    def _keys(self, options: dict[str, Any]) -> None:
        if options["rotate"]:
            key = services.node_key_rotate(
                actor=SYSTEM, activate_in=dt.timedelta(hours=options["activate_in_hours"])
            )
            self.stdout.write(f"new key {key.kid}, signing from {key.not_before.isoformat()}")
            self.stdout.write("register with the hub again so peers learn it")
        if options["revoke"]:
            services.node_key_revoke(actor=SYSTEM, kid=options["revoke"])
        now = timezone.now()
        for key in services.self_node().keys.order_by("not_before"):
            state = (
                "revoked"
                if key.revoked_at
                else "valid"
                if key.not_before <= now and (key.not_after is None or now < key.not_after)
                else "not yet valid"
                if key.not_before > now
                else "expired"
            )
            self.stdout.write(
                json.dumps(
                    {
                        "kid": key.kid,
                        "state": state,
                        "not_before": key.not_before.isoformat(),
                        "not_after": key.not_after.isoformat() if key.not_after else None,
                    }
                )
            )

    def _tick(self, options: dict[str, Any]) -> None:
        while True:
            self._tick_once()
            if not options["every"]:
                return
            time.sleep(options["every"])

    def _tick_once(self) -> None:
        """One round; a failure of one part is logged and never stops the loop (nor the
        node: `serve` treats a child's exit as fatal)."""
        try:
            if services.is_hub():
                services.trust_list_to_serve()
            elif settings.TONGBAN_HUB_URL:
                client.fetch_trust_list()
        except Exception as error:
            # The cached list stays in force until it expires.
            log.warning("exchange.trust_list_refresh_failed", error=repr(error))
        parts: dict[str, Callable[[], int]] = {
            # Until nothing is due (each call sends at most its limit).
            "deliver": lambda: messaging.outbox_deliver(limit=10_000),
            "inbox": messaging.inbox_sweep,
            # A new seal reaches the trust list without an operator re-registering.
            "issuers": client.issuers_publish,
        }
        for name, work in (parts | messaging.sweeps()).items():
            try:
                done = work()
            except Exception as error:
                log.error("exchange.tick_failed", part=name, error=repr(error))
            else:
                if done and name == "deliver":
                    self.stdout.write(f"delivered {done} message(s)")

    def _deliver(self, options: dict[str, Any]) -> None:
        import signal

        stopping = False

        def stop(signum: int, frame: Any) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        messaging.deliver_forever(stop=lambda: stopping)

    def _probe(self, options: dict[str, Any]) -> None:
        from tongban.exchange import probes

        committed, rolled = probes.stream(
            probes.Stream(
                peer=options["node_code"],
                count=options["count"],
                subjects=max(1, options["subjects"]),
                rollback_every=options["rollback_every"],
                rate=options["rate"],
            )
        )
        self.stdout.write(f"probes committed: {committed}; rolled back on purpose: {rolled}")

    def _verify(self, options: dict[str, Any]) -> None:
        broken = messaging.evidence_verify()
        if broken is not None:
            raise CommandError(f"evidence log broken at entry {broken.seq}: {broken.reason}")
        count = EvidenceEntry.objects.count()
        self.stdout.write(f"evidence log verified: {count} entries")

    def _public_keys(self, options: dict[str, Any]) -> None:
        node = services.self_node()
        keys = [key.jwk for key in node.keys.filter(revoked_at__isnull=True)]
        self.stdout.write(json.dumps({"keys": keys}, indent=2))

    def _enrol(self, options: dict[str, Any]) -> None:
        self.stdout.write(services.enrolment_create(actor=SYSTEM, node_code=options["node_code"]))

    def _register(self, options: dict[str, Any]) -> None:
        answer = client.register(enrolment=options["enrolment"])
        self.stdout.write(json.dumps(answer, ensure_ascii=False))

    def _trust_list(self, options: dict[str, Any]) -> None:
        if options["fetch"]:
            client.fetch_trust_list()
        listed = services.trust_list_current()
        self.stdout.write(
            json.dumps(
                {
                    "serial": listed.serial,
                    "issued_at": listed.issued_at.isoformat(),
                    "expires_at": listed.expires_at.isoformat(),
                }
            )
        )
        for node in listed.nodes:
            self.stdout.write(
                json.dumps(
                    {"code": node.code, "name": node.name, "url": node.url, "keys": len(node.keys)},
                    ensure_ascii=False,
                )
            )
