"""The licence credential a phone shows as a QR code (亮证), and its offline verification.

Format (docs/license-credential.md has the full description for third-party verifiers):

    "TB1:" + base45( zlib( len(header) ‖ len(payload) ‖ header ‖ payload ‖ signature ) )

where header and payload are the UTF-8 JSON bytes of a JWS signed ``ES256`` by the issuing
department's seal key (lengths as two-byte big-endian numbers, the signature the raw 64 bytes),
so the standard JWS compact form is rebuilt exactly by base64url-encoding the three parts. The
parts travel decoded because JSON compresses and its base64 does not: a typical licence is then
about a third shorter. The protected header names the key (``kid``) and the type
``tongban-license+jws``; the payload's keys are kept short. Verifying needs only the issuer
keys of the hub's trust list: revocation is checked separately (online status or the published
revocation list). Pure: no Django.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import struct
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import base45

from tongban.licenses import identifiers, signing
from tongban.licenses.signing import b64url, unb64url

PREFIX = "TB1:"
TYPE = "tongban-license+jws"
MAX_TEXT = 4_000  # characters of QR text accepted
MAX_JWS = 8_000  # bytes after inflating (a compression bomb stops here)


class CredentialInvalid(ValueError):
    """Why a credential is not valid: ``code`` for programs, ``message`` for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True)
class TrustedKey:
    """An issuer key as the trust list publishes it."""

    jwk: Mapping[str, Any]
    issuer_code: str
    not_before: dt.date | None = None
    not_after: dt.date | None = None


KeyLookup = Callable[[str], TrustedKey | None]


def holder_hash(identifier: str, holder_code: str) -> str:
    """What ties a person's credential to their ID number without printing it: whoever holds
    the ID card computes the same value; the QR alone does not reveal the number."""
    digest = hashlib.sha256(f"{identifier}|{holder_code.strip().upper()}".encode()).digest()
    return base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()


def encode(claims: Mapping[str, Any], signer: signing.Signer) -> str:
    """The QR text of ``claims`` signed by ``signer``."""
    header = _json_bytes({"alg": signer.algorithm, "kid": signer.kid, "typ": TYPE})
    payload = _json_bytes(claims)
    signature = signer.sign(f"{b64url(header)}.{b64url(payload)}".encode())
    packed = struct.pack(">HH", len(header), len(payload)) + header + payload + signature
    return PREFIX + base45.b45encode(zlib.compress(packed, 9)).decode()


def jws_of(text: str) -> str:
    """The standard JWS compact form of a QR text (or of a JWS, passed through);
    CredentialInvalid ``malformed`` when it is neither."""
    header, payload, signature = _unpack(text)
    return f"{b64url(header)}.{b64url(payload)}.{b64url(signature)}"


def _unpack(text: str) -> tuple[bytes, bytes, bytes]:
    """(header, payload, signature) as bytes, from the QR text or a JWS."""
    text = (text or "").strip()
    if len(text) > MAX_TEXT:
        raise CredentialInvalid("malformed", "The text is too long to be a licence credential.")
    if not text.startswith(PREFIX):
        parts = text.split(".")
        if len(parts) != 3:
            raise CredentialInvalid("malformed", f"The text does not start with {PREFIX}.")
        try:
            header, payload, signature = (unb64url(part) for part in parts)
        except ValueError:
            raise CredentialInvalid("malformed", "The credential is not a signed JWS.") from None
        return header, payload, signature
    try:
        packed = b45decode(text[len(PREFIX) :])
        inflater = zlib.decompressobj()
        raw = inflater.decompress(packed, MAX_JWS)
        if inflater.unconsumed_tail or not inflater.eof or inflater.unused_data:
            raise ValueError("truncated or too large")
        header_length, payload_length = struct.unpack(">HH", raw[:4])
        end = 4 + header_length + payload_length
        header, payload, signature = (
            raw[4 : 4 + header_length],
            raw[4 + header_length : end],
            raw[end:],
        )
        if len(payload) != payload_length or not header or not payload or not signature:
            raise ValueError("parts missing")
    except (ValueError, zlib.error, struct.error):
        raise CredentialInvalid(
            "malformed", "The text is damaged or incomplete (base45 or compression)."
        ) from None
    return header, payload, signature


@dataclass(frozen=True)
class Verified:
    claims: dict[str, Any]
    kid: str
    issuer_code: str


