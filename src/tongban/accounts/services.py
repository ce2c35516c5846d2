"""Writes for accounts: persons, enterprises and their members, staff and their roles.

Every function takes the acting user (or ``SYSTEM``) and checks what that actor may do here,
so the API, the admin and commands cannot disagree about permissions.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from collections.abc import Iterable, Mapping
from typing import Any

from axes.utils import reset as axes_reset
from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core import signing
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from tongban.accounts import verification
from tongban.accounts.events import AccountEvent
from tongban.accounts.models import (
    ID_NUMBER,
    PHONE,
    Enterprise,
    EnterpriseMember,
    LifeEvent,
    LifeEventKind,
    MemberRole,
    Person,
    RealNameLevel,
    Staff,
    StaffRole,
    StaffRoleGrant,
    User,
    VerificationRecord,
)
from tongban.accounts.permissions import Scope, require_login, staff_scope

__all__ = [
    "INTAKE_ROLES",
    "STAFF_MANAGERS",
    "enterprise_member_add",
    "enterprise_member_remove",
    "enterprise_register",
    "known_person",
    "life_event_declare",
    "life_event_withdraw",
    "login_unlock",
    "person_register_at_window",
    "person_sign_up",
    "person_verification_complete",
    "person_verification_start",
    "person_verify_at_window",
    "person_verify_in_person",
    "require_staff",
    "staff_create",
    "staff_otp_enrol_confirm",
    "staff_otp_enrol_start",
    "staff_otp_install",
    "staff_otp_reset",
    "staff_otp_verify",
    "staff_recovery_codes_issue",
    "staff_scope",
    "staff_set_roles",
]
from tongban.accounts.selectors import (
    login_lockout_key,
    otp_device_for,
    otp_required_for,
    person_find_by_id_number,
    person_for_user,
    person_is_legal_representative,
    person_matching,
)
from tongban.core import identifiers
from tongban.core.audit import SYSTEM, System, audit_record
from tongban.core.errors import Conflict, FieldErrors, Forbidden, NotFound, ValidationFailed
from tongban.core.identifiers import uscc_division_code
from tongban.core.logging import get_logger
from tongban.core.masking import mask_id_number
from tongban.core.pii import pii_encrypt, pii_hash
from tongban.core.validation import check_id_number, check_mobile, check_text, check_uscc
from tongban.regions.models import Department, Division
from tongban.regions.selectors import division_check

log = get_logger(__name__)

Actor = Any  # a user (possibly anonymous) or SYSTEM; services check which

# Staff who may register people and enterprises at a window (assisted service).
INTAKE_ROLES = (StaffRole.WINDOW_CLERK, StaffRole.PLATFORM_ADMIN)
STAFF_MANAGERS = (StaffRole.PLATFORM_ADMIN, StaffRole.DEPARTMENT_ADMIN)
# What a department admin may hand out inside their own department and jurisdiction.
DEPARTMENT_GRANTABLE = frozenset(
    {StaffRole.WINDOW_CLERK, StaffRole.REVIEWER, StaffRole.APPROVER, StaffRole.DEPARTMENT_ADMIN}
)


def require_staff(actor: Actor, roles: Iterable[str]) -> Scope:
    """Kept for callers in other domains: the actor's staff scope for ``roles``."""
    return staff_scope(actor, roles)


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
        # A concurrent registration won the race: say which value it took.
        _refuse_duplicate(id_number, phone, login=user is not None)
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
            action=AccountEvent.PERSON_SIGNED_UP,
            name=clean_name,
            id_number=clean_id,
            phone=clean_phone,
            user=user,
        )


def person_register_at_window(
    *, actor: Actor, name: str, id_number: str, phone: str = ""
) -> Person:
    """A clerk records a person who has no account yet (assisted service, 帮办代办)."""
    staff_scope(actor, INTAKE_ROLES)
    errors, clean_name, clean_id, clean_phone = _validated_person_fields(
        name=name, id_number=id_number, phone=phone, phone_required=False
    )
    errors.raise_if_any()
    with transaction.atomic():
        return _person_create(
            actor=actor,
            action=AccountEvent.PERSON_REGISTERED_AT_WINDOW,
            name=clean_name,
            id_number=clean_id,
            phone=clean_phone,
            user=None,
        )


