"""Agent authorisations (帮办代办): a principal authorises an agent to apply for them."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest
from django.utils import timezone
from ninja import File, Form, Router, Schema
from ninja.files import UploadedFile
from ninja.responses import Status
from ninja.security import django_auth

from tongban.cases import selectors, services
from tongban.cases.models import AgentAuthorisation

router = Router(tags=["authorisations"])


class AuthorisationOut(Schema):
    id: int
    principal: str
    agent: str
    agent_kind: str  # "person" or "staff"
    all_items: bool
    item_codes: list[str]
    valid_from: dt.date
    valid_until: dt.date
    power_of_attorney: str
    # As it reads today: active, revoked or expired.
    state: str
    created_at: dt.datetime
    revoked_at: dt.datetime | None
    revoke_reason: str


def authorisation_out(authorisation: AgentAuthorisation) -> dict[str, Any]:
    return {
        "id": authorisation.pk,
        "principal": authorisation.principal.name_masked,
        "agent": authorisation.agent_label,
        "agent_kind": "staff" if authorisation.agent_staff_id else "person",
        "all_items": authorisation.all_items,
        "item_codes": list(authorisation.item_codes),
        "valid_from": authorisation.valid_from,
        "valid_until": authorisation.valid_until,
        "power_of_attorney": authorisation.power_of_attorney,
        "state": authorisation.state_on(timezone.localdate()),
        "created_at": authorisation.created_at,
        "revoked_at": authorisation.revoked_at,
        "revoke_reason": authorisation.revoke_reason,
    }


class MineOut(Schema):
    given: list[AuthorisationOut]
    received: list[AuthorisationOut]


class GrantIn(Schema):
    agent_id_number: str
    agent_name: str
    all_items: bool = False
    item_codes: list[str] = []
    valid_from: dt.date | None = None
    valid_until: dt.date


class RevokeIn(Schema):
    reason: str = ""


class PersonIn(Schema):
    id_number: str
    name: str


@router.get("/mine", response=MineOut, auth=django_auth)
def my_authorisations(request: HttpRequest) -> dict[str, Any]:
    """The authorisations you gave (as principal) and hold (as agent)."""
    return {
        "given": [authorisation_out(a) for a in selectors.authorisations_given(actor=request.user)],
        "received": [
            authorisation_out(a) for a in selectors.authorisations_received(actor=request.user)
        ],
    }


@router.post("", response={201: AuthorisationOut}, auth=django_auth)
def grant_authorisation(request: HttpRequest, payload: GrantIn) -> Status[dict[str, Any]]:
    """Authorise a registered person (ID number and name) to apply for you, for all items or
    the listed item codes, from ``valid_from`` (today if absent) to ``valid_until``; creating
    it logged in is your signature of the power of attorney. A person who does not match is
    reported as "no match", nothing more."""
    authorisation = services.agent_authorisation_grant(actor=request.user, **payload.dict())
    return Status(201, authorisation_out(authorisation))


@router.post("/at-window", response={201: AuthorisationOut}, auth=django_auth)
def record_authorisation(
    request: HttpRequest,
    principal_id_number: Form[str],
    principal_name: Form[str],
    valid_until: Form[dt.date],
    file: File[UploadedFile],
    agent_id_number: Form[str] = "",
    agent_name: Form[str] = "",
    agent_employee_number: Form[str] = "",
    all_items: Form[bool] = False,
    item_codes: Form[str] = "",
    valid_from: Form[dt.date | None] = None,
) -> Status[dict[str, Any]]:
    """A window clerk records a paper power of attorney (multipart; ``file`` is the scan: PDF,
    JPEG, PNG or OFD). The agent is a person (ID number and name) or a staff helper (employee
    number); ``item_codes`` is comma-separated."""
    authorisation = services.agent_authorisation_record(
        actor=request.user,
        principal_id_number=principal_id_number,
        principal_name=principal_name,
        agent_id_number=agent_id_number,
        agent_name=agent_name,
        agent_employee_number=agent_employee_number,
        all_items=all_items,
        item_codes=[code for code in item_codes.split(",") if code.strip()],
        valid_from=valid_from,
        valid_until=valid_until,
        upload=file,
    )
    return Status(201, authorisation_out(authorisation))


@router.post("/of-person", response=list[AuthorisationOut], auth=django_auth)
def authorisations_of_person(request: HttpRequest, payload: PersonIn) -> list[dict[str, Any]]:
    """For a window clerk: the authorisations a person (ID number and name, in the body) gave
    or holds, to revoke one at their request."""
    return [
        authorisation_out(a)
        for a in selectors.authorisations_of_person(
            actor=request.user, id_number=payload.id_number, name=payload.name
        )
    ]


@router.get("/{authorisation_id}", response=AuthorisationOut, auth=django_auth)
def get_authorisation(request: HttpRequest, authorisation_id: int) -> dict[str, Any]:
    return authorisation_out(
        selectors.authorisation_get(actor=request.user, authorisation_id=authorisation_id)
    )


@router.post("/{authorisation_id}/revoke", response=AuthorisationOut, auth=django_auth)
def revoke_authorisation(
    request: HttpRequest, authorisation_id: int, payload: RevokeIn
) -> dict[str, Any]:
    """The principal revokes (or a window clerk at their request, with the reason): the agent
    can no longer apply or act on the cases filed under it."""
    authorisation = services.agent_authorisation_revoke(
        actor=request.user, authorisation_id=authorisation_id, reason=payload.reason
    )
    return authorisation_out(authorisation)
