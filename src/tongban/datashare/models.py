"""Data sharing between agencies (数据共享): the resources each department publishes, the grants
that let another department use them (deny by default), the source data that answers, the
evidence log of every call and the disputes raised on calls.

A node holds its own departments' resources and their source data, and a copy of its peers'
resource catalogues (``node`` says whose). A grant is decided at the provider's node and mirrored
at the consumer's; a call is logged on both sides (``side``), each with the hashes of the
request and the answer, chained so that a removed or altered entry shows.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.utils.translation import gettext_lazy as _


class Sensitivity(models.TextChoices):
    # 政务数据分级: what a leak would harm; the higher, the narrower a grant should be.
    OPEN = "open", _("open (可公开)")
    INTERNAL = "internal", _("internal (内部)")
    SENSITIVE = "sensitive", _("sensitive (敏感)")
    RESTRICTED = "restricted", _("restricted (限制)")


class SubjectKind(models.TextChoices):
    PERSON = "person", _("person (by ID number)")
    ENTERPRISE = "enterprise", _("enterprise (by unified social credit code)")


class Resource(models.Model):
    """A data resource (数据资源) a department serves: its fields, its sensitivity, and the
    questions it answers (yes/no verifications; field look-ups are by ``fields``)."""

    node = models.CharField(_("served by node"), max_length=6)
    key = models.SlugField(_("key"), max_length=64)
    name = models.CharField(_("name"), max_length=128)
    description = models.TextField(_("description"), blank=True)
    # This node's own resources belong to one of its departments; a peer's carries the name.
    department = models.ForeignKey(
        "regions.Department",
        verbose_name=_("provider department"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    department_name = models.CharField(_("provider"), max_length=128)
    subject_kind = models.CharField(_("about"), max_length=16, choices=SubjectKind.choices)
    sensitivity = models.CharField(_("sensitivity"), max_length=16, choices=Sensitivity.choices)
    # [{"key", "name", "personal"}]: what a look-up may return.
    fields = models.JSONField(_("fields"), default=list)
    # [{"key", "name", "params": [...], "rule": {...}}]: see datashare/questions.py.
    questions = models.JSONField(_("questions"), default=list)
    # How fresh the source data is promised to be (hours between updates at the source).
    update_hours = models.PositiveIntegerField(_("updated every (hours)"), default=24)
    active = models.BooleanField(_("in service"), default=True)
    updated_at = models.DateTimeField(_("updated"))
    # A peer's resource: when this node last fetched the peer's catalogue.
    fetched_at = models.DateTimeField(_("fetched"), null=True, blank=True)

    class Meta:
        verbose_name = _("data resource")
        verbose_name_plural = _("data resources")
        ordering = ["node", "key"]
        constraints = [
            models.UniqueConstraint(fields=["node", "key"], name="datashare_resource_key")
        ]

    def __str__(self) -> str:
        return f"{self.name}（{self.department_name}）"

    @property
    def ref(self) -> str:
        """How calls and grants name it across nodes: ``<node>.<key>``."""
        return f"{self.node}.{self.key}"

    def question(self, key: str) -> dict[str, Any] | None:
        return next((q for q in self.questions if q.get("key") == key), None)

    def field_names(self) -> list[str]:
        return [str(f["key"]) for f in self.fields]


class SourceRecord(models.Model):
    """One record of a resource's source data, about one subject (a person or an enterprise).
    The subject is kept only as a keyed hash, the data encrypted (core/pii.py)."""

    resource = models.ForeignKey(
        Resource, verbose_name=_("resource"), on_delete=models.CASCADE, related_name="records"
    )
    subject_hash = models.CharField(_("subject (keyed hash)"), max_length=64)
    data = models.TextField(_("data (encrypted)"))
    updated_at = models.DateTimeField(_("updated at the source"))

    class Meta:
        verbose_name = _("source record")
        verbose_name_plural = _("source records")
        indexes = [models.Index(fields=["resource", "subject_hash"], name="datashare_record_subj")]

    def __str__(self) -> str:
        return f"{self.resource_id}:{self.subject_hash[:12]}"


class GrantState(models.TextChoices):
    REQUESTED = "requested", _("requested")
    APPROVED = "approved", _("approved")
    REFUSED = "refused", _("refused")
    REVOKED = "revoked", _("revoked")
    WITHDRAWN = "withdrawn", _("withdrawn")


class Grant(models.Model):
    """Access of one consuming department to one resource (供需对接): requested for a purpose
    that serves catalogue items, decided by the provider with a scope (questions and fields), a
    validity and a rate limit. Without an approved grant in force every call is refused."""

    uid = models.UUIDField(_("grant id"), unique=True)
    resource = models.ForeignKey(
        Resource, verbose_name=_("resource"), on_delete=models.PROTECT, related_name="grants"
    )
    consumer_node = models.CharField(_("consumer node"), max_length=6)
    consumer_department = models.ForeignKey(
        "regions.Department",
        verbose_name=_("consumer department"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    consumer_department_key = models.CharField(_("consumer department key"), max_length=64)
    consumer_department_name = models.CharField(_("consumer"), max_length=128)
    purpose = models.CharField(_("purpose"), max_length=500)
    # The catalogue items (basic codes) the purpose serves: a call for a case of another item
    # does not match the purpose.
    items = models.JSONField(_("for items"), default=list)
    requested_questions = models.JSONField(_("questions asked for"), default=list)
    requested_fields = models.JSONField(_("fields asked for"), default=list)
    questions = models.JSONField(_("questions granted"), default=list)
    fields = models.JSONField(_("fields granted"), default=list)
    valid_from = models.DateField(_("valid from"), null=True, blank=True)
    valid_until = models.DateField(_("valid until"), null=True, blank=True)
    rate_limit = models.PositiveIntegerField(_("calls per minute"), default=0)
    state = models.CharField(_("state"), max_length=16, choices=GrantState.choices)
    requested_by = models.CharField(_("requested by"), max_length=128)
    requested_at = models.DateTimeField(_("requested"))
    decided_by = models.CharField(_("decided by"), max_length=128, blank=True)
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True)
    reason = models.CharField(_("reason"), max_length=500, blank=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("data-sharing grant")
        verbose_name_plural = _("data-sharing grants")
        ordering = ["-requested_at", "-id"]
        indexes = [
            models.Index(fields=["consumer_department_key", "state"], name="datashare_grant_cons")
        ]

    def __str__(self) -> str:
        return f"{self.consumer_department_name} → {self.resource.name}"


class CallSide(models.TextChoices):
    CONSUMER = "consumer", _("asked by us")
    PROVIDER = "provider", _("answered by us")
    LOCAL = "local", _("asked and answered here")


class CallKind(models.TextChoices):
    VERIFY = "verify", _("verification")
    QUERY = "query", _("look-up")


class CallOutcome(models.TextChoices):
    ANSWERED = "answered", _("answered")
    REFUSED = "refused", _("refused")
    FAILED = "failed", _("failed")


class Call(models.Model):
    """One entry of the evidence log (数据共享调用日志): a request and its answer, as one side
    saw them. Personal values are never stored here: the request's parameters and the answer's
    values only as hashes; a verification's yes/no and the names of the fields returned are."""

    uid = models.UUIDField(_("call id"))
    side = models.CharField(_("side"), max_length=8, choices=CallSide.choices)
    seq = models.PositiveBigIntegerField(_("place in the log"))
    provider_node = models.CharField(_("provider node"), max_length=6)
    resource_key = models.CharField(_("resource"), max_length=64)
    resource = models.ForeignKey(
        Resource,
        verbose_name=_("resource"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="calls",
    )
    # PROTECT: the entry's hash covers the grant's id; a deleted grant would break the chain.
    grant = models.ForeignKey(
        Grant,
        verbose_name=_("grant"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="calls",
    )
    kind = models.CharField(_("kind"), max_length=8, choices=CallKind.choices)
    question = models.CharField(_("question"), max_length=64, blank=True)
    fields = models.JSONField(_("fields asked"), default=list)
    consumer_node = models.CharField(_("consumer node"), max_length=6)
    consumer_department_key = models.CharField(_("consumer department key"), max_length=64)
    consumer_department_name = models.CharField(_("consumer"), max_length=128)
    caller = models.CharField(_("asked by"), max_length=128)
    purpose = models.CharField(_("purpose"), max_length=500)
    case_number = models.CharField(_("case"), max_length=43, blank=True, db_index=True)
    request_hash = models.CharField(_("request hash"), max_length=64)
    response_hash = models.CharField(_("answer hash"), max_length=64, blank=True)
    # Across nodes: the signed request and the signed answer, as they travelled.
    request_token = models.TextField(_("signed request"), blank=True)
    response_token = models.TextField(_("signed answer"), blank=True)
    outcome = models.CharField(_("outcome"), max_length=8, choices=CallOutcome.choices)
    code = models.CharField(_("code"), max_length=64, blank=True)
    # {"answer": true|false} for a verification, {"found": n, "fields": [...]} for a look-up.
    summary = models.JSONField(_("answer summary"), default=dict)
    latency_ms = models.PositiveIntegerField(_("latency (ms)"), default=0)
    at = models.DateTimeField(_("at"), db_index=True)
    prev_hash = models.CharField(_("previous hash"), max_length=64)
    hash = models.CharField(_("hash"), max_length=64)

    class Meta:
        verbose_name = _("data-sharing call")
        verbose_name_plural = _("data-sharing calls")
        ordering = ["-seq"]
        constraints = [
            models.UniqueConstraint(fields=["uid", "side"], name="datashare_call_once"),
            models.UniqueConstraint(fields=["seq"], name="datashare_call_seq"),
        ]
        indexes = [
            models.Index(fields=["grant", "at"], name="datashare_call_grant_at"),
            models.Index(fields=["consumer_department_key", "at"], name="datashare_call_cons"),
        ]

    def __str__(self) -> str:
        return f"{self.uid} {self.get_side_display()}"


class DisputeKind(models.TextChoices):
    WRONG_ANSWER = "wrong_answer", _("the answer is wrong")
    STALE = "stale", _("the data is out of date")
    WRONG_REFUSAL = "wrong_refusal", _("refused without reason")
    MISUSE = "misuse", _("the call does not fit its purpose")
    OTHER = "other", _("other")


# Kinds that flag the provider's data quality (monitoring counts them per resource).
QUALITY_KINDS = (DisputeKind.WRONG_ANSWER, DisputeKind.STALE)


class DisputeState(models.TextChoices):
    OPEN = "open", _("open")
    UPHELD = "upheld", _("upheld")
    DISMISSED = "dismissed", _("dismissed")


class Dispute(models.Model):
    """A dispute raised on a call (争议处理): by the consumer (wrong or stale answer, a refusal)
    or by the provider (misuse), decided by the provider's department admin or a supervisor,
    with the outcome recorded on both sides."""

    uid = models.UUIDField(_("dispute id"))
    side = models.CharField(_("side"), max_length=8, choices=CallSide.choices)
    call = models.ForeignKey(
        Call, verbose_name=_("call"), on_delete=models.PROTECT, related_name="disputes"
    )
    kind = models.CharField(_("kind"), max_length=16, choices=DisputeKind.choices)
    reason = models.CharField(_("reason"), max_length=1000)
    raised_by = models.CharField(_("raised by"), max_length=128)
    raised_node = models.CharField(_("raised at node"), max_length=6)
    raised_department_name = models.CharField(_("raised by department"), max_length=128)
    raised_at = models.DateTimeField(_("raised"))
    state = models.CharField(
        _("state"), max_length=16, choices=DisputeState.choices, default=DisputeState.OPEN
    )
    outcome = models.CharField(_("outcome"), max_length=1000, blank=True)
    resolved_by = models.CharField(_("resolved by"), max_length=128, blank=True)
    resolved_at = models.DateTimeField(_("resolved"), null=True, blank=True)

    class Meta:
        verbose_name = _("data-sharing dispute")
        verbose_name_plural = _("data-sharing disputes")
        ordering = ["-raised_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["uid", "side"], name="datashare_dispute_once")
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.get_state_display()})"
