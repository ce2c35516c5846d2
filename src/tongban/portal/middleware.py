"""无感切换 — seamless switching between provinces' portals.

A visitor new to this node (no session yet) who is signed in at the hub should arrive signed in,
without clicking anything. So the first page of an anonymous browser session goes by the hub
with ``prompt=none``: signed in there, the hub sends a code straight back and the person is
signed in here; not signed in there, the hub answers ``login_required`` and the page is shown
as it was. Once per session; never for APIs, the federation endpoints or staff pages.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from tongban.accounts.sso import client

CHECKED = "tongban_sso_checked"
# Where the silent check never applies: machine endpoints, staff pages, the sign-in itself.
_SKIP = (
    "/api/",
    "/federation/",
    "/oidc/",
    "/sso/",
    "/admin/",
    "/workbench/",
    "/static/",
    "/healthz",
    "/metrics",
    "/i18n/",
)
OPT_OUT = "sso"  # ?sso=0: show the page without asking the hub (the end of a silent round)


class SilentSignInMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if self._should_check(request):
            request.session[CHECKED] = True
            query = urlencode({"next": request.get_full_path(), "prompt": "none"})
            return HttpResponseRedirect(f"{reverse('sso:login')}?{query}")
        return self.get_response(request)

    @staticmethod
    def _should_check(request: HttpRequest) -> bool:
        return bool(
            settings.TONGBAN_SSO_SILENT
            and request.method == "GET"
            and not request.user.is_authenticated
            and not request.path.startswith(_SKIP)
            and "text/html" in request.headers.get("Accept", "")
            and request.GET.get(OPT_OUT) != "0"
            and not request.session.get(CHECKED)
            and client.enabled()
        )
