"""Keyed hashing and authenticated encryption of personal data. Pure: no Django.

Personal identifiers (resident ID numbers, phone numbers) are never stored in clear. Each is
stored twice: a keyed hash (HMAC-SHA256) to find a record by exact value, and an AES-256-GCM
ciphertext to show it (masked) or hand it to an authorised use. Both are bound to a *purpose*
("id_number", "phone"), so a value encrypted as one kind cannot be replayed as another.

Ciphertext format: ``v1.<key id>.<base64url(nonce ‖ ciphertext ‖ tag)>``; the key id lets
keys rotate: new values use the active key, old values stay readable while their key is kept.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
_NONCE_BYTES = 12
_FORMAT = "v1"


class KeyMaterialError(ValueError):
    """Key material is missing or malformed."""


class DecryptionError(ValueError):
    """A ciphertext is malformed, was tampered with, or its key is unknown."""


@dataclass(frozen=True)
class PiiKeys:
    hash_key: bytes
    active: str
    encryption_keys: Mapping[str, bytes]

    @classmethod
    def from_mapping(cls, data: Mapping[str, object]) -> PiiKeys:
        """Build keys from their JSON form: base64 strings, ``active`` names an encryption key."""
        if not isinstance(data, Mapping):
            raise KeyMaterialError("personal-data key set must be a JSON object")
        try:
            hash_key = _b64_key(str(data["hash_key"]))
            active = str(data["active"])
            raw_keys = data["encryption_keys"]
        except KeyError as missing:
            raise KeyMaterialError(f"personal-data key set lacks {missing}") from None
        if not isinstance(raw_keys, Mapping) or not raw_keys:
            raise KeyMaterialError("personal-data key set has no encryption keys")
        keys = {str(kid): _b64_key(str(value)) for kid, value in raw_keys.items()}
        if active not in keys:
            raise KeyMaterialError(f"active key {active!r} is not among the encryption keys")
        if any("." in kid or not kid for kid in keys):
            raise KeyMaterialError("key ids must be non-empty and contain no dots")
        return cls(hash_key=hash_key, active=active, encryption_keys=keys)


def generate_key_set(key_id: str = "k1") -> dict[str, object]:
    """A new key set in its JSON form."""
    return {
        "hash_key": base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode(),
        "active": key_id,
        "encryption_keys": {key_id: base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()},
    }


def keyed_hash(keys: PiiKeys, value: str, *, purpose: str) -> str:
    message = purpose.encode() + b"\x00" + value.encode()
    return hmac.new(keys.hash_key, message, hashlib.sha256).hexdigest()


def encrypt(keys: PiiKeys, plaintext: str, *, purpose: str) -> str:
    nonce = os.urandom(_NONCE_BYTES)
    sealed = AESGCM(keys.encryption_keys[keys.active]).encrypt(
        nonce, plaintext.encode(), purpose.encode()
    )
    token = base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")
    return f"{_FORMAT}.{keys.active}.{token}"


def decrypt(keys: PiiKeys, ciphertext: str, *, purpose: str) -> str:
    try:
        version, key_id, token = ciphertext.split(".", 2)
    except ValueError:
        raise DecryptionError("not a tongban ciphertext") from None
    if version != _FORMAT:
        raise DecryptionError(f"unknown ciphertext format {version!r}")
    key = keys.encryption_keys.get(key_id)
    if key is None:
        raise DecryptionError(f"unknown key id {key_id!r}")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        plain = AESGCM(key).decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], purpose.encode())
    except (InvalidTag, ValueError):
        raise DecryptionError("ciphertext failed authentication") from None
    return plain.decode()


def _b64_key(value: str) -> bytes:
    try:
        key = base64.b64decode(value, validate=True)
    except ValueError:
        raise KeyMaterialError("key is not valid base64") from None
    if len(key) != KEY_BYTES:
        raise KeyMaterialError(f"key must be {KEY_BYTES} bytes, got {len(key)}")
    return key
