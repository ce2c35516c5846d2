from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from tongban.core.masking import mask_id_number, mask_name, mask_phone
from tongban.core.pii import pii_decrypt
from tongban.regions.models import Department, Division

ID_NUMBER = "id_number"  # purpose labels for keyed hashes and ciphertexts
PHONE = "phone"


class User(AbstractUser):
    """A login. Citizens' usernames are internal; they log in by ID number or phone."""

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")


class RealNameLevel(models.IntegerChoices):
    REGISTERED = 1, _("L1 registered")
    IDENTITY_VERIFIED = 2, _("L2 identity verified")
    VERIFIED_IN_PERSON = 3, _("L3 verified in person or by face")


class Person(models.Model):
    """A natural person. The ID number and phone are stored only as a keyed hash (to find the
    person) and a ciphertext (to show it masked or use it); never in clear."""

    user = models.OneToOneField(
        User,
        verbose_name=_("login"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="person",
    )
    name = models.CharField(_("full name"), max_length=64)
    id_number_hash = models.CharField(_("ID number (keyed hash)"), max_length=64, unique=True)
    id_number_encrypted = models.TextField(_("ID number (encrypted)"))
    phone_hash = models.CharField(_("phone (keyed hash)"), max_length=64, blank=True, db_index=True)
    phone_encrypted = models.TextField(_("phone (encrypted)"), blank=True)
    real_name_level = models.PositiveSmallIntegerField(
        _("real-name level"), choices=RealNameLevel.choices, default=RealNameLevel.REGISTERED
    )
    # The person's subject identifier at the national identity service (the hub's ``sub``):
    # on the hub, this person's own; on a province's node, the hub account that signed in as
    # them. Null for persons no one has signed in as through the hub.
    subject = models.UUIDField(_("identity subject"), null=True, blank=True, unique=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("natural person")
        verbose_name_plural = _("natural persons")
        ordering = ["-created_at", "-id"]
        constraints = [
            # A phone number logs in to one account; unregistered persons may share one.
            models.UniqueConstraint(
                fields=["phone_hash"],
                condition=Q(user__isnull=False) & ~Q(phone_hash=""),
                name="person_login_phone_unique",
            )
        ]

    def __str__(self) -> str:
        return f"{self.name_masked}（{self.id_number_masked}）"

    @property
    def id_number(self) -> str:
        return pii_decrypt(self.id_number_encrypted, purpose=ID_NUMBER)

    @property
    def phone(self) -> str:
        return pii_decrypt(self.phone_encrypted, purpose=PHONE) if self.phone_encrypted else ""

    @property
    def id_number_masked(self) -> str:
        return mask_id_number(self.id_number)

    @property
    def phone_masked(self) -> str:
        return mask_phone(self.phone) if self.phone_encrypted else ""

    @property
    def name_masked(self) -> str:
        return mask_name(self.name)


class Enterprise(models.Model):
    uscc = models.CharField(_("unified social credit code"), max_length=18, unique=True)
    name = models.CharField(_("name"), max_length=128)
    legal_representative = models.ForeignKey(
        Person,
        verbose_name=_("legal representative"),
        on_delete=models.PROTECT,
        related_name="represented_enterprises",
    )
    # From characters 3–8 of the code, when that division is known to this node.
    registered_division = models.ForeignKey(
        Division,
        verbose_name=_("registration division"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("enterprise")
        verbose_name_plural = _("enterprises")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name}（{self.uscc}）"


class MemberRole(models.TextChoices):
    LEGAL_REPRESENTATIVE = "legal_representative", _("legal representative")
    AUTHORISED_HANDLER = "authorised_handler", _("authorised handler")


class EnterpriseMember(models.Model):
    enterprise = models.ForeignKey(
        Enterprise, verbose_name=_("enterprise"), on_delete=models.CASCADE, related_name="members"
    )
    person = models.ForeignKey(
        Person, verbose_name=_("person"), on_delete=models.PROTECT, related_name="memberships"
    )
    role = models.CharField(_("role"), max_length=32, choices=MemberRole.choices)
    granted_at = models.DateTimeField(_("granted"), auto_now_add=True)
    # Recorded from the national hub's sign-in claims (single sign-on), not at this node: such
    # a role ends here when the hub stops vouching for it.
    from_hub = models.BooleanField(_("recorded from the hub"), default=False)

    class Meta:
        verbose_name = _("enterprise member")
        verbose_name_plural = _("enterprise members")
        constraints = [
            models.UniqueConstraint(
                fields=["enterprise", "person", "role"], name="enterprise_member_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.person} {self.get_role_display()}"


class StaffRole(models.TextChoices):
    WINDOW_CLERK = "window_clerk", _("window clerk")
    REVIEWER = "reviewer", _("reviewer")
    APPROVER = "approver", _("approver")
    DEPARTMENT_ADMIN = "department_admin", _("department admin")
    SUPERVISOR = "supervisor", _("supervisor")
    PLATFORM_ADMIN = "platform_admin", _("platform admin")


class Staff(models.Model):
    """A civil servant working on the platform, bound to a department and a jurisdiction
    (the department's division or a division within it)."""

    user = models.OneToOneField(
        User, verbose_name=_("login"), on_delete=models.PROTECT, related_name="staff"
    )
    name = models.CharField(_("full name"), max_length=64)
    employee_number = models.CharField(_("employee number"), max_length=32, unique=True)
    department = models.ForeignKey(
        Department, verbose_name=_("department"), on_delete=models.PROTECT, related_name="staff"
    )
    jurisdiction = models.ForeignKey(
        Division, verbose_name=_("jurisdiction"), on_delete=models.PROTECT, related_name="+"
    )
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("staff member")
        verbose_name_plural = _("staff")
        ordering = ["department_id", "employee_number"]

    def __str__(self) -> str:
        return f"{self.name}（{self.employee_number}）"

    @property
    def roles(self) -> frozenset[str]:
        return frozenset(grant.role for grant in self.role_grants.all())

    def has_role(self, *roles: str) -> bool:
        return self.active and not self.roles.isdisjoint(roles)


class StaffRoleGrant(models.Model):
    staff = models.ForeignKey(
        Staff, verbose_name=_("staff member"), on_delete=models.CASCADE, related_name="role_grants"
    )
    role = models.CharField(_("role"), max_length=32, choices=StaffRole.choices)
    granted_at = models.DateTimeField(_("granted"), auto_now_add=True)

    class Meta:
        verbose_name = _("staff role")
        verbose_name_plural = _("staff roles")
        constraints = [models.UniqueConstraint(fields=["staff", "role"], name="staff_role_unique")]

    def __str__(self) -> str:
        return self.get_role_display()


class LifeEventKind(models.TextChoices):
    MOVED_PROVINCE = "moved_province", _("moved here from another province")
    GRADUATED = "graduated", _("graduated")
    MARRIED = "married", _("married")
    CHILD_BORN = "child_born", _("had a child")
    RETIRED = "retired", _("retired")
    LOST_JOB = "lost_job", _("lost a job")
    OPENED_BUSINESS = "opened_business", _("opened a business")
    BOUGHT_HOME_ELSEWHERE = "bought_home_elsewhere", _("bought a home in another city")
    DISABLED = "disabled", _("has a disability")


class LifeEvent(models.Model):
    """Something a person tells the platform about their life, so it can suggest services
    (精准推送). Declared by the person; withdrawn at any time."""

    person = models.ForeignKey(
        Person, verbose_name=_("person"), on_delete=models.CASCADE, related_name="life_events"
    )
    kind = models.CharField(_("life event"), max_length=32, choices=LifeEventKind.choices)
    occurred_on = models.DateField(_("date"), null=True, blank=True)
    created_at = models.DateTimeField(_("declared"), auto_now_add=True)

    class Meta:
        verbose_name = _("life event")
        verbose_name_plural = _("life events")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["person", "kind"], name="life_event_once_per_kind")
        ]

    def __str__(self) -> str:
        return self.get_kind_display()


# Single sign-on (accounts/sso/) -----------------------------------------------------------


class SsoLogin(models.Model):
    """On the hub: one relying party (a province's node) signed a hub session in. The
    authorization code it got is kept as a hash, so the ID token issued for that code names
    the session (``sid``), and the hub knows whom to tell when the session ends."""

    sid = models.CharField(_("hub session"), max_length=64, db_index=True)
    user = models.ForeignKey(
        User, verbose_name=_("login"), on_delete=models.CASCADE, related_name="+"
    )
    client_id = models.CharField(_("relying party"), max_length=100)
    code_hash = models.CharField(_("authorization code (hash)"), max_length=64, unique=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    logged_out_at = models.DateTimeField(_("logged out"), null=True, blank=True)

    class Meta:
        verbose_name = _("single sign-on login")
        verbose_name_plural = _("single sign-on logins")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.client_id} {self.sid[:8]}"


class SsoSession(models.Model):
    """On a province's node: a local session that the hub's sign-in opened. The hub's
    back-channel logout names the hub session (``sid``); its local sessions end with it."""

    sid = models.CharField(_("hub session"), max_length=64, db_index=True)
    subject = models.UUIDField(_("identity subject"), db_index=True)
    session_key = models.CharField(_("local session"), max_length=40, unique=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("single sign-on session")
        verbose_name_plural = _("single sign-on sessions")

    def __str__(self) -> str:
        return f"{self.subject} {self.sid[:8]}"


class TokenSeen(models.Model):
    """A one-time token's id (a client assertion on the hub, a logout token on a node), kept
    until it expires so the same token is refused a second time."""

    jti = models.CharField(_("token id"), max_length=200, unique=True)
    expires_at = models.DateTimeField(_("expires"), db_index=True)

    class Meta:
        verbose_name = _("used token")
        verbose_name_plural = _("used tokens")

    def __str__(self) -> str:
        return self.jti


class VerificationRecord(models.Model):
    """One raise of a person's real-name level: by which method, from which level to which, by
    whom and on what evidence. Append-only; ``Person.real_name_level`` is the current value."""

    person = models.ForeignKey(
        Person, verbose_name=_("person"), on_delete=models.PROTECT, related_name="verifications"
    )
    method = models.CharField(_("verification method"), max_length=32)
    level_before = models.PositiveSmallIntegerField(
        _("level before"), choices=RealNameLevel.choices
    )
    level_after = models.PositiveSmallIntegerField(_("level after"), choices=RealNameLevel.choices)
    # The clerk who checked the document at a window; empty for a provider's verdict.
    verified_by = models.ForeignKey(
        User,
        verbose_name=_("verified by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    verified_by_label = models.CharField(_("verified by (label)"), max_length=150)
    # The provider's own id of the check (one verdict raises a level once), or empty.
    reference = models.CharField(_("provider reference"), max_length=128, blank=True)
    evidence = models.JSONField(_("evidence"), default=dict, blank=True)
    note = models.CharField(_("note"), max_length=255, blank=True)
    created_at = models.DateTimeField(_("verified at"), auto_now_add=True)

    class Meta:
        verbose_name = _("real-name verification")
        verbose_name_plural = _("real-name verifications")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["method", "reference"],
                condition=~Q(reference=""),
                name="verification_reference_once",
            )
        ]

    def __str__(self) -> str:
        return f"{self.person_id} {self.method} L{self.level_before}→L{self.level_after}"
