"""Reads for accounts."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from tongban.accounts.models import (
    ID_NUMBER,
    PHONE,
    Enterprise,
    MemberRole,
    Person,
    Staff,
    User,
)
from tongban.core import identifiers
from tongban.core.errors import Forbidden, NotFound
from tongban.core.pii import pii_hash


def person_find_by_id_number(*, id_number: str) -> Person | None:
    try:
        normalized = identifiers.normalize_id_number(id_number)
    except identifiers.InvalidIdentifier:
        return None
    return (
        Person.objects.filter(id_number_hash=pii_hash(normalized, purpose=ID_NUMBER))
        .select_related("user")
        .first()
    )


def person_matching(*, id_number: str, name: str) -> Person | None:
    """The registered person with exactly this ID number and name, else None, whichever part
    failed: what a citizen may ask (naming someone to authorise) without learning who else is
    registered or under which name."""
    person = person_find_by_id_number(id_number=id_number)
    if person is None or person.name != " ".join((name or "").split()):
        return None
    return person


def person_find_login_by_phone(*, phone: str) -> Person | None:
    try:
        normalized = identifiers.normalize_mobile(phone)
    except identifiers.InvalidIdentifier:
        return None
    return (
        Person.objects.filter(phone_hash=pii_hash(normalized, purpose=PHONE), user__isnull=False)
        .select_related("user")
        .first()
    )


def staff_for_user(user: Any) -> Staff | None:
    """The active staff record of a user, with roles prefetched; None for citizens."""
    if (
        user is None
        or not getattr(user, "is_authenticated", False)
        or not getattr(user, "pk", None)
    ):
        return None
    return (
        Staff.objects.filter(user_id=user.pk, active=True)
        .select_related("department", "jurisdiction")
        .prefetch_related("role_grants")
        .first()
    )


def person_for_user(user: Any) -> Person | None:
    if user is None or not getattr(user, "pk", None):
        return None
    return Person.objects.filter(user_id=user.pk).first()


def person_is_legal_representative(*, person: Person, enterprise_id: int) -> bool:
    return person.memberships.filter(
        enterprise_id=enterprise_id, role=MemberRole.LEGAL_REPRESENTATIVE
    ).exists()


def enterprise_get(*, uscc: str) -> Enterprise:
    enterprise = Enterprise.objects.filter(uscc=uscc.strip().upper()).first()
    if enterprise is None:
        raise NotFound(_("No enterprise has this code."))
    return enterprise


def staff_get(*, staff_id: int) -> Staff:
    staff = (
        Staff.objects.select_related("department__division", "jurisdiction", "user")
        .filter(pk=staff_id)
        .first()
    )
    if staff is None:
        raise NotFound(_("No staff member has this id."))
    return staff


def person_facts(*, person: Person, node_code: str, today: Any = None) -> set[str]:
    """What the platform knows about a person that may call for a service: the life events
    they declared, plus facts derived from their record.

    Derived: ``retirement_age`` from the birth date (60, the lower bound of the statutory
    ages) and ``legal_representative`` / ``enterprise_member`` from enterprise roles.
    "Moved from another province" is *not* derived from the ID number's place code: numbers
    keep the code of where they were issued, so every Chongqing resident born before 1997
    carries a Sichuan code (51…); only the person can say they moved.
    """
    from django.utils import timezone

    facts = set(person.life_events.values_list("kind", flat=True))
    number = person.id_number
    today = today or timezone.localdate()
    born = identifiers.birth_date(number)
    if (
        born is not None
        and (today.year - born.year - ((today.month, today.day) < (born.month, born.day))) >= 60
    ):
        facts.add("retirement_age")
    roles = set(person.memberships.values_list("role", flat=True))
    if MemberRole.LEGAL_REPRESENTATIVE in roles:
        facts.add("legal_representative")
    if roles:
        facts.add("enterprise_member")
    return facts


def life_events_of(*, user: Any) -> list[Any]:
    person = person_for_user(user)
    return list(person.life_events.all()) if person is not None else []


def person_and_enterprise(
    *, user: Any, enterprise_uscc: str | None
) -> tuple[Person, Enterprise | None]:
    """The logged-in person, and the enterprise they act for when a USCC is given (they must
    be one of its members)."""
    person = person_for_user(user)
    if person is None:
        raise Forbidden(_("Only a registered person can do this."))
    if enterprise_uscc is None:
        return person, None
    enterprise = Enterprise.objects.filter(
        uscc=enterprise_uscc.strip().upper(), members__person=person
    ).first()
    if enterprise is None:
        raise Forbidden(_("You do not act for this enterprise."))
    return person, enterprise


# Sign-in ------------------------------------------------------------------------------------


LOGIN_NAME = "login_name"  # keyed-hash purpose of typed sign-in names that look like numbers


def otp_required_for(user: Any) -> bool:
    """Whether this login must confirm each sign-in with a one-time code: anyone with a staff
    record (active or not), and every admin or superuser (the Django admin, break-glass
    accounts). Citizens sign in with their password alone."""
    if user is None or not getattr(user, "pk", None):
        return False
    if getattr(user, "is_staff", False) or getattr(user, "is_superuser", False):
        return True
    return Staff.objects.filter(user_id=user.pk).exists()


def otp_device_for(user: Any) -> TOTPDevice | None:
    """The confirmed authenticator of a login, if it has enrolled one."""
    if user is None or not getattr(user, "pk", None):
        return None
    return TOTPDevice.objects.filter(user_id=user.pk, confirmed=True).order_by("-id").first()


def recovery_codes_left(user: Any) -> int:
    return StaticToken.objects.filter(device__user_id=user.pk, device__confirmed=True).count()


def login_lockout_key(*, username: str) -> str:
    """The name failed sign-ins are counted under. ID numbers and phone numbers (citizens sign
    in with them) become their keyed hash, so the lock-out table holds none in clear; staff
    user names stay readable for the admin who unlocks them."""
    name = (username or "").strip()
    for normalize, purpose in (
        (identifiers.normalize_id_number, ID_NUMBER),
        (identifiers.normalize_mobile, PHONE),
    ):
        try:
            return "pii:" + pii_hash(normalize(name), purpose=purpose)[:32]
        except identifiers.InvalidIdentifier:
            continue
    if sum(char.isdigit() for char in name) >= 11:
        # A mistyped ID or phone number is still personal data.
        return "pii:" + pii_hash(name.upper(), purpose=LOGIN_NAME)[:32]
    return name[:150]


def login_user_for(*, username: str) -> User | None:
    """The login a typed sign-in name belongs to (user name, ID number or phone), if any."""
    name = (username or "").strip()
    if not name:
        return None
    user = User.objects.filter(username=name).first()
    if user is not None:
        return user
    person = person_find_by_id_number(id_number=name) or person_find_login_by_phone(phone=name)
    return person.user if person is not None else None


def enterprise_members(*, actor: Any, enterprise: Enterprise) -> list[Any]:
    """The members of an enterprise, for its own members and for window staff."""
    from tongban.accounts.permissions import staff_scope

    person = person_for_user(actor)
    if person is None or not enterprise.members.filter(person=person).exists():
        staff_scope(actor, ("window_clerk", "platform_admin"))  # Forbidden for anyone else
    return list(enterprise.members.select_related("person").order_by("role", "granted_at", "pk"))


def verifications_of(*, person: Person) -> list[Any]:
    return list(person.verifications.order_by("-created_at", "-id"))
