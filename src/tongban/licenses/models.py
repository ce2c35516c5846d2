from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from tongban.regions.models import Department


class Seal(models.Model):
    """A department's electronic seal: the public half of its signing key (the private half is
    a file in the node's seal key directory), its certificate and its printed image. A
    department signs with its one current seal; retired seals stay, so what they signed still
    verifies."""

    department = models.ForeignKey(
        Department, verbose_name=_("department"), on_delete=models.PROTECT, related_name="seals"
    )
    kid = models.CharField(_("key id"), max_length=64, unique=True)
    algorithm = models.CharField(_("algorithm"), max_length=16, default="ES256")
    public_jwk = models.JSONField(_("public key (JWK)"))
    certificate = models.TextField(_("certificate (PEM)"))
    image_svg = models.TextField(_("seal image (SVG)"))
    not_before = models.DateTimeField(_("valid from"))
    not_after = models.DateTimeField(_("valid until"))
    retired_at = models.DateTimeField(_("retired"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("seal")
        verbose_name_plural = _("seals")
        ordering = ["department_id", "-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["department"],
                condition=Q(retired_at__isnull=True),
                name="seal_one_current_per_department",
            )
        ]

    def __str__(self) -> str:
        return f"{self.department.name} {self.kid[:8]}"


class LicenseType(models.Model):
    """A kind of licence (catalogue data, ``licenses/data/license_types.json``): its type code
    (the defining ministry's USCC and three digits), the items whose approval produces it, the
    material names that accept it instead of paper, and the fields printed on its face."""

    code = models.CharField(_("type code"), max_length=21, unique=True)
    name = models.CharField(_("type name"), max_length=128)
    ministry = models.CharField(_("defined by"), max_length=128)
    item_names = models.JSONField(_("produced by items"), default=list)
    accepted_as = models.JSONField(_("accepted as materials"), default=list)
    surface_fields = models.JSONField(_("surface fields"), default=list)
    valid_years = models.PositiveSmallIntegerField(_("valid for (years)"), null=True, blank=True)

    class Meta:
        verbose_name = _("licence type")
        verbose_name_plural = _("licence types")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class LicenseState(models.TextChoices):
    VALID = "valid", _("valid")
    SUPERSEDED = "superseded", _("superseded by a newer version")
    REVOKED = "revoked", _("revoked")


class HolderCodeType(models.TextChoices):
    ID_NUMBER = "111", _("resident ID number")
    USCC = "001", _("unified social credit code")


class License(models.Model):
    """An electronic licence (电子证照) as issued: GB/T 36903 metadata, the face, the signed
    credential, and its state. Field names follow the standard's terms in ``verbose_name``."""

    identifier = models.CharField(_("licence identifier"), max_length=128, unique=True)  # 证照标识
    type = models.ForeignKey(
        LicenseType, verbose_name=_("licence type"), on_delete=models.PROTECT, related_name="+"
    )
    name = models.CharField(_("licence name"), max_length=128)  # 证照名称
    number = models.CharField(_("licence number"), max_length=64)  # 证照编号
    serial = models.CharField(_("serial in the identifier"), max_length=40)
    version = models.PositiveSmallIntegerField(_("version"))
    holder_name = models.CharField(_("holder"), max_length=128)  # 持证主体
    holder_code_type = models.CharField(  # 持证主体代码类型
        _("holder code type"), max_length=3, choices=HolderCodeType.choices
    )
    holder_code_masked = models.CharField(_("holder code (masked)"), max_length=32)
    holder_hash = models.CharField(_("holder hash"), max_length=32)
    holder_person = models.ForeignKey(
        "accounts.Person",
        verbose_name=_("holder (person)"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="licenses",
    )
    holder_enterprise = models.ForeignKey(
        "accounts.Enterprise",
        verbose_name=_("holder (enterprise)"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="licenses",
    )
    issuer = models.ForeignKey(
        Department, verbose_name=_("issued by"), on_delete=models.PROTECT, related_name="+"
    )
    issuer_code = models.CharField(_("issuer code"), max_length=32)  # 证照颁发机构代码
    division = models.ForeignKey(  # 证照所属管辖属地编码
        "regions.Division", verbose_name=_("jurisdiction"), on_delete=models.PROTECT
    )
    issued_on = models.DateField(_("issued on"))  # 证照颁发日期
    valid_from = models.DateField(_("valid from"))  # 证照有效期起始日期
    valid_until = models.DateField(_("valid until"), null=True, blank=True)  # …截止日期
    surface = models.JSONField(_("surface"), default=list)  # 照面信息: [[label, value], …]
    case = models.ForeignKey(
        "cases.Case",
        verbose_name=_("case"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="licenses",
    )
    seal = models.ForeignKey(
        Seal, verbose_name=_("seal"), on_delete=models.PROTECT, related_name="licenses"
    )
    credential = models.TextField(_("credential (QR text)"))
    state = models.CharField(
        _("state"), max_length=12, choices=LicenseState.choices, default=LicenseState.VALID
    )
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)
    revoke_reason = models.CharField(_("reason for revoking"), max_length=255, blank=True)
    # When it stopped being valid (revoked, or superseded by a re-issue): its place in this
    # node's revocation list, which verifiers fetch as deltas after the last place they hold.
    status_seq = models.PositiveIntegerField(
        _("place in the revocation list"), null=True, blank=True, unique=True
    )
    status_changed_at = models.DateTimeField(_("status changed"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("electronic licence")
        verbose_name_plural = _("electronic licences")
        ordering = ["-issued_on", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["issuer", "serial", "version"], name="license_serial_version_unique"
            ),
            models.CheckConstraint(
                condition=Q(holder_person__isnull=False) | Q(holder_enterprise__isnull=False),
                name="license_has_a_holder",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.identifier}"


class PeerRevocation(models.Model):
    """A licence another node revoked or superseded, from that node's signed revocation list:
    what lets this node (and its verify page) refuse it without asking online."""

    node = models.CharField(_("issuing node"), max_length=6)
    identifier = models.CharField(_("licence identifier"), max_length=128, unique=True)
    state = models.CharField(_("state"), max_length=12, choices=LicenseState.choices)
    at = models.DateTimeField(_("since"))
    seq = models.PositiveIntegerField(_("place in the node's list"))

    class Meta:
        verbose_name = _("revoked licence of another node")
        verbose_name_plural = _("revoked licences of other nodes")
        ordering = ["node", "seq"]

    def __str__(self) -> str:
        return f"{self.identifier} ({self.state})"


class RevocationListCopy(models.Model):
    """How far this node holds another node's revocation list: the last place applied, and
    when the list was issued and fetched (a verifier says how fresh its answer is)."""

    node = models.CharField(_("issuing node"), max_length=6, unique=True)
    serial = models.PositiveIntegerField(_("last place held"), default=0)
    issued_at = models.DateTimeField(_("list issued"), null=True, blank=True)
    fetched_at = models.DateTimeField(_("fetched"), null=True, blank=True)
    error = models.CharField(_("last error"), max_length=255, blank=True)

    class Meta:
        verbose_name = _("revocation list held")
        verbose_name_plural = _("revocation lists held")
        ordering = ["node"]

    def __str__(self) -> str:
        return f"{self.node} #{self.serial}"
