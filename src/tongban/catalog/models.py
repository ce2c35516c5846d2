"""The service catalogue: items, scenarios, material specs and implementations, versioned.

Every catalogue row belongs to a ``CatalogVersion``. There is at most one draft, the only
version that may change; publishing freezes it (cases point at the rows of the version they
were filed under) and the next edit works on a fresh draft copied from it.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from tongban.accounts.models import RealNameLevel
from tongban.regions.models import Department, Division


class VersionStatus(models.TextChoices):
    DRAFT = "draft", _("draft")
    PUBLISHED = "published", _("published")


class CatalogVersion(models.Model):
    number = models.PositiveIntegerField(_("version"), unique=True)
    status = models.CharField(_("status"), max_length=16, choices=VersionStatus.choices)
    valid_from = models.DateField(_("valid from"), null=True, blank=True)
    note = models.TextField(_("note"), blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    published_at = models.DateTimeField(_("published"), null=True, blank=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("published by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        verbose_name = _("catalogue version")
        verbose_name_plural = _("catalogue versions")
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(
                fields=["status"], condition=Q(status="draft"), name="catalog_single_draft"
            ),
            models.CheckConstraint(
                condition=Q(status="draft") | Q(valid_from__isnull=False),
                name="catalog_published_has_validity",
            ),
        ]

    def __str__(self) -> str:
        return f"v{self.number}（{self.get_status_display()}）"

    @property
    def is_draft(self) -> bool:
        return self.status == VersionStatus.DRAFT


class ItemType(models.TextChoices):
    LICENSING = "licensing", _("administrative licensing")
    BENEFIT = "benefit", _("administrative benefit")
    CONFIRMATION = "confirmation", _("administrative confirmation")
    ADJUDICATION = "adjudication", _("administrative adjudication")
    REWARD = "reward", _("administrative reward")
    OTHER_POWER = "other_power", _("other administrative power")
    PUBLIC_SERVICE = "public_service", _("public service")


class Mode(models.TextChoices):
    ONLINE = "ONLINE", _("online end to end")
    PROXY = "PROXY", _("received here, handled there")
    JOINT = "JOINT", _("handled jointly by several places")


class Theme(models.Model):
    """A topic citizens browse by (社保, 户籍, 公积金 …). Not versioned: a navigation aid."""

    key = models.SlugField(_("key"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=32)
    order = models.PositiveSmallIntegerField(_("order"), default=0)

    class Meta:
        verbose_name = _("theme")
        verbose_name_plural = _("themes")
        ordering = ["order", "key"]

    def __str__(self) -> str:
        return self.name


class ServiceItem(models.Model):
    version = models.ForeignKey(
        CatalogVersion, verbose_name=_("version"), on_delete=models.CASCADE, related_name="items"
    )
    code = models.CharField(_("basic code"), max_length=12)
    # The source gives no national codes: loaded items get one in a reserved range (99…),
    # flagged here until an administrator enters the official code.
    code_provisional = models.BooleanField(_("provisional code"), default=False)
    name = models.CharField(_("name"), max_length=128)
    item_type = models.CharField(
        _("item type"), max_length=16, choices=ItemType.choices, blank=True
    )
    legal_basis = models.TextField(_("legal basis"), blank=True)
    conditions = models.TextField(_("conditions"), blank=True)
    batch = models.CharField(_("batch"), max_length=8, blank=True)
    batch_inferred = models.BooleanField(_("batch inferred"), default=False)
    seq = models.PositiveSmallIntegerField(_("number in batch"), null=True, blank=True)
    lead_unit = models.ForeignKey(
        Department,
        verbose_name=_("lead unit"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    cooperating_units = models.ManyToManyField(
        Department, verbose_name=_("cooperating units"), blank=True, related_name="+"
    )
    online = models.BooleanField(_("online end to end"), default=False)
    proxy = models.BooleanField(_("received here, handled there"), default=False)
    joint = models.BooleanField(_("handled jointly"), default=False)
    scenario_text = models.TextField(_("application scenario"), blank=True)
    pattern = models.CharField(_("handling pattern"), max_length=4, blank=True)
    themes = models.ManyToManyField(Theme, verbose_name=_("themes"), blank=True, related_name="+")
    workflow = models.CharField(_("workflow"), max_length=64, default="standard")
    # The real-name level (accounts.RealNameLevel: 1 registered, 2 identity verified, 3 verified
    # in person or by face) the person who applies must hold; see reference.min_level_for.
    min_real_name_level = models.PositiveSmallIntegerField(
        _("minimum real-name level"),
        choices=RealNameLevel.choices,
        default=RealNameLevel.IDENTITY_VERIFIED,
        help_text=_("The real-name level a person needs to apply for this item online."),
    )
    source = models.CharField(_("source"), max_length=255, blank=True)
    confidence = models.CharField(_("confidence"), max_length=16, blank=True)

    class Meta:
        verbose_name = _("service item")
        verbose_name_plural = _("service items")
        ordering = ["version_id", "code"]
        constraints = [
            models.UniqueConstraint(fields=["version", "code"], name="item_code_per_version")
        ]

    def __str__(self) -> str:
        return f"{self.name}（{self.code}）"

    @property
    def modes(self) -> list[str]:
        flags = [(self.online, Mode.ONLINE), (self.proxy, Mode.PROXY), (self.joint, Mode.JOINT)]
        return [str(mode) for on, mode in flags if on]


class Scenario(models.Model):
    """One situation of an item (办事情形); it fixes the materials and the form."""

    item = models.ForeignKey(
        ServiceItem,
        verbose_name=_("service item"),
        on_delete=models.CASCADE,
        related_name="scenarios",
    )
    key = models.SlugField(_("key"), max_length=64)
    name = models.CharField(_("name"), max_length=128)
    description = models.TextField(_("description"), blank=True)
    # A placeholder scenario (identity, contact, statement) where the source says nothing more.
    generic = models.BooleanField(_("generic"), default=False)
    form_schema = models.JSONField(_("form schema (JSON Schema)"), default=dict, blank=True)
    order = models.PositiveSmallIntegerField(_("order"), default=0)

    class Meta:
        verbose_name = _("scenario")
        verbose_name_plural = _("scenarios")
        ordering = ["item_id", "order", "key"]
        constraints = [
            models.UniqueConstraint(fields=["item", "key"], name="scenario_key_per_item")
        ]

    def __str__(self) -> str:
        return self.name


class MaterialSpec(models.Model):
    scenario = models.ForeignKey(
        Scenario, verbose_name=_("scenario"), on_delete=models.CASCADE, related_name="materials"
    )
    key = models.SlugField(_("key"), max_length=64)
    name = models.CharField(_("name"), max_length=128)
    required = models.BooleanField(_("required"), default=True)
    original_required = models.BooleanField(_("original to be shown"), default=False)
    # Either of these lets the applicant skip the paper: an e-licence of this type, or a check
    # at the source through data sharing.
    license_type = models.CharField(_("replaceable by e-licence type"), max_length=64, blank=True)
    datashare_check = models.CharField(
        _("replaceable by data-sharing check"), max_length=64, blank=True
    )
    accepted_types = models.JSONField(_("accepted file types"), default=list, blank=True)
    template = models.TextField(_("template or example"), blank=True)
    note = models.TextField(_("note"), blank=True)
    order = models.PositiveSmallIntegerField(_("order"), default=0)

    class Meta:
        verbose_name = _("material specification")
        verbose_name_plural = _("material specifications")
        ordering = ["scenario_id", "order", "key"]
        constraints = [
            models.UniqueConstraint(fields=["scenario", "key"], name="material_key_per_scenario")
        ]

    def __str__(self) -> str:
        return self.name


class Implementation(models.Model):
    """Who implements an item in one jurisdiction, how fast and at what cost (实施清单)."""

    item = models.ForeignKey(
        ServiceItem,
        verbose_name=_("service item"),
        on_delete=models.CASCADE,
        related_name="implementations",
    )
    division = models.ForeignKey(
        Division, verbose_name=_("jurisdiction"), on_delete=models.PROTECT, related_name="+"
    )
    department = models.ForeignKey(
        Department,
        verbose_name=_("implementing department"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    # 31 characters: the department's USCC (18) + level (1) + basic code (12); empty while the
    # department's code is unknown.
    code = models.CharField(_("implementation code"), max_length=31, blank=True)
    legal_limit_days = models.PositiveSmallIntegerField(
        _("legal time limit (working days)"), null=True, blank=True
    )
    promised_limit_days = models.PositiveSmallIntegerField(
        _("promised time limit (working days)"), null=True, blank=True
    )
    fee = models.CharField(_("fee"), max_length=255, blank=True)
    online = models.BooleanField(_("apply online"), default=False)
    window = models.BooleanField(_("apply at a window"), default=False)
    post = models.BooleanField(_("results by post"), default=False)
    place = models.TextField(_("where to apply"), blank=True)
    hours = models.CharField(_("hours"), max_length=255, blank=True)

    class Meta:
        verbose_name = _("implementation")
        verbose_name_plural = _("implementations")
        ordering = ["item_id", "division_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["item", "division"], name="implementation_per_division"
            ),
            models.CheckConstraint(
                condition=Q(promised_limit_days__isnull=True)
                | Q(legal_limit_days__isnull=True)
                | Q(promised_limit_days__lte=F("legal_limit_days")),
                name="promised_within_legal_limit",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.item.name} @ {self.division_id}"


class SearchSynonym(models.Model):
    """A colloquial term and the formal terms it stands for (社保 → 社会保险 社会保障)."""

    term = models.CharField(_("term"), max_length=32, unique=True)
    expansions = models.CharField(_("stands for (separated by spaces)"), max_length=255)

    class Meta:
        verbose_name = _("search synonym")
        verbose_name_plural = _("search synonyms")
        ordering = ["term"]

    def __str__(self) -> str:
        return f"{self.term} → {self.expansions}"


class PushRule(models.Model):
    """精准推送: when a person or enterprise has a fact or life event, recommend items."""

    key = models.SlugField(_("key"), max_length=64, unique=True)
    trigger = models.CharField(_("fact or life event"), max_length=32)
    item_codes = models.JSONField(_("item codes"), default=list)
    reason = models.CharField(_("reason shown"), max_length=255)
    active = models.BooleanField(_("active"), default=True)
    order = models.PositiveSmallIntegerField(_("order"), default=0)

    class Meta:
        verbose_name = _("push rule")
        verbose_name_plural = _("push rules")
        ordering = ["order", "key"]

    def __str__(self) -> str:
        return f"{self.trigger} → {', '.join(self.item_codes)}"
