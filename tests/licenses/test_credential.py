"""The QR credential: signed, compressed, verified offline with the trust list's keys alone."""

from __future__ import annotations

import base64
import datetime as dt
import json
import struct
import zlib
from typing import Any

import base45
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tongban.licenses import credential
from tongban.licenses.credential import CredentialInvalid, TrustedKey
from tongban.licenses.identifiers import LicenseIdentifier
from tongban.licenses.signing import P256Signer

ISSUER = "11500000MB1527373J"
TODAY = dt.date(2026, 12, 3)
SEAL = P256Signer.generate()


def claims(**changes: Any) -> dict[str, Any]:
    identifier = str(LicenseIdentifier("11100000000013338W001", ISSUER, "5001032026000123", 1))
    base = {
        "v": 1,
        "lid": identifier,
        "typ": "11100000000013338W001",
        "tn": "学历公证书",
        "nm": "公证书",
        "no": "（2026）渝证字第000123号",
        "hn": "张三",
        "hct": "111",
        "hc": "5001**********1234",
        "hh": credential.holder_hash(identifier, "500103199003071234"),
        "iss": ISSUER,
        "isn": "重庆市司法局",
        "div": "500000",
        "iat": "2026-11-20",
        "nbf": "2026-11-20",
        "exp": "2031-11-19",
    }
    return {**base, **changes}


def keys(signer: P256Signer = SEAL, issuer: str = ISSUER, **window: Any) -> Any:
    table = {signer.kid: TrustedKey(signer.public_jwk(), issuer, **window)}
    return table.get


def refused(text: str, lookup: Any = None, today: dt.date = TODAY) -> str:
    with pytest.raises(CredentialInvalid) as problem:
        credential.verify(text, lookup or keys(), today=today)
    return problem.value.code


def test_a_credential_verifies_with_the_issuers_key_alone() -> None:
    text = credential.encode(claims(), SEAL)
    assert text.startswith("TB1:")
    verified = credential.verify(text, keys(), today=TODAY)
    assert verified.claims["hn"] == "张三"
    assert verified.issuer_code == ISSUER
    assert verified.kid == SEAL.kid
    # The JWS inside is standard: header, payload, signature.
    jws = credential.jws_of(text)
    header = json.loads(base64.urlsafe_b64decode(jws.split(".")[0] + "=="))
    assert header == {"alg": "ES256", "kid": SEAL.kid, "typ": "tongban-license+jws"}
    assert credential.verify(jws, keys(), today=TODAY).claims == verified.claims


def test_a_typical_credential_fits_a_phone_screen_qr() -> None:
    text = credential.encode(claims(), SEAL)
    assert len(text) < 700  # alphanumeric QR version ≤ 17 at level M


def test_the_holder_hash_matches_only_the_right_id_number() -> None:
    identifier = claims()["lid"]
    assert credential.holder_hash(identifier, "500103199003071234") == claims()["hh"]
    assert credential.holder_hash(identifier, "500103199003071235") != claims()["hh"]


def _repacked(text: str, change: Any) -> str:
    """The QR text again, after ``change`` rewrote the JWS inside."""
    header, payload, signature = (
        base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
        for part in change(credential.jws_of(text)).split(".")
    )
    packed = struct.pack(">HH", len(header), len(payload)) + header + payload + signature
    return "TB1:" + base45.b45encode(zlib.compress(packed)).decode()


def test_a_changed_payload_fails_the_signature() -> None:
    text = credential.encode(claims(), SEAL)

    def other_name(jws: str) -> str:
        header, payload, signature = jws.split(".")
        data = json.loads(base64.urlsafe_b64decode(payload + "=="))
        data["hn"] = "李四"
        new = base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
        return f"{header}.{new}.{signature}"

    assert refused(_repacked(text, other_name)) == "bad_signature"


def test_another_key_under_the_same_key_id_fails() -> None:
    impostor = P256Signer(P256Signer.generate().private_key, SEAL.kid)
    assert refused(credential.encode(claims(), impostor)) == "bad_signature"


def test_an_unknown_key_is_an_unknown_issuer() -> None:
    assert refused(credential.encode(claims(), P256Signer.generate())) == "unknown_issuer"


def test_a_key_of_another_issuer_is_refused() -> None:
    other = P256Signer.generate()
    text = credential.encode(claims(), other)
    assert refused(text, keys(other, issuer="12500000MB0000000X")) == "wrong_key"


def test_a_key_outside_its_validity_is_refused() -> None:
    text = credential.encode(claims(), SEAL)
    lookup = keys(not_before=dt.date(2026, 12, 1))
    assert refused(text, lookup) == "wrong_key"


def test_expired_and_not_yet_valid() -> None:
    assert refused(credential.encode(claims(exp="2026-12-02"), SEAL)) == "expired"
    assert refused(credential.encode(claims(nbf="2026-12-04"), SEAL)) == "not_yet_valid"
    # No end date: valid indefinitely.
    assert credential.verify(credential.encode(claims(exp=None), SEAL), keys(), today=TODAY)


def test_incomplete_content_is_malformed() -> None:
    assert refused(credential.encode(claims(lid="1.2.156.3005.2.X"), SEAL)) == "malformed"
    assert refused(credential.encode(claims(iat="yesterday"), SEAL)) == "malformed"


@pytest.mark.parametrize("cut", [1, 10, 100])
def test_truncated_text_is_malformed(cut: int) -> None:
    text = credential.encode(claims(), SEAL)
    assert refused(text[:-cut]) == "malformed"


def test_a_compression_bomb_is_refused() -> None:
    bomb = "TB1:" + base45.b45encode(zlib.compress(b"A" * 1_000_000, 9)).decode()
    assert refused(bomb) == "malformed"


@settings(max_examples=200)
@given(st.text(max_size=300))
def test_junk_is_never_a_crash(junk: str) -> None:
    for text in (junk, "TB1:" + junk):
        with pytest.raises(CredentialInvalid):
            credential.verify(text, keys(), today=TODAY)


@settings(max_examples=100)
@given(position=st.integers(min_value=4), replacement=st.sampled_from("0123456789ABCXYZ $%*+-./:"))
def test_any_changed_character_of_the_qr_text_is_caught(position: int, replacement: str) -> None:
    text = credential.encode(claims(), SEAL)
    index = 4 + position % (len(text) - 4)
    changed = text[:index] + replacement + text[index + 1 :]
    if changed == text:
        return
    with pytest.raises(CredentialInvalid):
        credential.verify(changed, keys(), today=TODAY)


@settings(max_examples=300)
@given(st.binary(max_size=600))
def test_the_fast_base45_decoder_agrees_with_the_library(data: bytes) -> None:
    assert credential.b45decode(base45.b45encode(data).decode()) == data


@pytest.mark.parametrize("text", ["GGW", "A", "ABCD", "abc", "::", "é12", "Ω"])
def test_the_fast_base45_decoder_refuses_what_the_library_refuses(text: str) -> None:
    # The two word their errors differently; both must refuse.
    with pytest.raises(ValueError):  # noqa: PT011
        base45.b45decode(text)
    with pytest.raises(ValueError):  # noqa: PT011
        credential.b45decode(text)