def person_for_case_from_node(*, node: str, name: str, id_number: str, phone: str = "") -> Person:
    """The applicant of a case another node hands over: the person with this ID number here,
    else recorded (without a login) from what that node verified. Raises ValidationFailed for
    values that do not check, so a bad handover changes nothing."""
    errors, clean_name, clean_id, clean_phone = _validated_person_fields(
        name=name, id_number=id_number, phone=phone, phone_required=False
    )
    errors.raise_if_any()
    found = person_find_by_id_number(id_number=clean_id)
    if found is not None:
        return found
    with transaction.atomic():
        return _person_create(
            actor=SYSTEM,
            action=AccountEvent.PERSON_RECORDED_FROM_NODE,
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


def known_person(
    *, id_number: str, name: str, id_field: str, name_field: str, errors: FieldErrors
) -> Person | None:
    """The registered person with this ID number and name. Call only once the actor may learn
    whether such a person exists (staff at a window), never for citizens."""
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


NO_MATCH = _("No registered person matches this ID number and name.")


def _citizen_names_person(*, id_number: str, name: str, errors: FieldErrors) -> Person | None:
    """The person a citizen names by ID number and name; "no match" whatever did not match."""
    clean_id = check_id_number(id_number, field="id_number", errors=errors)
    clean_name = _clean_name(name, field="name", errors=errors)
    if not clean_id or not clean_name:
        return None
    person = person_matching(id_number=clean_id, name=clean_name)
    if person is None:
        errors.add("id_number", NO_MATCH)
    return person


def _acting_person(actor: Actor) -> Person | None:
    if isinstance(actor, System) or not getattr(actor, "is_authenticated", False):
        return None
    return person_for_user(actor)


def _is_self(person: Person, *, id_number: str, name: str) -> bool:
    """Whether the ID number and name given are the acting person's own (compared through
    the keyed hash, so nothing is looked up about anyone else)."""
    try:
        normalized = identifiers.normalize_id_number(id_number)
    except identifiers.InvalidIdentifier:
        return False
    return person.id_number_hash == pii_hash(
        normalized, purpose=ID_NUMBER
    ) and person.name == " ".join((name or "").split())


def _intake_or_none(actor: Actor) -> Scope | None:
    try:
        return staff_scope(actor, INTAKE_ROLES)
    except Forbidden:
        return None


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

    Allowed to window clerks and platform admins, and to the legal representative for their
    own enterprise. Permission is decided before anything is looked up, so a citizen cannot
    use this to learn whether someone else is registered.
    """
    require_login(actor)
    acting_person = _acting_person(actor)
    if _intake_or_none(actor) is None and not (
        acting_person is not None
        and _is_self(
            acting_person, id_number=legal_representative_id_number, name=legal_representative_name
        )
    ):
        raise Forbidden(_("You may register only an enterprise you represent yourself."))
    errors = FieldErrors()
    clean_uscc = check_uscc(uscc, field="uscc", errors=errors)
    clean_name = check_text(name, field="name", errors=errors, max_length=128)
    representative = known_person(
        id_number=legal_representative_id_number,
        name=legal_representative_name,
        id_field="legal_representative_id_number",
        name_field="legal_representative_name",
        errors=errors,
    )
    errors.raise_if_any()
    assert representative is not None  # for the type checker; raise_if_any covered it
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
                    registered_division=Division.objects.filter(
                        code=uscc_division_code(clean_uscc)
                    ).first(),
                )
        except IntegrityError:
            raise Conflict(
                _("This enterprise is already registered."), code="enterprise_exists"
            ) from None
        # The legal representative is also a member row, so "who may act for this
        # enterprise" is one query; both are written here and only here.
        EnterpriseMember.objects.create(
            enterprise=enterprise, person=representative, role=MemberRole.LEGAL_REPRESENTATIVE
        )
        audit_record(
            actor=actor,
            action=AccountEvent.ENTERPRISE_REGISTERED,
            target=enterprise,
            changes={
                "uscc": clean_uscc,
                "name": clean_name,
                "legal_representative": representative.pk,
            },
        )
    log.info(AccountEvent.ENTERPRISE_REGISTERED, enterprise_id=enterprise.pk)
    return enterprise


def enterprise_member_add(
    *, actor: Actor, enterprise: Enterprise, id_number: str, name: str, role: str
) -> EnterpriseMember:
    """Authorise a registered person to act for an enterprise; by its legal representative,
    or by a clerk at a window."""
    require_login(actor)
    acting_person = _acting_person(actor)
    if _intake_or_none(actor) is None and not (
        acting_person is not None
        and person_is_legal_representative(person=acting_person, enterprise_id=enterprise.pk)
    ):
        raise Forbidden()
    errors = FieldErrors()
    if role not in MemberRole.values:
        errors.add(
            "role",
            _("Choose one of: %(choices)s.") % {"choices": ", ".join(MemberRole.values)},
        )
    elif role == MemberRole.LEGAL_REPRESENTATIVE:
        errors.add("role", _("The legal representative changes only through re-registration."))
    if _intake_or_none(actor) is not None:
        person = known_person(
            id_number=id_number, name=name, id_field="id_number", name_field="name", errors=errors
        )
    else:
        # A legal representative is a citizen: one answer for "not registered" and "wrong
        # name", so the form cannot be used to find out who is registered.
        person = _citizen_names_person(id_number=id_number, name=name, errors=errors)
    errors.raise_if_any()
    assert person is not None  # for the type checker; raise_if_any covered it
    with transaction.atomic():
        member, created = EnterpriseMember.objects.get_or_create(
            enterprise=enterprise, person=person, role=role
        )
        if not created:
            raise Conflict(_("This person already has this role."), code="member_exists")
        audit_record(
            actor=actor,
            action=AccountEvent.ENTERPRISE_MEMBER_ADDED,
            target=enterprise,
            changes={"person": person.pk, "role": role},
        )
    log.info(AccountEvent.ENTERPRISE_MEMBER_ADDED, enterprise_id=enterprise.pk, person_id=person.pk)
    return member


# Staff ------------------------------------------------------------------------------------


def _check_roles(scope: Scope, roles: Iterable[str], errors: FieldErrors) -> set[str]:
    requested = set(roles)
    if not requested or requested - set(StaffRole.values):
        errors.add(
            "roles",
            _("Choose one or more of: %(choices)s.") % {"choices": ", ".join(StaffRole.values)},
        )
    elif not scope.is_platform_admin and not requested <= DEPARTMENT_GRANTABLE:
        raise Forbidden(_("Only a platform admin may grant these roles."))
    return requested


def _check_reach(scope: Scope, department: Department, jurisdiction: Division) -> None:
    """Department admins act inside their own department and jurisdiction only."""
    if not scope.covers_department(department):
        raise Forbidden(_("Department admins manage staff of their own department only."))
    if not scope.covers_division(jurisdiction):
        raise Forbidden(_("Department admins manage staff within their own jurisdiction only."))


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
    anyone; department admins create staff of their own department, within their own
    jurisdiction, with operational roles."""
    scope = staff_scope(actor, STAFF_MANAGERS)
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
    requested = _check_roles(scope, roles, errors)
    _check_password(password, errors=errors)
    if username and User.objects.filter(username=username).exists():
        errors.add("username", _("This username is taken."))
    if employee_number and Staff.objects.filter(employee_number=employee_number).exists():
        errors.add("employee_number", _("This employee number is already in use."))
    errors.raise_if_any()
    # For the type checker: raise_if_any reported a missing department or jurisdiction.
    assert department is not None
    assert jurisdiction is not None
    _check_reach(scope, department, jurisdiction)
    try:
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
                action=AccountEvent.STAFF_CREATED,
                target=staff,
                changes={
                    "department": department.key,
                    "jurisdiction": jurisdiction.code,
                    "roles": sorted(requested),
                },
            )
    except IntegrityError:
        # A concurrent request took the username or employee number between check and write.
        raise Conflict(
            _("This username or employee number was just taken."), code="staff_exists"
        ) from None
    log.info(AccountEvent.STAFF_CREATED, staff_id=staff.pk)
    return staff