def verify(text: str, keys: KeyLookup, *, today: dt.date) -> Verified:
    """Check a credential offline: well formed, signed by a key the trust list holds for the
    issuer it names, within its validity. CredentialInvalid says why not."""
    header_bytes, payload_bytes, signature = _unpack(text)
    header = _json(header_bytes, "header")
    if header.get("typ") != TYPE:
        raise CredentialInvalid("malformed", "This is not a licence credential.")
    algorithm = header.get("alg")
    if algorithm not in signing.ALGORITHMS:
        raise CredentialInvalid("malformed", f"Unsupported signature algorithm {algorithm!r}.")
    kid = str(header.get("kid") or "")
    trusted = keys(kid) if kid else None
    if trusted is None:
        raise CredentialInvalid(
            "unknown_issuer", "The signing key is not in the trust list (unknown issuer)."
        )
    load, check = signing.ALGORITHMS[str(algorithm)]
    try:
        public_key = load(trusted.jwk)
    except signing.UnusableKey:
        raise CredentialInvalid("bad_signature", "The signature cannot be checked.") from None
    signing_input = f"{b64url(header_bytes)}.{b64url(payload_bytes)}".encode()
    if not check(public_key, signing_input, signature):
        raise CredentialInvalid(
            "bad_signature", "The signature does not match: the credential was altered."
        )
    claims = _json(payload_bytes, "payload")
    _check_claims(claims, trusted, today)
    return Verified(claims=claims, kid=kid, issuer_code=trusted.issuer_code)


def _check_claims(claims: dict[str, Any], trusted: TrustedKey, today: dt.date) -> None:
    try:
        identifier = identifiers.parse(str(claims.get("lid", "")))
        issued = _date(claims["iat"])
        valid_from = _date(claims.get("nbf") or claims["iat"])
        valid_until = _date(claims["exp"]) if claims.get("exp") else None
    except (identifiers.InvalidIdentifier, KeyError, ValueError, TypeError):
        raise CredentialInvalid("malformed", "The credential's content is incomplete.") from None
    if claims.get("iss") != trusted.issuer_code or identifier.issuer_code != trusted.issuer_code:
        raise CredentialInvalid("wrong_key", "The credential is signed with another issuer's key.")
    if (trusted.not_before and issued < trusted.not_before) or (
        trusted.not_after and issued > trusted.not_after
    ):
        raise CredentialInvalid(
            "wrong_key", "The issuer's key was not valid on the day the licence was issued."
        )
    if today < valid_from:
        raise CredentialInvalid(
            "not_yet_valid", f"The licence is valid from {valid_from.isoformat()}."
        )
    if valid_until is not None and today > valid_until:
        raise CredentialInvalid("expired", f"The licence expired after {valid_until.isoformat()}.")


def _json(part: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(part)
    except (ValueError, UnicodeDecodeError):
        raise CredentialInvalid("malformed", f"The credential's {what} is not JSON.") from None
    if not isinstance(value, dict):
        raise CredentialInvalid("malformed", f"The credential's {what} is not a JSON object.")
    return value


def _date(value: Any) -> dt.date:
    return dt.date.fromisoformat(str(value))


_B45 = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
_B45_VALUES = bytes(_B45.index(code) if code in _B45 else 255 for code in range(256))


def b45decode(text: str) -> bytes:
    """RFC 9285 base45 decoding, about ten times faster than a loop over the triplets: each
    column of the triplets (1st, 2nd, 3rd characters) becomes one big integer with a 24-bit
    place per triplet, so ``first + 45·second + 2025·third`` is computed for all triplets at
    once without carries; a triplet worth more than 0xFFFF shows as a non-zero top byte.
    ValueError for anything that is not base45. (Encoding uses the ``base45`` package; the
    tests check this decoder against it.)"""
    values = text.encode("ascii").translate(_B45_VALUES)
    if 255 in values:
        raise ValueError("not base45")
    triplets, rest = divmod(len(values), 3)
    if rest == 1:
        raise ValueError("base45 text of a wrong length")
    width = 3 * triplets
    places = bytearray(width)

    def column(start: int) -> int:
        places[2::3] = values[start:width:3]
        return int.from_bytes(places, "big")

    total = column(0) + 45 * column(1) + 2025 * column(2)
    digits = total.to_bytes(width, "big")
    if digits[0::3].count(0) != triplets:
        raise ValueError("a base45 triplet is out of range")
    decoded = bytearray(2 * triplets)
    decoded[0::2] = digits[1::3]
    decoded[1::2] = digits[2::3]
    if rest == 2:
        last = values[-2] + 45 * values[-1]
        if last > 0xFF:
            raise ValueError("the last base45 pair is out of range")
        decoded.append(last)
    return bytes(decoded)


def _json_bytes(value: Mapping[str, Any]) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
