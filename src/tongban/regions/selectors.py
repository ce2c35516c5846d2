"""Reads for regions."""

from __future__ import annotations

import datetime as dt

from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tongban.core.errors import FieldErrors, NotFound, ValidationFailed
from tongban.regions import codes
from tongban.regions.models import (
    Department,
    Division,
    OpeningPeriod,
    PeriodKind,
    ServiceHall,
    Window,
)


def division_check(code: str, *, field: str, errors: FieldErrors) -> Division | None:
    """The active division with this code, or None after recording why in ``errors``."""
    code = (code or "").strip()
    if not codes.is_well_formed(code):
        errors.add(field, _("A division code has 6 digits, e.g. 500000."))
        return None
    division = Division.objects.filter(code=code, active=True).first()
    if division is None:
        errors.add(field, _("No division has this code."))
    return division


def division_get(*, code: str) -> Division:
    if not codes.is_well_formed(code):
        raise ValidationFailed(fields={"code": _("A division code has 6 digits, e.g. 500000.")})
    division = Division.objects.filter(code=code).select_related("parent").first()
    if division is None:
        raise NotFound(_("No division has this code."))
    return division


def division_list(*, parent: str | None = None, level: str | None = None) -> QuerySet[Division]:
    queryset = Division.objects.filter(active=True)
    if parent is not None:
        queryset = queryset.filter(parent_id=division_get(code=parent).code)
    if level is not None:
        queryset = queryset.filter(level=level)
    return queryset.order_by("code")


def division_path(*, division: Division) -> list[Division]:
    """The division and its ancestors, nation first."""
    path = [division]
    while path[-1].parent_id is not None:
        path.append(Division.objects.get(code=path[-1].parent_id))
    return list(reversed(path))


def department_list(*, division: str | None = None) -> QuerySet[Department]:
    queryset = Department.objects.filter(active=True).select_related("division")
    if division is not None:
        queryset = queryset.filter(division_id=division_get(code=division).code)
    return queryset.order_by("division_id", "key")


def department_by_short_name(*, short_name: str) -> Department | None:
    return Department.objects.filter(short_name=short_name, active=True).first()


def hall_list(*, division: str | None = None) -> QuerySet[ServiceHall]:
    queryset = ServiceHall.objects.filter(active=True).prefetch_related(
        "opening_periods", "windows__departments"
    )
    if division is not None:
        queryset = queryset.filter(division_id=division_get(code=division).code)
    return queryset.order_by("division_id", "key")


def window_periods_on(*, window: Window, weekday: int) -> list[OpeningPeriod]:
    """The periods a window serves on a weekday: regular ones, plus staggered and extended
    ones if it is an off-hours window."""
    periods = [p for p in window.hall.opening_periods.all() if p.weekday == weekday]
    if not window.off_hours:
        periods = [p for p in periods if p.kind == PeriodKind.REGULAR]
    return sorted(periods, key=lambda p: p.start)


def window_is_serving(*, window: Window, at: dt.datetime | None = None) -> bool:
    """Whether the window serves at a moment (by its weekly hours, in local time).

    NOTE: statutory holidays and make-up working days are not applied yet; the working-day
    calendar arrives with the case clock (cases/), and this selector should consult it then.
    """
    moment = timezone.localtime(at or timezone.now())
    return window.active and any(
        period.covers(moment.time())
        for period in window_periods_on(window=window, weekday=moment.isoweekday())
    )


def windows_serving(*, department: Department, within: str) -> list[Window]:
    """Active windows that receive for a department, in halls inside a division; the
    cross-province windows first."""
    windows = (
        Window.objects.filter(departments=department, active=True, hall__active=True)
        .select_related("hall")
        .order_by("hall__division_id", "hall__key", "number")
    )
    found = [window for window in windows if codes.contains(within, window.hall.division_id)]
    return sorted(found, key=lambda window: window.kind != "cross_province")
