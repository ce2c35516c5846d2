"""Files between nodes. Events stay small (the envelope's limit), so a file travels by a signed
request instead: the event names a handle, and the node that needs the file asks the node that
has it, ``GET /federation/v1/blobs/<kind>/<handle>`` with a request token in the
``Authorization`` header (JWS by its node key over method, path, audience and time). The
holder verifies the token against the trust list and lets the domain that offers that kind of
file (``register_provider``) decide whether this peer may have it.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tongban.core.errors import DomainError, NotFound
from tongban.exchange import keys, services, transport

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
    now = at or timezone.now()
    claims = {
        "iss": settings.TONGBAN_NODE_CODE,
        "aud": peer,
        "htm": "GET",
        "htu": path,
        "iat": int(now.timestamp()),
        "jti": uuid.uuid4().hex,
    }
    payload = json.dumps(claims, sort_keys=True).encode()
    return keys.sign(services.signing_pair(at=now), payload, typ=TYP)


def _refuse(reason: str) -> DomainError:
    from tongban.exchange.messaging import Untrusted

    return Untrusted(code=reason)


def requester(*, authorization: str, path: str) -> str:
    """The node that signed this request for ``path``; Untrusted (403) otherwise."""
    from tongban.exchange.messaging import resolve_key

    scheme, _sep, token = (authorization or "").partition(" ")
    if scheme != SCHEME or not token:
        raise _refuse("no_request_token")
    try:
        header = keys.unverified_header(token)
        claims: Any = json.loads(keys.unverified_payload(token))
    except (keys.BadSignature, ValueError, RecursionError):
        raise _refuse("malformed_request_token") from None
    if not isinstance(claims, dict) or not isinstance(claims.get("iss"), str):
        raise _refuse("malformed_request_token")
    jwk = resolve_key(claims["iss"], str(header.get("kid", "")))
    try:
        keys.verify(token, jwk, typ=TYP)
    except keys.BadSignature:
        raise _refuse("bad_signature") from None
    issued = claims.get("iat")
    now = timezone.now().timestamp()
    if (
        claims.get("aud") != settings.TONGBAN_NODE_CODE
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


def fetch(*, peer: str, kind: str, ref: str) -> bytes:
    """Ask ``peer`` for a file; FetchFailed when it cannot be had now (unreachable, refused)."""
    from tongban.exchange.messaging import peer_url

    path = path_for(kind, ref)
    url = peer_url(peer) + path
    try:
        status, body = transport.call(
            "GET", url, headers={"Authorization": f"{SCHEME} {request_token(peer=peer, path=path)}"}
        )
    except transport.Unreachable as error:
        raise FetchFailed(f"unreachable: {error}") from None
    if status != 200:
        raise FetchFailed(f"HTTP {status}: {body[:300].decode('utf-8', 'replace')}")
    return body
