"""Single sign-on across real nodes, walked the way a browser does: a cookie jar per browser,
redirects followed one by one (so a test sees every hop), forms posted with their CSRF token.
Used by the cluster test; runnable against any running cluster."""

from __future__ import annotations

import http.cookiejar
import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field

PASSWORD = "Tongban-Sso-2026"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


@dataclass
class Browser:
    jar: http.cookiejar.CookieJar = field(default_factory=http.cookiejar.CookieJar)
    hops: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect()
        )

    def request(
        self, url: str, data: dict[str, str] | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, str, str]:
        """(status, final URL, body), following redirects and recording every hop."""
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        for _ in range(12):
            self.hops.append(url)
            sent = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"} | (headers or {})
            req = urllib.request.Request(url, data=body, headers=sent)  # noqa: S310
            try:
                with self.opener.open(req, timeout=20) as answer:
                    return answer.status, url, answer.read().decode()
            except urllib.error.HTTPError as error:
                if error.code in (301, 302, 303, 307) and error.headers.get("Location"):
                    url = urllib.parse.urljoin(url, error.headers["Location"])
                    body = None
                    continue
                return error.code, url, error.read().decode(errors="replace")
        raise AssertionError(f"too many redirects: {self.hops[-12:]}")

    def form(self, url: str, page: str, fields: dict[str, str]) -> tuple[int, str, str]:
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        assert token, page[:500]
        return self.request(
            url, {"csrfmiddlewaretoken": token.group(1), **fields}, headers={"Referer": url}
        )

    def me(self, node_url: str) -> int:
        return self.request(f"{node_url}/api/v1/accounts/me")[0]


def sign_up_at_hub(hub_url: str, *, name: str, id_number: str, phone: str) -> None:
    payload = json.dumps(
        {"name": name, "id_number": id_number, "phone": phone, "password": PASSWORD}
    ).encode()
    request = urllib.request.Request(  # noqa: S310
        f"{hub_url}/api/v1/accounts/sign-up",
        data=payload,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=20) as answer:  # noqa: S310
        assert answer.status == 201


def walk(hub_url: str, first: str, second: str, *, phone: str) -> list[str]:
    """Sign in at ``first`` (through the hub's login page), then open ``second``: signed in
    with no password prompt. Log out at ``first``: both local sessions end. Returns findings
    (empty when all is well)."""
    problems: list[str] = []
    browser = Browser()
    if browser.me(first) != 401 or browser.me(second) != 401:
        problems.append("signed in before signing in")
    status, url, page = browser.request(f"{first}/login/?next=/me/cases/")
    if not url.startswith(f"{hub_url}/login/"):
        problems.append(f"first login did not reach the hub's login page: {url}")
        return problems
    status, url, page = browser.form(url, page, {"username": phone, "password": PASSWORD})
    if not (status == 200 and url == f"{first}/me/cases/"):
        problems.append(f"after the hub login: {status} {url}")
    if browser.me(first) != 200:
        problems.append("not signed in at the first node")
    # 无感切换: just opening the second portal signs the person in there.
    start = len(browser.hops)
    status, url, page = browser.request(f"{second}/")
    hops = browser.hops[start:]
    if any(hop.startswith(f"{hub_url}/login/") for hop in hops):
        problems.append(f"the second node asked for a password: {hops}")
    if browser.me(second) != 200:
        problems.append("not signed in at the second node")
    # Logging out at the first node ends the hub session, and the hub tells both nodes.
    status, url, page = browser.request(f"{first}/")
    status, url, page = browser.form(f"{first}/logout/", page, {})
    if not url.startswith(first):
        problems.append(f"logout ended elsewhere: {url} {browser.hops[-4:]}")
    if browser.me(first) != 401:
        problems.append("still signed in at the first node")
    for _ in range(60):  # the hub's worker sends the back-channel logout
        if browser.me(second) == 401:
            break
        time.sleep(0.5)
    else:
        problems.append("still signed in at the second node after logout")
    status, url, page = browser.request(f"{second}/login/?next=/")
    if not url.startswith(f"{hub_url}/login/"):
        problems.append(f"after logout the hub did not ask for a password again: {url}")
    return problems
