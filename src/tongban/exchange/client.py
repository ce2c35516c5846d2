"""Calls from this node to the hub over HTTP (urllib; loopback in tests and local clusters)."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.utils.translation import gettext_lazy as _

from tongban.core.errors import DomainError
from tongban.exchange import services, transport, trust
from tongban.exchange.models import Node, TrustListCopy


class HubUnreachable(DomainError):
    status = 503
    code = "hub_unreachable"
    default_message = _("The national hub cannot be reached.")


def _hub_url() -> str:
    url = str(settings.TONGBAN_HUB_URL).rstrip("/")
    if not url:
        raise DomainError(_("No hub is configured (TONGBAN_HUB_URL)."), code="no_hub")
    return url


def _call(method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
    url = _hub_url() + path
    if not url.startswith(("http://", "https://")):
        raise DomainError(_("The hub URL must start with http:// or https://."), code="no_hub")
    try:
        return transport.call(method, url, body)
    except transport.Unreachable as error:
        raise HubUnreachable(detail_message(error)) from None


def detail_message(error: Exception) -> str:
    return str(_("The national hub cannot be reached: %(e)s") % {"e": error})


def _refused(status: int, body: bytes) -> DomainError:
    try:
        answer: Any = json.loads(body)
    except ValueError:
        answer = {}
    message = answer.get("message") if isinstance(answer, dict) else None
    return DomainError(
        _("The hub refused (%(status)d): %(message)s")
        % {"status": status, "message": message or body[:200].decode("utf-8", "replace")},
        code="hub_refused",
    )


def register(*, enrolment: str | None = None) -> dict[str, Any]:
    """Register this node (or its new keys) with the hub; then fetch the new trust list."""
    status, body = _call(
        "POST", "/federation/v1/nodes", services.registration_token(enrolment=enrolment).encode()
    )
    if status != 201:
        raise _refused(status, body)
    fetch_trust_list()
    answer: dict[str, Any] = json.loads(body)
    return answer


def fetch_trust_list() -> TrustListCopy:
    """Fetch, verify and store the hub's trust list. When the hub is down the cached list
    stays in force until it expires."""
    status, body = _call("GET", "/federation/v1/trust-list")
    if status != 200:
        raise _refused(status, body)
    return services.trust_list_accept(token=body.decode("ascii", "replace").strip())


def _issuer_keys(entries: list[dict[str, Any]]) -> set[tuple[str, str, str, bool]]:
    return {
        (str(e.get("code")), str(e.get("name")), str(k.get("kid")), bool(k.get("revoked")))
        for e in entries
        for k in e.get("keys", [])
    }


def issuers_publish() -> int:
    """When this node's licence issuers or seal keys differ from what the trust list in force
    says of it (a new seal was made), register again so the hub publishes them; on the hub,
    issue a new list. 1 when it did, 0 otherwise. Run by every `tongban exchange tick`."""
    try:
        listed = services.trust_list_current()
    except DomainError:
        return 0  # not registered yet: `tongban exchange register` comes first
    entry = listed.node(settings.TONGBAN_NODE_CODE)
    if entry is None:
        return 0
    published = [trust.issuer_document(issuer) for issuer in entry.issuers]
    if _issuer_keys(published) == _issuer_keys(services.issuer_entries()):
        return 0
    if services.is_hub():
        services.trust_list_issue()
    else:
        register()
    return 1


def peers() -> list[Node]:
    return list(Node.objects.filter(is_self=False).order_by("code"))
