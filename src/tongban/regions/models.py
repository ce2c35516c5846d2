from __future__ import annotations

import datetime as dt

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from tongban.regions import codes


class DivisionLevel(models.TextChoices):
    NATIONAL = "national", _("national")
    PROVINCE = "province", _("province")
    PREFECTURE = "prefecture", _("prefecture")
    COUNTY = "county", _("county")


class Division(models.Model):
    """An administrative division, keyed by its GB/T 2260 code (100000 stands for the nation)."""

    code = models.CharField(_("division code"), max_length=6, primary_key=True)
    name = models.CharField(_("name"), max_length=64)
    level = models.CharField(_("level"), max_length=16, choices=DivisionLevel.choices)
    parent = models.ForeignKey(
        "self",
        verbose_name=_("parent division"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
    )
    active = models.BooleanField(_("in use"), default=True)

    class Meta:
        verbose_name = _("administrative division")
        verbose_name_plural = _("administrative divisions")
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.name}（{self.code}）"

    def contains(self, other: Division | str) -> bool:
        other_code = other if isinstance(other, str) else other.code
        return codes.contains(self.code, other_code)


class DepartmentKind(models.TextChoices):
    GOVERNMENT = "government", _("government department")
    VERTICAL = "vertical", _("vertically managed body")
    COURT = "court", _("court")
    ASSOCIATION = "association", _("association")
    OFFICE = "office", _("general office / platform administration")


class Department(models.Model):
    """A body that implements services (实施主体) within its jurisdiction."""

    key = models.SlugField(_("key"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=128)
    short_name = models.CharField(_("short name"), max_length=64, unique=True)
    division = models.ForeignKey(
        Division,
        verbose_name=_("jurisdiction"),
        on_delete=models.PROTECT,
        related_name="departments",
    )
    kind = models.CharField(_("kind"), max_length=16, choices=DepartmentKind.choices)
    # The implementing body's unified social credit code; part of every implementation code.
    uscc = models.CharField(
        _("unified social credit code"), max_length=18, null=True, blank=True, unique=True
    )
    active = models.BooleanField(_("in use"), default=True)

    class Meta:
        verbose_name = _("department")
        verbose_name_plural = _("departments")
        ordering = ["division_id", "key"]
        constraints = [
            models.UniqueConstraint(fields=["division", "name"], name="department_name_unique")
        ]

    def __str__(self) -> str:
        return self.name


class ServiceHall(models.Model):
    """A government service hall (政务服务中心) with windows."""

    key = models.SlugField(_("key"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=128)
    division = models.ForeignKey(
        Division, verbose_name=_("division"), on_delete=models.PROTECT, related_name="halls"
    )
    address = models.CharField(_("address"), max_length=255, blank=True)
    phone = models.CharField(_("phone"), max_length=32, blank=True)
    active = models.BooleanField(_("in use"), default=True)

    class Meta:
        verbose_name = _("service hall")
        verbose_name_plural = _("service halls")
        ordering = ["division_id", "key"]

    def __str__(self) -> str:
        return self.name


class WindowKind(models.TextChoices):
    CROSS_PROVINCE = "cross_province", _("cross-province window")
    GENERAL = "general", _("general intake window")
    DEPARTMENT = "department", _("department window")
    HELP = "help", _("assisted service window")


class Window(models.Model):
    hall = models.ForeignKey(
        ServiceHall,
        verbose_name=_("service hall"),
        on_delete=models.CASCADE,
        related_name="windows",
    )
    number = models.CharField(_("window number"), max_length=16)
    name = models.CharField(_("name"), max_length=64)
    kind = models.CharField(_("kind"), max_length=16, choices=WindowKind.choices)
    departments = models.ManyToManyField(
        Department, verbose_name=_("departments served"), blank=True, related_name="windows"
    )
    # Serves in the hall's staggered (错时) and extended (延时) periods, not only regular hours.
    off_hours = models.BooleanField(_("serves off-hours"), default=False)
    active = models.BooleanField(_("in use"), default=True)

    class Meta:
        verbose_name = _("window")
        verbose_name_plural = _("windows")
        ordering = ["hall_id", "number"]
        constraints = [
            models.UniqueConstraint(fields=["hall", "number"], name="window_number_unique")
        ]

    def __str__(self) -> str:
        return f"{self.hall.name} {self.number} {self.name}"


class PeriodKind(models.TextChoices):
    REGULAR = "regular", _("regular hours")
    STAGGERED = "staggered", _("staggered hours (lunch break, weekend)")
    EXTENDED = "extended", _("extended hours (after closing)")


class OpeningPeriod(models.Model):
    """A weekly period when a hall serves. Regular periods are served by every window;
    staggered and extended (off-hours) periods only by windows marked ``off_hours``."""

    hall = models.ForeignKey(
        ServiceHall,
        verbose_name=_("service hall"),
        on_delete=models.CASCADE,
        related_name="opening_periods",
    )
    weekday = models.PositiveSmallIntegerField(_("weekday (1 = Monday)"))
    start = models.TimeField(_("start"))
    end = models.TimeField(_("end"))
    kind = models.CharField(_("kind"), max_length=16, choices=PeriodKind.choices)

    class Meta:
        verbose_name = _("opening period")
        verbose_name_plural = _("opening periods")
        ordering = ["hall_id", "weekday", "start"]
        constraints = [
            models.CheckConstraint(
                condition=Q(weekday__gte=1) & Q(weekday__lte=7), name="period_weekday_range"
            ),
            models.CheckConstraint(condition=Q(start__lt=models.F("end")), name="period_order"),
        ]

    def __str__(self) -> str:
        return f"{self.weekday} {self.start:%H:%M}–{self.end:%H:%M} {self.get_kind_display()}"

    def covers(self, moment: dt.time) -> bool:
        return self.start <= moment < self.end
