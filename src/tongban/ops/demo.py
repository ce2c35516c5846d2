"""Demo data for `tongban init --demo`: halls, staff, citizens and enterprises of this node's
province, created through the domain services. Idempotent. Every person and enterprise here is
fictitious (valid check digits, invented names); never load this on a real node."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from stdnum.cn import ric, uscc

from tongban.accounts import selectors as account_selectors
from tongban.accounts import services as account_services
from tongban.accounts.models import Enterprise, MemberRole, Person, StaffRole, User
from tongban.cases import services as case_services
from tongban.cases.models import AgentAuthorisation
from tongban.core.audit import SYSTEM
from tongban.regions import codes
from tongban.regions.models import ServiceHall
from tongban.regions.services import DATA_DIR, hall_create

DEMO_PASSWORD = "Tongban-Demo-2026"  # noqa: S105 - documented demo credential


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


@transaction.atomic
def load_demo() -> list[str]:
    node = settings.TONGBAN_NODE_CODE
    summary: list[str] = []

    halls = _load_halls(node)
    summary.append(f"{halls} service halls")
    staff = 0
    for spec in _STAFF.get(node[:2], []):
        if User.objects.filter(username=spec.username).exists():
            continue
        account_services.staff_create(
            actor=SYSTEM,
            username=spec.username,
            password=DEMO_PASSWORD,
            name=spec.name,
            employee_number=spec.employee_number,
            department_key=spec.department_key,
            jurisdiction_code=spec.jurisdiction_code,
            roles=spec.roles,
        )
        staff += 1
    summary.append(f"{staff} staff logins (password {DEMO_PASSWORD})")

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
    summary.append(_verify_persons(persons))
    summary.append(_authorise(persons))
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
