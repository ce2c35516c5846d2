from __future__ import annotations

import datetime as dt
import uuid

from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class CalendarEntry(models.Model):
    """A statutory holiday or make-up working day entered by an administrator: for years the
    calendar package does not know yet, or to correct a day it has wrong."""

    date = models.DateField(_("date"), unique=True)
    is_workday = models.BooleanField(
        _("working day"), help_text=_("Ticked: a make-up working day. Unticked: a holiday.")
    )
    note = models.CharField(_("note"), max_length=64, blank=True)

    class Meta:
        verbose_name = _("working-day calendar entry")
        verbose_name_plural = _("working-day calendar")
        ordering = ["date"]

    def __str__(self) -> str:
        return f"{self.date} {'班' if self.is_workday else '休'} {self.note}"


class CaseMode(models.TextChoices):
    ONLINE = "ONLINE", _("online end to end")
    PROXY = "PROXY", _("received here, handled there")
    JOINT = "JOINT", _("handled jointly by several places")


class Case(models.Model):
    """One application (办件) and everything that happens to it.

    It pins the catalogue row it was filed under (item, scenario, implementation of one
    version), so later catalogue versions never change its rules. ``received_by`` is who took
    it in; ``assignee`` is who is responsible for deciding it (收受分离 keeps them apart).
    """

    number = models.CharField(_("case number"), max_length=43, unique=True)
    # The case's identity on every node that holds a copy (case numbers are per node).
    uid = models.UUIDField(_("case id (all nodes)"), default=uuid.uuid4, unique=True)
    query_code = models.CharField(_("query code"), max_length=12)
    item = models.ForeignKey(
        "catalog.ServiceItem",
        verbose_name=_("service item"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    scenario = models.ForeignKey(
        "catalog.Scenario", verbose_name=_("scenario"), on_delete=models.PROTECT, related_name="+"
    )
    implementation = models.ForeignKey(
        "catalog.Implementation",
        verbose_name=_("implementation"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    mode = models.CharField(_("mode"), max_length=8, choices=CaseMode.choices)
    workflow = models.CharField(_("workflow"), max_length=64)
    state = models.CharField(_("state"), max_length=32, db_index=True)

    applicant_person = models.ForeignKey(
        "accounts.Person",
        verbose_name=_("applicant (person)"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="cases",
    )
    applicant_enterprise = models.ForeignKey(
        "accounts.Enterprise",
        verbose_name=_("applicant (enterprise)"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="cases",
    )
    # The person who acts: the enterprise's handler, or an authorised agent (帮办代办).
    agent = models.ForeignKey(
        "accounts.Person",
        verbose_name=_("agent"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="cases_as_agent",
    )
    # The authorisation the agent applied under (帮办代办): checked again at every step the
    # agent takes, so a revoked or expired one stops them at once.
    authorisation = models.ForeignKey(
        "cases.AgentAuthorisation",
        verbose_name=_("agent authorisation"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="cases",
    )
    form_data = models.JSONField(_("form data"), default=dict)

    receiving_division = models.ForeignKey(
        "regions.Division",
        verbose_name=_("received in"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    receiving_window = models.ForeignKey(
        "regions.Window",
        verbose_name=_("receiving window"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    received_by = models.ForeignKey(
        "accounts.Staff",
        verbose_name=_("received by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    authority_division = models.ForeignKey(
        "regions.Division", verbose_name=_("decided in"), on_delete=models.PROTECT, related_name="+"
    )
    authority_department = models.ForeignKey(
        "regions.Department",
        verbose_name=_("deciding department"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    assignee = models.ForeignKey(
        "accounts.Staff",
        verbose_name=_("responsible for the decision"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )

    submitted_at = models.DateTimeField(_("submitted"), null=True, blank=True)
    received_on = models.DateField(_("received on"), null=True, blank=True)
    accepted_on = models.DateField(_("accepted on"), null=True, blank=True)
    # PROXY cases whose originals are posted: the day they reached the deciding department
    # (its time limit cannot start before; see delivery/).
    originals_received_on = models.DateField(_("originals received on"), null=True, blank=True)
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True)
    approved_on = models.DateField(_("approved on"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)
    # The clock (working days from accepted_on, minus pauses; see workdays.py).
    promised_days = models.PositiveSmallIntegerField(
        _("promised limit (working days)"), null=True, blank=True
    )
    legal_days = models.PositiveSmallIntegerField(
        _("legal limit (working days)"), null=True, blank=True
    )
    extension_days = models.PositiveSmallIntegerField(_("extension (working days)"), default=0)
    # Across provinces (see federation.py). On a copy kept in step with the node that decides
    # (a mirror): that node's code, and ``remote_number`` is its number. On the deciding node's
    # case received elsewhere: ``receiving_node`` and that node's number. ``peers`` are the
    # nodes holding mirrors, told of every step.
    authority_node = models.CharField(_("decided at node"), max_length=6, blank=True)
    receiving_node = models.CharField(_("received at node"), max_length=6, blank=True)
    remote_number = models.CharField(
        _("number at the other node"), max_length=43, blank=True, db_index=True
    )
    peers = models.JSONField(_("nodes holding copies"), default=list, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("case")
        verbose_name_plural = _("cases")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["authority_department", "state"]),
            models.Index(fields=["receiving_division", "state"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(applicant_person__isnull=False)
                | models.Q(applicant_enterprise__isnull=False),
                name="case_has_an_applicant",
            )
        ]

    def __str__(self) -> str:
        return self.number


class LegState(models.TextChoices):
    WAITING = "waiting", _("waiting")
    ACTIVE = "active", _("in progress")
    DONE = "done", _("done")
    REFUSED = "refused", _("refused")
    CANCELLED = "cancelled", _("cancelled")


class CaseLeg(models.Model):
    """One jurisdiction's part of a JOINT case (多地联办), done in ``seq`` order: the leg plan
    (data/legs/*.json) says who does what where; each leg's ``output`` is handed to the next
    legs as their ``input``. ``node`` is the province node that serves the leg's division, so a
    leg can later be carried out on another province's node."""

    case = models.ForeignKey(
        Case, verbose_name=_("case"), on_delete=models.CASCADE, related_name="legs"
    )
    seq = models.PositiveSmallIntegerField(_("order"))
    key = models.CharField(_("leg"), max_length=64)
    label = models.CharField(_("label"), max_length=128)
    place = models.CharField(_("place"), max_length=32)
    division = models.ForeignKey(
        "regions.Division", verbose_name=_("division"), on_delete=models.PROTECT, related_name="+"
    )
    department = models.ForeignKey(
        "regions.Department",
        verbose_name=_("department"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    node = models.CharField(_("node"), max_length=6)
    roles = models.JSONField(_("roles"), default=list)
    state = models.CharField(
        _("state"), max_length=16, choices=LegState.choices, default=LegState.WAITING
    )
    input = models.JSONField(_("handed over"), default=dict, blank=True)
    output = models.JSONField(_("result"), default=dict, blank=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    finished_by = models.ForeignKey(
        "accounts.Staff",
        verbose_name=_("finished by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )

    class Meta:
        verbose_name = _("leg of a joint case")
        verbose_name_plural = _("legs of joint cases")
        ordering = ["case_id", "seq"]
        indexes = [models.Index(fields=["department", "state"])]
        constraints = [models.UniqueConstraint(fields=["case", "seq"], name="case_leg_seq_unique")]

    def __str__(self) -> str:
        return f"{self.case_id}/{self.seq} {self.label}"


class PauseKind(models.TextChoices):
    SUPPLEMENT = "supplement", _("waiting for supplementary materials")
    HEARING = "hearing", _("hearing")
    TENDER = "tender", _("tender")
    AUCTION = "auction", _("auction")
    INSPECTION = "inspection", _("inspection")
    TESTING = "testing", _("testing")
    QUARANTINE = "quarantine", _("quarantine")
    APPRAISAL = "appraisal", _("appraisal")
    EXPERT_REVIEW = "expert_review", _("expert review")


class CasePause(models.Model):
    """Time not counted (行政许可法 art. 45): both end days included; open while running."""

    case = models.ForeignKey(
        Case, verbose_name=_("case"), on_delete=models.CASCADE, related_name="pauses"
    )
    kind = models.CharField(_("kind"), max_length=16, choices=PauseKind.choices)
    reason = models.CharField(_("reason"), max_length=255, blank=True)
    started_on = models.DateField(_("from"))
    ended_on = models.DateField(_("to"), null=True, blank=True)

    class Meta:
        verbose_name = _("clock pause")
        verbose_name_plural = _("clock pauses")
        ordering = ["case_id", "started_on", "id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.started_on}–{self.ended_on or ''}"


class CaseEvent(models.Model):
    """One step of a case, hash-chained to the step before it (see chain.py)."""

    case = models.ForeignKey(
        Case, verbose_name=_("case"), on_delete=models.PROTECT, related_name="events"
    )
    seq = models.PositiveIntegerField(_("sequence"))
    at = models.DateTimeField(_("time"))
    actor = models.ForeignKey(
        "accounts.User",
        verbose_name=_("actor"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    actor_label = models.CharField(_("actor label"), max_length=150)
    role = models.CharField(_("role"), max_length=32)
    action = models.CharField(_("action"), max_length=64)
    from_state = models.CharField(_("from state"), max_length=32, blank=True)
    to_state = models.CharField(_("to state"), max_length=32)
    payload = models.JSONField(_("details"), default=dict, blank=True)
    prev_hash = models.CharField(_("previous hash"), max_length=64)
    hash = models.CharField(_("hash"), max_length=64)

    class Meta:
        verbose_name = _("case event")
        verbose_name_plural = _("case events")
        ordering = ["case_id", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["case", "seq"], name="case_event_seq_unique")
        ]

    def __str__(self) -> str:
        return f"{self.case_id}#{self.seq} {self.action}"


class CaseSequence(models.Model):
    """The daily counter behind case numbers: one row per number prefix and day."""

    # The implementation code (31), or it and "R" for the receipt numbers this node gives
    # cases decided at another node (counted down from 9999, so they never meet the deciding
    # node's own numbers, counted up).
    prefix = models.CharField(max_length=32)
    day = models.DateField()
    last = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["prefix", "day"], name="case_sequence_unique")
        ]

    def __str__(self) -> str:
        return f"{self.prefix}{self.day:%Y%m%d} → {self.last}"


class MaterialSource(models.TextChoices):
    UPLOAD = "upload", _("uploaded file")
    LICENSE = "license", _("electronic licence")
    DATASHARE = "datashare", _("data-sharing check")


class Material(models.Model):
    """What was handed in for one material spec: a file, or an electronic licence that replaces
    the paper (its identifier in ``reference``, what it says and who issued it, and when this node
    verified it), or a data-sharing check that stands for the paper (the call's id in
    ``reference``, the question answered yes and who answered it, and when)."""

    case = models.ForeignKey(
        Case, verbose_name=_("case"), on_delete=models.CASCADE, related_name="materials"
    )
    spec = models.ForeignKey(
        "catalog.MaterialSpec",
        verbose_name=_("material"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    source = models.CharField(_("source"), max_length=16, choices=MaterialSource.choices)
    # Built from internal ids only (cases/<case id>/<uuid>.<kind>), never from the upload name.
    path = models.CharField(_("stored at"), max_length=255, blank=True)
    original_name = models.CharField(_("file name"), max_length=255, blank=True)
    content_type = models.CharField(_("type"), max_length=64, blank=True)
    size = models.PositiveBigIntegerField(_("size (bytes)"), default=0)
    sha256 = models.CharField(_("SHA-256"), max_length=64, blank=True)
    reference = models.CharField(_("licence or check reference"), max_length=255, blank=True)
    # A licence (source LICENSE), as verified when it was picked: shown wherever the paper would
    # be, also on the deciding node, which holds no copy of the licence itself.
    license_name = models.CharField(_("licence name"), max_length=128, blank=True)
    license_number = models.CharField(_("licence number"), max_length=64, blank=True)
    license_issuer = models.CharField(_("licence issued by"), max_length=128, blank=True)
    verified_at = models.DateTimeField(_("licence verified"), null=True, blank=True)
    # A data-sharing check (source DATASHARE): the question the source answered yes to, the
    # department that answered it and its node, as the node that made the call recorded them;
    # the call itself is in that node's evidence log under ``reference``.
    check_question = models.CharField(_("question verified"), max_length=128, blank=True)
    check_provider = models.CharField(_("verified by"), max_length=128, blank=True)
    check_node = models.CharField(_("verified at node"), max_length=6, blank=True)
    # How another node asks for the file (a random handle), and for a file handed in at another
    # node: where it is, and whether it has been fetched ("pending", "fetched", "failed").
    ref = models.CharField(_("transfer handle"), max_length=32, blank=True, db_index=True)
    remote_node = models.CharField(_("handed in at node"), max_length=6, blank=True)
    transfer = models.CharField(_("transfer"), max_length=8, blank=True)
    transfer_error = models.CharField(_("transfer error"), max_length=255, blank=True)
    transfer_attempts = models.PositiveSmallIntegerField(_("transfer attempts"), default=0)
    scan_status = models.CharField(_("virus scan"), max_length=16, default="not_scanned")
    original_to_post = models.BooleanField(_("original to be posted"), default=False)
    uploaded_by = models.ForeignKey(
        "accounts.User",
        verbose_name=_("uploaded by"),
        null=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    uploaded_at = models.DateTimeField(_("uploaded"), auto_now_add=True)

    class Meta:
        verbose_name = _("submitted material")
        verbose_name_plural = _("submitted materials")
        ordering = ["case_id", "uploaded_at", "id"]
        constraints = [
            # One licence stands once for one material of a case (picking it again is a no-op).
            models.UniqueConstraint(
                fields=["case", "spec", "reference"],
                condition=models.Q(source="license"),
                name="material_license_once_per_spec",
            )
        ]

    def __str__(self) -> str:
        return f"{self.spec.name} ({self.get_source_display()})"


class CaseAlert(models.Model):
    """A case close to (yellow) or past (red) its promised limit, raised by the periodic tick
    for the workbench and supervisors; one row per case and level."""

    case = models.ForeignKey(
        Case, verbose_name=_("case"), on_delete=models.CASCADE, related_name="alerts"
    )
    level = models.CharField(_("level"), max_length=8)
    raised_on = models.DateField(_("raised on"))
    days_left = models.IntegerField(_("working days left"))

    class Meta:
        verbose_name = _("deadline alert")
        verbose_name_plural = _("deadline alerts")
        ordering = ["-raised_on", "case_id"]
        constraints = [
            models.UniqueConstraint(fields=["case", "level"], name="case_alert_once_per_level")
        ]

    def __str__(self) -> str:
        return f"{self.case_id} {self.level}"


class AuthorisationState(models.TextChoices):
    ACTIVE = "active", pgettext_lazy("authorisation", "active")
    REVOKED = "revoked", pgettext_lazy("authorisation", "revoked")
    EXPIRED = "expired", pgettext_lazy("authorisation", "expired")


class PowerOfAttorney(models.TextChoices):
    SIGNED_ONLINE = "signed_online", _("signed online by the principal")
    UPLOADED = "uploaded", _("signed on paper, uploaded at a window")


class AgentAuthorisation(models.Model):
    """A principal authorises an agent to apply for them (帮办代办): a person, or a staff helper.

    For all items or a list of item codes, valid from one day to another (both included). The
    power of attorney is either signed online (the principal created this logged in; the record
    of that is their signature) or a paper one a window clerk scanned in. Enterprises need none:
    they act through their handlers. ``state`` is stored as active or revoked; an active one
    whose last day has passed reads as expired (``state_on``).
    """

    principal = models.ForeignKey(
        "accounts.Person",
        verbose_name=_("principal"),
        on_delete=models.PROTECT,
        related_name="authorisations_given",
    )
    agent_person = models.ForeignKey(
        "accounts.Person",
        verbose_name=_("agent (person)"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="authorisations_received",
    )
    agent_staff = models.ForeignKey(
        "accounts.Staff",
        verbose_name=_("agent (staff helper)"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="authorisations_received",
    )
    all_items = models.BooleanField(_("all items"), default=False)
    item_codes = models.JSONField(_("item codes"), default=list, blank=True)
    valid_from = models.DateField(_("valid from"))
    valid_until = models.DateField(_("valid until"))
    power_of_attorney = models.CharField(
        _("power of attorney"), max_length=16, choices=PowerOfAttorney.choices
    )
    # The scanned paper (PowerOfAttorney.UPLOADED): stored under a path built from ids only.
    path = models.CharField(_("stored at"), max_length=255, blank=True)
    original_name = models.CharField(_("file name"), max_length=255, blank=True)
    content_type = models.CharField(_("type"), max_length=64, blank=True)
    size = models.PositiveBigIntegerField(_("size (bytes)"), default=0)
    sha256 = models.CharField(_("SHA-256"), max_length=64, blank=True)
    scan_status = models.CharField(_("virus scan"), max_length=16, blank=True)
    created_by = models.ForeignKey(
        "accounts.User",
        verbose_name=_("recorded by"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    state = models.CharField(
        _("state"),
        max_length=8,
        choices=AuthorisationState.choices,
        default=AuthorisationState.ACTIVE,
    )
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)
    revoked_by = models.ForeignKey(
        "accounts.User",
        verbose_name=_("revoked by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    revoke_reason = models.CharField(_("reason for revoking"), max_length=255, blank=True)

    class Meta:
        verbose_name = _("agent authorisation")
        verbose_name_plural = _("agent authorisations")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(agent_person__isnull=False, agent_staff__isnull=True)
                | models.Q(agent_person__isnull=True, agent_staff__isnull=False),
                name="authorisation_one_agent",
            ),
            models.CheckConstraint(
                condition=models.Q(valid_until__gte=models.F("valid_from")),
                name="authorisation_valid_period",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.principal_id} → {self.agent_person_id or self.agent_staff_id}"

    def state_on(self, day: dt.date) -> str:
        """active, revoked or expired on ``day`` (before ``valid_from`` it is not yet in force,
        which reads as active here; ``in_force`` tells)."""
        if self.state == AuthorisationState.ACTIVE and day > self.valid_until:
            return AuthorisationState.EXPIRED
        return self.state

    def in_force(self, day: dt.date) -> bool:
        return (
            self.state == AuthorisationState.ACTIVE and self.valid_from <= day <= self.valid_until
        )

    def covers(self, item_code: str) -> bool:
        return self.all_items or item_code in self.item_codes

    @property
    def agent_label(self) -> str:
        if self.agent_person is not None:
            return self.agent_person.name_masked
        if self.agent_staff is not None:
            return f"{self.agent_staff.name}（{self.agent_staff.department.name}）"
        return ""
