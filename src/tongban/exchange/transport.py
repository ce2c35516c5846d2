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


def call(
    method: str, url: str, body: bytes | None = None, *, headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    """(status, body) of the answer, error statuses included; Unreachable when there is none."""
    request = urllib.request.Request(  # noqa: S310 (callers allow http and https only)
        url,
        data=body,
        method=method,
        headers={"Content-Type": JOSE, "Accept": f"{JOSE}, application/json"} | (headers or {}),
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:  # noqa: S310
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        try:
            return error.code, error.read()
        except (OSError, http.client.HTTPException):
            return error.code, b""
    except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
        raise Unreachable(repr(error)) from None