def staff_set_roles(*, actor: Actor, staff: Staff, roles: Iterable[str]) -> Staff:
    scope = staff_scope(actor, STAFF_MANAGERS)
    if not isinstance(actor, System) and actor.pk == staff.user_id:
        # Nobody widens their own powers, and the last admin cannot lock everyone out.
        raise Forbidden(_("You cannot change your own roles."))
    errors = FieldErrors()
    requested = _check_roles(scope, roles, errors)
    errors.raise_if_any()
    _check_reach(scope, staff.department, staff.jurisdiction)
    with transaction.atomic():
        locked = Staff.objects.select_for_update().get(pk=staff.pk)
        current = set(locked.role_grants.values_list("role", flat=True))
        if current == requested:
            return locked
        if not scope.is_platform_admin and not current <= DEPARTMENT_GRANTABLE:
            raise Forbidden(_("Only a platform admin may change this staff member's roles."))
        locked.role_grants.filter(role__in=current - requested).delete()
        StaffRoleGrant.objects.bulk_create(
            StaffRoleGrant(staff=locked, role=role) for role in sorted(requested - current)
        )
        is_admin = StaffRole.PLATFORM_ADMIN in requested
        User.objects.filter(pk=locked.user_id).update(is_staff=is_admin, is_superuser=is_admin)
        audit_record(
            actor=actor,
            action=AccountEvent.STAFF_ROLES_CHANGED,
            target=locked,
            changes={"roles": [sorted(current), sorted(requested)]},
        )
    log.info(AccountEvent.STAFF_ROLES_CHANGED, staff_id=staff.pk)
    return locked


