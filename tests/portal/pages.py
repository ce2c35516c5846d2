"""Small readers for the portal's HTML, shared by the portal tests."""

from __future__ import annotations

import re
from typing import Any

ROW_LINK = re.compile(r'<li class="row">\s*<a href="/items/([^/"]+)/">')
HINT = re.compile(r'<p class="hint">(.*?)</p>', re.S)


def html(response: Any) -> str:
    return response.content.decode()


def row_codes(response: Any) -> list[str]:
    """The item codes of the result rows (search and theme pages), in page order."""
    return ROW_LINK.findall(html(response))


def hints(response: Any) -> list[str]:
    return [text.strip() for text in HINT.findall(html(response))]


def count(tag: str, response: Any) -> int:
    """How many elements ``tag`` the page opens."""
    return len(re.findall(rf"<{tag}[\s>]", html(response)))
