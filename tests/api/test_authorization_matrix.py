"""The authorization matrix: every operation of the API (read from openapi.json, so a new one
cannot be added without a row here) × every role, inside and outside the jurisdiction, × the
actor's own object and someone else's.

The expectations are written out by hand below (``SEES`` and the rows of ``PROBES``), not taken
from cases/access.py: the test states the rules of issue 6 and the code must meet them.

- ``ok``: allowed; the answer may still be a 400 or 409 about the request itself, never 401,
  403 or 404.
- ``denied``: the actor sees the object (or the operation exists for them) and may not do this:
  403.
- ``hidden``: the actor may not see the object: 404, the very answer an unknown number or id
  gets, so that nothing is learnt from guessing.
- ``login``: anonymous: 401.

Beyond the status, no answer to an actor may carry the number of a case, or the code of an
appointment, that the actor may not see; lists hold exactly what the actor sees.

Every request runs in a transaction that is rolled back, so each one meets the same world.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.test import Client
from django.utils import translation

from tests.cases.conftest import FORWARD, PDF, form_for, scan_identity
from tests.conftest import login
from tests.delivery.appointments_support import NOW, at, book, make_window
from tests.factories import EnterpriseFactory, PersonFactory, StaffFactory, make_uscc
from tongban.cases import services as cases
from tongban.catalog.models import CatalogVersion, ServiceItem
from tongban.catalog.selectors import version_current
from tongban.core.audit import SYSTEM
from tongban.delivery import appointments
from tongban.delivery import services as delivery

OPENAPI = Path(__file__).parents[2] / "src" / "tongban" / "api" / "openapi.json"
BASE = "/api/v1"

ACTORS = (
    "anonymous",
    # People
    "applicant",  # A: applied (through an agent) for case c1; booked an appointment
    "other_person",  # B: case c2 was received for them at a window
    "agent",  # P: holds A's authorisation and filed c1 under it
    # Staff of the Chongqing node
    "clerk",  # window clerk of 渝中区 (500103), where c2 was received and the hall is
    "clerk_elsewhere",  # window clerk of 江北区 (500105)
    "reviewer",  # 重庆市司法局 (500000): decides c1 and c2
    "reviewer_other_department",  # 重庆市人社局 (500000)
    "reviewer_other_province",  # 成都市司法局 (510100)
    "approver",  # 重庆市司法局
    "department_admin",  # 重庆市司法局
    "department_admin_other",  # 重庆市人社局: its window is in the hall
    "supervisor",  # 重庆市 (500000)
    "supervisor_elsewhere",  # 江北区 (500105)
    "platform_admin",
)
PEOPLE = frozenset({"applicant", "other_person", "agent"})
CLERKS = frozenset({"clerk", "clerk_elsewhere"})
DECIDERS = frozenset({"reviewer", "approver"})

# Who sees what (the rules of issue 6, item 7).
SEES: dict[str, frozenset[str]] = {
    # ONLINE, applicant A through agent P, decided by 重庆市司法局.
    "c1": frozenset(
        {"applicant", "agent", "reviewer", "approver", "department_admin", "supervisor"}
    ),
    # PROXY, for B, received in 渝中区, decided by 重庆市司法局.
    "c2": frozenset(
        {"other_person", "clerk", "reviewer", "approver", "department_admin", "supervisor"}
    ),
    # A's appointment at the 渝中区 hall (a window of 重庆市人社局).
    "appointment": frozenset({"applicant", "clerk", "department_admin", "department_admin_other"}),
    # A's authorisation of P: the two of them, and window clerks, who act on it at a person's
    # request.
    "authorisation": frozenset({"applicant", "agent", "clerk", "clerk_elsewhere"}),
}
SEES["shipment"] = SEES["c2"]  # the originals of c2, posted by the clerk
# The licence issued to A (重庆市司法局's seal): its holder's; the issuing department's approvers
# and admins revoke and re-issue it.
LICENSE_ISSUERS = frozenset({"approver", "department_admin"})

OK, DENIED, HIDDEN, LOGIN, ANY = "ok", "denied", "hidden", "login", "any"

# Data sharing: 重庆市公安局 (not an actor) publishes ``resource``; 重庆市人社局 holds an approved
# grant for it (``grant``), made one call under it (``call``, by its reviewer) and disputed it
# (``dispute``). 重庆市司法局 publishes ``own_resource``, for which 重庆市人社局 has asked
# (``request``: undecided).
DATASHARE_STAFF = frozenset(ACTORS) - PEOPLE - {"anonymous"}
DATASHARE_HOLDER = frozenset({"reviewer_other_department", "department_admin_other"})  # 人社局
SUPERVISORS = frozenset({"supervisor", "supervisor_elsewhere"})
DEPARTMENT_ADMINS = frozenset({"department_admin", "department_admin_other"})
# A platform admin acts for any department of the node and sees what supervisors see.
DS_ADMINS = DEPARTMENT_ADMINS | {"platform_admin"}
DS_OVERSEERS = SUPERVISORS | {"platform_admin"}
# Who sees what: a department admin the grants of their department, both ways; a department's
# staff its calls (and disputes on them); supervisors all of them.
SEES["ds_grant"] = frozenset({"department_admin_other"}) | DS_OVERSEERS
SEES["ds_request"] = DEPARTMENT_ADMINS | DS_OVERSEERS
SEES["ds_call"] = DATASHARE_HOLDER | DS_OVERSEERS


@dataclasses.dataclass(frozen=True)
class World:
    item: ServiceItem
    c1: str
    c2: str
    shipment: int
    appointment: str
    authorisation: int
    window: int
    closed_day: str
    uscc: str
    license: str  # A's licence (issued by 重庆市司法局)
    member: int  # a handler of the enterprise
    staff: int  # the reviewer, as the object of staff management
    datashare: DatashareWorld
    people: dict[str, Any]
    clients: dict[str, Client]

    def secrets_hidden_from(self, actor: str) -> list[str]:
        """Numbers and codes the actor must never read."""
        objects = {"c1": self.c1, "c2": self.c2, "appointment": self.appointment}
        return [value for name, value in objects.items() if actor not in SEES[name]]


@dataclasses.dataclass(frozen=True)
class DatashareWorld:
    resource: str  # <node>.<key>, 重庆市公安局's
    own_resource: str  # 重庆市司法局's
    grant: str  # 重庆市人社局's approved grant for ``resource``
    request: str  # 重庆市人社局's undecided request for ``own_resource``
    call: str  # answered under ``grant``
    dispute: str  # raised by 重庆市人社局 on ``call``
    purpose: str
    subject: str  # an ID number to ask about


DATASHARE_FIELDS = [
    {"key": "id_number", "name": "公民身份号码", "personal": True},
    {"key": "name", "name": "姓名", "personal": True},
    {"key": "address", "name": "户籍地址", "personal": True},
]
DATASHARE_QUESTIONS = [
    {
        "key": "registered",
        "name": "是否本市户籍",
        "params": ["id_number", "name"],
        "rule": {"op": "match"},
    }
]


def _build_datashare(item: ServiceItem, staff: dict[str, Any], subject: Any) -> DatashareWorld:
    from tongban.datashare import services as datashare
    from tongban.regions.models import Department

    police = StaffFactory(department_admin=True, department_key="cq-public-security")
    resource = datashare.resource_publish(
        actor=police.user,
        department=Department.objects.get(key="cq-public-security"),
        key="hukou",
        name="户籍信息",
        subject_kind="person",
        sensitivity="sensitive",
        fields=DATASHARE_FIELDS,
        questions=DATASHARE_QUESTIONS,
    )
    own = datashare.resource_publish(
        actor=staff["department_admin"].user,
        department=Department.objects.get(key="cq-justice"),
        key="notary-records",
        name="公证记录",
        subject_kind="person",
        sensitivity="internal",
        fields=DATASHARE_FIELDS,
        questions=DATASHARE_QUESTIONS,
    )
    purpose = "核验社保待遇申领人户籍"
    hrss = staff["department_admin_other"].user
    grant = datashare.grant_request(
        actor=hrss,
        resource=resource,
        purpose=purpose,
        items=[item.code],
        questions=["registered"],
        fields=["address"],
    )
    grant = datashare.grant_decide(
        actor=police.user,
        grant=grant,
        approve=True,
        valid_until=NOW.date() + dt.timedelta(days=365),
        rate_limit=100,
    )
    request = datashare.grant_request(
        actor=hrss, resource=own, purpose=purpose, items=[item.code], questions=["registered"]
    )
    call, _answer = datashare.call_make(
        actor=staff["reviewer_other_department"].user,
        request=datashare.Request(
            resource=resource.ref,
            kind="verify",
            question="registered",
            params={"id_number": subject.id_number, "name": subject.name},
            purpose=purpose,
        ),
    )
    dispute = datashare.dispute_raise(
        actor=hrss, call=call, kind="wrong_answer", reason="当事人户籍在本市"
    )
    return DatashareWorld(
        resource=resource.ref,
        own_resource=own.ref,
        grant=str(grant.uid),
        request=str(request.uid),
        call=str(call.uid),
        dispute=str(dispute.uid),
        purpose=purpose,
        subject=subject.id_number,
    )


def _build() -> World:
    CatalogVersion.objects.update(valid_from=dt.date(2026, 1, 1))
    item = ServiceItem.objects.get(version=version_current(), name="学历公证")
    applicant = PersonFactory(with_login=True)
    other = PersonFactory(with_login=True)
    agent = PersonFactory(with_login=True)
    staff = {
        "clerk": StaffFactory(
            window_clerk=True, department_key="cq-big-data", jurisdiction_code="500103"
        ),
        "clerk_elsewhere": StaffFactory(
            window_clerk=True, department_key="cq-big-data", jurisdiction_code="500105"
        ),
        "reviewer": StaffFactory(reviewer=True, department_key="cq-justice"),
        "reviewer_other_department": StaffFactory(reviewer=True, department_key="cq-hrss"),
        "reviewer_other_province": StaffFactory(
            reviewer=True, department_key="cd-justice", jurisdiction_code="510100"
        ),
        "approver": StaffFactory(approver=True, department_key="cq-justice"),
        "department_admin": StaffFactory(department_admin=True, department_key="cq-justice"),
        "department_admin_other": StaffFactory(department_admin=True, department_key="cq-hrss"),
        "supervisor": StaffFactory(supervisor=True),
        "supervisor_elsewhere": StaffFactory(supervisor=True, jurisdiction_code="500105"),
        "platform_admin": StaffFactory(platform_admin=True),
    }
    authorisation = cases.agent_authorisation_grant(
        actor=applicant.user,
        agent_id_number=agent.id_number,
        agent_name=agent.name,
        all_items=True,
        valid_until=dt.date(2027, 6, 30),
    )
    c1 = cases.case_submit(
        actor=agent.user,
        item_code=item.code,
        scenario_key="general",
        authority_division="500000",
        form_data=form_for(applicant),
        authorisation_id=authorisation.pk,
    )
    clerk = staff["clerk"]
    c2 = cases.case_submit(
        actor=clerk.user,
        item_code=item.code,
        scenario_key="general",
        authority_division="500000",
        form_data=form_for(other),
        mode="PROXY",
        applicant_id_number=other.id_number,
    )
    scan_identity(clerk.user, c2.number)
    cases.case_act(actor=clerk.user, number=c2.number, action="forward", payload=FORWARD)
    shipment = delivery.shipment_create(
        actor=clerk.user,
        number=c2.number,
        purpose="originals",
        carrier="ems",
        tracking_number="EA123456789CN",
    )
    window = make_window(key="matrix-hall", departments=("cq-hrss",))
    appointment = book(applicant, window, at(23, 9))
    appointments.window_close(
        actor=SYSTEM, window_id=window.pk, day=dt.date(2026, 9, 29), reason="设备检修"
    )
    enterprise = EnterpriseFactory(legal_representative=applicant)
    handler = PersonFactory(with_login=True)
    from tongban.accounts.services import enterprise_member_add

    enterprise_member_add(
        actor=applicant.user,
        enterprise=enterprise,
        id_number=handler.id_number,
        name=handler.name,
        role="authorised_handler",
    )
    from tongban.licenses.services import license_issue

    licence = license_issue(case=c1, actor=SYSTEM)
    assert licence is not None
    people = {"applicant": applicant, "other_person": other, "agent": agent, **staff}
    clients = {"anonymous": Client()}
    for name, who in people.items():
        clients[name] = login(Client(), who.user)
    return World(
        item=item,
        c1=c1.number,
        c2=c2.number,
        shipment=shipment.pk,
        appointment=appointment.code,
        authorisation=authorisation.pk,
        window=window.pk,
        closed_day="2026-09-29",
        uscc=enterprise.uscc,
        license=licence.identifier,
        member=handler.pk,
        staff=staff["reviewer"].pk,
        datashare=_build_datashare(item, staff, applicant),
        people=people,
        clients=clients,
    )


@pytest.fixture(scope="module")
def world(django_db_setup: None, django_db_blocker: Any) -> Iterator[World]:
    """Built once for the module inside a transaction rolled back at its end; the clock stays
    on a working Tuesday (the appointment fixtures' day) so that sessions and slots hold."""
    with (
        django_db_blocker.unblock(),
        time_machine.travel(NOW, tick=False),
        translation.override("zh-hans"),
    ):
        outer = transaction.atomic()
        outer.__enter__()
        try:
            yield _build()
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


# What each operation is asked, and what each actor must get ---------------------------------

Expect = Callable[[str], str]


def anyone(actor: str) -> str:
    return OK


def anything(actor: str) -> str:
    return ANY


def signed_in(actor: str) -> str:
    return LOGIN if actor == "anonymous" else OK


def roles(*may: str | frozenset[str]) -> Expect:
    """An operation without an object: those in ``may`` are allowed, the others refused."""
    allowed = _names(may)
    return lambda actor: LOGIN if actor == "anonymous" else OK if actor in allowed else DENIED


def on(obj: str, *may: str | frozenset[str]) -> Expect:
    """An operation on an object: ``may`` are allowed; who sees it otherwise is refused; who
    does not see it is told it does not exist."""
    allowed = _names(may)

    def expect(actor: str) -> str:
        if actor == "anonymous":
            return LOGIN
        if actor in allowed:
            return OK
        return DENIED if actor in SEES[obj] else HIDDEN

    return expect


def license_desk(actor: str) -> str:
    """Revoking and re-issuing: approvers and admins of the issuing department; the same roles
    elsewhere are told there is no such licence of theirs; other roles may not do it at all."""
    if actor == "anonymous":
        return LOGIN
    if actor in LICENSE_ISSUERS:
        return OK
    return HIDDEN if actor == "department_admin_other" else DENIED


def holder(actor: str) -> str:
    """The holder's own licence: A; to anyone else it does not exist."""
    if actor == "anonymous":
        return LOGIN
    return OK if actor == "applicant" else HIDDEN


def reach(obj: str, readers: frozenset[str], *may: str | frozenset[str]) -> Expect:
    """A data-sharing object: ``readers`` are the roles its selector lets look at all (anyone
    else is refused before the look-up, 403); among them, who does not see it is told it does
    not exist."""
    allowed = _names(may)

    def expect(actor: str) -> str:
        if actor == "anonymous":
            return LOGIN
        if actor in allowed:
            return OK
        return DENIED if actor in SEES[obj] or actor not in readers else HIDDEN

    return expect


def seen(obj: str) -> Expect:
    return on(obj, SEES[obj])


def _names(may: tuple[str | frozenset[str], ...]) -> frozenset[str]:
    names: set[str] = set()
    for entry in may:
        names |= {entry} if isinstance(entry, str) else entry
    return frozenset(names)


@dataclasses.dataclass(frozen=True)
class Probe:
    """One request: ``path`` is formatted with the world; ``unknown`` is the same request for
    an object that does not exist (what a hidden object's answer must equal)."""

    method: str
    path: str
    expect: Expect
    body: Any = None
    files: bool = False
    unknown: str | None = None
    listing: str | None = None  # the object kind whose visible members the answer lists


def _proxy_case_body(world: World) -> dict[str, Any]:
    return {
        "item_code": world.item.code,
        "scenario_key": "general",
        "authority_division": "500000",
        "form_data": form_for(world.people["applicant"]),
    }


def _at_window_body(world: World) -> dict[str, Any]:
    applicant, agent = world.people["applicant"], world.people["agent"]
    return {
        "principal_id_number": applicant.id_number,
        "principal_name": applicant.name,
        "agent_id_number": agent.id_number,
        "agent_name": agent.name,
        "all_items": "true",
        "valid_until": "2027-01-31",
        "file": SimpleUploadedFile("poa.pdf", PDF, content_type="application/pdf"),
    }


UNKNOWN_CASE = "99999999999999999999"
UNKNOWN_UID = "00000000-0000-4000-8000-000000000000"
GRANT_READERS = DS_ADMINS | DS_OVERSEERS


def _ask_body(world: World) -> dict[str, Any]:
    person = world.people["applicant"]
    return {
        "params": {"id_number": person.id_number, "name": person.name},
        "purpose": world.datashare.purpose,
    }


UNKNOWN_LICENSE = "1.2.156.3005.2.11100000000000000N001.005000000000000001.5000002026999999.001.0"

PROBES: dict[str, Callable[[World], list[Probe]]] = {
    # Accounts
    "register_enterprise": lambda w: [
        # A person registers an enterprise they represent; window staff register any.
        Probe(
            "POST",
            "/accounts/enterprises",
            roles("other_person", CLERKS, "platform_admin"),
            {
                "uscc": make_uscc(9999),
                "name": "矩阵测试有限公司",
                "legal_representative_id_number": w.people["other_person"].id_number,
                "legal_representative_name": w.people["other_person"].name,
            },
        ),
    ],
    "list_enterprise_members": lambda w: [
        Probe(
            "GET",
            f"/accounts/enterprises/{w.uscc}/members",
            roles("applicant", CLERKS, "platform_admin"),
        ),
    ],
    "add_enterprise_member": lambda w: [
        Probe(
            "POST",
            f"/accounts/enterprises/{w.uscc}/members",
            roles("applicant", CLERKS, "platform_admin"),
            {
                "id_number": w.people["other_person"].id_number,
                "name": w.people["other_person"].name,
                "role": "authorised_handler",
            },
        ),
    ],
    "remove_enterprise_member": lambda w: [
        Probe(
            "POST",
            f"/accounts/enterprises/{w.uscc}/members/{w.member}/remove",
            roles("applicant", CLERKS, "platform_admin"),
            {},
        ),
    ],
    "log_in": lambda w: [
        Probe("POST", "/accounts/login", anything, {"username": "nobody", "password": "wrong"})
    ],
    "log_out": lambda w: [Probe("POST", "/accounts/logout", signed_in)],
    "me": lambda w: [Probe("GET", "/accounts/me", signed_in)],
    "list_life_events": lambda w: [Probe("GET", "/accounts/me/life-events", signed_in)],
    "declare_life_event": lambda w: [
        Probe("POST", "/accounts/me/life-events", roles(PEOPLE), {"kind": "unknown"})
    ],
    "withdraw_life_event": lambda w: [
        Probe("DELETE", "/accounts/me/life-events/marriage", roles(PEOPLE))
    ],
    "my_verifications": lambda w: [Probe("GET", "/accounts/me/verifications", signed_in)],
    "start_verification": lambda w: [
        Probe("POST", "/accounts/me/verifications/in_person/start", roles(PEOPLE))
    ],
    "register_person_at_window": lambda w: [
        Probe(
            "POST",
            "/accounts/persons",
            roles(CLERKS, "platform_admin"),
            {"id_number": "1", "name": "某"},
        ),
    ],
    "lookup_person": lambda w: [
        Probe(
            "POST",
            "/accounts/persons/lookup",
            roles(CLERKS, "platform_admin"),
            {"id_number": w.people["other_person"].id_number},
        ),
    ],
    "verify_in_person": lambda w: [
        Probe(
            "POST",
            "/accounts/persons/verify-in-person",
            roles(CLERKS, "platform_admin"),
            {
                "id_number": w.people["other_person"].id_number,
                "name": w.people["other_person"].name,
                "document_checked": "resident_id_card",
            },
        ),
    ],
    "sign_up": lambda w: [
        Probe(
            "POST",
            "/accounts/sign-up",
            anything,
            {"id_number": "1", "name": "", "password": "", "phone": ""},
        )
    ],
    "create_staff": lambda w: [
        Probe(
            "POST",
            "/accounts/staff",
            roles("platform_admin", "department_admin"),
            {
                "username": "new-staff",
                "name": "新人",
                "employee_number": "N0001",
                "department_key": "cq-justice",
                "jurisdiction_code": "500000",
                "roles": ["reviewer"],
                "password": "Tongban-Demo-2026",
            },
        ),
    ],
    "reset_staff_authenticator": lambda w: [
        Probe(
            "POST",
            f"/accounts/staff/{w.staff}/otp-reset",
            roles("platform_admin", "department_admin"),
            {"reason": "换手机"},
        ),
    ],
    "set_staff_roles": lambda w: [
        Probe(
            "PUT",
            f"/accounts/staff/{w.staff}/roles",
            roles("platform_admin", "department_admin"),
            {"roles": ["reviewer", "approver"]},
        ),
    ],
    "unlock_staff_login": lambda w: [
        Probe(
            "POST", f"/accounts/staff/{w.staff}/unlock", roles("platform_admin", "department_admin")
        ),
    ],
    "list_verification_methods": lambda w: [Probe("GET", "/accounts/verification-methods", anyone)],
    "verification_callback": lambda w: [
        Probe("POST", "/accounts/verifications/in_person/callback", anything, {})
    ],
    # Appointments
    "book": lambda w: [
        Probe(
            "POST",
            "/appointments",
            roles(PEOPLE, "clerk"),
            {
                "window_id": w.window,
                "starts_at": "2026-09-23T10:00:00+08:00",
                "purpose": "assisted",
            },
        ),
    ],
    "day_list": lambda w: [
        Probe(
            "GET",
            f"/appointments/day?day=2026-09-23&window_id={w.window}",
            roles("clerk", "department_admin", "department_admin_other"),
            listing="appointment",
        ),
    ],
    "halls": lambda w: [Probe("GET", "/appointments/halls", anyone)],
    "mine": lambda w: [Probe("GET", "/appointments/mine", signed_in, listing="own appointment")],
    "notices": lambda w: [Probe("GET", "/appointments/notices", signed_in)],
    "purposes": lambda w: [Probe("GET", "/appointments/purposes", anyone)],
    "closures": lambda w: [Probe("GET", f"/appointments/windows/{w.window}/closures", anyone)],
    "close": lambda w: [
        Probe(
            "POST",
            f"/appointments/windows/{w.window}/closures",
            roles("platform_admin", "department_admin_other"),
            {"day": "2026-09-30", "reason": "培训"},
        ),
    ],
    "reopen": lambda w: [
        Probe(
            "DELETE",
            f"/appointments/windows/{w.window}/closures/{w.closed_day}",
            roles("platform_admin", "department_admin_other"),
        ),
    ],
    "days": lambda w: [Probe("GET", f"/appointments/windows/{w.window}/days", anyone)],
    "schedules": lambda w: [Probe("GET", f"/appointments/windows/{w.window}/schedules", anyone)],
    "set_schedules": lambda w: [
        Probe(
            "PUT",
            f"/appointments/windows/{w.window}/schedules",
            roles("platform_admin", "department_admin_other"),
            {
                "schedules": [
                    {
                        "weekday": 1,
                        "start": "09:00",
                        "end": "12:00",
                        "slot_minutes": 30,
                        "capacity": 2,
                    }
                ]
            },
        ),
    ],
    "slots": lambda w: [
        Probe("GET", f"/appointments/windows/{w.window}/slots?day=2026-09-23", anyone)
    ],
    "get": lambda w: [
        Probe(
            "GET",
            f"/appointments/{w.appointment}",
            seen("appointment"),
            unknown="/appointments/ZZZZZZZZ",
        )
    ],
    "attended": lambda w: [
        Probe(
            "POST",
            f"/appointments/{w.appointment}/attended",
            on("appointment", "clerk"),
            unknown="/appointments/ZZZZZZZZ/attended",
        )
    ],
    "cancel": lambda w: [
        Probe(
            "POST",
            f"/appointments/{w.appointment}/cancel",
            seen("appointment"),
            {"reason": "临时有事"},
            unknown="/appointments/ZZZZZZZZ/cancel",
        )
    ],
    "check_in": lambda w: [
        Probe(
            "POST",
            f"/appointments/{w.appointment}/check-in",
            on("appointment", "clerk"),
            unknown="/appointments/ZZZZZZZZ/check-in",
        )
    ],
    "no_show": lambda w: [
        Probe(
            "POST",
            f"/appointments/{w.appointment}/no-show",
            on("appointment", "clerk"),
            unknown="/appointments/ZZZZZZZZ/no-show",
        )
    ],
    # Agent authorisations
    "grant_authorisation": lambda w: [
        Probe(
            "POST",
            "/authorisations",
            roles(PEOPLE),
            {
                "agent_id_number": w.people["other_person"].id_number,
                "agent_name": w.people["other_person"].name,
                "all_items": True,
                "valid_until": "2027-01-31",
            },
        ),
    ],
    "record_authorisation": lambda w: [
        Probe("POST", "/authorisations/at-window", roles(CLERKS), _at_window_body(w), files=True)
    ],
    "my_authorisations": lambda w: [Probe("GET", "/authorisations/mine", signed_in)],
    "authorisations_of_person": lambda w: [
        Probe(
            "POST",
            "/authorisations/of-person",
            roles(CLERKS),
            {"id_number": w.people["agent"].id_number, "name": w.people["agent"].name},
        ),
    ],
    "get_authorisation": lambda w: [
        Probe(
            "GET",
            f"/authorisations/{w.authorisation}",
            seen("authorisation"),
            unknown="/authorisations/999999",
        )
    ],
    "revoke_authorisation": lambda w: [
        Probe(
            "POST",
            f"/authorisations/{w.authorisation}/revoke",
            on("authorisation", "applicant", CLERKS),
            {"reason": "委托人到窗口要求撤销"},
            unknown="/authorisations/999999/revoke",
        ),
    ],
    # Cases
    "list_cases": lambda w: [Probe("GET", "/cases", signed_in, listing="cases")],
    "submit_case": lambda w: [Probe("POST", "/cases", roles(PEOPLE), _proxy_case_body(w))],
    "get_case": lambda w: [
        Probe("GET", f"/cases/{number}", seen(case), unknown=f"/cases/{UNKNOWN_CASE}")
        for case, number in (("c1", w.c1), ("c2", w.c2))
    ],
    "act_on_case": lambda w: [
        *(
            Probe(
                "POST",
                f"/cases/{number}/actions/accept",
                on(case, DECIDERS),
                {},
                unknown=f"/cases/{UNKNOWN_CASE}/actions/accept",
            )
            for case, number in (("c1", w.c1), ("c2", w.c2))
        ),
        Probe(
            "POST",
            f"/cases/{w.c1}/actions/withdraw",
            on("c1", "applicant", "agent"),
            {},
            unknown=f"/cases/{UNKNOWN_CASE}/actions/withdraw",
        ),
        Probe(
            "POST",
            f"/cases/{w.c2}/actions/withdraw",
            on("c2", "other_person"),
            {},
            unknown=f"/cases/{UNKNOWN_CASE}/actions/withdraw",
        ),
    ],
    "formal_review_checklist": lambda w: [
        Probe(
            "GET",
            f"/cases/{number}/checklist",
            seen(case),
            unknown=f"/cases/{UNKNOWN_CASE}/checklist",
        )
        for case, number in (("c1", w.c1), ("c2", w.c2))
    ],
    "case_events": lambda w: [
        Probe("GET", f"/cases/{number}/events", seen(case), unknown=f"/cases/{UNKNOWN_CASE}/events")
        for case, number in (("c1", w.c1), ("c2", w.c2))
    ],
    "upload_material": lambda w: [
        Probe(
            "POST",
            f"/cases/{w.c1}/materials",
            on("c1", "applicant", "agent"),
            {
                "spec_key": "identity",
                "file": SimpleUploadedFile("id.pdf", PDF, content_type="application/pdf"),
            },
            files=True,
            unknown=f"/cases/{UNKNOWN_CASE}/materials",
        ),
        Probe(
            "POST",
            f"/cases/{w.c2}/materials",
            on("c2", "other_person", "clerk"),
            {
                "spec_key": "identity",
                "file": SimpleUploadedFile("id.pdf", PDF, content_type="application/pdf"),
            },
            files=True,
            unknown=f"/cases/{UNKNOWN_CASE}/materials",
        ),
    ],
    # Whoever may upload to a case may hand in the applicant's electronic licence instead (the
    # ID card takes none here: the allowed get a 400 about the request; c2's 409: forwarded).
    "attach_license": lambda w: [
        Probe(
            "POST",
            f"/cases/{number}/materials/license",
            on(case, *may),
            {"spec_key": "identity", "identifier": "1.2.156.3005.2.X"},
            unknown=f"/cases/{UNKNOWN_CASE}/materials/license",
        )
        for case, number, may in (
            ("c1", w.c1, ("applicant", "agent")),
            ("c2", w.c2, ("other_person", "clerk")),
        )
    ],
    # A data-sharing check instead of a material (the cases endpoint): whoever may upload, and
    # the deciding department's reviewers and approvers; the allowed get a 400 or 409 about the
    # request (no source here verifies the identity material).
    "attach_datashare": lambda w: [
        Probe(
            "POST",
            f"/cases/{number}/materials/datashare",
            on(case, *may, DECIDERS),
            {"spec_key": "identity"},
            unknown=f"/cases/{UNKNOWN_CASE}/materials/datashare",
        )
        for case, number, may in (
            ("c1", w.c1, ("applicant", "agent")),
            ("c2", w.c2, ("other_person", "clerk")),
        )
    ],
    "case_shipments": lambda w: [
        Probe(
            "GET",
            f"/cases/{number}/shipments",
            seen(case),
            unknown=f"/cases/{UNKNOWN_CASE}/shipments",
        )
        for case, number in (("c1", w.c1), ("c2", w.c2))
    ],
    "create_shipment": lambda w: [
        Probe(
            "POST",
            f"/cases/{w.c1}/shipments",
            on("c1"),
            {"purpose": "originals", "carrier": "ems", "tracking_number": "EA000000001CN"},
            unknown=f"/cases/{UNKNOWN_CASE}/shipments",
        ),
        Probe(
            "POST",
            f"/cases/{w.c2}/shipments",
            on("c2", "clerk"),
            {"purpose": "originals", "carrier": "ems", "tracking_number": "EA000000001CN"},
            unknown=f"/cases/{UNKNOWN_CASE}/shipments",
        ),
    ],
    "record_step": lambda w: [
        Probe(
            "POST",
            f"/shipments/{w.shipment}/steps",
            on("shipment", "clerk", DECIDERS),
            {"state": "picked_up"},
            unknown="/shipments/999999/steps",
        ),
    ],
    "public_case": lambda w: [
        Probe(
            "GET",
            f"/public/cases/{number}?code=WRONG1",
            anything,
            unknown=f"/public/cases/{UNKNOWN_CASE}?code=WRONG1",
        )
        for number in (w.c1, w.c2)
    ],
    "list_carriers": lambda w: [Probe("GET", "/carriers", anyone)],
    # Licences: the status is public (a malformed identifier is a 400 for everyone)
    "license_status": lambda w: [
        Probe("GET", "/licenses/status/1.2.156.3005.2.X", anything),
        Probe(
            "GET",
            "/licenses/status/1.2.156.3005.2.11100000000000000N001.500000000000000001.1.001.0",
            anything,
        ),
    ],
    "license_revocations": lambda w: [Probe("GET", "/licenses/revocations?since=0", anyone)],
    "verify_license": lambda w: [
        Probe("POST", "/licenses/verify", anyone, {"text": "TB1:NOT-A-LICENCE"}),
    ],
    "verify_license_pdf": lambda w: [
        Probe(
            "POST",
            "/licenses/verify/pdf",
            anyone,
            {"file": SimpleUploadedFile("x.pdf", PDF, content_type="application/pdf")},
            files=True,
        )
    ],
    "my_licenses": lambda w: [Probe("GET", "/licenses/mine", signed_in)],
    "my_license_pdf": lambda w: [
        Probe(
            "GET",
            f"/licenses/mine/{w.license}/pdf",
            holder,
            unknown=f"/licenses/mine/{UNKNOWN_LICENSE}/pdf",
        )
    ],
    "present_license": lambda w: [
        Probe(
            "POST",
            f"/licenses/mine/{w.license}/presentation",
            holder,
            unknown=f"/licenses/mine/{UNKNOWN_LICENSE}/presentation",
        )
    ],
    "revoke_license": lambda w: [
        Probe(
            "POST",
            f"/licenses/{w.license}/revoke",
            license_desk,
            {"reason": "矩阵测试"},
            unknown=f"/licenses/{UNKNOWN_LICENSE}/revoke",
        )
    ],
    "reissue_license": lambda w: [
        Probe(
            "POST",
            f"/licenses/{w.license}/reissue",
            license_desk,
            {"reason": "矩阵测试"},
            unknown=f"/licenses/{UNKNOWN_LICENSE}/reissue",
        )
    ],
    # Data sharing: a platform admin acts for any department and sees what supervisors see.
    "list_resources": lambda w: [
        Probe("GET", "/datashare/resources", roles(DATASHARE_STAFF, "platform_admin"))
    ],
    "get_resource": lambda w: [
        Probe(
            "GET",
            f"/datashare/resources/{w.datashare.resource}",
            roles(DATASHARE_STAFF, "platform_admin"),
        )
    ],
    "publish_resource": lambda w: [
        Probe(
            "POST",
            "/datashare/resources",
            roles(DS_ADMINS),
            {
                "key": "matrix-resource",
                "name": "矩阵测试资源",
                "subject_kind": "person",
                "sensitivity": "internal",
                "fields": DATASHARE_FIELDS,
                "questions": DATASHARE_QUESTIONS,
            },
        )
    ],
    # Only the grant holder's staff are answered; other staff get 403 no_grant (deny by
    # default), supervisors and people 403 for their role.
    "call_verify": lambda w: [
        Probe(
            "POST",
            f"/datashare/{w.datashare.resource}/verify",
            roles(DATASHARE_HOLDER),
            {**_ask_body(w), "question": "registered"},
        )
    ],
    "call_query": lambda w: [
        Probe(
            "POST",
            f"/datashare/{w.datashare.resource}/query",
            roles(DATASHARE_HOLDER),
            {
                "params": {"id_number": w.datashare.subject},
                "purpose": w.datashare.purpose,
                "fields": ["address"],
            },
        )
    ],
    "list_grants": lambda w: [Probe("GET", "/datashare/grants", roles(GRANT_READERS))],
    "get_grant": lambda w: [
        Probe(
            "GET",
            f"/datashare/grants/{w.datashare.grant}",
            reach("ds_grant", GRANT_READERS, SEES["ds_grant"]),
            unknown=f"/datashare/grants/{UNKNOWN_UID}",
        )
    ],
    # 人社局's admin has a grant in force already: a 409 about the request.
    "request_grant": lambda w: [
        Probe(
            "POST",
            "/datashare/grants",
            roles(DS_ADMINS),
            {
                "resource": w.datashare.resource,
                "purpose": "矩阵测试",
                "items": [w.item.code],
                "questions": ["registered"],
            },
        )
    ],
    "decide_grant": lambda w: [
        Probe(
            "POST",
            f"/datashare/grants/{w.datashare.request}/decide",
            reach("ds_request", GRANT_READERS, "department_admin", "platform_admin"),
            {"approve": True, "valid_until": "2027-06-30", "rate_limit": 10},
            unknown=f"/datashare/grants/{UNKNOWN_UID}/decide",
        )
    ],
    # 公安局's admin, who could revoke the grant, is not an actor; 司法局's may revoke what it
    # provides (the undecided request: a 409).
    "revoke_grant": lambda w: [
        Probe(
            "POST",
            f"/datashare/grants/{uid}/revoke",
            reach(obj, GRANT_READERS, *may),
            {"reason": "矩阵测试"},
            unknown=f"/datashare/grants/{UNKNOWN_UID}/revoke",
        )
        for obj, uid, may in (
            ("ds_grant", w.datashare.grant, ("platform_admin",)),
            ("ds_request", w.datashare.request, ("department_admin", "platform_admin")),
        )
    ],
    "withdraw_grant": lambda w: [
        Probe(
            "POST",
            f"/datashare/grants/{uid}/withdraw",
            reach(obj, GRANT_READERS, "department_admin_other", "platform_admin"),
            unknown=f"/datashare/grants/{UNKNOWN_UID}/withdraw",
        )
        for obj, uid in (("ds_grant", w.datashare.grant), ("ds_request", w.datashare.request))
    ],
    "list_calls": lambda w: [Probe("GET", "/datashare/calls", roles(DATASHARE_STAFF))],
    "get_call": lambda w: [
        Probe(
            "GET",
            f"/datashare/calls/{w.datashare.call}",
            reach("ds_call", DATASHARE_STAFF, SEES["ds_call"]),
            unknown=f"/datashare/calls/{UNKNOWN_UID}",
        )
    ],
    "raise_dispute": lambda w: [
        Probe(
            "POST",
            f"/datashare/calls/{w.datashare.call}/disputes",
            reach("ds_call", DATASHARE_STAFF, DATASHARE_HOLDER),
            {"kind": "stale", "reason": "数据未及时更新"},
            unknown=f"/datashare/calls/{UNKNOWN_UID}/disputes",
        )
    ],
    "list_disputes": lambda w: [Probe("GET", "/datashare/disputes", roles(DATASHARE_STAFF))],
    # A dispute is seen with its call; the answering department's admin is not an actor.
    "resolve_dispute": lambda w: [
        Probe(
            "POST",
            f"/datashare/disputes/{w.datashare.dispute}/resolve",
            reach("ds_call", DATASHARE_STAFF, DS_OVERSEERS),
            {"upheld": False, "outcome": "经核实，户籍信息无误"},
            unknown=f"/datashare/disputes/{UNKNOWN_UID}/resolve",
        )
    ],
    "datashare_monitoring": lambda w: [Probe("GET", "/datashare/monitoring", roles(DS_OVERSEERS))],
    # Catalogue and regions: public, but for the recommendations to the signed-in person
    "list_items": lambda w: [Probe("GET", "/catalog/items", anyone)],
    "get_item": lambda w: [Probe("GET", f"/catalog/items/{w.item.code}", anyone)],
    "check_form": lambda w: [
        Probe("POST", f"/catalog/items/{w.item.code}/scenarios/general/check", anyone, {})
    ],
    "recommendations": lambda w: [Probe("GET", "/catalog/recommendations", roles(PEOPLE))],
    "search": lambda w: [Probe("GET", "/catalog/search?q=公证", anyone)],
    "list_themes": lambda w: [Probe("GET", "/catalog/themes", anyone)],
    "list_versions": lambda w: [Probe("GET", "/catalog/versions", anyone)],
    "diff_versions": lambda w: [Probe("GET", "/catalog/versions/1/diff/1", anything)],
    "list_departments": lambda w: [Probe("GET", "/regions/departments", anyone)],
    "list_divisions": lambda w: [Probe("GET", "/regions/divisions", anyone)],
    "get_division": lambda w: [Probe("GET", "/regions/divisions/500103", anyone)],
    "list_halls": lambda w: [Probe("GET", "/regions/halls", anyone)],
}


def _operations() -> list[tuple[str, str, str]]:
    spec = json.loads(OPENAPI.read_text())
    found = []
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            # "tongban_api_<module>_<function>": the function's name is the row's key.
            _prefix, _api, _module, *rest = operation["operationId"].split("_")
            found.append((method.upper(), path, "_".join(rest)))
    return sorted(found)


OPERATIONS = _operations()


def test_every_operation_has_a_row() -> None:
    """A new operation fails here until its rules are written into PROBES."""
    names = [name for _method, _path, name in OPERATIONS]
    assert len(names) == len(set(names)), "operation names must be unique"
    assert sorted(set(names) - set(PROBES)) == []
    assert sorted(set(PROBES) - set(names)) == []


def _send(client: Client, probe: Probe, path: str, body: Any) -> Any:
    url = BASE + path
    if probe.method == "GET":
        return client.get(url)
    if probe.method == "DELETE":
        return client.delete(url)
    if probe.files:
        # A fresh file object for each request (an upload is read once).
        fresh = {
            key: SimpleUploadedFile(value.name, PDF, content_type=value.content_type)
            if isinstance(value, SimpleUploadedFile)
            else value
            for key, value in body.items()
        }
        return client.post(url, fresh)
    payload = json.dumps(body if body is not None else {})
    sender = {"POST": client.post, "PUT": client.put}[probe.method]
    return sender(url, payload, content_type="application/json")


def _rolled_back(client: Client, probe: Probe, path: str) -> Any:
    """The request's writes are undone, and so is what it did to the client's cookies (a
    logout ends the session only for this request)."""
    cookies = copy.copy(client.cookies)
    with transaction.atomic():
        response = _send(client, probe, path, probe.body)
        transaction.set_rollback(True)
    client.cookies = cookies
    return response


def _problems(world: World, probe: Probe) -> list[str]:
    problems = []
    for actor in ACTORS:
        client = world.clients[actor]
        expected = probe.expect(actor)
        response = _rolled_back(client, probe, probe.path)
        status = response.status_code
        text = response.content.decode(errors="replace")
        where = f"{probe.method} {probe.path} as {actor}"
        if status >= 500:
            problems.append(f"{where}: {status} (server error)")
        elif expected == OK and status in (401, 403, 404):
            problems.append(f"{where}: {status}, expected allowed ({text[:160]})")
        elif expected == DENIED and status != 403:
            problems.append(f"{where}: {status}, expected 403 ({text[:160]})")
        elif expected == LOGIN and status != 401:
            problems.append(f"{where}: {status}, expected 401")
        elif expected == HIDDEN:
            if status != 404:
                problems.append(f"{where}: {status}, expected 404 ({text[:160]})")
            elif (unknown := probe.unknown) is not None:
                twin = _rolled_back(client, probe, unknown)
                if (twin.status_code, twin.json()) != (status, response.json()):
                    problems.append(
                        f"{where}: answers {response.json()}, an unknown one {twin.json()}"
                    )
        for secret in world.secrets_hidden_from(actor):
            if secret in text:
                problems.append(f"{where}: the answer holds {secret}, which {actor} may not see")
        if probe.listing and status == 200:
            problems.extend(_listing_problems(world, probe.listing, actor, where, text))
    return problems


def _listing_problems(world: World, listing: str, actor: str, where: str, text: str) -> list[str]:
    if listing == "cases":
        shown = {name for name, number in (("c1", world.c1), ("c2", world.c2)) if number in text}
        wanted = {name for name in ("c1", "c2") if actor in SEES[name]}
    else:  # a hall's bookings, or one's own
        shown = {"appointment"} if world.appointment in text else set()
        mine = listing == "own appointment"
        wanted = (
            {"appointment"} if (actor == "applicant" if mine else actor in SEES[listing]) else set()
        )
    return [] if shown == wanted else [f"{where}: lists {sorted(shown)}, not {sorted(wanted)}"]


@pytest.mark.parametrize(("method", "path", "name"), OPERATIONS)
def test_authorization_matrix(world: World, db: None, method: str, path: str, name: str) -> None:
    probes = PROBES[name](world)
    assert probes, name
    for probe in probes:
        assert probe.method == method, (name, probe.method, method)
    problems = [problem for probe in probes for problem in _problems(world, probe)]
    assert problems == [], "\n".join(problems)
