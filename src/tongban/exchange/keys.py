"""A node's signing keys (Ed25519) and compact JWS with them. Pure: no Django.

Private keys live only in files under the node's key directory (PKCS#8 PEM, mode 0600, named
by key id); the database holds public keys. A key id is the RFC 7638 thumbprint of the public
key, so anyone can recompute it. Signatures use the JOSE algorithm ``Ed25519`` (RFC 9864's
fully specified name for EdDSA over Ed25519; the older polymorphic ``EdDSA`` is deprecated).
"""

from __future__ import annotations

import base64
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from joserfc import jwe, jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, OKPKey

ALGORITHM = "Ed25519"
_SUFFIX = ".pem"
# An RFC 7638 thumbprint with SHA-256: 32 bytes, base64url without padding. Checked before a kid
# becomes part of a file name.
_KID = re.compile(r"[A-Za-z0-9_-]{43}")
_PUBLIC_MEMBERS = ("kty", "crv", "x")


class KeyFileError(LookupError):
    """A key file is missing, unreadable or not an Ed25519 private key."""


class BadSignature(ValueError):
    """A JWS that does not verify, does not parse, or names no usable key."""


@dataclass(frozen=True)
class NodeKeyPair:
    kid: str
    private: OKPKey

    def public_jwk(self) -> dict[str, Any]:
        return public_jwk(self.private)


def public_jwk(key: OKPKey) -> dict[str, Any]:
    """The public half as a JWK with its kid, use and algorithm."""
    jwk = dict(key.as_dict(private=False))
    jwk.update({"kid": key.thumbprint(), "use": "sig", "alg": ALGORITHM})
    return jwk


def public_members(jwk: dict[str, Any]) -> dict[str, Any]:
    """Only the public members of an Ed25519 JWK, with its kid, use and algorithm: what may be
    stored or published of a key someone sent (never a private ``d`` sent by mistake)."""
    public = {name: jwk[name] for name in _PUBLIC_MEMBERS if name in jwk}
    return public | {"kid": kid_of(jwk), "use": "sig", "alg": ALGORITHM}


def generate(directory: Path) -> NodeKeyPair:
    """A new key pair, its private key written to ``directory/<kid>.pem`` (0600, never
    overwritten)."""
    key = OKPKey.generate_key("Ed25519")
    kid = key.thumbprint()
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    path = directory / f"{kid}{_SUFFIX}"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key.as_pem(private=True))
    return NodeKeyPair(kid=kid, private=key)


# Encryption keys (X25519): what peers encrypt event data to. Kept apart from the signing keys,
# in ``<key dir>/enc/<kid>.pem``; the newest one is published, older ones stay to decrypt.
ENC_ALGORITHM = "ECDH-ES"
ENC_CONTENT = "A256GCM"
ENC_DIR = "enc"
_ENC_MEMBERS = ("kty", "crv", "x")


def generate_enc(directory: Path) -> OKPKey:
    """A new encryption key pair, its private key in ``directory/enc/<kid>.pem`` (0600)."""
    key = OKPKey.generate_key("X25519")
    folder = directory / ENC_DIR
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    fd = os.open(
        folder / f"{key.thumbprint()}{_SUFFIX}", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600
    )
    with os.fdopen(fd, "wb") as handle:
        handle.write(key.as_pem(private=True))
    return key


def enc_keys(directory: Path) -> dict[str, OKPKey]:
    """This node's encryption keys by kid (unreadable or too open files are skipped)."""
    found: dict[str, OKPKey] = {}
    folder = directory / ENC_DIR
    for path in sorted(folder.glob(f"*{_SUFFIX}")) if folder.exists() else []:
        try:
            if path.stat().st_mode & 0o077:
                continue
            key = OKPKey.import_key(path.read_bytes())
        except (OSError, ValueError, JoseError):
            continue
        if key.is_private and key.thumbprint() == path.stem:
            found[path.stem] = key
    return found


def enc_public_jwk(key: OKPKey) -> dict[str, Any]:
    return dict(key.as_dict(private=False)) | {
        "kid": key.thumbprint(),
        "use": "enc",
        "alg": ENC_ALGORITHM,
    }


def enc_public_members(jwk: Any) -> dict[str, Any] | None:
    """The public members of an X25519 JWK with its kid, or None if it is not one."""
    if not isinstance(jwk, dict) or jwk.get("kty") != "OKP" or jwk.get("crv") != "X25519":
        return None
    try:
        key = OKPKey.import_key({name: jwk[name] for name in _ENC_MEMBERS})
    except (KeyError, ValueError, JoseError):
        return None
    if key.is_private:
        return None
    return enc_public_jwk(key)


def encrypt_for(jwk: dict[str, Any], plaintext: bytes) -> str:
    """A compact JWE of ``plaintext`` that only the holder of ``jwk``'s private key opens."""
    key = OKPKey.import_key({name: jwk[name] for name in _ENC_MEMBERS})
    header = {"alg": ENC_ALGORITHM, "enc": ENC_CONTENT, "kid": key.thumbprint()}
    return jwe.encrypt_compact(header, plaintext, key)


class CannotDecrypt(ValueError):
    """A JWE not for any of this node's keys, or damaged."""


