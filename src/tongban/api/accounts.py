from __future__ import annotations

import datetime as dt

from django.contrib.auth import logout
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from ninja import Field, Router, Schema
from ninja.responses import Status
from ninja.security import django_auth

from tongban.accounts import selectors, services, signin, verification
from tongban.accounts.models import (
    Enterprise,
    EnterpriseMember,
    LifeEvent,
    Person,
    Staff,
    VerificationRecord,
)
from tongban.api.common import json_body
from tongban.core.errors import NotFound, UnsupportedMediaType, ValidationFailed

router = Router(tags=["accounts"])


class PersonOut(Schema):
    id: int
    name: str
    id_number: str
    phone: str
    real_name_level: int

    @staticmethod
    def resolve_name(obj: Person) -> str:
        return obj.name_masked

    @staticmethod
    def resolve_id_number(obj: Person) -> str:
        return obj.id_number_masked

    @staticmethod
    def resolve_phone(obj: Person) -> str:
        return obj.phone_masked


class SignUpIn(Schema):
    name: str
    id_number: str
    phone: str
    password: str


class WindowRegistrationIn(Schema):
    name: str
    id_number: str
    phone: str = ""


class LookupIn(Schema):
    id_number: str


class LoginIn(Schema):
    username: str
    password: str
    otp_code: str = Field(
        "",
        max_length=32,
        description="Staff only: the current code of their authenticator app, or a recovery "
        "code. Without it a staff login answers 401 `otp_required`; a staff member who has not "
        "set up an authenticator gets 403 `otp_enrolment_required` (set it up at the workbench).",
    )


class EnterpriseIn(Schema):
    uscc: str
    name: str
    legal_representative_id_number: str
    legal_representative_name: str


class EnterpriseOut(Schema):
    id: int
    uscc: str
    name: str
    registered_division_code: str | None

    @staticmethod
    def resolve_registered_division_code(obj: Enterprise) -> str | None:
        return obj.registered_division_id


class MemberIn(Schema):
    id_number: str
    name: str
    role: str


class MemberOut(Schema):
    person_id: int
    role: str


class MemberListOut(Schema):
    person_id: int
    name: str
    role: str
    role_label: str
    granted_at: dt.datetime

    @staticmethod
    def resolve_name(obj: EnterpriseMember) -> str:
        return obj.person.name_masked

    @staticmethod
    def resolve_role_label(obj: EnterpriseMember) -> str:
        return str(obj.get_role_display())


class MemberRemoveIn(Schema):
    reason: str = ""


class StaffIn(Schema):
    username: str
    password: str
    name: str
    employee_number: str
    department_key: str
    jurisdiction_code: str
    roles: list[str]


class StaffOut(Schema):
    id: int
    username: str
    name: str
    employee_number: str
    department_key: str
    jurisdiction_code: str
    roles: list[str]

    @staticmethod
    def resolve_username(obj: Staff) -> str:
        return obj.user.get_username()

    @staticmethod
    def resolve_department_key(obj: Staff) -> str:
        return obj.department.key

    @staticmethod
    def resolve_jurisdiction_code(obj: Staff) -> str:
        return obj.jurisdiction_id

    @staticmethod
    def resolve_roles(obj: Staff) -> list[str]:
        return sorted(obj.roles)


class MeOut(Schema):
    username: str
    person: PersonOut | None
    staff: StaffOut | None


def _json_only(request: HttpRequest) -> None:
    """Endpoints open to anonymous callers accept JSON only: a cross-site HTML form can send
    text/plain or form data without a CORS preflight, never application/json."""
    if request.content_type != "application/json":
        raise UnsupportedMediaType()


@router.post("/sign-up", response={201: PersonOut}, auth=None)
def sign_up(request: HttpRequest, payload: SignUpIn) -> Status[Person]:
    _json_only(request)
    person = services.person_sign_up(**payload.dict())
    return Status(201, person)


@router.post("/login", response=MeOut, auth=None)
def log_in(request: HttpRequest, payload: LoginIn) -> dict[str, object]:
    """Citizens: ID number or phone, and password. Staff: user name, password and `otp_code`.
    Repeated failures (wrong codes too) lock the name at this address: 429 `account_locked`."""
    _json_only(request)
    user = signin.api_sign_in(
        request, username=payload.username, password=payload.password, otp_code=payload.otp_code
    )
    return _me(user)


