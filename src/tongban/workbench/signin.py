"""Staff sign-in pages: the password, then the authenticator code (or setting one up first),
and the recovery codes shown once. The admin's login comes here too (see urls.py)."""

from __future__ import annotations

from base64 import b32encode
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import segno
from django.contrib import messages
from django.contrib.auth.views import LoginView
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods
from django_otp.plugins.otp_static.models import StaticDevice

from tongban.accounts import services, signin
from tongban.accounts.events import LoginFailure
from tongban.accounts.permissions import session_verified
from tongban.accounts.selectors import otp_device_for, otp_required_for, recovery_codes_left
from tongban.core.errors import DomainError

SESSION_NEW_CODES = "tongban_new_recovery_codes"


class StaffLoginView(LoginView):
    """Staff log in here with their user name. A citizen already logged in on the portal is
    shown the form (to switch accounts), not sent to a workbench that would refuse them; so is
    a staff member whose session was never confirmed with a code."""

    template_name = "workbench/login.html"
    form_class = signin.SignInForm

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        user = request.user
        if user.is_authenticated and session_verified(user):
            return redirect(self.get_success_url())
        return super().dispatch(request, *args, **kwargs)

    def get_default_redirect_url(self) -> str:
        return reverse("workbench:queue")

    def form_valid(self, form: Any) -> HttpResponse:
        user = form.get_user()
        if not otp_required_for(user):
            return super().form_valid(form)
        step = signin.begin(
            self.request,
            user,
            username=form.cleaned_data["username"],
            next_url=self.get_success_url(),
        )
        return redirect(step)


def admin_login(request: HttpRequest) -> HttpResponse:
    """The admin's login page: staff sign in at the workbench, with their code, then go on."""
    next_url = signin.safe_next(request, request.GET.get("next", ""), reverse("admin:index"))
    return redirect(reverse("workbench:login") + "?" + urlencode({"next": next_url}))


def _held_or_restart(request: HttpRequest) -> signin.Pending | HttpResponse:
    held = signin.pending(request)
    if held is None:
        messages.info(request, _("Sign in with your password first."))
        return redirect("workbench:login")
    return held


def _finish(request: HttpRequest, held: signin.Pending, device: Any) -> HttpResponse:
    signin.finish(request, held, device)
    return redirect(signin.safe_next(request, held.next_url, reverse("workbench:queue")))


def _try_code(
    request: HttpRequest,
    held: signin.Pending,
    accept: Callable[[str], HttpResponse | None],
) -> HttpResponse | str:
    """Offer the posted code to ``accept`` unless the name is locked: its response when the code
    is good; otherwise the error to show (a wrong code counts as a failed sign-in, and a
    lock-out drops the held password)."""
    error: DomainError
    if signin.is_locked(request, held.username):
        error = signin.answered_lockout(request)
    else:
        response = accept(request.POST.get("otp_code", ""))
        if response is not None:
            return response
        error = signin.code_failed(request, username=held.username, reason=LoginFailure.BAD_CODE)
    if isinstance(error, signin.AccountLocked):
        signin.clear(request)
    return str(error.message)


def _code_page(
    request: HttpRequest, template: str, context: dict[str, Any], outcome: HttpResponse | str
) -> HttpResponse:
    if isinstance(outcome, HttpResponse):
        return outcome
    locked = bool(outcome) and signin.pending(request) is None
    return render(
        request,
        template,
        {**context, "error": outcome, "locked": locked},
        status=400 if outcome else 200,
    )


@require_http_methods(["GET", "POST"])
def login_code(request: HttpRequest) -> HttpResponse:
    """Step two: the 6-digit code of the authenticator app, or a recovery code."""
    held = _held_or_restart(request)
    if isinstance(held, HttpResponse):
        return held
    if otp_device_for(held.user) is None:
        return redirect("workbench:login_enrol")

    def accept(code: str) -> HttpResponse | None:
        device = services.staff_otp_verify(user=held.user, code=code)
        if device is None:
            return None
        if isinstance(device, StaticDevice):
            messages.warning(
                request,
                _("You signed in with a recovery code; %(n)d are left.")
                % {"n": recovery_codes_left(held.user)},
            )
        return _finish(request, held, device)

    outcome = _try_code(request, held, accept) if request.method == "POST" else ""
    return _code_page(request, "workbench/login_code.html", {}, outcome)


@require_http_methods(["GET", "POST"])
def login_enrol(request: HttpRequest) -> HttpResponse:
    """First sign-in of a staff member without an authenticator: scan, confirm, continue."""
    held = _held_or_restart(request)
    if isinstance(held, HttpResponse):
        return held
    if otp_device_for(held.user) is not None:
        return redirect("workbench:login_code")
    device = services.staff_otp_enrol_start(user=held.user)

    def accept(code: str) -> HttpResponse | None:
        try:
            confirmed, codes = services.staff_otp_enrol_confirm(user=held.user, code=code)
        except DomainError as problem:
            if problem.code != "otp_invalid":
                raise
            return None
        response = _finish(request, held, confirmed)
        request.session[SESSION_NEW_CODES] = {"codes": codes, "next": response["Location"]}
        return redirect("workbench:recovery_codes")

    outcome = _try_code(request, held, accept) if request.method == "POST" else ""
    context = {
        "qr_svg": segno.make(device.config_url, error="m").svg_inline(
            scale=5, title=_("Authenticator QR code")
        ),
        "secret": _grouped(b32encode(device.bin_key).decode()),
    }
    return _code_page(request, "workbench/login_enrol.html", context, outcome)


def _grouped(secret: str) -> str:
    return " ".join(secret[index : index + 4] for index in range(0, len(secret), 4))


@require_http_methods(["GET", "POST"])
def recovery_codes(request: HttpRequest) -> HttpResponse:
    """The recovery codes, once: right after setting up the authenticator, or after renewing
    them here (a confirmed staff session only)."""
    user = request.user
    if not (user.is_authenticated and session_verified(user)):
        return redirect("workbench:login")
    if request.method == "POST":
        codes = services.staff_recovery_codes_issue(actor=user, user=user)
        shown = {"codes": codes, "next": reverse("workbench:queue")}
    else:
        shown = request.session.pop(SESSION_NEW_CODES, None)
    return render(
        request,
        "workbench/recovery_codes.html",
        {
            "codes": shown["codes"] if shown else [],
            "next": shown["next"] if shown else reverse("workbench:queue"),
            "left": recovery_codes_left(user),
        },
    )