# Life events ------------------------------------------------------------------------------


def _own_person(actor: Actor) -> Person:
    require_login(actor)
    person = _acting_person(actor)
    if person is None:
        raise Forbidden(_("Only a registered person can do this."))
    return person


def life_event_declare(*, actor: Actor, kind: str, occurred_on: dt.date | None = None) -> LifeEvent:
    """A person says something happened in their life (for service suggestions)."""
    person = _own_person(actor)
    if kind not in LifeEventKind.values:
        raise ValidationFailed(
            fields={
                "kind": _("Choose one of: %(choices)s.")
                % {"choices": ", ".join(LifeEventKind.values)}
            }
        )
    if occurred_on is not None and occurred_on > timezone.localdate():
        raise ValidationFailed(fields={"occurred_on": _("The date cannot be in the future.")})
    existing = LifeEvent.objects.filter(person=person, kind=kind).first()
    if existing is not None and existing.occurred_on == occurred_on:
        return existing  # nothing changes: no write, no audit entry
    with transaction.atomic():
        event, _created = LifeEvent.objects.update_or_create(
            person=person, kind=kind, defaults={"occurred_on": occurred_on}
        )
        audit_record(
            actor=actor,
            action=AccountEvent.LIFE_EVENT_DECLARED,
            target=person,
            changes={"kind": kind, "occurred_on": occurred_on.isoformat() if occurred_on else None},
        )
    return event


def life_event_withdraw(*, actor: Actor, kind: str) -> None:
    person = _own_person(actor)
    with transaction.atomic():
        deleted, _rows = LifeEvent.objects.filter(person=person, kind=kind).delete()
        if deleted:
            audit_record(
                actor=actor,
                action=AccountEvent.LIFE_EVENT_WITHDRAWN,
                target=person,
                changes={"kind": kind},
            )


# Staff sign-in: authenticator, recovery codes, lock-outs ------------------------------------

RECOVERY_CODE = "recovery_code"  # keyed-hash purpose of recovery codes
_TOTP_CODE = re.compile(r"[0-9]{6}")


