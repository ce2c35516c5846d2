"""Demo data for `tongban init --demo`: halls, staff, citizens and enterprises of this node's
province, created through the domain services. Idempotent. Every person and enterprise here is
fictitious (valid check digits, invented names); never load this on a real node."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_otp.oath import TOTP
from stdnum.cn import ric, uscc

from tongban.accounts import selectors as account_selectors
from tongban.accounts import services as account_services
from tongban.accounts.models import Enterprise, MemberRole, Person, StaffRole, User
from tongban.cases import services as case_services
from tongban.cases.models import AgentAuthorisation
from tongban.core.audit import SYSTEM
from tongban.delivery import appointments
from tongban.delivery.models import Appointment, ScheduleKind
from tongban.regions import codes
from tongban.regions.models import PeriodKind, ServiceHall, Window, WindowKind
from tongban.regions.services import DATA_DIR, hall_create

DEMO_PASSWORD = "Tongban-Demo-2026"  # noqa: S105 - documented demo credential
# Demo staff sign in with an authenticator code too. Its secret is derived from public names,
# like the password above, so scripts (`tongban demo flows`, the bench) and `tongban demo otp`
# can compute the current code. Demo data only: real staff set up their own authenticator.
DEMO_OTP_LABEL = b"tongban demo authenticator (public, demo data only)"


@dataclass(frozen=True)
class DemoStaff:
    username: str
    name: str
    employee_number: str
    department_key: str
    jurisdiction_code: str
    roles: tuple[str, ...]


@dataclass(frozen=True)
class DemoPerson:
    name: str
    birth_place: str
    birth_date: str
    sequence: str
    phone: str
    # Verified in person at a window (L3, every item), or left at L1 to show stepping up.
    verified_in_person: bool = True


@dataclass(frozen=True)
class DemoEnterprise:
    name: str
    division: str
    serial: str
    representative: str
    handlers: tuple[str, ...]


_STAFF: dict[str, list[DemoStaff]] = {
    "50": [
        DemoStaff(
            "admin", "平台管理员", "CQ0001", "cq-big-data", "500000", (StaffRole.PLATFORM_ADMIN,)
        ),
        DemoStaff("clerk", "陈晓雨", "CQ1001", "cq-big-data", "500000", (StaffRole.WINDOW_CLERK,)),
        DemoStaff(
            "clerk-yuzhong", "刘建国", "CQ1002", "cq-big-data", "500103", (StaffRole.WINDOW_CLERK,)
        ),
        DemoStaff("reviewer", "周文静", "CQ2001", "cq-hrss", "500000", (StaffRole.REVIEWER,)),
        DemoStaff("approver", "吴志强", "CQ2002", "cq-hrss", "500000", (StaffRole.APPROVER,)),
        DemoStaff(
            "dept-admin", "郑丽华", "CQ2003", "cq-hrss", "500000", (StaffRole.DEPARTMENT_ADMIN,)
        ),
        DemoStaff(
            "reviewer-ps", "孙海波", "CQ3001", "cq-public-security", "500000", (StaffRole.REVIEWER,)
        ),
        DemoStaff(
            "approver-ps", "钱玉兰", "CQ3002", "cq-public-security", "500000", (StaffRole.APPROVER,)
        ),
        # 残疾人证新办 issues the 残疾人证 that 换领/迁移/注销 take instead of the paper card.
        DemoStaff(
            "reviewer-dp", "邓静", "CQ4001", "cq-disabled-persons", "500000", (StaffRole.REVIEWER,)
        ),
        DemoStaff(
            "approver-dp",
            "彭立军",
            "CQ4002",
            "cq-disabled-persons",
            "500000",
            (StaffRole.APPROVER,),
        ),
        DemoStaff(
            "supervisor", "何明远", "CQ9001", "cq-general-office", "500000", (StaffRole.SUPERVISOR,)
        ),
    ],
    "51": [
        DemoStaff(
            "admin",
            "平台管理员",
            "SC0001",
            "sc-big-data-center",
            "510000",
            (StaffRole.PLATFORM_ADMIN,),
        ),
        DemoStaff(
            "clerk",
            "杨雪梅",
            "SC1001",
            "cd-government-services",
            "510100",
            (StaffRole.WINDOW_CLERK,),
        ),
        DemoStaff(
            "clerk-jinjiang",
            "罗德华",
            "SC1002",
            "cd-government-services",
            "510104",
            (StaffRole.WINDOW_CLERK,),
        ),
        DemoStaff("reviewer", "黄晓东", "SC2001", "cd-hrss", "510100", (StaffRole.REVIEWER,)),
        DemoStaff("approver", "林静怡", "SC2002", "cd-hrss", "510100", (StaffRole.APPROVER,)),
        DemoStaff(
            "dept-admin", "谢振宇", "SC2003", "cd-hrss", "510100", (StaffRole.DEPARTMENT_ADMIN,)
        ),
        DemoStaff(
            "reviewer-ps", "唐国平", "SC3001", "cd-public-security", "510100", (StaffRole.REVIEWER,)
        ),
        DemoStaff(
            "approver-ps", "冯秀英", "SC3002", "cd-public-security", "510100", (StaffRole.APPROVER,)
        ),
        # 成都市残联 decides 残疾人证迁移 there (a Chongqing card moves to Chengdu).
        DemoStaff(
            "reviewer-dp",
            "蒋晓燕",
            "SC4001",
            "cd-disabled-persons",
            "510100",
            (StaffRole.REVIEWER,),
        ),
        DemoStaff(
            "approver-dp",
            "宋建华",
            "SC4002",
            "cd-disabled-persons",
            "510100",
            (StaffRole.APPROVER,),
        ),
        DemoStaff(
            "supervisor", "曾立新", "SC9001", "sc-general-office", "510000", (StaffRole.SUPERVISOR,)
        ),
    ],
    "10": [
        DemoStaff(
            "admin",
            "平台管理员",
            "CN0001",
            "cn-general-office",
            "100000",
            (StaffRole.PLATFORM_ADMIN,),
        ),
    ],
}

PERSONS = [
    DemoPerson("张三", "500103", "19990307", "123", "13800000001"),
    DemoPerson("李四", "510104", "19921120", "456", "13800000002"),
    DemoPerson("王芳", "500112", "20000601", "246", "13800000003"),
    DemoPerson("赵敏", "510107", "19950115", "368", "13800000004"),
    DemoPerson("阿依古丽·买买提", "650102", "19920908", "482", "13800000005", False),
]

# 阿依古丽 (L1) lets 王芳 (L3) apply for her: the demo's agent authorisation (帮办代办).
DEMO_AUTHORISATION = ("阿依古丽·买买提", "王芳")
AUTHORISATION_DAYS = 365

ENTERPRISES = [
    DemoEnterprise("重庆示例科技有限公司", "500103", "MA5UXXX01", "张三", ("王芳",)),
    DemoEnterprise("成都示例商贸有限公司", "510104", "MA6CXXX02", "李四", ("赵敏",)),
]


def demo_id_number(person: DemoPerson) -> str:
    body = person.birth_place + person.birth_date + person.sequence
    return body + ric.calc_check_digit(body + "0")  # the function skips a trailing check digit


def demo_uscc(enterprise: DemoEnterprise) -> str:
    body = "91" + enterprise.division + enterprise.serial.replace("X", "0")
    return body + uscc.calc_check_digit(body)


def demo_otp_key(node_code: str, username: str) -> str:
    """The authenticator secret (hex, 20 bytes) of a demo staff login on a node."""
    return hmac.new(DEMO_OTP_LABEL, f"{node_code}:{username}".encode(), hashlib.sha1).hexdigest()


def demo_staff_usernames(node_code: str) -> frozenset[str]:
    return frozenset(spec.username for spec in _STAFF.get(node_code[:2], []))


def totp_code(key_hex: str, *, at: float | None = None, steps_ahead: int = 0) -> str:
    """The code an authenticator app shows for this secret (30-second steps, 6 digits)."""
    generator = TOTP(bytes.fromhex(key_hex))  # type: ignore[no-untyped-call]
    generator.time = (time.time() if at is None else at) + 30 * steps_ahead
    return f"{generator.token():06d}"  # type: ignore[no-untyped-call]


def demo_otp_code(username: str, *, node: str | None = None) -> tuple[str, int]:
    """The current code of a demo staff login and the seconds it stays valid.

    On this node, only for a login whose authenticator is the demo one (real codes live only on
    their owner's phone); for another ``node`` of the local cluster, computed for the names of
    its demo staff (the code opens nothing but a demo authenticator)."""
    here = node is None or node == settings.TONGBAN_NODE_CODE
    node = settings.TONGBAN_NODE_CODE if node is None else node
    key = demo_otp_key(node, username)
    if here:
        user = User.objects.filter(username=username).first()
        device = account_selectors.otp_device_for(user) if user is not None else None
        known = device is not None and hmac.compare_digest(device.key, key)
    else:
        known = username in demo_staff_usernames(node)
    if not known:
        raise LookupError(
            f"{username!r} is not a demo staff login of node {node} (loaded by `tongban init "
            "--demo`); codes of real accounts are only on their owner's phone"
        )
    now = time.time()
    return totp_code(key, at=now), 30 - int(now) % 30


@transaction.atomic
def load_demo() -> list[str]:
    node = settings.TONGBAN_NODE_CODE
    summary: list[str] = []

    halls = _load_halls(node)
    summary.append(f"{halls} service halls")
    staff = 0
    for spec in _STAFF.get(node[:2], []):
        user = User.objects.filter(username=spec.username).first()
        if user is None:
            user = account_services.staff_create(
                actor=SYSTEM,
                username=spec.username,
                password=DEMO_PASSWORD,
                name=spec.name,
                employee_number=spec.employee_number,
                department_key=spec.department_key,
                jurisdiction_code=spec.jurisdiction_code,
                roles=spec.roles,
            ).user
            staff += 1
        if account_selectors.otp_device_for(user) is not None:
            continue  # set up already (or by its user since): leave it alone
        account_services.staff_otp_install(
            actor=SYSTEM, user=user, key_hex=demo_otp_key(node, spec.username)
        )
    summary.append(
        f"{staff} staff logins (password {DEMO_PASSWORD}; the authenticator code: "
        "`tongban demo otp <username>`)"
    )

    persons = {}
    created = 0
    for person_spec in PERSONS:
        id_number = demo_id_number(person_spec)
        person = account_selectors.person_find_by_id_number(id_number=id_number)
        if person is None:
            person = account_services.person_sign_up(
                name=person_spec.name,
                id_number=id_number,
                phone=person_spec.phone,
                password=DEMO_PASSWORD,
            )
            created += 1
        persons[person_spec.name] = (person, id_number)
    summary.append(
        f"{created} citizens; log in with phone 13800000001–13800000005 or the ID number "
        f"(e.g. {demo_id_number(PERSONS[0])}), password {DEMO_PASSWORD}"
    )

    created = 0
    for enterprise_spec in ENTERPRISES:
        code = demo_uscc(enterprise_spec)
        if Enterprise.objects.filter(uscc=code).exists():
            continue
        created += 1
        representative, representative_id = persons[enterprise_spec.representative]
        enterprise = account_services.enterprise_register(
            actor=SYSTEM,
            uscc=code,
            name=enterprise_spec.name,
            legal_representative_id_number=representative_id,
            legal_representative_name=representative.name,
        )
        for handler in enterprise_spec.handlers:
            person, id_number = persons[handler]
            account_services.enterprise_member_add(
                actor=SYSTEM,
                enterprise=enterprise,
                id_number=id_number,
                name=person.name,
                role=MemberRole.AUTHORISED_HANDLER,
            )
    summary.append(f"{created} enterprises")
    hours, booked = _load_appointments(node, persons)
    summary.append(_verify_persons(persons))
    summary.append(_authorise(persons))
    summary.append(f"{hours} windows with appointment hours; {booked} demo appointments")
    from tongban.ops.demo_datashare import load_demo_datashare  # it imports the specs above

    summary.extend(load_demo_datashare())
    return summary


def _verify_persons(persons: dict[str, tuple[Person, str]]) -> str:
    """The demo's window clerk (the node itself on the hub, which has none) verified most
    demo citizens in person; the service leaves one already verified unchanged."""
    clerk = User.objects.filter(username="clerk").first() or SYSTEM
    raised = 0
    for spec in PERSONS:
        if spec.verified_in_person:
            record = account_services.person_verify_in_person(
                actor=clerk,
                person=persons[spec.name][0],
                document_checked="resident_id_card",
                note="演示数据",
            )
            raised += record is not None
    names = "、".join(spec.name for spec in PERSONS if spec.verified_in_person)
    return f"{raised} citizens verified in person (L3: {names}; the others stay L1)"


def _authorise(persons: dict[str, tuple[Person, str]]) -> str:
    principal_name, agent_name = DEMO_AUTHORISATION
    principal, _principal_id = persons[principal_name]
    agent, agent_id = persons[agent_name]
    created = 0
    if not AgentAuthorisation.objects.filter(principal=principal, agent_person=agent).exists():
        today = timezone.localdate()
        # Signed online by the principal, as she would on the portal.
        case_services.agent_authorisation_grant(
            actor=principal.user,
            agent_id_number=agent_id,
            agent_name=agent.name,
            all_items=True,
            valid_from=today,
            valid_until=today + dt.timedelta(days=AUTHORISATION_DAYS - 1),
        )
        created = 1
    return f"{created} agent authorisations ({principal_name} lets {agent_name} apply for her)"


def _load_halls(node: str) -> int:
    records = json.loads((DATA_DIR / "demo_halls.json").read_text(encoding="utf-8"))
    created = 0
    for record in records:
        if not codes.contains(node, record["division_code"]):
            continue
        if ServiceHall.objects.filter(key=record["key"]).exists():
            continue
        hall_create(actor=SYSTEM, **{key: value for key, value in record.items()})
        created += 1
    return created


# Appointment hours and a few bookings ------------------------------------------------------

# Windows that take appointments in the demo: the cross-province and the assisted-service ones.
_APPOINTMENT_WINDOWS = (WindowKind.CROSS_PROVINCE, WindowKind.HELP)
# A demo person books a lunchtime (错时) slot, another a Saturday morning.
_DEMO_BOOKINGS = (
    ("张三", ScheduleKind.LUNCHTIME, "assisted"),
    ("王芳", ScheduleKind.WEEKEND, "identity"),
)


def _schedule_kind(period_kind: str, weekday: int) -> str:
    if period_kind == PeriodKind.REGULAR:
        return ScheduleKind.REGULAR
    if weekday >= 6:
        return ScheduleKind.WEEKEND
    return ScheduleKind.EVENING if period_kind == PeriodKind.EXTENDED else ScheduleKind.LUNCHTIME


def _load_appointments(node: str, persons: dict[str, tuple[Any, str]]) -> tuple[int, int]:
    """Appointment hours from each demo hall's opening periods (off-hours ones only for
    windows that serve off-hours), then the demo bookings on the first free days."""
    windows = [
        window
        for window in Window.objects.filter(kind__in=_APPOINTMENT_WINDOWS, active=True)
        .select_related("hall")
        .prefetch_related("hall__opening_periods")
        if codes.contains(node, window.hall.division_id)
        and not window.appointment_schedules.exists()
    ]
    for window in windows:
        rows = [
            {
                "weekday": period.weekday,
                "start": period.start,
                "end": period.end,
                "slot_minutes": 30,
                # Off-hours slots are staffed by one clerk; regular hours by two.
                "capacity": 2 if period.kind == PeriodKind.REGULAR else 1,
                "kind": _schedule_kind(period.kind, period.weekday),
            }
            for period in window.hall.opening_periods.all()
            if window.off_hours or period.kind == PeriodKind.REGULAR
        ]
        appointments.schedule_replace(actor=SYSTEM, window_id=window.pk, schedules=rows)
    booked = 0
    for name, kind, purpose in _DEMO_BOOKINGS:
        person, _id_number = persons.get(name, (None, ""))
        if person is None or Appointment.objects.filter(person=person).exists():
            continue
        slot = _first_free(kind)
        if slot is None:
            continue
        window, starts_at = slot
        appointments.appointment_book(
            actor=person.user, window_id=window.pk, starts_at=starts_at, purpose=purpose
        )
        booked += 1
    return len(windows), booked


def _first_free(kind: str) -> tuple[Window, Any] | None:
    for hall in appointments.halls_for_booking():
        for window in appointments.windows_for_booking(hall=hall):
            for day in appointments.booking_days(window=window):
                if kind not in day.kinds:
                    continue
                for slot in appointments.window_slots(window=window, day=day.day):
                    if slot.kind == kind and slot.bookable and slot.remaining:
                        return window, slot.starts_at
    return None
