"""Reads for accounts."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

from tongban.accounts.models import ID_NUMBER, PHONE, Enterprise, MemberRole, Person, Staff
from tongban.core import identifiers
from tongban.core.errors import NotFound
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
