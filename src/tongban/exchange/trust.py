"""The trust list: which nodes exist, where they answer and which keys speak for them, signed
by the national hub. Pure: no Django.

Nodes pin the hub's public key(s) out of band (configuration); a list is accepted only when
signed by a hub key trusted at that moment, issued by the hub and not expired. A node keeps
using its cached list while the hub is down, until the list expires.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from tongban.exchange.keys import BadSignature, NodeKeyPair, sign, unverified_header, verify

TYP = "tongban-trust-list+jws"


class TrustError(ValueError):
    """A trust list or key that cannot be relied on; ``reason`` is a short machine code."""

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        super().__init__(f"{reason}: {detail}" if detail else reason)


@dataclass(frozen=True)
class TrustedKey:
    kid: str
    jwk: dict[str, Any]
    not_before: dt.datetime
    not_after: dt.datetime | None
    revoked: bool = False

    def valid_at(self, at: dt.datetime) -> bool:
        return (
            not self.revoked
            and self.not_before <= at
            and (self.not_after is None or at < self.not_after)
        )


@dataclass(frozen=True)
class TrustedIssuer:
    """An authority that a node vouches for as the issuer of electronic licences: its code (as
    printed in licence identifiers), its name and the public keys of its seals. The exchange
    only carries these; what they sign is the licences domain's business."""

    code: str
    name: str
    keys: tuple[TrustedKey, ...]


@dataclass(frozen=True)
class TrustedNode:
    code: str
    name: str
    url: str
    keys: tuple[TrustedKey, ...]
    # Its public encryption key (X25519 JWK), when it has one: event data for it is encrypted.
    enc: dict[str, Any] | None = None
    issuers: tuple[TrustedIssuer, ...] = ()


@dataclass(frozen=True)
class TrustList:
    issuer: str
    serial: int
    issued_at: dt.datetime
    expires_at: dt.datetime
    nodes: tuple[TrustedNode, ...]

    def node(self, code: str) -> TrustedNode | None:
        return next((node for node in self.nodes if node.code == code), None)

    def key_of(self, code: str, kid: str, *, at: dt.datetime) -> TrustedKey:
        """The key ``kid`` of node ``code`` if this list vouches for it at ``at``."""
        if at >= self.expires_at:
            raise TrustError("trust_list_expired", f"expired at {self.expires_at.isoformat()}")
        node = self.node(code)
        if node is None:
            raise TrustError("unknown_node", code)
        key = next((key for key in node.keys if key.kid == kid), None)
        if key is None:
            raise TrustError("unknown_key", f"{code}/{kid}")
        if key.revoked:
            raise TrustError("revoked_key", f"{code}/{kid}")
        if at < key.not_before:
            raise TrustError("key_not_yet_valid", f"{code}/{kid}")
        if not key.valid_at(at):
            raise TrustError("expired_key", f"{code}/{kid}")
        return key

    def issuer_key(self, kid: str) -> tuple[TrustedNode, TrustedIssuer, TrustedKey] | None:
        """The node, issuer and seal key that ``kid`` names, if some node lists it."""
        for node in self.nodes:
            for issuer in node.issuers:
                for key in issuer.keys:
                    if key.kid == kid:
                        return node, issuer, key
        return None


def parse_time(value: Any, name: str) -> dt.datetime:
    if not isinstance(value, str):
        raise TrustError("malformed", f"{name} must be a timestamp")
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise TrustError("malformed", f"{name} is not ISO 8601") from None
    if parsed.tzinfo is None:
        raise TrustError("malformed", f"{name} needs a time zone")
    try:
        # In UTC from here on: a time at the edge of the calendar with an offset (year 1 at
        # +14:00) cannot be converted, and would fail later when stored.
        return parsed.astimezone(dt.UTC)
    except OverflowError:
        raise TrustError("malformed", f"{name} is out of range") from None


def _key_document(key: TrustedKey) -> dict[str, Any]:
    return {
        "kid": key.kid,
        "jwk": key.jwk,
        "not_before": key.not_before.isoformat(),
        "not_after": key.not_after.isoformat() if key.not_after else None,
        "revoked": key.revoked,
    }


def issuer_document(issuer: TrustedIssuer) -> dict[str, Any]:
    return {
        "code": issuer.code,
        "name": issuer.name,
        "keys": [_key_document(key) for key in issuer.keys],
    }


def document(trust_list: TrustList) -> dict[str, Any]:
    return {
        "issuer": trust_list.issuer,
        "serial": trust_list.serial,
        "issued_at": trust_list.issued_at.isoformat(),
        "expires_at": trust_list.expires_at.isoformat(),
        "nodes": [
            {
                "code": node.code,
                "name": node.name,
                "url": node.url,
                **({"enc": node.enc} if node.enc else {}),
                "keys": [_key_document(key) for key in node.keys],
                **(
                    {"issuers": [issuer_document(issuer) for issuer in node.issuers]}
                    if node.issuers
                    else {}
                ),
            }
            for node in trust_list.nodes
        ],
    }


