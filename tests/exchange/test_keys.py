"""Node key files and compact JWS (keys.py: pure, no database)."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from hypothesis import given
from hypothesis import strategies as st
from joserfc.jwk import OKPKey

from tongban.exchange import keys
from tongban.exchange.keys import BadSignature, KeyFileError

TYP = "tongban-test+jws"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def compact(header: dict[str, Any], payload: bytes, signature: bytes) -> str:
    return f"{b64(json.dumps(header).encode())}.{b64(payload)}.{b64(signature)}"


def ed25519_signed(pair: keys.NodeKeyPair, header: dict[str, Any], payload: bytes) -> str:
    """A token with any header, signed correctly by ``pair`` (what an attacker holding the key,
    or a sloppy library, could produce)."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(payload)}"
    raw = serialization.load_pem_private_key(pair.private.as_pem(private=True), password=None)
    assert isinstance(raw, ed25519.Ed25519PrivateKey)
    return f"{signing_input}.{b64(raw.sign(signing_input.encode()))}"


@pytest.fixture
def key_dir(tmp_path: Path) -> Path:
    return tmp_path / "keys" / "node"


@pytest.fixture
def pair(key_dir: Path) -> keys.NodeKeyPair:
    return keys.generate(key_dir)


@pytest.fixture
def other(tmp_path: Path) -> keys.NodeKeyPair:
    return keys.generate(tmp_path / "elsewhere")


# Key files -----------------------------------------------------------------------------------


def test_generate_writes_a_private_file_named_by_kid_in_a_private_directory(
    key_dir: Path, pair: keys.NodeKeyPair
) -> None:
    path = key_dir / f"{pair.kid}.pem"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_dir.stat().st_mode) == 0o700
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert keys.kids_on_disk(key_dir) == [pair.kid]


def test_the_kid_is_the_rfc7638_thumbprint_of_the_public_key(pair: keys.NodeKeyPair) -> None:
    jwk = pair.public_jwk()
    members = json.dumps(
        {"crv": jwk["crv"], "kty": jwk["kty"], "x": jwk["x"]}, separators=(",", ":")
    )
    assert pair.kid == b64(hashlib.sha256(members.encode()).digest())
    assert jwk["kid"] == pair.kid
    assert (jwk["kty"], jwk["crv"], jwk["use"], jwk["alg"]) == ("OKP", "Ed25519", "sig", "Ed25519")
    assert "d" not in jwk
    assert keys.kid_of(jwk) == pair.kid


def test_each_key_gets_its_own_file(key_dir: Path, pair: keys.NodeKeyPair) -> None:
    second = keys.generate(key_dir)
    assert second.kid != pair.kid
    assert keys.kids_on_disk(key_dir) == sorted([pair.kid, second.kid])


