import pytest
from hypothesis import given
from hypothesis import strategies as st

from tongban.core import crypto


@pytest.fixture
def keys() -> crypto.PiiKeys:
    return crypto.PiiKeys.from_mapping(crypto.generate_key_set("a"))


@given(st.text(max_size=200))
def test_encrypt_round_trips(value: str) -> None:
    keys = crypto.PiiKeys.from_mapping(crypto.generate_key_set("a"))
    token = crypto.encrypt(keys, value, purpose="id_number")
    assert value == crypto.decrypt(keys, token, purpose="id_number")


def test_ciphertext_is_randomised_and_names_its_key(keys: crypto.PiiKeys) -> None:
    first = crypto.encrypt(keys, "500103199903071234", purpose="id_number")
    second = crypto.encrypt(keys, "500103199903071234", purpose="id_number")
    assert first != second
    assert first.startswith("v1.a.")
    assert "500103" not in first


def test_purpose_is_bound(keys: crypto.PiiKeys) -> None:
    token = crypto.encrypt(keys, "13800000001", purpose="phone")
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(keys, token, purpose="id_number")


def test_tampered_ciphertext_is_refused(keys: crypto.PiiKeys) -> None:
    token = crypto.encrypt(keys, "secret", purpose="p")
    flipped = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(keys, flipped, purpose="p")
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(keys, "garbage", purpose="p")
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(keys, "v2.a.AAAA", purpose="p")


def test_rotation_keeps_old_values_readable(keys: crypto.PiiKeys) -> None:
    old_token = crypto.encrypt(keys, "value", purpose="p")
    rotated = crypto.PiiKeys(
        hash_key=keys.hash_key,
        active="b",
        encryption_keys={**keys.encryption_keys, "b": b"\x01" * 32},
    )
    assert crypto.decrypt(rotated, old_token, purpose="p") == "value"
    assert crypto.encrypt(rotated, "value", purpose="p").startswith("v1.b.")
    without_old = crypto.PiiKeys(
        hash_key=keys.hash_key, active="b", encryption_keys={"b": b"\x01" * 32}
    )
    with pytest.raises(crypto.DecryptionError, match="unknown key id"):
        crypto.decrypt(without_old, old_token, purpose="p")


def test_keyed_hash_is_stable_keyed_and_purpose_bound(keys: crypto.PiiKeys) -> None:
    other = crypto.PiiKeys.from_mapping(crypto.generate_key_set("a"))
    value = "500103199903071234"
    assert crypto.keyed_hash(keys, value, purpose="id") == crypto.keyed_hash(
        keys, value, purpose="id"
    )
    assert crypto.keyed_hash(keys, value, purpose="id") != crypto.keyed_hash(
        other, value, purpose="id"
    )
    assert crypto.keyed_hash(keys, value, purpose="id") != crypto.keyed_hash(
        keys, value, purpose="phone"
    )


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({}, "lacks"),
        ({"hash_key": "AAAA", "active": "a", "encryption_keys": {"a": "AAAA"}}, "32 bytes"),
        ({"hash_key": "!!!", "active": "a", "encryption_keys": {"a": "AAAA"}}, "base64"),
        (
            {"hash_key": "A" * 43 + "=", "active": "b", "encryption_keys": {"a": "A" * 43 + "="}},
            "active key",
        ),
        ({"hash_key": "A" * 43 + "=", "active": "a", "encryption_keys": {}}, "no encryption keys"),
    ],
)
def test_bad_key_sets_are_refused(mapping: dict[str, object], message: str) -> None:
    with pytest.raises(crypto.KeyMaterialError, match=message):
        crypto.PiiKeys.from_mapping(mapping)
