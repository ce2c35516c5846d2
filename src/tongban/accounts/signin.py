"""Signing in, for the API, the portal, the workbench and the admin alike.

A citizen signs in with a password. Staff (see ``selectors.otp_required_for``) sign in in two
steps: the password, then the code of their authenticator app (or a recovery code); staff who
have none set one up between the two. Until the code is accepted the session holds only a
*pending* sign-in, never a logged-in user: so a wrong code is a failed sign-in like a wrong
password, counted towards the lock-out, and the counter is reset only by a complete sign-in.

Lock-outs are django-axes' (settings: "Staff sign-in security"); this module turns them into
our error shape. Staff sessions end when idle and after a maximum (``staff_session_state``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from axes.handlers.proxy import AxesProxyHandler
from django import forms
from django.conf import settings
from django.contrib.auth import authenticate, login, logout
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.signals import user_login_failed
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy as _
from django_otp.models import Device

from tongban.accounts import services
from tongban.accounts.events import LoginFailure
from tongban.accounts.models import User
from tongban.accounts.selectors import login_lockout_key, otp_device_for, otp_required_for
from tongban.accounts.signals import audit_login_failed
from tongban.core.errors import DomainError, Forbidden, NotAuthenticated, error_response
from tongban.core.middleware import MACHINE_PREFIXES

SESSION_PENDING = "tongban_signin"
SESSION_LOGIN_AT = "tongban_staff_login_at"
SESSION_SEEN_AT = "tongban_staff_seen_at"
# A staff session's "last seen" is written at most once a minute: not a session write per
# request, and the idle limit is still kept to the minute.
SEEN_GRANULARITY_SECONDS = 60


class AccountLocked(DomainError):
    status = 429
    code = "account_locked"

    def __init__(self) -> None:
        minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
        super().__init__(
            _(
                "Too many failed sign-ins: this account is locked here for %(minutes)d minutes. "
                "Try again later, or ask an administrator to unlock it."
            )
            % {"minutes": minutes}
        )


def session_expired() -> NotAuthenticated:
    return NotAuthenticated(
        _(
            "Your session has ended after a time without activity or its maximum length; "
            "sign in again."
        ),
        code="session_expired",
    )


# Lock-outs ----------------------------------------------------------------------------------


def lockout_name(request: HttpRequest | None, credentials: dict[str, Any] | None) -> str:
    """AXES_USERNAME_CALLABLE: what failures are counted under (no ID number in clear)."""
    typed = (credentials or {}).get("username")
    if typed is None and request is not None:
        typed = request.POST.get("username", "")
    return login_lockout_key(username=str(typed or ""))


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None, credentials: Any = None
) -> HttpResponse:
    """AXES_LOCKOUT_CALLABLE, for AxesMiddleware: a view that already told the user about the
    lock-out keeps its answer; anything else answers in our shape."""
    if original_response is not None and getattr(request, "tongban_lockout_answered", False):
        return original_response
    error = AccountLocked()
    if request.path.startswith(MACHINE_PREFIXES):
        return error_response(error)
    return render(
        request,
        "errors/domain_error.html",
        {"message": error.message, "fields": {}},
        status=error.status,
    )


def is_locked(request: HttpRequest, username: str) -> bool:
    return not AxesProxyHandler.is_allowed(request, {"username": username})


def locked_now(request: HttpRequest) -> bool:
    """Whether the last failure of this request locked the name (or found it locked)."""
    return bool(getattr(request, "axes_locked_out", False))


def code_failed(request: HttpRequest, *, username: str, reason: LoginFailure) -> DomainError:
    """Count a wrong code as a failed sign-in (audited by the signal handler); the error to
    show: locked now, or try again."""
    request.tongban_login_failure = reason  # type: ignore[attr-defined]
    user_login_failed.send(sender=__name__, credentials={"username": username}, request=request)
    if locked_now(request):
        return answered_lockout(request)
    return NotAuthenticated(_("The code is wrong or has expired."), code="otp_invalid")


def answered_lockout(request: HttpRequest) -> AccountLocked:
    request.tongban_lockout_answered = True  # type: ignore[attr-defined]
    return AccountLocked()


class SignInForm(AuthenticationForm):
    """Django's login form that says "locked" when the account is locked, instead of "wrong
    password"."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": _("The account or password is wrong."),
    }

    def clean(self) -> dict[str, Any]:
        try:
            return super().clean()
        except forms.ValidationError:
            if self.request is not None and locked_now(self.request):
                raise forms.ValidationError(
                    str(answered_lockout(self.request).message), code="locked_out"
                ) from None
            raise


