"""Who may act as staff, and over what: one explicit scope instead of "None means anything"."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext_lazy as _

from tongban.accounts.models import Staff, StaffRole
from tongban.accounts.selectors import staff_for_user
from tongban.core.audit import System
from tongban.core.errors import Forbidden, NotAuthenticated
from tongban.regions.models import Department, Division


@dataclass(frozen=True)
class Scope:
    """What an actor may do as staff.

    ``unrestricted`` holds for the node itself (SYSTEM) and for a superuser who has no staff
    record at all (break-glass, e.g. from ``createsuperuser``). Everyone else acts through
    their active staff record: its roles, its department and its jurisdiction.
    """

    unrestricted: bool
    staff: Staff | None = None

    @property
    def roles(self) -> frozenset[str]:
        return self.staff.roles if self.staff is not None else frozenset()

    @property
    def is_platform_admin(self) -> bool:
        return self.unrestricted or StaffRole.PLATFORM_ADMIN in self.roles

    def covers_department(self, department: Department) -> bool:
        if self.is_platform_admin:
            return True
        return self.staff is not None and self.staff.department_id == department.pk

    def covers_division(self, division: Division | str) -> bool:
        if self.is_platform_admin:
            return True
        return self.staff is not None and self.staff.jurisdiction.contains(division)


def require_login(actor: Any) -> None:
    if actor is None or not getattr(actor, "is_authenticated", False):
        raise NotAuthenticated()


def staff_scope(actor: Any, roles: Iterable[str]) -> Scope:
    """The actor's scope if they may act in one of ``roles``; Forbidden otherwise."""
    if isinstance(actor, System):
        return Scope(unrestricted=True)
    require_login(actor)
    if not getattr(actor, "is_active", False):
        raise Forbidden()
    staff = staff_for_user(actor)
    if staff is None:
        # A superuser without a staff record is the operator's break-glass account; a
        # superuser *with* a (possibly deactivated) staff record acts only through it.
        if (
            getattr(actor, "is_superuser", False)
            and not Staff.objects.filter(user_id=actor.pk).exists()
        ):
            require_second_factor(actor)
            return Scope(unrestricted=True)
        raise Forbidden()
    require_second_factor(actor)
    if not staff.has_role(*roles):
        raise Forbidden()
    return Scope(unrestricted=False, staff=staff)


def require_second_factor(actor: Any) -> None:
    """A web session acts as staff only once its sign-in was confirmed with a one-time code.

    ``is_verified`` is what django-otp's middleware puts on ``request.user``: only users that
    came through the web stack have it. Commands, tasks and tests that call services with a
    user object (or SYSTEM) have no session to confirm, and are not asked.
    """
    if callable(getattr(actor, "is_verified", None)) and not session_verified(actor):
        raise Forbidden(
            _("Confirm your sign-in with the code from your authenticator app first."),
            code="otp_required",
        )


def session_verified(user: Any) -> bool:
    """Whether a web session's sign-in was confirmed with a one-time code (django-otp)."""
    is_verified = getattr(user, "is_verified", None)
    return bool(callable(is_verified) and is_verified())