def _normalize_code(code: str) -> str:
    return re.sub(r"[\s-]", "", code or "").lower()


def _recovery_code_hash(code: str) -> str:
    # StaticToken.token holds 16 characters: 64 bits of a keyed hash, never the code itself.
    return pii_hash(_normalize_code(code), purpose=RECOVERY_CODE)[:16]


def _issue_recovery_codes(user: User) -> list[str]:
    """Replace a login's recovery codes; the new ones are returned once, in clear."""
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name=str(_("recovery codes")), confirmed=True)
    codes = []
    for _index in range(settings.TONGBAN_RECOVERY_CODE_COUNT):
        raw = secrets.token_hex(5)  # 10 hex digits, shown as two groups of five
        codes.append(f"{raw[:5]}-{raw[5:]}")
    StaticToken.objects.bulk_create(
        StaticToken(device=device, token=_recovery_code_hash(code)) for code in codes
    )
    return codes


def _locked_user(user: User) -> User:
    return User.objects.select_for_update().get(pk=user.pk)


def staff_otp_enrol_start(*, user: User) -> TOTPDevice:
    """The authenticator a staff member is setting up: the same one until confirmed, so that a
    reload does not change the QR code already scanned."""
    if not otp_required_for(user):
        raise Forbidden(_("Only staff sign in with an authenticator."), code="otp_not_for_user")
    with transaction.atomic():
        _locked_user(user)
        if otp_device_for(user) is not None:
            raise Conflict(_("An authenticator is already set up."), code="otp_already_enrolled")
        device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-id").first()
        if device is None:
            device = TOTPDevice.objects.create(
                user=user, name=str(_("authenticator app")), confirmed=False
            )
    return device


def staff_otp_enrol_confirm(*, user: User, code: str) -> tuple[TOTPDevice, list[str]]:
    """Confirm the authenticator being set up with its current code; returns the device and
    the new recovery codes (to show once). A wrong code raises ValidationFailed."""
    with transaction.atomic():
        _locked_user(user)
        if otp_device_for(user) is not None:
            raise Conflict(_("An authenticator is already set up."), code="otp_already_enrolled")
        device = (
            TOTPDevice.objects.select_for_update()
            .filter(user=user, confirmed=False)
            .order_by("-id")
            .first()
        )
        if device is None:
            raise Conflict(
                _("Start setting up the authenticator again."), code="otp_enrolment_missing"
            )
        if not _TOTP_CODE.fullmatch(_normalize_code(code)) or not device.verify_token(
            _normalize_code(code)
        ):
            raise ValidationFailed(
                _("The code is wrong or has expired."),
                code="otp_invalid",
                fields={"otp_code": _("Enter the 6-digit code your app shows now.")},
            )
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
        codes = _issue_recovery_codes(user)
        audit_record(
            actor=user,
            action=AccountEvent.OTP_ENROLLED,
            target=user,
            changes={"device": device.pk, "recovery_codes": len(codes)},
        )
    log.info(AccountEvent.OTP_ENROLLED, user_id=user.pk)
    return device, codes


def staff_otp_verify(*, user: User, code: str) -> TOTPDevice | StaticDevice | None:
    """The device that accepts ``code`` for this login: its authenticator for a 6-digit code,
    else one of its recovery codes (used up by this). None for a wrong, replayed or throttled
    code; the caller counts that as a failed sign-in."""
    normalized = _normalize_code(code)
    if not normalized or len(normalized) > 32:
        return None
    with transaction.atomic():
        if _TOTP_CODE.fullmatch(normalized):
            device = (
                TOTPDevice.objects.select_for_update()
                .filter(user=user, confirmed=True)
                .order_by("-id")
                .first()
            )
            return device if device is not None and device.verify_token(normalized) else None
        recovery = (
            StaticDevice.objects.select_for_update().filter(user=user, confirmed=True).first()
        )
        if recovery is None or not recovery.verify_token(_recovery_code_hash(normalized)):
            return None
    log.info("staff.recovery_code_used", user_id=user.pk)
    return recovery


