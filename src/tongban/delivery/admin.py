"""Appointments for operators: hours per window (audited edits, the same rules as the service),
closures through the service, bookings read-only and without who booked."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from tongban.core.admin_forms import AuditedAdmin, ReadOnlyAdmin, ServiceAddAdmin, ServiceAddForm
from tongban.delivery import appointments, slots
from tongban.delivery.models import (
    Appointment,
    AppointmentWindow,
    WindowClosure,
    WindowSchedule,
)
from tongban.regions.models import Window

# Shipments are not here: a case's parcels are case content, which platform admins do not see
# (cases/access.py); the window and the deciding department follow them in the workbench.


# Appointments -------------------------------------------------------------------------------


class WindowScheduleFormSet(forms.BaseInlineFormSet):  # type: ignore[type-arg]
    """The same rules as appointments.schedule_replace (delivery.slots.schedule_problems)."""

    def clean(self) -> None:
        super().clean()
        rows = [
            form for form in self.forms if form.cleaned_data and not form.cleaned_data.get("DELETE")
        ]
        keys = {"weekday", "start", "end", "slot_minutes", "capacity", "kind"}
        specs = [
            (
                form,
                slots.Schedule(
                    weekday=form.cleaned_data["weekday"],
                    start=form.cleaned_data["start"],
                    end=form.cleaned_data["end"],
                    slot_minutes=form.cleaned_data["slot_minutes"],
                    capacity=form.cleaned_data["capacity"],
                    kind=slots.SlotKind(form.cleaned_data["kind"]),
                ),
            )
            for form in rows
            if keys <= form.cleaned_data.keys()
        ]
        problems = slots.schedule_problems([spec for _form, spec in specs])
        for index, problem in problems.items():
            message, values = appointments.PROBLEMS[problem]
            specs[index][0].add_error(None, message % values if values else message)


class WindowScheduleInline(admin.TabularInline):  # type: ignore[type-arg]
    model = WindowSchedule
    formset = WindowScheduleFormSet
    extra = 0


@admin.register(AppointmentWindow)
class AppointmentWindowAdmin(AuditedAdmin):
    """Weekly appointment hours per window (bookings already made are kept when they change)."""

    list_display = ("__str__", "kind", "active")
    list_filter = ("hall", "active")
    search_fields = ("hall__name", "number", "name")
    fields = ("hall", "number", "name", "kind")
    readonly_fields = fields
    inlines = [WindowScheduleInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # windows are added with their hall

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class WindowClosureAddForm(ServiceAddForm):
    window = forms.ModelChoiceField(label=_("window"), queryset=Window.objects.filter(active=True))
    day = forms.DateField(label=_("date"))
    reason = forms.CharField(label=_("reason"), max_length=255)

    class Meta:
        model = WindowClosure
        fields: list[str] = []

    def create(self, actor: Any) -> WindowClosure:
        data = self.cleaned_data
        closure, _cancelled = appointments.window_close(
            actor=actor, window_id=data["window"].pk, day=data["day"], reason=data["reason"]
        )
        return closure


@admin.register(WindowClosure)
class WindowClosureAdmin(ServiceAddAdmin):
    """Closing a window on a date cancels its bookings that day and tells the people; deleting
    the closure takes appointments again."""

    add_form = WindowClosureAddForm
    list_display = ("window", "day", "reason", "created_by")
    list_filter = ("window__hall",)
    date_hierarchy = "day"
    readonly_fields = ("window", "day", "reason", "created_by")

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is None

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        appointments.window_reopen(actor=request.user, window_id=obj.window_id, day=obj.day)

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        for closure in queryset:
            self.delete_model(request, closure)


@admin.register(Appointment)
class AppointmentAdmin(ReadOnlyAdmin):
    list_display = ("code", "window", "starts_at", "kind", "purpose", "state", "assisted")
    list_filter = ("state", "kind", "purpose", "window__hall")
    search_fields = ("code",)
    date_hierarchy = "starts_at"
    # Who booked is for the clerks of the hall (the workbench), not for platform admins, who
    # see the load on their windows (cases/access.py).
    exclude = ("person", "booked_by", "changed_by")
