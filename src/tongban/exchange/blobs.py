"""Files between nodes. Events stay small (the envelope's limit), so a file travels by a signed
request instead: the event names a handle, and the node that needs the file asks the node that
has it, ``GET /federation/v1/blobs/<kind>/<handle>`` with a request token in the
``Authorization`` header (JWS by its node key over method, path, audience and time). The
holder verifies the token against the trust list and lets the domain that offers that kind of
file (``register_provider``) decide whether this peer may have it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tongban.core.errors import DomainError, NotFound
from tongban.exchange import services, transport

TYP = "tongban-fetch+jws"
SCHEME = "Tongban-Node"
# How far the request's time may be from ours (clocks of two nodes, and the request's age).
MAX_SKEW = dt.timedelta(minutes=2)

# (peer node code, handle) -> (content, content type); NotFound / Forbidden to refuse.
Provider = Callable[[str, str], tuple[bytes, str]]
_providers: dict[str, Provider] = {}


def register_provider(kind: str, provider: Provider) -> None:
    """Offer files of ``kind`` to peers; the provider checks who may have which."""
    _providers[kind] = provider


def path_for(kind: str, ref: str) -> str:
    return f"/federation/v1/blobs/{kind}/{ref}"


def request_token(*, peer: str, path: str, at: dt.datetime | None = None) -> str:
    """A one-request token: this node asks ``peer`` for ``path``."""
    from tongban.exchange.messaging import node_token

    now = at or timezone.now()
    claims = {"aud": peer, "htm": "GET", "htu": path, "iat": int(now.timestamp())}
    return node_token(claims | {"jti": uuid.uuid4().hex}, typ=TYP, at=now)


def _refuse(reason: str) -> DomainError:
    from tongban.exchange.messaging import Untrusted

    return Untrusted(code=reason)


def requester(*, authorization: str, path: str, audience: str | None = None) -> str:
    """The node that signed this request for ``path`` at ``audience`` (this node unless
    named: the hub checks requests it relays for another); Untrusted (403) otherwise."""
    from tongban.exchange.messaging import BadNodeToken, node_token_claims

    scheme, _sep, token = (authorization or "").partition(" ")
    if scheme != SCHEME or not token:
        raise _refuse("no_request_token")
    try:
        claims = node_token_claims(token, typ=TYP)
    except BadNodeToken as bad:
        reason = "malformed_request_token" if bad.reason == "malformed" else bad.reason
        raise _refuse(reason) from None
    issued = claims.get("iat")
    now = int(timezone.now().timestamp())  # whole seconds: no float overflow on huge iat
    if (
        claims.get("aud") != (audience or settings.TONGBAN_NODE_CODE)
        or claims.get("htm") != "GET"
        or claims.get("htu") != path
        or not isinstance(issued, int)
        or isinstance(issued, bool)
        or abs(now - issued) > MAX_SKEW.total_seconds()
    ):
        raise _refuse("request_token_not_for_this")
    return str(claims["iss"])


def serve(*, authorization: str, kind: str, ref: str) -> tuple[bytes, str]:
    """What a peer's signed request for (kind, ref) gets: the provider's answer."""
    peer = requester(authorization=authorization, path=path_for(kind, ref))
    provider = _providers.get(kind)
    if provider is None:
        raise NotFound(_("This node offers no files of this kind."))
    return provider(peer, ref)


class FetchFailed(DomainError):
    status = 502
    code = "fetch_failed"
    default_message = _("The file could not be fetched from the other node.")


def fetch(*, peer: str, kind: str, ref: str, limit: int) -> bytes:
    """Ask ``peer`` for a file of at most ``limit`` bytes; FetchFailed when it cannot be had
    now (unreachable, refused, too long)."""
    path = path_for(kind, ref)
    url = _url(peer, kind, ref)
    try:
        status, body = transport.call(
            "GET",
            url,
            headers={"Authorization": f"{SCHEME} {request_token(peer=peer, path=path)}"},
            limit=limit,
        )
    except transport.Unreachable as error:
        raise FetchFailed(f"unreachable: {error}") from None
    except transport.TooLarge as error:
        raise FetchFailed(f"too large: {error}") from None
    if status != 200:
        raise FetchFailed(f"HTTP {status}")
    return body


def _url(peer: str, kind: str, ref: str) -> str:
    """Straight to the peer when the trust list publishes its URL (and this node may reach
    it), else through the hub's relay."""
    from tongban.exchange import messaging

    if not messaging.relay_only():
        try:
            return messaging.peer_url(peer) + path_for(kind, ref)
        except DomainError:
            pass
    try:
        return messaging.hub_url() + f"/federation/v1/relay/blobs/{peer}/{kind}/{ref}"
    except DomainError as error:
        raise FetchFailed(str(error.message)) from None


def relay(*, authorization: str, node: str, kind: str, ref: str) -> tuple[int, bytes, str]:
    """On the hub: pass a node's signed request for a file on to the node that holds it (the
    request is checked here too: the hub is no open proxy), and its answer back."""
    from tongban.core.errors import Forbidden
    from tongban.exchange import messaging

    if not services.is_hub():
        raise Forbidden(_("Only the hub relays messages."), code="not_a_relay")
    path = path_for(kind, ref)
    requester(authorization=authorization, path=path, audience=node)
    url = messaging.registered_url(node) + path
    limit = getattr(settings, "TONGBAN_MAX_UPLOAD_BYTES", 20 * 1024 * 1024)
    try:
        return transport.answer("GET", url, headers={"Authorization": authorization}, limit=limit)
    except (transport.Unreachable, transport.TooLarge) as error:
        raise FetchFailed(str(error)) from None