def staff_recovery_codes_issue(*, actor: Actor, user: User) -> list[str]:
    """New recovery codes for one's own login (the old ones stop working)."""
    require_login(actor)
    if isinstance(actor, System) or actor.pk != user.pk:
        raise Forbidden(_("Only the staff member themselves can renew their recovery codes."))
    with transaction.atomic():
        _locked_user(user)
        if otp_device_for(user) is None:
            raise Conflict(_("Set up an authenticator first."), code="otp_enrolment_required")
        codes = _issue_recovery_codes(user)
        audit_record(
            actor=actor,
            action=AccountEvent.RECOVERY_CODES_ISSUED,
            target=user,
            changes={"recovery_codes": len(codes)},
        )
    log.info(AccountEvent.RECOVERY_CODES_ISSUED, user_id=user.pk)
    return codes


def _check_manages_login(actor: Actor, user: User) -> None:
    """Platform admins manage every login; department admins the staff of their own department
    and jurisdiction. Nobody resets or unlocks themselves."""
    scope = staff_scope(actor, STAFF_MANAGERS)
    if not isinstance(actor, System) and actor.pk == user.pk:
        raise Forbidden(_("Ask another admin to do this for your own account."))
    staff = Staff.objects.select_related("department", "jurisdiction").filter(user=user).first()
    if staff is None:
        if not scope.is_platform_admin:
            raise Forbidden(_("Only a platform admin may do this for this account."))
        return
    _check_reach(scope, staff.department, staff.jurisdiction)


def staff_otp_reset(*, actor: Actor, user: User, reason: str = "") -> int:
    """Remove a login's authenticator and recovery codes (a lost phone, a new phone): it sets
    up a new one at its next sign-in, and its current sessions must confirm again. Returns how
    many devices were removed."""
    _check_manages_login(actor, user)
    errors = FieldErrors()
    reason = check_text(reason, field="reason", errors=errors, max_length=200, required=False)
    errors.raise_if_any()
    with transaction.atomic():
        _locked_user(user)
        removed = TOTPDevice.objects.filter(user=user).delete()[1].get(TOTPDevice._meta.label, 0)
        removed += (
            StaticDevice.objects.filter(user=user).delete()[1].get(StaticDevice._meta.label, 0)
        )
        audit_record(
            actor=actor,
            action=AccountEvent.OTP_RESET,
            target=user,
            changes={"devices": removed, "reason": reason},
        )
    log.info(AccountEvent.OTP_RESET, user_id=user.pk, devices=removed)
    return removed


def staff_otp_install(*, actor: Actor, user: User, key_hex: str) -> TOTPDevice:
    """Give a login an authenticator whose secret the operator holds: demo data and bench
    accounts only, whose codes scripts compute. The node itself (SYSTEM) only."""
    if not isinstance(actor, System):
        raise Forbidden(_("Only the node itself installs a known authenticator."))
    with transaction.atomic():
        _locked_user(user)
        device = otp_device_for(user)
        if device is not None and device.key == key_hex:
            return device
        TOTPDevice.objects.filter(user=user).delete()
        device = TOTPDevice.objects.create(
            user=user, name=str(_("authenticator app")), key=key_hex, confirmed=True
        )
        audit_record(
            actor=actor,
            action=AccountEvent.OTP_ENROLLED,
            target=user,
            changes={"device": device.pk, "installed_by": "operator"},
        )
    return device


def login_unlock(*, actor: Actor, user: User) -> int:
    """Lift the lock-out of a login (every address it was tried from); returns how many
    lock-out records were removed. Staff are unlocked by their managers, citizens by
    platform admins."""
    _check_manages_login(actor, user)
    names = {login_lockout_key(username=user.get_username())}
    person = Person.objects.filter(user=user).first()
    if person is not None:
        names.add(login_lockout_key(username=person.id_number))
        if person.phone:
            names.add(login_lockout_key(username=person.phone))
    with transaction.atomic():
        removed = sum(axes_reset(username=name) for name in sorted(names))
        audit_record(
            actor=actor,
            action=AccountEvent.LOGIN_UNLOCKED,
            target=user,
            changes={"records": removed},
        )
    log.info(AccountEvent.LOGIN_UNLOCKED, user_id=user.pk, records=removed)
    return removed


