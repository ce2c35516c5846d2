"""The node's personal-data key file: created once by `tongban init`, read when no inline keys."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from tongban.core import crypto
from tongban.core.pii import ensure_key_file, node_keys, pii_decrypt, pii_encrypt


@pytest.fixture
def key_file(tmp_path: Path) -> Iterator[Path]:
    """A key-file path, with inline keys switched off; the key cache is cleared around the
    test so later tests get the inline test keys back."""
    path = tmp_path / "keys" / "pii.json"
    node_keys.cache_clear()
    with override_settings(TONGBAN_PII_KEYS=None, TONGBAN_PII_KEY_FILE=path):
        yield path
    node_keys.cache_clear()


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_ensure_key_file_creates_a_private_key_set(key_file: Path) -> None:
    assert ensure_key_file(key_file) is True
    assert _mode(key_file) == 0o600
    assert _mode(key_file.parent) == 0o700
    keys = crypto.PiiKeys.from_mapping(json.loads(key_file.read_text()))
    assert len(keys.hash_key) == crypto.KEY_BYTES
    assert set(keys.encryption_keys) == {keys.active}


def test_ensure_key_file_never_replaces_existing_keys(key_file: Path) -> None:
    assert ensure_key_file(key_file) is True
    first = key_file.read_bytes()
    assert ensure_key_file(key_file) is False
    assert key_file.read_bytes() == first


def test_two_nodes_get_different_keys(tmp_path: Path) -> None:
    ensure_key_file(tmp_path / "a" / "pii.json")
    ensure_key_file(tmp_path / "b" / "pii.json")
    assert (tmp_path / "a" / "pii.json").read_text() != (tmp_path / "b" / "pii.json").read_text()


def test_node_keys_are_read_from_the_file(key_file: Path) -> None:
    ensure_key_file(key_file)
    stored = json.loads(key_file.read_text())
    keys = node_keys()
    assert keys == crypto.PiiKeys.from_mapping(stored)
    ciphertext = pii_encrypt("110101199003074514", purpose="id_number")
    assert ciphertext.startswith(f"v1.{stored['active']}.")
    assert pii_decrypt(ciphertext, purpose="id_number") == "110101199003074514"


def test_a_missing_key_file_asks_for_tongban_init(key_file: Path) -> None:
    with pytest.raises(ImproperlyConfigured, match="run `tongban init`") as refused:
        node_keys()
    assert str(key_file) in str(refused.value)
    assert not key_file.exists()


@pytest.mark.parametrize(
    "content",
    [
        pytest.param("", id="empty"),
        pytest.param("{not json", id="not-json"),
        pytest.param('{"hash_key": "AAAA"}', id="missing-keys"),
        pytest.param(
            json.dumps({"hash_key": "c2hvcnQ=", "active": "k1", "encryption_keys": {"k1": "x"}}),
            id="short-keys",
        ),
        pytest.param(
            json.dumps({**crypto.generate_key_set("k1"), "active": "k2"}), id="unknown-active"
        ),
    ],
)
def test_a_corrupt_key_file_is_refused(key_file: Path, content: str) -> None:
    key_file.parent.mkdir()
    key_file.write_text(content)
    with pytest.raises(ImproperlyConfigured, match="is invalid"):
        node_keys()


@pytest.mark.parametrize("content", ["[]", '"keys"', "null"])
def test_a_key_file_that_is_not_a_json_object_is_refused(key_file: Path, content: str) -> None:
    key_file.parent.mkdir()
    key_file.write_text(content)
    with pytest.raises(ImproperlyConfigured, match="is invalid"):
        node_keys()


def test_inline_keys_win_over_a_file(tmp_path: Path) -> None:
    node_keys.cache_clear()
    try:
        with override_settings(TONGBAN_PII_KEY_FILE=tmp_path / "absent.json"):
            keys = node_keys()
        assert keys.active == "t1"
    finally:
        node_keys.cache_clear()