def parse(data: Any) -> TrustList:
    if not isinstance(data, dict) or not isinstance(data.get("nodes"), list):
        raise TrustError("malformed", "not a trust list")
    serial = data.get("serial")
    if (
        not isinstance(serial, int)
        or isinstance(serial, bool)
        or serial < 0
        or not isinstance(data.get("issuer"), str)
    ):
        raise TrustError("malformed", "issuer and serial are required")
    nodes = []
    for raw in data["nodes"]:
        if not isinstance(raw, dict) or not isinstance(raw.get("keys"), list):
            raise TrustError("malformed", "a node needs keys")
        keys = _parse_keys(raw["keys"])
        enc = raw.get("enc")
        if enc is not None and not isinstance(enc, dict):
            raise TrustError("malformed", "an encryption key is a JWK")
        nodes.append(
            TrustedNode(
                code=str(raw.get("code", "")),
                name=str(raw.get("name", "")),
                url=str(raw.get("url", "")),
                keys=tuple(keys),
                enc=dict(enc) if enc else None,
                issuers=parse_issuers(raw.get("issuers", [])),
            )
        )
    return TrustList(
        issuer=data["issuer"],
        serial=data["serial"],
        issued_at=parse_time(data.get("issued_at"), "issued_at"),
        expires_at=parse_time(data.get("expires_at"), "expires_at"),
        nodes=tuple(nodes),
    )


def _parse_keys(raw: Any) -> tuple[TrustedKey, ...]:
    if not isinstance(raw, list):
        raise TrustError("malformed", "keys are a list")
    keys = []
    for key in raw:
        if not isinstance(key, dict) or not isinstance(key.get("jwk"), dict):
            raise TrustError("malformed", "a key needs a jwk")
        keys.append(
            TrustedKey(
                kid=str(key.get("kid", "")),
                jwk=dict(key["jwk"]),
                not_before=parse_time(key.get("not_before"), "not_before"),
                not_after=parse_time(key["not_after"], "not_after")
                if key.get("not_after")
                else None,
                revoked=bool(key.get("revoked", False)),
            )
        )
    return tuple(keys)


MAX_ISSUERS = 2000


def parse_issuers(raw: Any) -> tuple[TrustedIssuer, ...]:
    """The licence issuers a node lists (``[]`` when it lists none)."""
    if not isinstance(raw, list) or len(raw) > MAX_ISSUERS:
        raise TrustError("malformed", "issuers are a list")
    issuers = []
    for entry in raw:
        if not isinstance(entry, dict) or not isinstance(entry.get("code"), str):
            raise TrustError("malformed", "an issuer needs a code")
        issuers.append(
            TrustedIssuer(
                code=entry["code"],
                name=str(entry.get("name", "")),
                keys=_parse_keys(entry.get("keys")),
            )
        )
    return tuple(issuers)


def sign_list(trust_list: TrustList, pair: NodeKeyPair) -> str:
    payload = json.dumps(document(trust_list), ensure_ascii=False, sort_keys=True)
    return sign(pair, payload.encode("utf-8"), typ=TYP)


def verify_list(
    token: str, *, hub_code: str, hub_keys: list[dict[str, Any]], at: dt.datetime
) -> TrustList:
    """The trust list in ``token`` if a trusted hub key signed it, the hub issued it and it
    has not expired at ``at``; TrustError otherwise."""
    try:
        kid = unverified_header(token).get("kid")
    except BadSignature as error:
        raise TrustError("malformed", str(error)) from None
    jwk = next((key for key in hub_keys if key.get("kid") == kid), None)
    if jwk is None:
        raise TrustError("unknown_key", f"the list is signed by {kid}, not a trusted hub key")
    try:
        payload = verify(token, jwk, typ=TYP)
    except BadSignature as error:
        raise TrustError("bad_signature", str(error)) from None
    try:
        data = json.loads(payload)
    except (ValueError, RecursionError):
        raise TrustError("malformed", "the payload is not JSON") from None
    trust_list = parse(data)
    if trust_list.issuer != hub_code:
        raise TrustError("wrong_issuer", trust_list.issuer)
    if at >= trust_list.expires_at:
        raise TrustError("trust_list_expired", trust_list.expires_at.isoformat())
    return trust_list


def hub_keys_in(trust_list: TrustList, *, at: dt.datetime) -> list[dict[str, Any]]:
    """The hub's keys valid at ``at`` according to a verified list: what a node trusts next
    time, so the hub can rotate its key without touching every node's configuration."""
    hub = trust_list.node(trust_list.issuer)
    return [dict(key.jwk, kid=key.kid) for key in (hub.keys if hub else ()) if key.valid_at(at)]
