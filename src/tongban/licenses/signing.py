"""Seal signers: what signs a licence's credential (JWS) and its PDF.

A signer has a key id, a JWS algorithm name, the public key as a JWK (what the trust list
publishes) and ``sign(data)`` giving the raw JWS signature. The shipped signer is ECDSA P-256
with SHA-256 (``ES256``): PDF validators such as poppler's ``pdfsig`` accept it, and the same key
signs the QR credential. A deployment that must follow GB/T 38540 (SM2 with SM3) adds a signer
of this shape backed by its SM2 library or signing device, registers it in ``ALGORITHMS`` with a
verifier, and publishes its keys with ``"kty": "EC", "crv": "SM2"`` (see the README).
Pure: no Django.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

P256_BYTES = 32


class Signer(Protocol):
    @property
    def kid(self) -> str: ...

    @property
    def algorithm(self) -> str: ...

    def sign(self, data: bytes) -> bytes: ...

    def public_jwk(self) -> dict[str, str]: ...


def b64url(data: bytes) -> str:
    """base64url without padding (RFC 7515 §2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    """The bytes of base64url text without padding; ValueError for anything else."""
    if not _B64URL.fullmatch(text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


_B64URL = re.compile(r"[A-Za-z0-9_-]+")


def p256_jwk(public_key: ec.EllipticCurvePublicKey) -> dict[str, str]:
    numbers = public_key.public_numbers()
    return {
        "kty": "EC",
        "crv": "P-256",
        "x": b64url(numbers.x.to_bytes(P256_BYTES, "big")),
        "y": b64url(numbers.y.to_bytes(P256_BYTES, "big")),
    }


def jwk_thumbprint(jwk: Mapping[str, str]) -> str:
    """RFC 7638 thumbprint (SHA-256, base64url): a key id nobody has to assign."""
    members = {name: jwk[name] for name in ("crv", "kty", "x", "y")}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True)
    return b64url(hashlib.sha256(canonical.encode()).digest())


@dataclass(frozen=True)
class P256Signer:
    """ES256 with a key held in this process (loaded from the node's key store)."""

    private_key: ec.EllipticCurvePrivateKey
    kid: str
    algorithm: str = "ES256"

    @classmethod
    def generate(cls) -> P256Signer:
        key = ec.generate_private_key(ec.SECP256R1())
        return cls(key, jwk_thumbprint(p256_jwk(key.public_key())))

    def sign(self, data: bytes) -> bytes:
        r, s = decode_dss_signature(self.private_key.sign(data, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(P256_BYTES, "big") + s.to_bytes(P256_BYTES, "big")

    def public_jwk(self) -> dict[str, str]:
        return {**p256_jwk(self.private_key.public_key()), "kid": self.kid, "alg": "ES256"}


class UnusableKey(ValueError):
    """A published key that cannot be used (wrong type, curve or coordinates)."""


def p256_public_key(jwk: Mapping[str, Any]) -> ec.EllipticCurvePublicKey:
    if jwk.get("kty") != "EC" or jwk.get("crv") != "P-256":
        raise UnusableKey("not a P-256 key")
    return _p256_point(str(jwk.get("x", "")), str(jwk.get("y", "")))


@functools.lru_cache(maxsize=1024)
def _p256_point(x: str, y: str) -> ec.EllipticCurvePublicKey:
    """A trust list's keys are few and checked over and over: each point is validated once."""
    try:
        numbers = ec.EllipticCurvePublicNumbers(
            int.from_bytes(unb64url(x), "big"), int.from_bytes(unb64url(y), "big"), ec.SECP256R1()
        )
        return numbers.public_key()
    except (ValueError, TypeError) as error:
        raise UnusableKey("the key's coordinates are not a point of P-256") from error


def verify_es256(public_key: Any, data: bytes, signature: bytes) -> bool:
    if len(signature) != 2 * P256_BYTES:
        return False
    r = int.from_bytes(signature[:P256_BYTES], "big")
    s = int.from_bytes(signature[P256_BYTES:], "big")
    try:
        public_key.verify(encode_dss_signature(r, s), data, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


# Algorithm name → (JWK → public key, verify(public key, data, signature)).
Verifier = tuple[Callable[[Mapping[str, Any]], Any], Callable[[Any, bytes, bytes], bool]]
ALGORITHMS: dict[str, Verifier] = {
    "ES256": (p256_public_key, verify_es256),
}