# The two steps ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pending:
    """A correct password waiting for its code (or for an authenticator to be set up)."""

    user: User
    username: str  # as typed: failures are counted under it
    backend: str
    next_url: str


def safe_next(request: HttpRequest, url: str, default: str) -> str:
    if url and url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return url
    return default


def begin(request: HttpRequest, user: User, *, username: str, next_url: str) -> str:
    """Hold the sign-in until its code; the URL of the step that asks for it."""
    request.session[SESSION_PENDING] = {
        "user": user.pk,
        "username": username,
        "backend": getattr(user, "backend", "django.contrib.auth.backends.ModelBackend"),
        "next": next_url,
        "since": int(time.time()),
    }
    if otp_device_for(user) is None:
        return reverse("workbench:login_enrol")
    return reverse("workbench:login_code")


def pending(request: HttpRequest) -> Pending | None:
    data = request.session.get(SESSION_PENDING)
    if not isinstance(data, dict):
        return None
    age = time.time() - float(data.get("since", 0))
    user = User.objects.filter(pk=int(data.get("user") or 0), is_active=True).first()
    if user is None or age > settings.TONGBAN_SIGNIN_PENDING_MINUTES * 60:
        clear(request)
        return None
    return Pending(
        user=user,
        username=str(data.get("username", "")),
        backend=str(data.get("backend", "")),
        next_url=str(data.get("next", "")),
    )


def clear(request: HttpRequest) -> None:
    request.session.pop(SESSION_PENDING, None)


def finish(request: HttpRequest, held: Pending, device: Device) -> None:
    """Log the held user in, confirmed by ``device`` (their authenticator or recovery codes)."""
    clear(request)
    held.user.otp_device = device  # type: ignore[attr-defined]  # django-otp keeps it on login
    login(request, held.user, backend=held.backend or None)


def api_sign_in(request: HttpRequest, *, username: str, password: str, otp_code: str) -> User:
    """One request: the password and, for staff, the code. Raises the error to answer."""
    user = authenticate(request, username=username, password=password)
    if user is None:
        if locked_now(request):
            raise answered_lockout(request)
        raise NotAuthenticated(_("The account or password is wrong."), code="login_failed")
    assert isinstance(user, User)
    if otp_required_for(user):
        if otp_device_for(user) is None:
            # Not counted towards the lock-out (the password was right), but on record.
            audit_login_failed(request=request, username=username, reason=LoginFailure.NOT_ENROLLED)
            raise Forbidden(
                _(
                    "Staff sign in with an authenticator app. Set one up by signing in once "
                    "at the workbench (%(url)s)."
                )
                % {"url": reverse("workbench:login")},
                code="otp_enrolment_required",
            )
        if not otp_code.strip():
            raise NotAuthenticated(
                _("Staff accounts also need the code from their authenticator app (otp_code)."),
                code="otp_required",
                fields={"otp_code": _("This field is required.")},
            )
        # authenticate() above refused a locked name already.
        device = services.staff_otp_verify(user=user, code=otp_code)
        if device is None:
            raise code_failed(request, username=username, reason=LoginFailure.BAD_CODE)
        user.otp_device = device  # type: ignore[attr-defined]
    login(request, user)
    return user


# Staff sessions -----------------------------------------------------------------------------


def start_staff_session(request: HttpRequest) -> None:
    now = int(time.time())
    request.session[SESSION_LOGIN_AT] = now
    request.session[SESSION_SEEN_AT] = now
    # The store keeps the session to its maximum; the idle limit is checked here, so an idle
    # session ends with a message and an audit entry instead of vanishing.
    request.session.set_expiry(settings.TONGBAN_STAFF_SESSION_MAX_HOURS * 3600)


def staff_session_state(request: HttpRequest) -> str:
    """ "" while a confirmed staff session may go on; "idle" or "max" once it has ended."""
    now = time.time()
    session = request.session
    if SESSION_LOGIN_AT not in session:
        # A session from before these limits (or a test's force_login): they start now.
        start_staff_session(request)
        return ""
    if now - float(session[SESSION_SEEN_AT]) > settings.TONGBAN_STAFF_SESSION_IDLE_MINUTES * 60:
        return "idle"
    if now - float(session[SESSION_LOGIN_AT]) > settings.TONGBAN_STAFF_SESSION_MAX_HOURS * 3600:
        return "max"
    if now - float(session[SESSION_SEEN_AT]) >= SEEN_GRANULARITY_SECONDS:
        session[SESSION_SEEN_AT] = int(now)
    return ""


def end_session(request: HttpRequest, *, reason: str) -> None:
    request.tongban_logout_reason = reason  # type: ignore[attr-defined]  # for the audit entry
    logout(request)
