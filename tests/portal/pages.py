"""Small readers for the portal's HTML, shared by the portal tests."""

from __future__ import annotations

import re
from html.parser import HTMLParser
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


class _Inputs(HTMLParser):
    """Collects the controls of a page: name → (type, value), as a browser would send them
    (a select's selected option, a textarea's text); last one wins."""

    def __init__(self) -> None:
        super().__init__()
        self.found: dict[str, tuple[str, str]] = {}
        self._textarea: str | None = None
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        given = {key: value or "" for key, value in attrs}
        name = given.get("name", "")
        if tag == "input" and name:
            self.found[name] = (given.get("type", "text"), given.get("value", ""))
        elif tag == "textarea" and name:
            self._textarea = name
            self.found[name] = ("textarea", "")
        elif tag == "select" and name:
            self._select = name
            self.found[name] = ("select", "")
        elif tag == "option" and self._select and "selected" in given:
            self.found[self._select] = ("select", given.get("value", ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "textarea":
            self._textarea = None
        elif tag == "select":
            self._select = None

    def handle_data(self, data: str) -> None:
        if self._textarea:
            kind, text = self.found[self._textarea]
            self.found[self._textarea] = (kind, text + data)


def inputs(response: Any) -> dict[str, tuple[str, str]]:
    """The page's form controls: {name: (type, value)}."""
    parser = _Inputs()
    parser.feed(html(response))
    return parser.found


def form_actions(response: Any) -> list[str]:
    """The action URLs of the page's POST forms, in page order."""
    forms = re.findall(r"<form\b[^>]*>", html(response))
    return [
        action.group(1)
        for form in forms
        if 'method="post"' in form and (action := re.search(r'action="([^"]+)"', form))
    ]


def text(response: Any) -> str:
    """The page's text without tags, whitespace collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html(response))).strip()
