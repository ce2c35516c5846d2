"""Writes for accounts: persons, enterprises and their members, staff and their roles.

Every function takes the acting user (or ``SYSTEM``) and checks what that actor may do here,
so the API, the admin and commands cannot disagree about permissions.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import Any

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext_lazy as _

from tongban.accounts.models import (
    ID_NUMBER,
    PHONE,
    Enterprise,
    EnterpriseMember,
    MemberRole,
    Person,
    RealNameLevel,
    Staff,
    StaffRole,
    StaffRoleGrant,
    User,
)
from tongban.accounts.selectors import (
    person_find_by_id_number,
    person_for_user,
    person_is_legal_representative,
    staff_for_user,
)
from tongban.core.audit import SYSTEM, System, audit_record
from tongban.core.errors import (
    Conflict,
    FieldErrors,
    NotAuthenticated,
    PermissionDenied,
    ValidationFailed,
)
from tongban.core.identifiers import uscc_division_code
from tongban.core.logging import get_logger
from tongban.core.masking import mask_id_number
from tongban.core.pii import pii_encrypt, pii_hash
from tongban.core.validation import check_id_number, check_mobile, check_text, check_uscc
from tongban.regions.models import Department, Division
from tongban.regions.selectors import division_check

log = get_logger(__name__)

Actor = User | System | Any

# Staff who may register people and enterprises at a window (assisted service).
INTAKE_ROLES = (StaffRole.WINDOW_CLERK, StaffRole.PLATFORM_ADMIN)
# What a department admin may hand out inside their own department.
DEPARTMENT_GRANTABLE = frozenset(
    {StaffRole.WINDOW_CLERK, StaffRole.REVIEWER, StaffRole.APPROVER, StaffRole.DEPARTMENT_ADMIN}
)


def _require_login(actor: Actor) -> None:
    if actor is None or not getattr(actor, "is_authenticated", False):
        raise NotAuthenticated()


def require_staff(actor: Actor, roles: Iterable[str]) -> Staff | None:
    """The actor's staff record when it holds one of ``roles``.

    SYSTEM and Django superusers (the node's operators, e.g. from ``createsuperuser``) pass
    with None, which every caller treats as "unrestricted"."""
    if isinstance(actor, System):
        return None
    _require_login(actor)
    if getattr(actor, "is_superuser", False) and getattr(actor, "is_active", False):
        return None
    staff = staff_for_user(actor)
    if staff is None or not staff.has_role(*roles):
        raise PermissionDenied()
    return staff


def _clean_name(value: str, *, field: str, errors: FieldErrors) -> str:
    # Names of minority citizens may contain the middle dot, e.g. 阿依古丽·买买提.
    return " ".join(check_text(value, field=field, errors=errors, max_length=64).split())


# Persons ----------------------------------------------------------------------------------


def _check_password(password: str, *, errors: FieldErrors) -> None:
    if not password:
        errors.add("password", _("This field is required."))
        return
    try:
        validate_password(password)
    except DjangoValidationError as problem:
        errors.add("password", " ".join(str(message) for message in problem.messages))


def _validated_person_fields(
    *, name: str, id_number: str, phone: str, phone_required: bool
) -> tuple[FieldErrors, str, str, str]:
    errors = FieldErrors()
    clean_name = _clean_name(name, field="name", errors=errors)
    clean_id = check_id_number(id_number, field="id_number", errors=errors)
    clean_phone = (
        check_mobile(phone, field="phone", errors=errors)
        if phone_required or (phone or "").strip()
        else ""
    )
    return errors, clean_name, clean_id, clean_phone


def _person_create(
    *, actor: Actor, action: str, name: str, id_number: str, phone: str, user: User | None
) -> Person:
    """Write a person (inside the caller's transaction) with its audit entry."""
    _refuse_duplicate(id_number, phone, login=user is not None)
    try:
        with transaction.atomic():
            person = Person.objects.create(
                user=user,
                name=name,
                id_number_hash=pii_hash(id_number, purpose=ID_NUMBER),
                id_number_encrypted=pii_encrypt(id_number, purpose=ID_NUMBER),
                phone_hash=pii_hash(phone, purpose=PHONE) if phone else "",
                phone_encrypted=pii_encrypt(phone, purpose=PHONE) if phone else "",
                real_name_level=RealNameLevel.REGISTERED,
            )
    except IntegrityError:
        # A concurrent registration with the same ID number (or login phone) won the race.
        raise Conflict(_("This person is already registered."), code="person_exists") from None
    audit_record(
        actor=actor,
        action=action,
        target=person,
        changes={"id_number": mask_id_number(id_number), "level": person.real_name_level},
    )
    log.info(action, person_id=person.pk)
    return person


def person_sign_up(*, name: str, id_number: str, phone: str, password: str) -> Person:
    """Online self-registration: a login and a person at level L1 (registered)."""
    errors, clean_name, clean_id, clean_phone = _validated_person_fields(
        name=name, id_number=id_number, phone=phone, phone_required=True
    )
    _check_password(password, errors=errors)
    errors.raise_if_any()
    with transaction.atomic():
        user = User(username=f"p-{secrets.token_hex(8)}")
        user.set_password(password)
        user.save()
        return _person_create(
            actor=user,
            action="person.signed_up",
            name=clean_name,
            id_number=clean_id,
            phone=clean_phone,
            user=user,
        )


def person_register_at_window(
    *, actor: Actor, name: str, id_number: str, phone: str = ""
) -> Person:
    """A clerk records a person who has no account yet (assisted service, 帮办代办)."""
    require_staff(actor, INTAKE_ROLES)
    errors, clean_name, clean_id, clean_phone = _validated_person_fields(
        name=name, id_number=id_number, phone=phone, phone_required=False
    )
    errors.raise_if_any()
    with transaction.atomic():
        return _person_create(
            actor=actor,
            action="person.registered_at_window",
            name=clean_name,
            id_number=clean_id,
            phone=clean_phone,
            user=None,
        )


def _refuse_duplicate(id_number: str, phone: str, *, login: bool) -> None:
    if Person.objects.filter(id_number_hash=pii_hash(id_number, purpose=ID_NUMBER)).exists():
        raise Conflict(
            _("This person is already registered."),
            code="person_exists",
            fields={"id_number": _("This ID number is already registered.")},
        )
    if (
        login
        and phone
        and Person.objects.filter(
            phone_hash=pii_hash(phone, purpose=PHONE), user__isnull=False
        ).exists()
    ):
        raise Conflict(
            _("This phone number already belongs to an account."),
            code="phone_in_use",
            fields={"phone": _("This phone number already belongs to an account.")},
        )


def _known_person(
    *, id_number: str, name: str, id_field: str, name_field: str, errors: FieldErrors
) -> Person | None:
    clean_id = check_id_number(id_number, field=id_field, errors=errors)
    clean_name = _clean_name(name, field=name_field, errors=errors)
    if not clean_id or not clean_name:
        return None
    person = person_find_by_id_number(id_number=clean_id)
    if person is None:
        errors.add(id_field, _("No registered person has this ID number."))
    elif person.name != clean_name:
        # Do not reveal the registered name; only say that the pair does not match.
        errors.add(name_field, _("The name does not match the ID number."))
    return person


# Enterprises ------------------------------------------------------------------------------


def enterprise_register(
    *,
    actor: Actor,
    uscc: str,
    name: str,
    legal_representative_id_number: str,
    legal_representative_name: str,
) -> Enterprise:
    """Register an enterprise with its legal representative (who must be a registered person).

    Allowed to window clerks and platform admins, and to the legal representative in person.
    """
    _require_login(actor)
    errors = FieldErrors()
    clean_uscc = check_uscc(uscc, field="uscc", errors=errors)
    clean_name = check_text(name, field="name", errors=errors, max_length=128)
    representative = _known_person(
        id_number=legal_representative_id_number,
        name=legal_representative_name,
        id_field="legal_representative_id_number",
        name_field="legal_representative_name",
        errors=errors,
    )
    errors.raise_if_any()
    assert representative is not None  # for the type checker; raise_if_any covered it
    acting_person = None if isinstance(actor, System) else person_for_user(actor)
    if acting_person is None or acting_person.pk != representative.pk:
        require_staff(actor, INTAKE_ROLES)
    division_code = uscc_division_code(clean_uscc)
    with transaction.atomic():
        if Enterprise.objects.filter(uscc=clean_uscc).exists():
            raise Conflict(
                _("This enterprise is already registered."),
                code="enterprise_exists",
                fields={"uscc": _("This unified social credit code is already registered.")},
            )
        try:
            with transaction.atomic():
                enterprise = Enterprise.objects.create(
                    uscc=clean_uscc,
                    name=clean_name,
                    legal_representative=representative,
                    registered_division=Division.objects.filter(code=division_code).first(),
                )
        except IntegrityError:
            raise Conflict(
                _("This enterprise is already registered."), code="enterprise_exists"
            ) from None
        EnterpriseMember.objects.create(
            enterprise=enterprise, person=representative, role=MemberRole.LEGAL_REPRESENTATIVE
        )
        audit_record(
            actor=actor,
            action="enterprise.registered",
            target=enterprise,
            changes={
                "uscc": clean_uscc,
                "name": clean_name,
                "legal_representative": representative.pk,
            },
        )
    log.info("enterprise.registered", enterprise_id=enterprise.pk)
    return enterprise


def enterprise_member_add(
    *, actor: Actor, enterprise: Enterprise, id_number: str, name: str, role: str
) -> EnterpriseMember:
    """Authorise a registered person to act for an enterprise; by its legal representative,
    or by a clerk at a window."""
    _require_login(actor)
    errors = FieldErrors()
    if role not in MemberRole.values:
        errors.add(
            "role", _("Choose one of: %(choices)s.") % {"choices": ", ".join(MemberRole.values)}
        )
    person = _known_person(
        id_number=id_number, name=name, id_field="id_number", name_field="name", errors=errors
    )
    errors.raise_if_any()
    assert person is not None  # for the type checker; raise_if_any covered it
    acting_person = None if isinstance(actor, System) else person_for_user(actor)
    if acting_person is None or not person_is_legal_representative(
        person=acting_person, enterprise_id=enterprise.pk
    ):
        require_staff(actor, INTAKE_ROLES)
    if role == MemberRole.LEGAL_REPRESENTATIVE:
        raise ValidationFailed(
            fields={"role": _("The legal representative changes only through re-registration.")}
        )
    with transaction.atomic():
        member, created = EnterpriseMember.objects.get_or_create(
            enterprise=enterprise, person=person, role=role
        )
        if not created:
            raise Conflict(_("This person already has this role."), code="member_exists")
        audit_record(
            actor=actor,
            action="enterprise.member_added",
            target=enterprise,
            changes={"person": person.pk, "role": role},
        )
    log.info("enterprise.member_added", enterprise_id=enterprise.pk, person_id=person.pk)
    return member


# Staff ------------------------------------------------------------------------------------


def _check_roles(
    actor_staff: Staff | None,
    roles: Iterable[str],
    department: Department | None,
    errors: FieldErrors,
) -> set[str]:
    requested = set(roles)
    unknown = requested - set(StaffRole.values)
    if unknown or not requested:
        errors.add(
            "roles",
            _("Choose one or more of: %(choices)s.") % {"choices": ", ".join(StaffRole.values)},
        )
        return requested
    if actor_staff is not None and not actor_staff.has_role(StaffRole.PLATFORM_ADMIN):
        if department is not None and department.pk != actor_staff.department_id:
            raise PermissionDenied(
                _("Department admins manage staff of their own department only.")
            )
        if not requested <= DEPARTMENT_GRANTABLE:
            raise PermissionDenied(_("Only a platform admin may grant these roles."))
    return requested


def staff_create(
    *,
    actor: Actor,
    username: str,
    password: str,
    name: str,
    employee_number: str,
    department_key: str,
    jurisdiction_code: str,
    roles: Iterable[str],
) -> Staff:
    """Create a staff login bound to a department and jurisdiction. Platform admins may create
    anyone; department admins create staff of their own department with operational roles."""
    actor_staff = require_staff(actor, (StaffRole.PLATFORM_ADMIN, StaffRole.DEPARTMENT_ADMIN))
    errors = FieldErrors()
    username = check_text(username, field="username", errors=errors, max_length=150)
    name = _clean_name(name, field="name", errors=errors)
    employee_number = check_text(
        employee_number, field="employee_number", errors=errors, max_length=32
    )
    department = Department.objects.filter(key=(department_key or "").strip(), active=True).first()
    if department is None:
        errors.add("department_key", _("Unknown department key."))
    jurisdiction = division_check(jurisdiction_code, field="jurisdiction_code", errors=errors)
    if (
        jurisdiction is not None
        and department is not None
        and not department.division.contains(jurisdiction)
    ):
        errors.add(
            "jurisdiction_code",
            _("The jurisdiction must lie within the department's own division."),
        )
    requested = _check_roles(actor_staff, roles, department, errors)
    _check_password(password, errors=errors)
    if username and User.objects.filter(username=username).exists():
        errors.add("username", _("This username is taken."))
    if employee_number and Staff.objects.filter(employee_number=employee_number).exists():
        errors.add("employee_number", _("This employee number is already in use."))
    errors.raise_if_any()
    # For the type checker: raise_if_any reported a missing department or jurisdiction.
    assert department is not None
    assert jurisdiction is not None
    with transaction.atomic():
        # Platform admins run the node: they get the Django admin with every permission.
        is_admin = StaffRole.PLATFORM_ADMIN in requested
        user = User(username=username, is_staff=is_admin, is_superuser=is_admin)
        user.set_password(password)
        user.save()
        staff = Staff.objects.create(
            user=user,
            name=name,
            employee_number=employee_number,
            department=department,
            jurisdiction=jurisdiction,
        )
        StaffRoleGrant.objects.bulk_create(
            StaffRoleGrant(staff=staff, role=role) for role in sorted(requested)
        )
        audit_record(
            actor=actor,
            action="staff.created",
            target=staff,
            changes={
                "department": department_key,
                "jurisdiction": jurisdiction_code,
                "roles": sorted(requested),
            },
        )
    log.info("staff.created", staff_id=staff.pk)
    return staff


def staff_set_roles(*, actor: Actor, staff: Staff, roles: Iterable[str]) -> Staff:
    actor_staff = require_staff(actor, (StaffRole.PLATFORM_ADMIN, StaffRole.DEPARTMENT_ADMIN))
    if not isinstance(actor, System) and actor.pk == staff.user_id:
        # Nobody widens their own powers, and the last admin cannot lock everyone out.
        raise PermissionDenied(_("You cannot change your own roles."))
    errors = FieldErrors()
    requested = _check_roles(actor_staff, roles, staff.department, errors)
    errors.raise_if_any()
    with transaction.atomic():
        locked = Staff.objects.select_for_update().get(pk=staff.pk)
        current = set(locked.role_grants.values_list("role", flat=True))
        if current == requested:
            return locked
        if (
            actor_staff is not None
            and not actor_staff.has_role(StaffRole.PLATFORM_ADMIN)
            and not current <= DEPARTMENT_GRANTABLE
        ):
            raise PermissionDenied(_("Only a platform admin may change this staff member's roles."))
        locked.role_grants.filter(role__in=current - requested).delete()
        StaffRoleGrant.objects.bulk_create(
            StaffRoleGrant(staff=locked, role=role) for role in sorted(requested - current)
        )
        is_admin = StaffRole.PLATFORM_ADMIN in requested
        User.objects.filter(pk=locked.user_id).update(is_staff=is_admin, is_superuser=is_admin)
        audit_record(
            actor=actor,
            action="staff.roles_changed",
            target=locked,
            changes={"roles": [sorted(current), sorted(requested)]},
        )
    log.info("staff.roles_changed", staff_id=staff.pk)
    return locked


__all__ = [
    "SYSTEM",
    "enterprise_member_add",
    "enterprise_register",
    "person_register_at_window",
    "person_sign_up",
    "staff_create",
    "staff_set_roles",
]