# Enterprise members -----------------------------------------------------------------------


def enterprise_member_remove(
    *, actor: Actor, enterprise: Enterprise, person_id: int, reason: str = ""
) -> None:
    """Take an authorised handler off an enterprise; by its legal representative, or by a clerk
    at a window. From the commit on, the person no longer acts for the enterprise nor sees its
    cases (access is read from membership on every request). The legal representative changes
    only through re-registration."""
    require_login(actor)
    acting_person = _acting_person(actor)
    if _intake_or_none(actor) is None and not (
        acting_person is not None
        and person_is_legal_representative(person=acting_person, enterprise_id=enterprise.pk)
    ):
        raise Forbidden()
    errors = FieldErrors()
    clean_reason = check_text(reason, field="reason", errors=errors, max_length=255, required=False)
    errors.raise_if_any()
    with transaction.atomic():
        member = (
            EnterpriseMember.objects.select_for_update()
            .filter(enterprise=enterprise, person_id=person_id, role=MemberRole.AUTHORISED_HANDLER)
            .first()
        )
        if member is None:
            if EnterpriseMember.objects.filter(
                enterprise=enterprise, person_id=person_id, role=MemberRole.LEGAL_REPRESENTATIVE
            ).exists():
                raise Conflict(
                    _("The legal representative changes only through re-registration."),
                    code="member_is_legal_representative",
                )
            raise NotFound(_("This person is not an authorised handler of the enterprise."))
        member.delete()
        audit_record(
            actor=actor,
            action=AccountEvent.ENTERPRISE_MEMBER_REMOVED,
            target=enterprise,
            changes={
                "person": person_id,
                "role": MemberRole.AUTHORISED_HANDLER,
                "reason": clean_reason,
            },
        )
    log.info(
        AccountEvent.ENTERPRISE_MEMBER_REMOVED, enterprise_id=enterprise.pk, person_id=person_id
    )


# Real-name verification -------------------------------------------------------------------

# How long a person has to finish an online verification they started.
VERIFICATION_STATE_MAX_AGE = 30 * 60
_STATE_SALT = "tongban.accounts.verification.state"


def _person_level_raise(
    *,
    actor: Actor,
    person: Person,
    method: verification.VerificationMethod,
    evidence: dict[str, Any],
    note: str = "",
    reference: str = "",
) -> VerificationRecord | None:
    """Raise the person's level to what ``method`` grants (inside the caller's checks): row
    lock, no change when the level is already as high (levels never go down here), one
    VerificationRecord and one audit entry per change."""
    with transaction.atomic():
        locked = Person.objects.select_for_update().get(pk=person.pk)
        if (
            reference
            and VerificationRecord.objects.filter(method=method.key, reference=reference).exists()
        ):
            raise Conflict(
                _("This verification result has already been used."), code="verification_replayed"
            )
        before = locked.real_name_level
        if before >= method.level:
            person.real_name_level = before
            return None
        locked.real_name_level = method.level
        locked.save(update_fields=["real_name_level", "updated_at"])
        user = actor if not isinstance(actor, System) and getattr(actor, "pk", None) else None
        record = VerificationRecord.objects.create(
            person=locked,
            method=method.key,
            level_before=before,
            level_after=method.level,
            verified_by=user,
            verified_by_label=user.get_username() if user is not None else method.key,
            reference=reference,
            evidence=evidence,
            note=note,
        )
        audit_record(
            actor=actor,
            action=AccountEvent.PERSON_LEVEL_RAISED,
            target=locked,
            changes={"real_name_level": [before, method.level], "method": method.key},
        )
    person.real_name_level = method.level
    log.info(
        AccountEvent.PERSON_LEVEL_RAISED,
        person_id=person.pk,
        method=method.key,
        level_before=before,
        level_after=method.level,
    )
    return record


