"""Personal-data keys of this node and the hash/encrypt/decrypt helpers domains use.

Keys come from ``settings.TONGBAN_PII_KEYS`` (tests) or the JSON file at
``settings.TONGBAN_PII_KEY_FILE`` (created with mode 0600 by ``tongban init``). A node without
keys refuses to handle personal data rather than inventing keys: losing them would make every
stored ID number unreadable and every look-up miss.
"""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from tongban.core import crypto


@cache
def node_keys() -> crypto.PiiKeys:
    inline = getattr(settings, "TONGBAN_PII_KEYS", None)
    if inline:
        return crypto.PiiKeys.from_mapping(inline)
    path = Path(settings.TONGBAN_PII_KEY_FILE)
    if not path.exists():
        raise ImproperlyConfigured(
            f"personal-data key file {path} is missing; run `tongban init` to create it"
        )
    try:
        return crypto.PiiKeys.from_mapping(json.loads(path.read_text()))
    except (ValueError, crypto.KeyMaterialError) as error:
        raise ImproperlyConfigured(f"personal-data key file {path} is invalid: {error}") from None


def ensure_key_file(path: Path) -> bool:
    """Create the key file if it does not exist (0600). Returns True when it was created."""
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    # O_EXCL: two concurrent `init` runs cannot both write keys and leave data unreadable.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(crypto.generate_key_set(), handle, indent=2)
    node_keys.cache_clear()
    return True


def pii_hash(value: str, *, purpose: str) -> str:
    return crypto.keyed_hash(node_keys(), value, purpose=purpose)


def pii_encrypt(value: str, *, purpose: str) -> str:
    return crypto.encrypt(node_keys(), value, purpose=purpose)


def pii_decrypt(value: str, *, purpose: str) -> str:
    return crypto.decrypt(node_keys(), value, purpose=purpose)
