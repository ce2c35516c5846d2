from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Node(models.Model):
    """A node of the federation: this one (``is_self``), or a peer known from the trust list
    or, on the hub, registered with it."""

    code = models.CharField(_("node code"), max_length=6, unique=True)
    name = models.CharField(_("name"), max_length=128)
    base_url = models.URLField(_("base URL"), max_length=255, blank=True)
    # Its public encryption key (X25519 JWK): what peers encrypt event data to.
    enc_jwk = models.JSONField(_("encryption key (JWK)"), default=dict, blank=True)
    # Reached only through the hub's relay: its URL is not published in the trust list.
    relay_only = models.BooleanField(_("reached through the hub only"), default=False)
    is_self = models.BooleanField(_("this node"), default=False)
    # The licence issuers (authorities and their seal keys) it vouches for, as the trust list
    # publishes them; refreshed by every registration.
    issuers = models.JSONField(_("licence issuers"), default=list, blank=True)
    registered_at = models.DateTimeField(_("registered"), null=True, blank=True)
    # The signed time of the newest registration the hub accepted (older ones are replays).
    last_registration_at = models.DateTimeField(
        _("last registration signed at"), null=True, blank=True
    )
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("node")
        verbose_name_plural = _("nodes")
        ordering = ["code"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_self"], condition=models.Q(is_self=True), name="one_self_node"
            )
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class NodeKey(models.Model):
    """A public signing key of a node. The private half of this node's keys is a file in the
    key directory, never a database row."""

    node = models.ForeignKey(
        Node, verbose_name=_("node"), on_delete=models.CASCADE, related_name="keys"
    )
    kid = models.CharField(_("key id"), max_length=64, unique=True)
    jwk = models.JSONField(_("public key (JWK)"))
    not_before = models.DateTimeField(_("valid from"))
    not_after = models.DateTimeField(_("valid until"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("node key")
        verbose_name_plural = _("node keys")
        ordering = ["node_id", "-not_before"]

    def __str__(self) -> str:
        return f"{self.node.code}/{self.kid[:12]}…"


class TrustListCopy(models.Model):
    """A verified trust list as signed by the hub (on the hub: as issued). The newest
    unexpired one is in force; older ones stay as evidence."""

    serial = models.PositiveIntegerField(_("serial"), unique=True)
    issuer = models.CharField(_("issuer"), max_length=6)
    token = models.TextField(_("signed list (JWS)"))
    issued_at = models.DateTimeField(_("issued"))
    expires_at = models.DateTimeField(_("expires"))
    stored_at = models.DateTimeField(_("stored"), auto_now_add=True)

    class Meta:
        verbose_name = _("trust list")
        verbose_name_plural = _("trust lists")
        ordering = ["-serial"]

    def __str__(self) -> str:
        return f"#{self.serial} ({self.issued_at:%Y-%m-%d})"


class Enrolment(models.Model):
    """On the hub: a one-time code that lets a new node register its code and keys."""

    node_code = models.CharField(_("node code"), max_length=6)
    token_hash = models.CharField(_("code (hashed)"), max_length=64, unique=True)
    expires_at = models.DateTimeField(_("expires"))
    used_at = models.DateTimeField(_("used"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("enrolment code")
        verbose_name_plural = _("enrolment codes")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.node_code} {self.expires_at:%Y-%m-%d}"


class OutboxState(models.TextChoices):
    PENDING = "pending", _("waiting to be sent")
    SENT = "sent", _("delivered")
    DEAD = "dead", _("given up (dead letter)")
    # Delivered, but the recipient could not apply it and said why (never retried).
    REJECTED = "rejected", _("refused by the recipient")


class OutboxMessage(models.Model):
    """A message to a peer, written in the same transaction as the change it reports and
    delivered by workers afterwards (at least once; the receiver drops duplicates)."""

    event_id = models.UUIDField(_("event id"), unique=True)
    # On the hub, for a message it relays: the node that signed it ("" for this node's own).
    origin = models.CharField(_("relayed for node"), max_length=6, blank=True)
    recipient = models.CharField(_("to node"), max_length=6)
    type = models.CharField(_("type"), max_length=128)
    subject = models.CharField(_("subject"), max_length=128)
    sequence = models.PositiveIntegerField(_("sequence"))
    token = models.TextField(_("signed event (JWS)"))
    state = models.CharField(
        _("state"), max_length=8, choices=OutboxState.choices, default=OutboxState.PENDING
    )
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"))
    last_error = models.CharField(_("last error"), max_length=500, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)

    class Meta:
        verbose_name = _("outgoing message")
        verbose_name_plural = _("outbox")
        ordering = ["id"]
        indexes = [models.Index(fields=["state", "next_attempt_at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["origin", "recipient", "subject", "sequence"],
                name="outbox_sequence_unique",
            )
        ]

    def __str__(self) -> str:
        return f"{self.type} → {self.recipient} ({self.subject}#{self.sequence})"


class InboxState(models.TextChoices):
    APPLIED = "applied", _("applied")
    WAITING = "waiting", _("waiting for earlier events")
    FAILED = "failed", _("failed")
    # Cannot ever be applied (it names what this node does not hold, or may not be done by
    # its sender): kept, reported to the sender, never retried; the events after it go on.
    REJECTED = "rejected", _("refused")


class InboxMessage(models.Model):
    """A message from a peer, verified and stored once per event id; applied in sequence
    order per sender and subject."""

    event_id = models.UUIDField(_("event id"), unique=True)
    source = models.CharField(_("from node"), max_length=6)
    type = models.CharField(_("type"), max_length=128)
    subject = models.CharField(_("subject"), max_length=128)
    sequence = models.PositiveIntegerField(_("sequence"))
    event = models.JSONField(_("event"))
    token = models.TextField(_("signed event (JWS)"))
    state = models.CharField(_("state"), max_length=8, choices=InboxState.choices)
    error = models.CharField(_("error"), max_length=500, blank=True)
    received_at = models.DateTimeField(_("received"), auto_now_add=True)
    applied_at = models.DateTimeField(_("applied"), null=True, blank=True)

    class Meta:
        verbose_name = _("incoming message")
        verbose_name_plural = _("inbox")
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "subject", "sequence"], name="inbox_sequence_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.type} ← {self.source} ({self.subject}#{self.sequence})"


class EvidenceEntry(models.Model):
    """Every signed message sent or received, hash-chained (one chain per node)."""

    seq = models.PositiveIntegerField(_("sequence"), unique=True)
    direction = models.CharField(_("direction"), max_length=3)  # "out" / "in"
    peer = models.CharField(_("peer"), max_length=6)
    event_id = models.UUIDField(_("event id"))
    token = models.TextField(_("signed event (JWS)"))
    at = models.DateTimeField(_("time"))
    prev_hash = models.CharField(_("previous hash"), max_length=64)
    hash = models.CharField(_("hash"), max_length=64)

    class Meta:
        verbose_name = _("evidence log entry")
        verbose_name_plural = _("evidence log")
        ordering = ["seq"]

    def __str__(self) -> str:
        return f"#{self.seq} {self.direction} {self.peer} {self.event_id}"


class Probe(models.Model):
    """A probe message (`tongban exchange probe`): written with the message it sends, and by
    the peer when it applies it. Both sides together show whether every committed message
    arrived once, in order, and how long it took (the crash test and `tongban bench exchange`
    compare them)."""

    direction = models.CharField(_("direction"), max_length=3)  # "out" / "in"
    peer = models.CharField(_("peer"), max_length=6)
    event_id = models.UUIDField(_("event id"), db_index=True)
    subject = models.CharField(_("subject"), max_length=128)
    n = models.PositiveIntegerField(_("number"))
    sent_at = models.DateTimeField(_("sent"))
    # On the receiving side: when it was applied here.
    at = models.DateTimeField(_("recorded"), auto_now_add=True)

    class Meta:
        verbose_name = _("probe")
        verbose_name_plural = _("probes")
        ordering = ["id"]
        indexes = [models.Index(fields=["direction", "peer", "n"])]

    def __str__(self) -> str:
        return f"{self.direction} {self.peer} #{self.n}"