def person_verify_in_person(
    *, actor: Actor, person: Person, document_checked: str, note: str = ""
) -> VerificationRecord | None:
    """A window clerk records that they checked the person's identity document face to face:
    the person's level becomes L3 (verified in person). None when it already was."""
    scope = staff_scope(actor, INTAKE_ROLES)
    method = verification.method_get(verification.IN_PERSON)
    errors = FieldErrors()
    if document_checked not in verification.IDENTITY_DOCUMENTS:
        errors.add(
            "document_checked",
            _("Choose one of: %(choices)s.")
            % {"choices": ", ".join(verification.IDENTITY_DOCUMENTS)},
        )
    clean_note = check_text(note, field="note", errors=errors, max_length=255, required=False)
    errors.raise_if_any()
    evidence: dict[str, Any] = {"document_checked": document_checked}
    if scope.staff is not None:
        evidence.update(staff=scope.staff.employee_number, jurisdiction=scope.staff.jurisdiction_id)
    return _person_level_raise(
        actor=actor, person=person, method=method, evidence=evidence, note=clean_note
    )


def person_verify_at_window(
    *, actor: Actor, id_number: str, name: str, document_checked: str, note: str = ""
) -> tuple[Person, VerificationRecord | None]:
    """The window's form: find the person by ID number and name (staff may learn whether
    someone is registered), then record the in-person verification."""
    staff_scope(actor, INTAKE_ROLES)
    errors = FieldErrors()
    person = known_person(
        id_number=id_number, name=name, id_field="id_number", name_field="name", errors=errors
    )
    errors.raise_if_any()
    assert person is not None  # for the type checker; raise_if_any covered it
    record = person_verify_in_person(
        actor=actor, person=person, document_checked=document_checked, note=note
    )
    return person, record


def person_verification_start(*, actor: Actor, method_key: str) -> verification.VerificationStart:
    """The person starts an online verification (e.g. a face check): the method says where
    to send them; the token it carries names this person and expires."""
    person = _own_person(actor)
    method = verification.method_get(method_key)
    if not method.online:
        raise Conflict(
            _("This verification is not started online; see its instructions."),
            code="verification_not_online",
        )
    state = signing.dumps({"person": person.pk, "method": method.key}, salt=_STATE_SALT)
    return method.start(person=person, state=state)


def person_verification_complete(*, method_key: str, payload: Mapping[str, Any]) -> str:
    """A provider's callback: the method checks the provider's signature, this node checks its
    own token (which person, which method, not expired) and raises the level once per verdict.
    Returns "raised", "unchanged" (the level already was as high) or "failed" (not verified)."""
    method = verification.method_get(method_key)
    if not method.online:
        raise Conflict(
            _("This verification is recorded by staff, not by a callback."),
            code="verification_not_online",
        )
    verdict = method.complete(payload=payload)
    try:
        state = signing.loads(verdict.state, salt=_STATE_SALT, max_age=VERIFICATION_STATE_MAX_AGE)
    except signing.BadSignature:
        log.warning("person.verification_bad_state", method=method.key)
        raise Forbidden(
            _("The verification result does not belong to an attempt started here."),
            code="verification_state_invalid",
        ) from None
    person = Person.objects.filter(pk=state.get("person")).first()
    if person is None or state.get("method") != method.key:
        raise Forbidden(
            _("The verification result does not belong to an attempt started here."),
            code="verification_state_invalid",
        )
    if not verdict.passed:
        audit_record(
            actor=SYSTEM,
            action=AccountEvent.PERSON_VERIFICATION_FAILED,
            target=person,
            changes={"method": method.key, "reference": verdict.reference},
        )
        log.info(AccountEvent.PERSON_VERIFICATION_FAILED, person_id=person.pk, method=method.key)
        return "failed"
    if not verdict.reference:
        raise ValidationFailed(fields={"reference": _("This field is required.")})
    record = _person_level_raise(
        actor=SYSTEM,
        person=person,
        method=method,
        evidence=dict(verdict.evidence),
        reference=verdict.reference[:128],
    )
    return "raised" if record is not None else "unchanged"
