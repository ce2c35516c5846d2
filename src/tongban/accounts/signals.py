"""Every sign-in, sign-out and failed sign-in goes into the audit log and the structured log.

Connected in ``AccountsConfig.ready()`` to Django's ``user_logged_in``, ``user_logged_out`` and
``user_login_failed``, so every way in (API, portal, workbench, admin) is covered by one handler.
Personal data stays out: a typed name that matches no login is recorded masked.
"""

from __future__ import annotations

from typing import Any

from axes.helpers import get_client_ip_address
from django.http import HttpRequest
from django_otp.plugins.otp_static.models import StaticDevice

from tongban.accounts.events import AccountEvent, LoginFailure
from tongban.accounts.models import User
from tongban.accounts.selectors import login_user_for
from tongban.core.audit import audit_record
from tongban.core.logging import get_logger
from tongban.core.masking import mask_login_name

log = get_logger("tongban.signin")


def _ip(request: HttpRequest | None) -> str:
    return str(get_client_ip_address(request) or "") if request is not None else ""


def on_logged_in(sender: Any, request: HttpRequest | None, user: User, **kwargs: Any) -> None:
    device = getattr(user, "otp_device", None)
    second_factor = (
        "" if device is None else "recovery_code" if isinstance(device, StaticDevice) else "totp"
    )
    if device is not None and request is not None:
        from tongban.accounts.signin import start_staff_session

        start_staff_session(request)
    _record(AccountEvent.LOGGED_IN, user, request, second_factor=second_factor)


def on_logged_out(
    sender: Any, request: HttpRequest | None, user: User | None, **kwargs: Any
) -> None:
    if user is None or not user.pk:
        return  # nobody was logged in
    reason = str(getattr(request, "tongban_logout_reason", "") or "user")
    _record(AccountEvent.LOGGED_OUT, user, request, reason=reason)


def _record(action: str, user: User, request: HttpRequest | None, **changes: str) -> None:
    audit_record(actor=user, action=action, target=user, changes={"ip": _ip(request), **changes})
    log.info(action, user_id=user.pk, **changes)


def on_login_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    # NOTE: connected before django-axes' own handler (accounts comes before axes in
    # INSTALLED_APPS), so axes_locked_out set here means the name was locked *before* this try.
    reason = getattr(request, "tongban_login_failure", None) or (
        LoginFailure.LOCKED_OUT
        if getattr(request, "axes_locked_out", False)
        else LoginFailure.BAD_PASSWORD
    )
    audit_login_failed(
        request=request, username=str(credentials.get("username") or ""), reason=reason
    )


def audit_login_failed(*, request: HttpRequest | None, username: str, reason: str) -> None:
    user = login_user_for(username=username)
    masked = mask_login_name(username)
    audit_record(
        actor=None,
        actor_label=masked,
        action=AccountEvent.LOGIN_FAILED,
        target=user,
        target_type="accounts.user",
        changes={"reason": str(reason), "ip": _ip(request), "name": masked},
    )
    log.warning(
        AccountEvent.LOGIN_FAILED,
        reason=str(reason),
        user_id=user.pk if user is not None else None,
        ip=_ip(request),
    )