def decrypt(token: str, keys_by_kid: dict[str, OKPKey]) -> bytes:
    try:
        first = token.split(".", 1)[0]
        header = json.loads(base64.urlsafe_b64decode(first + "=" * (-len(first) % 4)))
        if not isinstance(header, dict):
            raise CannotDecrypt("not a JWE")
        key = keys_by_kid.get(str(header.get("kid")))
        if key is None:
            raise CannotDecrypt("not encrypted to a key of this node")
        if header.get("alg") != ENC_ALGORITHM or header.get("enc") != ENC_CONTENT:
            raise CannotDecrypt("unexpected algorithms")
        plaintext = jwe.decrypt_compact(token, key).plaintext
        if plaintext is None:
            raise CannotDecrypt("empty")
        return bytes(plaintext)
    except (JoseError, ValueError, UnicodeError, AttributeError, RecursionError) as error:
        if isinstance(error, CannotDecrypt):
            raise
        raise CannotDecrypt(str(error)) from None


# Parsed key files by (path, modification time, size): every signature needs the key, and
# parsing the PEM costs more than the signature itself. A file changed on disk is read again.
_loaded: dict[tuple[str, int, int], NodeKeyPair] = {}


def load(directory: Path, kid: str) -> NodeKeyPair:
    if not _KID.fullmatch(kid):
        raise KeyFileError(f"{kid!r} is not a key id")
    path = directory / f"{kid}{_SUFFIX}"
    try:
        status = path.stat()
        if status.st_mode & 0o077:
            raise KeyFileError(f"{path} is readable by others; chmod 600 it")
        seen = (str(path), status.st_mtime_ns, status.st_size)
        if seen in _loaded:
            return _loaded[seen]
        key = OKPKey.import_key(path.read_bytes())
    except FileNotFoundError:
        raise KeyFileError(f"no private key file for kid {kid} in {directory}") from None
    except (OSError, ValueError, JoseError) as error:
        raise KeyFileError(f"unreadable key file {path}: {error}") from None
    if not key.is_private or key.thumbprint() != kid:
        raise KeyFileError(f"{path} does not hold the private key {kid}")
    _loaded[seen] = NodeKeyPair(kid=kid, private=key)
    return _loaded[seen]


def kids_on_disk(directory: Path) -> list[str]:
    return sorted(path.stem for path in directory.glob(f"*{_SUFFIX}")) if directory.exists() else []


def sign(pair: NodeKeyPair, payload: bytes, *, typ: str) -> str:
    """A compact JWS over ``payload`` with ``alg``, ``kid`` and ``typ`` in the protected
    header."""
    header = {"alg": ALGORITHM, "kid": pair.kid, "typ": typ}
    return jws.serialize_compact(header, payload, pair.private, algorithms=[ALGORITHM])


def unverified_header(token: str) -> dict[str, Any]:
    """The protected header, to pick the key; nothing in it is trusted yet."""
    try:
        return dict(jws.extract_compact(token.encode("ascii")).headers())
    except (JoseError, ValueError, UnicodeError, AttributeError) as error:
        raise BadSignature(f"not a compact JWS: {error}") from None


def unverified_payload(token: str) -> bytes:
    """The payload, to learn who claims to have signed; nothing in it is trusted yet."""
    try:
        return bytes(jws.extract_compact(token.encode("ascii")).payload)
    except (JoseError, ValueError, UnicodeError, AttributeError) as error:
        raise BadSignature(f"not a compact JWS: {error}") from None


def kid_of(jwk: dict[str, Any]) -> str:
    """The RFC 7638 thumbprint of a public Ed25519 JWK ("" if it is not one)."""
    if not isinstance(jwk, dict):
        return ""
    try:
        key = OKPKey.import_key({k: v for k, v in jwk.items() if k in _PUBLIC_MEMBERS})
    except (JoseError, ValueError, TypeError):
        return ""
    return str(key.thumbprint()) if key.curve_name == "Ed25519" else ""


_EC_MEMBERS = ("kty", "crv", "x", "y")


def ec_public_members(jwk: Any) -> dict[str, Any] | None:
    """Only the public members of a P-256 JWK (a licence issuer's seal key), with its RFC 7638
    thumbprint as kid; None if ``jwk`` is not one."""
    if not isinstance(jwk, dict) or jwk.get("kty") != "EC" or jwk.get("crv") != "P-256":
        return None
    public = {name: jwk[name] for name in _EC_MEMBERS if isinstance(jwk.get(name), str)}
    try:
        key = ECKey.import_key(public)
    except (JoseError, ValueError, TypeError):
        return None
    return public | {"kid": str(key.thumbprint())}


def verify(token: str, jwk: dict[str, Any], *, typ: str) -> bytes:
    """The payload of a JWS signed by ``jwk`` with the expected ``typ``; BadSignature
    otherwise."""
    header = unverified_header(token)
    if header.get("alg") != ALGORITHM or header.get("typ") != typ:
        raise BadSignature(f"expected alg {ALGORITHM} and typ {typ}")
    kid = kid_of(jwk)
    if not kid:
        raise BadSignature("not an Ed25519 public key")
    if kid != header.get("kid"):
        raise BadSignature("the kid does not name this key")
    try:
        key = OKPKey.import_key({k: v for k, v in jwk.items() if k in _PUBLIC_MEMBERS})
        return bytes(jws.deserialize_compact(token, key, algorithms=[ALGORITHM]).payload)
    except (JoseError, ValueError, TypeError) as error:
        raise BadSignature(f"signature does not verify: {error}") from None