def test_generate_never_overwrites_a_key_file(
    key_dir: Path, pair: keys.NodeKeyPair, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = (key_dir / f"{pair.kid}.pem").read_bytes()
    monkeypatch.setattr(OKPKey, "generate_key", lambda *args, **kwargs: pair.private)
    (key_dir / f"{pair.kid}.pem").chmod(0o600)
    with pytest.raises(FileExistsError):
        keys.generate(key_dir)
    assert (key_dir / f"{pair.kid}.pem").read_bytes() == before


def test_generate_tightens_an_existing_directory(key_dir: Path) -> None:
    key_dir.mkdir(parents=True)
    os.chmod(key_dir, 0o750)  # noqa: S103 - the loose mode generate() must tighten
    keys.generate(key_dir)
    assert stat.S_IMODE(key_dir.stat().st_mode) == 0o700


def test_load_returns_the_key_that_was_generated(key_dir: Path, pair: keys.NodeKeyPair) -> None:
    loaded = keys.load(key_dir, pair.kid)
    assert loaded.kid == pair.kid
    assert loaded.public_jwk() == pair.public_jwk()


def test_load_refuses_a_missing_file(key_dir: Path, pair: keys.NodeKeyPair) -> None:
    (key_dir / f"{pair.kid}.pem").unlink()
    with pytest.raises(KeyFileError, match="no private key file"):
        keys.load(key_dir, pair.kid)


@pytest.mark.parametrize(
    "content",
    [b"", b"not a key", b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"],
    ids=["empty", "text", "bad-pem"],
)
def test_load_refuses_a_corrupt_file(key_dir: Path, pair: keys.NodeKeyPair, content: bytes) -> None:
    (key_dir / f"{pair.kid}.pem").write_bytes(content)
    with pytest.raises(KeyFileError):
        keys.load(key_dir, pair.kid)


def test_load_refuses_another_keys_file_under_this_name(
    key_dir: Path, pair: keys.NodeKeyPair, other: keys.NodeKeyPair
) -> None:
    (key_dir / f"{pair.kid}.pem").write_bytes(other.private.as_pem(private=True))
    with pytest.raises(KeyFileError, match="does not hold the private key"):
        keys.load(key_dir, pair.kid)


def test_load_refuses_a_public_key_file(key_dir: Path, pair: keys.NodeKeyPair) -> None:
    (key_dir / f"{pair.kid}.pem").write_bytes(pair.private.as_pem(private=False))
    with pytest.raises(KeyFileError):
        keys.load(key_dir, pair.kid)


def test_load_refuses_a_key_of_another_type(key_dir: Path, pair: keys.NodeKeyPair) -> None:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = rsa_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    (key_dir / f"{pair.kid}.pem").write_bytes(pem)
    with pytest.raises(KeyFileError):
        keys.load(key_dir, pair.kid)


@pytest.mark.parametrize("kid", ["", "../../etc/passwd", "a/b", "x" * 44, "短"])
def test_load_refuses_what_is_not_a_kid(key_dir: Path, pair: keys.NodeKeyPair, kid: str) -> None:
    with pytest.raises(KeyFileError):
        keys.load(key_dir, kid)


def test_no_directory_means_no_keys(tmp_path: Path) -> None:
    assert keys.kids_on_disk(tmp_path / "absent") == []


def test_public_members_keeps_only_the_public_key(pair: keys.NodeKeyPair) -> None:
    sent = dict(pair.private.as_dict(private=True)) | {"note": "x" * 1000}
    assert "d" in sent
    assert keys.public_members(sent) == pair.public_jwk()


# Signing and verifying -----------------------------------------------------------------------


def test_sign_and_verify_round_trip(pair: keys.NodeKeyPair) -> None:
    token = keys.sign(pair, "四川 payload".encode(), typ=TYP)
    assert keys.unverified_header(token) == {"alg": "Ed25519", "kid": pair.kid, "typ": TYP}
    assert keys.unverified_payload(token) == "四川 payload".encode()
    assert keys.verify(token, pair.public_jwk(), typ=TYP) == "四川 payload".encode()


def test_a_token_of_another_node_does_not_verify(
    pair: keys.NodeKeyPair, other: keys.NodeKeyPair
) -> None:
    token = keys.sign(other, b"x", typ=TYP)
    with pytest.raises(BadSignature, match="kid does not name"):
        keys.verify(token, pair.public_jwk(), typ=TYP)


def test_a_tampered_payload_does_not_verify(pair: keys.NodeKeyPair) -> None:
    header, _payload, signature = keys.sign(pair, b'{"amount":1}', typ=TYP).split(".")
    forged = ".".join([header, b64(b'{"amount":9}'), signature])
    with pytest.raises(BadSignature):
        keys.verify(forged, pair.public_jwk(), typ=TYP)


def test_a_tampered_signature_does_not_verify(pair: keys.NodeKeyPair) -> None:
    header, payload, signature = keys.sign(pair, b"x", typ=TYP).split(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=="))
    raw[0] ^= 1
    with pytest.raises(BadSignature):
        keys.verify(f"{header}.{payload}.{b64(bytes(raw))}", pair.public_jwk(), typ=TYP)


def test_a_stripped_signature_does_not_verify(pair: keys.NodeKeyPair) -> None:
    header, payload, _signature = keys.sign(pair, b"x", typ=TYP).split(".")
    with pytest.raises(BadSignature):
        keys.verify(f"{header}.{payload}.", pair.public_jwk(), typ=TYP)


def test_another_typ_is_refused_even_when_the_signature_is_good(pair: keys.NodeKeyPair) -> None:
    token = keys.sign(pair, b"x", typ="tongban-other+jws")
    with pytest.raises(BadSignature, match="typ"):
        keys.verify(token, pair.public_jwk(), typ=TYP)


def test_a_header_without_typ_is_refused(pair: keys.NodeKeyPair) -> None:
    token = ed25519_signed(pair, {"alg": "Ed25519", "kid": pair.kid}, b"x")
    with pytest.raises(BadSignature):
        keys.verify(token, pair.public_jwk(), typ=TYP)


@pytest.mark.parametrize("alg", ["EdDSA", "ED25519", "none", "None", "HS256", "ES256", "RS256"])
def test_only_the_fully_specified_algorithm_is_accepted(pair: keys.NodeKeyPair, alg: str) -> None:
    # A good Ed25519 signature under another alg name is still refused.
    token = ed25519_signed(pair, {"alg": alg, "kid": pair.kid, "typ": TYP}, b"x")
    with pytest.raises(BadSignature):
        keys.verify(token, pair.public_jwk(), typ=TYP)


def test_alg_none_without_a_signature_is_refused(pair: keys.NodeKeyPair) -> None:
    token = compact({"alg": "none", "kid": pair.kid, "typ": TYP}, b"x", b"")
    with pytest.raises(BadSignature):
        keys.verify(token, pair.public_jwk(), typ=TYP)


def test_hmac_with_the_public_key_as_secret_is_refused(pair: keys.NodeKeyPair) -> None:
    """The classic algorithm confusion: HS256 keyed with the public key everyone knows."""
    header = {"alg": "HS256", "kid": pair.kid, "typ": TYP}
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(b'x')}"
    for secret in (pair.public_jwk()["x"].encode(), json.dumps(pair.public_jwk()).encode()):
        mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        with pytest.raises(BadSignature):
            keys.verify(f"{signing_input}.{b64(mac)}", pair.public_jwk(), typ=TYP)


def test_a_kid_naming_another_key_is_refused(
    pair: keys.NodeKeyPair, other: keys.NodeKeyPair
) -> None:
    # Signed by pair, claims to be other: neither key accepts it.
    token = ed25519_signed(pair, {"alg": "Ed25519", "kid": other.kid, "typ": TYP}, b"x")
    for jwk in (pair.public_jwk(), other.public_jwk()):
        with pytest.raises(BadSignature):
            keys.verify(token, jwk, typ=TYP)


def test_a_header_without_kid_is_refused(pair: keys.NodeKeyPair) -> None:
    token = ed25519_signed(pair, {"alg": "Ed25519", "typ": TYP}, b"x")
    with pytest.raises(BadSignature):
        keys.verify(token, pair.public_jwk(), typ=TYP)


@pytest.mark.parametrize(
    "jwk",
    [
        {},
        {"kty": "OKP"},
        {"kty": "OKP", "crv": "Ed25519", "x": 123},
        {"kty": "OKP", "crv": "Ed25519", "x": "AAAA"},
        {"kty": "OKP", "crv": "Ed25519", "x": "!!!"},
        {"kty": "OKP", "crv": ["Ed25519"], "x": "AAAA"},
        {"kty": "OKP", "crv": "X25519", "x": b64(bytes(32))},
        {"kty": "RSA", "n": "AQAB", "e": "AQAB"},
        {"kty": "oct", "k": "c2VjcmV0"},
        "not a dict",
        None,
    ],
)
def test_an_unusable_key_is_a_bad_signature(pair: keys.NodeKeyPair, jwk: Any) -> None:
    token = keys.sign(pair, b"x", typ=TYP)
    with pytest.raises(BadSignature):
        keys.verify(token, jwk, typ=TYP)
    assert keys.kid_of(jwk) == ""


@pytest.mark.parametrize(
    "token",
    [
        "",
        "a",
        "a.b",
        "a.b.c",
        "..",
        "a.b.c.d.e",
        "é.é.é",
        "\x00.\x00.\x00",
        b64(b"[]") + "..",
        b64(b"null") + "..",
        b64(b'"alg"') + "..",
        b64(b'{"alg":1}') + "..",
        b64(b"[" * 200 + b"]" * 200) + "..",
        b64(b'{"alg":"Ed25519","typ":"' + TYP.encode() + b'"}') + "." + b64(b"x") + ".",
        b64(b'{"alg":"Ed25519","typ":"' + TYP.encode() + b'","crit":["exp"]}') + ".eA.AA",
        b64(b'{"alg":"Ed25519","typ":"' + TYP.encode() + b'","b64":"no"}') + ".eA.AA",
        "e30." + "A" * 200_000 + ".AA",
    ],
)
def test_garbage_is_a_bad_signature(pair: keys.NodeKeyPair, token: str) -> None:
    with pytest.raises(BadSignature):
        keys.verify(token, pair.public_jwk(), typ=TYP)


_B64 = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=8,
)
_HEADERS = st.fixed_dictionaries(
    {},
    optional={
        "alg": st.sampled_from(["Ed25519", "EdDSA", "none", "HS256"]) | _JSON,
        "typ": st.just(TYP) | _JSON,
        "kid": _JSON,
        "crit": _JSON,
        "b64": _JSON,
        "jwk": _JSON,
    },
)
_TOKENS = (
    st.text()
    | st.lists(_B64, min_size=0, max_size=5).map(".".join)
    | st.tuples(_HEADERS, st.binary(max_size=40), st.binary(max_size=80)).map(
        lambda parts: compact(*parts)
    )
)


_FUZZ_KEY = OKPKey.generate_key("Ed25519")
_FUZZ_PAIR = keys.NodeKeyPair(kid=_FUZZ_KEY.thumbprint(), private=_FUZZ_KEY)


@given(token=_TOKENS)
def test_random_tokens_raise_nothing_but_bad_signature(token: str) -> None:
    for unverified in (keys.unverified_header, keys.unverified_payload):
        with contextlib.suppress(BadSignature):
            unverified(token)
    with pytest.raises(BadSignature):
        keys.verify(token, _FUZZ_PAIR.public_jwk(), typ=TYP)