@router.post("/logout", response={204: None}, auth=django_auth)
def log_out(request: HttpRequest) -> Status[None]:
    logout(request)
    return Status(204, None)


@router.get("/me", response=MeOut, auth=django_auth)
def me(request: HttpRequest) -> dict[str, object]:
    return _me(request.user)


def _me(user: object) -> dict[str, object]:
    return {
        "username": user.get_username(),  # type: ignore[attr-defined]
        "person": selectors.person_for_user(user),
        "staff": selectors.staff_for_user(user),
    }


@router.post("/persons", response={201: PersonOut}, auth=django_auth)
def register_person_at_window(
    request: HttpRequest, payload: WindowRegistrationIn
) -> Status[Person]:
    person = services.person_register_at_window(actor=request.user, **payload.dict())
    return Status(201, person)


@router.post("/persons/lookup", response=PersonOut, auth=django_auth)
def lookup_person(request: HttpRequest, payload: LookupIn) -> Person:
    """Find a person by ID number (in the body, so it never lands in an access log)."""
    services.staff_scope(request.user, services.INTAKE_ROLES)
    person = selectors.person_find_by_id_number(id_number=payload.id_number)
    if person is None:
        raise NotFound(_("No registered person has this ID number."))
    return person


@router.post("/enterprises", response={201: EnterpriseOut}, auth=django_auth)
def register_enterprise(request: HttpRequest, payload: EnterpriseIn) -> Status[Enterprise]:
    enterprise = services.enterprise_register(actor=request.user, **payload.dict())
    return Status(201, enterprise)


@router.post("/enterprises/{uscc}/members", response={201: MemberOut}, auth=django_auth)
def add_enterprise_member(request: HttpRequest, uscc: str, payload: MemberIn) -> Status[object]:
    enterprise = selectors.enterprise_get(uscc=uscc)
    member = services.enterprise_member_add(
        actor=request.user, enterprise=enterprise, **payload.dict()
    )
    return Status(201, member)


@router.get("/enterprises/{uscc}/members", response=list[MemberListOut], auth=django_auth)
def list_enterprise_members(request: HttpRequest, uscc: str) -> list[EnterpriseMember]:
    """Who acts for the enterprise (its members, and window staff, may ask)."""
    enterprise = selectors.enterprise_get(uscc=uscc)
    return selectors.enterprise_members(actor=request.user, enterprise=enterprise)


@router.post(
    "/enterprises/{uscc}/members/{person_id}/remove", response={204: None}, auth=django_auth
)
def remove_enterprise_member(
    request: HttpRequest, uscc: str, person_id: int, payload: MemberRemoveIn
) -> Status[None]:
    """The legal representative (or a window clerk) takes an authorised handler off the
    enterprise; the handler loses access to its cases at once."""
    enterprise = selectors.enterprise_get(uscc=uscc)
    services.enterprise_member_remove(
        actor=request.user, enterprise=enterprise, person_id=person_id, reason=payload.reason
    )
    return Status(204, None)


# Real-name verification -------------------------------------------------------------------


class MethodOut(Schema):
    key: str
    label: str
    level: int
    instructions: str
    online: bool


class VerificationOut(Schema):
    method: str
    level_before: int
    level_after: int
    verified_by: str
    note: str
    created_at: dt.datetime

    @staticmethod
    def resolve_verified_by(obj: VerificationRecord) -> str:
        return obj.verified_by_label


class InPersonIn(Schema):
    id_number: str
    name: str
    document_checked: str
    note: str = ""


class StartOut(Schema):
    redirect_url: str


class CallbackOut(Schema):
    # "raised", "unchanged" (the level was already as high) or "failed" (not verified).
    result: str


def _method_out(method: verification.VerificationMethod) -> dict[str, object]:
    return {
        "key": method.key,
        "label": str(method.label),
        "level": method.level,
        "instructions": str(method.instructions),
        "online": method.online,
    }


@router.get("/verification-methods", response=list[MethodOut], auth=None)
def list_verification_methods(request: HttpRequest) -> list[dict[str, object]]:
    """How a person can raise their real-name level on this node."""
    return [_method_out(method) for method in verification.methods().values()]


@router.get("/me/verifications", response=list[VerificationOut], auth=django_auth)
def my_verifications(request: HttpRequest) -> list[VerificationRecord]:
    person = selectors.person_for_user(request.user)
    return selectors.verifications_of(person=person) if person is not None else []


