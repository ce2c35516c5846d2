"""One way for this node to call another over HTTP (urllib): the hub for the trust list and
registrations, peers for messages. Callers check the URL's scheme first."""

from __future__ import annotations

import http.client
import urllib.error
import urllib.request

JOSE = "application/jose"
TIMEOUT = 10


class Unreachable(Exception):
    """No HTTP answer at all: refused, timed out, or not speaking HTTP (bad status line, a
    body cut short)."""


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A peer answers for itself: a redirect is an answer (3xx), never followed (it would
    carry a signed request token somewhere else)."""

    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirects())


class TooLarge(Exception):
    """The answer is longer than the caller accepts."""


def call(
    method: str,
    url: str,
    body: bytes | None = None,
    *,
    headers: dict[str, str] | None = None,
    limit: int | None = None,
) -> tuple[int, bytes]:
    """(status, body) of the answer, error statuses included; Unreachable when there is none;
    TooLarge when the body is longer than ``limit`` bytes (read no further)."""
    status, content, _type = answer(method, url, body, headers=headers, limit=limit)
    return status, content


def answer(
    method: str,
    url: str,
    body: bytes | None = None,
    *,
    headers: dict[str, str] | None = None,
    limit: int | None = None,
) -> tuple[int, bytes, str]:
    """As ``call``, with the answer's content type."""
    request = urllib.request.Request(  # noqa: S310 (callers allow http and https only)
        url,
        data=body,
        method=method,
        headers={"Content-Type": JOSE, "Accept": f"{JOSE}, application/json"} | (headers or {}),
    )
    try:
        with _opener.open(request, timeout=TIMEOUT) as response:
            content = response.read(limit + 1) if limit is not None else response.read()
            if limit is not None and len(content) > limit:
                raise TooLarge(f"more than {limit} bytes")
            return response.status, content, response.headers.get("Content-Type", "")
    except urllib.error.HTTPError as error:
        kind = error.headers.get("Content-Type", "") if error.headers else ""
        try:
            return error.code, error.read(4096), kind
        except (OSError, http.client.HTTPException):
            return error.code, b"", kind
    except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
        raise Unreachable(repr(error)) from None
