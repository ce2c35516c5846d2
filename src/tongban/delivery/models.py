from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from tongban.regions.models import Window


class ShipmentPurpose(models.TextChoices):
    ORIGINALS = "originals", _("originals from the window to the deciding department")
    RESULT = "result", _("the result to the applicant or the window")


class ShipmentState(models.TextChoices):
    # Its own context: the plain msgid "created" is the creation *time* of every model.
    CREATED = "created", pgettext_lazy("shipment state", "created")
    PICKED_UP = "picked_up", _("picked up")
    IN_TRANSIT = "in_transit", _("in transit")
    DELIVERED = "delivered", _("delivered")
    RETURNED = "returned", _("returned")
    LOST = "lost", _("lost")


class Shipment(models.Model):
    """One parcel for a case, with its carrier's tracking number and where it stands."""

    case = models.ForeignKey(
        "cases.Case", verbose_name=_("case"), on_delete=models.PROTECT, related_name="shipments"
    )
    # The parcel on every node holding a copy of its case.
    uid = models.UUIDField(_("shipment id (all nodes)"), default=uuid.uuid4, unique=True)
    purpose = models.CharField(_("purpose"), max_length=16, choices=ShipmentPurpose.choices)
    carrier = models.CharField(_("carrier"), max_length=32)
    tracking_number = models.CharField(_("tracking number"), max_length=40)
    from_division = models.ForeignKey(
        "regions.Division", verbose_name=_("from"), on_delete=models.PROTECT, related_name="+"
    )
    to_division = models.ForeignKey(
        "regions.Division", verbose_name=_("to"), on_delete=models.PROTECT, related_name="+"
    )
    state = models.CharField(
        _("state"), max_length=16, choices=ShipmentState.choices, default=ShipmentState.CREATED
    )
    delivered_at = models.DateTimeField(_("delivered"), null=True, blank=True)
    created_by = models.ForeignKey(
        "accounts.User",
        verbose_name=_("created by"),
        null=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("shipment")
        verbose_name_plural = _("shipments")
        ordering = ["case_id", "created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["carrier", "tracking_number"], name="shipment_tracking_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.carrier} {self.tracking_number}"


class ShipmentEvent(models.Model):
    """A step of a shipment as the carrier (or the staff entering it) reported it."""

    shipment = models.ForeignKey(
        Shipment, verbose_name=_("shipment"), on_delete=models.CASCADE, related_name="events"
    )
    state = models.CharField(_("state"), max_length=16, choices=ShipmentState.choices)
    at = models.DateTimeField(_("time"))
    note = models.CharField(_("note"), max_length=255, blank=True)
    # A step recorded at another node: who, there ("user@node"); blank for this node's own.
    recorded_elsewhere = models.CharField(
        _("recorded at another node by"), max_length=150, blank=True
    )
    recorded_by = models.ForeignKey(
        "accounts.User",
        verbose_name=_("recorded by"),
        null=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    recorded_at = models.DateTimeField(_("recorded"), auto_now_add=True)

    class Meta:
        verbose_name = _("shipment event")
        verbose_name_plural = _("shipment events")
        ordering = ["shipment_id", "at", "id"]

    def __str__(self) -> str:
        return f"{self.shipment_id} {self.state} {self.at:%Y-%m-%d %H:%M}"


# Assisted service appointments (预约服务) -----------------------------------------------------


class ScheduleKind(models.TextChoices):
    REGULAR = "regular", _("regular hours")
    LUNCHTIME = "lunchtime", _("lunchtime (staggered, 错时)")
    EVENING = "evening", _("evening (extended, 延时)")
    WEEKEND = "weekend", _("weekend")


class AppointmentPurpose(models.TextChoices):
    ASSISTED = "assisted", _("assisted application (帮办代办)")
    IDENTITY = "identity", _("in-person real-name verification")
    ORIGINALS = "originals", _("hand in originals or collect a result")
    CONSULTATION = "consultation", _("consultation")


class AppointmentState(models.TextChoices):
    BOOKED = "booked", _("booked")
    CHECKED_IN = "checked_in", _("checked in")
    ATTENDED = "attended", _("attended")
    NO_SHOW = "no_show", _("did not come")
    CANCELLED = "cancelled", _("cancelled")


class WindowSchedule(models.Model):
    """Weekly hours of a window for appointments, cut into slots of ``slot_minutes`` with
    ``capacity`` people each. Slots are computed from these rows (delivery.slots)."""

    window = models.ForeignKey(
        "regions.Window",
        verbose_name=_("window"),
        on_delete=models.CASCADE,
        related_name="appointment_schedules",
    )
    weekday = models.PositiveSmallIntegerField(_("weekday (1 = Monday)"))
    start = models.TimeField(_("start"))
    end = models.TimeField(_("end"))
    slot_minutes = models.PositiveSmallIntegerField(_("slot length (minutes)"))
    capacity = models.PositiveSmallIntegerField(_("people per slot"))
    kind = models.CharField(_("kind"), max_length=16, choices=ScheduleKind.choices)

    class Meta:
        verbose_name = _("appointment hours")
        verbose_name_plural = _("appointment hours")
        ordering = ["window_id", "weekday", "start"]
        constraints = [
            models.CheckConstraint(
                condition=Q(weekday__gte=1) & Q(weekday__lte=7), name="schedule_weekday_range"
            ),
            models.CheckConstraint(condition=Q(start__lt=models.F("end")), name="schedule_order"),
            models.CheckConstraint(
                condition=Q(slot_minutes__gte=5) & Q(capacity__gte=1), name="schedule_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.weekday} {self.start:%H:%M}–{self.end:%H:%M} {self.get_kind_display()}"


class WindowClosure(models.Model):
    """A date a window takes no appointments (training, repairs, a hall event)."""

    window = models.ForeignKey(
        "regions.Window",
        verbose_name=_("window"),
        on_delete=models.CASCADE,
        related_name="closures",
    )
    day = models.DateField(_("date"))
    reason = models.CharField(_("reason"), max_length=255)
    created_by = models.ForeignKey(
        "accounts.User",
        verbose_name=_("created by"),
        null=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("window closure")
        verbose_name_plural = _("window closures")
        ordering = ["window_id", "day"]
        constraints = [
            models.UniqueConstraint(fields=["window", "day"], name="closure_once_per_day")
        ]

    def __str__(self) -> str:
        return f"{self.window_id} {self.day:%Y-%m-%d}"


class SlotCounter(models.Model):
    """How many open appointments one slot holds: the row every booking of the slot updates
    with a guarded increment, so two people cannot take its last place at the same time."""

    window = models.ForeignKey(
        "regions.Window", verbose_name=_("window"), on_delete=models.CASCADE, related_name="+"
    )
    starts_at = models.DateTimeField(_("starts"))
    booked = models.PositiveIntegerField(_("booked"), default=0)

    class Meta:
        verbose_name = _("slot counter")
        verbose_name_plural = _("slot counters")
        constraints = [
            models.UniqueConstraint(fields=["window", "starts_at"], name="slot_counter_unique")
        ]

    def __str__(self) -> str:
        return f"{self.window_id} {self.starts_at:%Y-%m-%d %H:%M} {self.booked}"


class Appointment(models.Model):
    """A person's booking of a slot at a window, with a short code to show at the hall."""

    code = models.CharField(_("booking code"), max_length=8, unique=True)
    window = models.ForeignKey(
        "regions.Window",
        verbose_name=_("window"),
        on_delete=models.PROTECT,
        related_name="appointments",
    )
    person = models.ForeignKey(
        "accounts.Person",
        verbose_name=_("person"),
        on_delete=models.PROTECT,
        related_name="appointments",
    )
    starts_at = models.DateTimeField(_("starts"))
    ends_at = models.DateTimeField(_("ends"))
    kind = models.CharField(_("hours"), max_length=16, choices=ScheduleKind.choices)
    purpose = models.CharField(_("purpose"), max_length=16, choices=AppointmentPurpose.choices)
    item_code = models.CharField(_("service item code"), max_length=64, blank=True)
    item_name = models.CharField(_("service item"), max_length=255, blank=True)
    state = models.CharField(
        _("state"), max_length=16, choices=AppointmentState.choices, default=AppointmentState.BOOKED
    )
    # Booked by a clerk at the desk for the person (assisted), or by the person online.
    booked_by = models.ForeignKey(
        "accounts.User",
        verbose_name=_("booked by"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    assisted = models.BooleanField(_("booked at the window"), default=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    checked_in_at = models.DateTimeField(_("checked in"), null=True, blank=True)
    closed_at = models.DateTimeField(_("attended, no-show or cancelled"), null=True, blank=True)
    cancel_reason = models.CharField(_("reason for cancelling"), max_length=255, blank=True)
    changed_by = models.ForeignKey(
        "accounts.User",
        verbose_name=_("last changed by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    # Each reminder is claimed by setting its time, so it goes out once however many
    # workers run the tick.
    reminded_day_before_at = models.DateTimeField(_("reminded the day before"), null=True)
    reminded_soon_at = models.DateTimeField(_("reminded shortly before"), null=True)

    class Meta:
        verbose_name = _("appointment")
        verbose_name_plural = _("appointments")
        ordering = ["starts_at", "id"]
        indexes = [
            models.Index(fields=["window", "starts_at"], name="appointment_window_time"),
            models.Index(fields=["person", "state"], name="appointment_person_state"),
            models.Index(fields=["state", "starts_at"], name="appointment_state_time"),
        ]

    def __str__(self) -> str:
        return self.code


class NoticeKind(models.TextChoices):
    BOOKED = "booked", _("appointment booked")
    REMINDER_DAY_BEFORE = "reminder_day_before", _("reminder the day before")
    REMINDER_SOON = "reminder_soon", _("reminder shortly before")
    CANCELLED = "cancelled", _("appointment cancelled")


class AppointmentNotice(models.Model):
    """A message the recording notifier kept for a person (shown in the portal)."""

    person = models.ForeignKey(
        "accounts.Person",
        verbose_name=_("person"),
        on_delete=models.CASCADE,
        related_name="appointment_notices",
    )
    appointment = models.ForeignKey(
        Appointment, verbose_name=_("appointment"), on_delete=models.CASCADE, related_name="notices"
    )
    kind = models.CharField(_("kind"), max_length=32, choices=NoticeKind.choices)
    text = models.TextField(_("text"))
    created_at = models.DateTimeField(_("sent"), auto_now_add=True)

    class Meta:
        verbose_name = _("appointment notice")
        verbose_name_plural = _("appointment notices")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.appointment_id} {self.kind}"


class AppointmentWindow(Window):
    """A window seen from the appointments side: its weekly hours (the admin edits them here)."""

    class Meta:
        proxy = True
        verbose_name = _("window appointment hours")
        verbose_name_plural = _("window appointment hours")
