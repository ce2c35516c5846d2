from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from tongban.core.admin_forms import AuditedAdmin, ServiceAddAdmin, ServiceAddForm
from tongban.regions import services
from tongban.regions.models import (
    Department,
    DepartmentKind,
    Division,
    OpeningPeriod,
    ServiceHall,
    Window,
)


@admin.register(Division)
class DivisionAdmin(AuditedAdmin):
    list_display = ("code", "name", "level", "parent", "active")
    list_filter = ("level", "active")
    search_fields = ("code", "name")
    readonly_fields = ("code", "name", "level", "parent")

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Divisions come from the GB/T 2260 reference file (`tongban init`).
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class DepartmentAddForm(ServiceAddForm):
    key = forms.SlugField(label=_("key"), max_length=64)
    name = forms.CharField(label=_("name"), max_length=128)
    short_name = forms.CharField(label=_("short name"), max_length=64)
    division_code = forms.CharField(label=_("division code"), max_length=6)
    kind = forms.ChoiceField(label=_("kind"), choices=DepartmentKind.choices)
    uscc = forms.CharField(label=_("unified social credit code"), max_length=18, required=False)

    class Meta:
        model = Department
        fields: list[str] = []

    def create(self, actor: Any) -> Department:
        data = self.cleaned_data
        return services.department_create(
            actor=actor,
            key=data["key"],
            name=data["name"],
            short_name=data["short_name"],
            division_code=data["division_code"],
            kind=data["kind"],
            uscc=data["uscc"],
        )


@admin.register(Department)
class DepartmentAdmin(ServiceAddAdmin, AuditedAdmin):
    add_form = DepartmentAddForm
    list_display = ("name", "short_name", "key", "division", "kind", "active")
    list_filter = ("kind", "active", "division__level")
    search_fields = ("name", "short_name", "key")
    readonly_fields = ("key", "division", "uscc")
    fields = ("key", "name", "short_name", "division", "kind", "uscc", "active")

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class WindowInline(admin.TabularInline):  # type: ignore[type-arg]
    model = Window
    extra = 0
    fields = ("number", "name", "kind", "departments", "off_hours", "active")
    autocomplete_fields = ("departments",)


class OpeningPeriodFormSet(forms.BaseInlineFormSet):  # type: ignore[type-arg]
    """The same overlap rule as hall_create, for periods edited in the admin."""

    def clean(self) -> None:
        super().clean()
        rows = [
            form for form in self.forms if form.cleaned_data and not form.cleaned_data.get("DELETE")
        ]
        periods = [
            ([form.cleaned_data["weekday"]], form.cleaned_data["start"], form.cleaned_data["end"])
            for form in rows
            if {"weekday", "start", "end"} <= form.cleaned_data.keys()
        ]
        for index in services.overlapping_periods(periods):
            rows[index].add_error("start", _("Periods of the same day must not overlap."))


class OpeningPeriodInline(admin.TabularInline):  # type: ignore[type-arg]
    model = OpeningPeriod
    formset = OpeningPeriodFormSet
    extra = 0


@admin.register(ServiceHall)
class ServiceHallAdmin(AuditedAdmin):
    list_display = ("name", "key", "division", "address", "active")
    list_filter = ("active",)
    search_fields = ("name", "key")
    inlines = (WindowInline, OpeningPeriodInline)
