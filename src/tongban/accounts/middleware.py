"""Staff sessions: the idle and absolute limits, and the page gate for unconfirmed sessions."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext as _

from tongban.accounts import signin
from tongban.accounts.permissions import session_verified
from tongban.accounts.selectors import otp_required_for
from tongban.core.errors import error_response
from tongban.core.middleware import MACHINE_PREFIXES

# Pages only staff use; the API and services are guarded by staff_scope() instead.
STAFF_PAGE_PREFIXES = ("/workbench/", "/admin/")


class StaffSessionMiddleware:
    """For a confirmed staff session: ends it once idle too long or older than its maximum
    (pages go back to the sign-in with a message, the API answers 401 ``session_expired``).

    For a logged-in staff member whose session was never confirmed with a code (a session from
    before two-factor sign-in, or a password-only login elsewhere): workbench and admin pages
    send them to the staff sign-in; the API refuses them in ``staff_scope`` (403
    ``otp_required``). Citizens pass untouched."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        if user.is_authenticated:
            if session_verified(user):
                ended = signin.staff_session_state(request)
                if ended:
                    return self._ended(request, ended)
            elif self._staff_page(request.path) and otp_required_for(user):
                messages.info(request, _("Sign in with your password and authenticator code."))
                return _to_sign_in(request)
        return self.get_response(request)

    @staticmethod
    def _staff_page(path: str) -> bool:
        return path.startswith(STAFF_PAGE_PREFIXES) and not path.startswith(
            reverse("workbench:login")
        )

    @staticmethod
    def _ended(request: HttpRequest, reason: str) -> HttpResponse:
        signin.end_session(request, reason=f"expired_{reason}")
        if request.path.startswith(MACHINE_PREFIXES):
            return error_response(signin.session_expired())
        messages.info(request, str(signin.session_expired().message))
        return _to_sign_in(request)


def _to_sign_in(request: HttpRequest) -> HttpResponse:
    if request.method != "GET":
        return HttpResponseRedirect(reverse("workbench:login"))
    return redirect_to_login(request.get_full_path(), reverse("workbench:login"))