@router.post("/me/verifications/{key}/start", response=StartOut, auth=django_auth)
def start_verification(request: HttpRequest, key: str) -> object:
    """Start an online verification (a face check by a provider): go to ``redirect_url``."""
    return services.person_verification_start(actor=request.user, method_key=key)


@router.post("/verifications/{key}/callback", response=CallbackOut, auth=None)
def verification_callback(request: HttpRequest, key: str) -> dict[str, str]:
    """A provider reports its verdict. The method checks the provider's signature; the node
    checks its own token naming the person; a verdict is used once."""
    _json_only(request)
    payload = json_body(request, default=None)
    if not isinstance(payload, dict):
        raise ValidationFailed(fields={"body": _("Expected an object.")})
    return {"result": services.person_verification_complete(method_key=key, payload=payload)}


@router.post("/persons/verify-in-person", response=PersonOut, auth=django_auth)
def verify_in_person(request: HttpRequest, payload: InPersonIn) -> Person:
    """A window clerk records that they checked the person's identity document face to face
    (ID number and name in the body); the person's level becomes L3."""
    person, _record = services.person_verify_at_window(actor=request.user, **payload.dict())
    return person


@router.post("/staff", response={201: StaffOut}, auth=django_auth)
def create_staff(request: HttpRequest, payload: StaffIn) -> Status[Staff]:
    staff = services.staff_create(actor=request.user, **payload.dict())
    return Status(201, staff)


class RolesIn(Schema):
    roles: list[str]


@router.put("/staff/{staff_id}/roles", response=StaffOut, auth=django_auth)
def set_staff_roles(request: HttpRequest, staff_id: int, payload: RolesIn) -> Staff:
    """Replace a staff member's roles (platform admins; department admins within their own
    department and jurisdiction)."""
    services.staff_scope(request.user, services.STAFF_MANAGERS)
    staff = selectors.staff_get(staff_id=staff_id)
    return services.staff_set_roles(actor=request.user, staff=staff, roles=payload.roles)


class OtpResetIn(Schema):
    reason: str = Field("", max_length=200)


class CountOut(Schema):
    removed: int


@router.post("/staff/{staff_id}/otp-reset", response=CountOut, auth=django_auth)
def reset_staff_authenticator(request: HttpRequest, staff_id: int, payload: OtpResetIn) -> object:
    """Remove a staff member's authenticator and recovery codes (a lost phone): they set up a
    new one at their next sign-in. Platform admins; department admins for their own staff."""
    services.staff_scope(request.user, services.STAFF_MANAGERS)
    staff = selectors.staff_get(staff_id=staff_id)
    removed = services.staff_otp_reset(actor=request.user, user=staff.user, reason=payload.reason)
    return {"removed": removed}


@router.post("/staff/{staff_id}/unlock", response=CountOut, auth=django_auth)
def unlock_staff_login(request: HttpRequest, staff_id: int) -> object:
    """Lift the lock-out after repeated failed sign-ins, before its cool-off ends."""
    services.staff_scope(request.user, services.STAFF_MANAGERS)
    staff = selectors.staff_get(staff_id=staff_id)
    return {"removed": services.login_unlock(actor=request.user, user=staff.user)}


class LifeEventIn(Schema):
    kind: str
    occurred_on: dt.date | None = None


class LifeEventOut(Schema):
    kind: str
    label: str
    occurred_on: dt.date | None

    @staticmethod
    def resolve_label(obj: LifeEvent) -> str:
        return str(obj.get_kind_display())


@router.get("/me/life-events", response=list[LifeEventOut], auth=django_auth)
def list_life_events(request: HttpRequest) -> object:
    return selectors.life_events_of(user=request.user)


@router.post("/me/life-events", response={201: LifeEventOut}, auth=django_auth)
def declare_life_event(request: HttpRequest, payload: LifeEventIn) -> Status[LifeEvent]:
    """Tell the platform that something happened (graduated, married, retired …): it suggests
    the services that go with it."""
    return Status(201, services.life_event_declare(actor=request.user, **payload.dict()))


@router.delete("/me/life-events/{kind}", response={204: None}, auth=django_auth)
def withdraw_life_event(request: HttpRequest, kind: str) -> Status[None]:
    services.life_event_withdraw(actor=request.user, kind=kind)
    return Status(204, None)
