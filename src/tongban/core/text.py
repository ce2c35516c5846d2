"""Characters no field of ours accepts. Pure: no Django.

Lone surrogates cannot be encoded (SQLite raises), NUL is refused by PostgreSQL, and the other
C0 controls have no business in names, codes or statements. Tab, newline and carriage return
stay allowed for multi-line text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def has_forbidden_characters(value: str) -> bool:
    return _FORBIDDEN.search(value) is not None


def forbidden_paths(value: Any, path: str = "") -> Iterator[str]:
    """Paths (``a.b.0``) of every string in a parsed JSON value that has forbidden characters;
    object keys count too."""
    if isinstance(value, str):
        if has_forbidden_characters(value):
            yield path or "body"
    elif isinstance(value, dict):
        for key, item in value.items():
            child = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and has_forbidden_characters(key):
                yield child
            else:
                yield from forbidden_paths(item, child)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from forbidden_paths(item, f"{path}.{index}" if path else str(index))
