"""Shared pieces of the single sign-on tests: PKCE values, node-signed client assertions, and
the hand-made JOSE tokens a hostile party would send (``alg: none``, HS256 keyed with the
public key)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tongban.accounts.sso.provider import ASSERTION_TYP
from tongban.exchange import keys


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def pkce() -> tuple[str, str]:
    """(verifier, S256 challenge)."""
    verifier = secrets.token_urlsafe(48)
    return verifier, b64(hashlib.sha256(verifier.encode()).digest())


def query(url: str) -> dict[str, str]:
    """The query parameters of a URL (one value each)."""
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}


def assertion(
    pair: keys.NodeKeyPair,
    *,
    code: str,
    audience: str,
    typ: str = ASSERTION_TYP,
    **overrides: Any,
) -> str:
    """A client assertion for node ``code`` signed with ``pair``; ``overrides`` replace or (with
    None) drop claims."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": code,
        "sub": code,
        "aud": audience,
        "iat": now,
        "exp": now + 60,
        "jti": uuid.uuid4().hex,
    }
    for name, value in overrides.items():
        if value is None:
            claims.pop(name, None)
        else:
            claims[name] = value
    return keys.sign(pair, json.dumps(claims).encode(), typ=typ)


def unsigned(claims: dict[str, Any], **header: Any) -> str:
    """A JWT with ``alg: none`` and no signature."""
    head = {"alg": "none", "typ": "JWT", **header}
    return f"{b64(json.dumps(head).encode())}.{b64(json.dumps(claims).encode())}."


def hs256_with(secret: bytes, claims: dict[str, Any], **header: Any) -> str:
    """A JWT "signed" with HMAC-SHA256 keyed by ``secret`` (the algorithm-confusion attack uses
    the RSA public key as the secret)."""
    head = {"alg": "HS256", "typ": "JWT", **header}
    signing_input = f"{b64(json.dumps(head).encode())}.{b64(json.dumps(claims).encode())}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


def payload_of(token: str) -> dict[str, Any]:
    """The claims of a compact JWS, unverified."""
    part = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))))


def header_of(token: str) -> dict[str, Any]:
    part = token.split(".")[0]
    return dict(json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))))
