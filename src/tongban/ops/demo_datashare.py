"""Demo data sharing for `tongban init --demo`: the resources this node's departments publish
(datashare/data/resources.json), their source records about the demo persons and enterprises
of ops/demo.py, and approved grants so that every demo flow can verify an applicant.

Idempotent: publishing is an upsert, the records are reloaded whole (``replace``), and a grant
is added only where the department holds none in force. Every record is fictitious and built
here from the demo specs, so the ID numbers and credit codes match the demo accounts."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import timezone

from tongban.accounts.models import StaffRole
from tongban.core.audit import SYSTEM, audit_record
from tongban.core.errors import NotFound
from tongban.datashare import services as datashare
from tongban.datashare.models import Grant, GrantState, Resource
from tongban.ops.demo import (
    _STAFF,
    ENTERPRISES,
    PERSONS,
    DemoPerson,
    demo_id_number,
    demo_uscc,
)
from tongban.regions import codes
from tongban.regions.models import Department

RESOURCES_FILE = Path(__file__).resolve().parents[1] / "datashare" / "data" / "resources.json"

# The purpose every demo identity grant states; a call names it word for word (services
# refuse a call whose purpose differs from its grant's), so other demo code imports it.
IDENTITY_PURPOSE = "办理政务服务事项时核验申请人身份"
IDENTITY_RESOURCE = "household"
IDENTITY_QUESTION = "identity_match"
SOCIAL_INSURANCE_PURPOSE = "办理失业登记、失业保险金申领时核验申请人参保缴费情况"
SOCIAL_INSURANCE_RESOURCE = "social-insurance"
SOCIAL_INSURANCE_QUESTIONS = ("contributions_paid", "insured")
# 失业登记, 失业保险金申领: the items the demo flows run (ops/demo_flows.py).
UNEMPLOYMENT_ITEMS = ("992000000005", "992000000016")
HRSS = {"50": "cq-hrss", "51": "cd-hrss"}
GRANT_DAYS = 365
GRANT_RATE = 600  # calls per minute
PAID_MONTHS = 36
INSURED = "参保缴费"

ADDRESSES = {
    "500103": "重庆市渝中区解放碑街道民族路101号",
    "500112": "重庆市渝北区龙溪街道金山路18号",
    "510104": "四川省成都市锦江区春熙路街道红星路三段1号",
    "510107": "四川省成都市武侯区浆洗街街道洗面桥街8号",
}
# name → (school, degree, certificate number, graduated on); 王芳 has none (a "no" answer).
EDUCATION = {
    "张三": ("重庆大学", "本科 工学学士", "106111202150001234", "2021-06-30"),
    "李四": ("四川大学", "硕士研究生 管理学硕士", "106101201720002345", "2017-06-30"),
    "赵敏": ("西南交通大学", "本科 文学学士", "106131201750003456", "2017-06-30"),
}
# name → (certificate number, location, area in m²): one property on each node.
REAL_ESTATE = {
    "张三": ("渝(2023)渝中区不动产权第000123号", "重庆市渝中区解放碑街道民族路101号2单元301", 89.5),
    "李四": ("川(2020)成都市不动产权第0004567号", "四川省成都市锦江区红星路三段1号5栋1202", 102.36),
}
REGISTERED_ON = {"MA5UXXX01": "2018-05-16", "MA6CXXX02": "2016-09-01"}


def load_demo_datashare() -> list[str]:
    """Publish this node's demo resources, load their records and seed the demo grants; one
    summary line, leading with what is new (0 when run again). Runs inside load_demo's
    transaction. Nodes of other provinces (the hub) get nothing."""
    prefix = str(settings.TONGBAN_NODE_CODE)[:2]
    definitions = [r for r in demo_resources() if prefix in r["publishers"]]
    if not definitions:
        return ["0 data-sharing resources (no demo data set for this node)"]
    published = loaded = 0
    resources: dict[str, Resource] = {}
    for definition in definitions:
        published += not Resource.objects.filter(
            node=settings.TONGBAN_NODE_CODE, key=definition["key"]
        ).exists()
        resource = datashare.resource_publish(
            actor=SYSTEM,
            department=Department.objects.get(key=definition["publishers"][prefix]),
            key=definition["key"],
            name=definition["name"],
            description=definition.get("description", ""),
            subject_kind=definition["subject_kind"],
            sensitivity=definition["sensitivity"],
            fields=definition["fields"],
            questions=definition["questions"],
            update_hours=definition.get("update_hours", 24),
        )
        resources[resource.key] = resource
        # Reloaded whole every time: the paid months follow today's date.
        loaded += datashare.records_load(
            actor=SYSTEM,
            resource=resource,
            records=demo_records(resource.key, prefix),
            replace=True,
        )
    granted = _seed_grants(prefix, resources)
    return [
        f"{published} data-sharing resources published and {granted} grants approved "
        f"({', '.join(sorted(resources))}; {loaded} source records reloaded; identity checks "
        f"state the purpose “{IDENTITY_PURPOSE}”)"
    ]


def demo_resources() -> list[dict[str, Any]]:
    """The demo resource definitions (datashare/data/resources.json)."""
    data = json.loads(RESOURCES_FILE.read_text(encoding="utf-8"))
    return list(data["resources"])


# Source records -------------------------------------------------------------------------------


def _lives_in(person: DemoPerson, prefix: str) -> bool:
    # The demo persons live where they were born; 新疆 (65) has no node in the demo.
    return person.birth_place[:2] == prefix


def _months_before(today: dt.date, count: int) -> list[str]:
    """The ``count`` months before this one, oldest first (``YYYY-MM``)."""
    out = []
    year, month = today.year, today.month
    for _i in range(count):
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
        out.append(f"{year:04d}-{month:02d}")
    return out[::-1]


def demo_records(key: str, prefix: str) -> list[dict[str, Any]]:
    """The source records of resource ``key`` on the node of province ``prefix``."""
    persons = [p for p in PERSONS if _lives_in(p, prefix)]
    if key == "household":
        return [_household(p) for p in persons]
    if key == "social-insurance":
        paid = _months_before(timezone.localdate(), PAID_MONTHS)
        return [
            _record(
                p,
                name=p.name,
                insured_since=paid[0],
                status=INSURED,
                paid_months=paid,
            )
            for p in persons
        ]
    if key == "education":
        out = []
        for p in persons:
            if p.name in EDUCATION:
                school, degree, number, graduated = EDUCATION[p.name]
                out.append(
                    _record(
                        p,
                        name=p.name,
                        school=school,
                        degree=degree,
                        certificate_number=number,
                        graduated_on=graduated,
                    )
                )
        return out
    if key == "real-estate":
        out = []
        for p in persons:
            if p.name in REAL_ESTATE:
                number, location, area = REAL_ESTATE[p.name]
                out.append(
                    _record(
                        p,
                        owner_name=p.name,
                        certificate_number=number,
                        location=location,
                        area=area,
                    )
                )
        return out
    if key == "business":
        return [
            {
                "subject": demo_uscc(e),
                "data": {
                    "name": e.name,
                    "status": "存续",
                    "legal_representative": e.representative,
                    "registered_on": REGISTERED_ON.get(e.serial, "2020-01-01"),
                },
            }
            for e in ENTERPRISES
            if e.division[:2] == prefix
        ]
    return []


def _record(person: DemoPerson, **data: Any) -> dict[str, Any]:
    return {"subject": demo_id_number(person), "data": data}


def _household(person: DemoPerson) -> dict[str, Any]:
    id_number = demo_id_number(person)
    born = person.birth_date
    return _record(
        person,
        name=person.name,
        # The 17th digit of a resident ID number: odd for men, even for women.
        gender="男" if int(id_number[16]) % 2 else "女",
        birth_date=f"{born[:4]}-{born[4:6]}-{born[6:]}",
        address=ADDRESSES.get(person.birth_place, f"{person.birth_place} 示例街道1号"),
        household_type="家庭户",
    )


# Grants ---------------------------------------------------------------------------------------


def _seed_grants(prefix: str, resources: dict[str, Resource]) -> int:
    from tongban.catalog.models import Implementation
    from tongban.catalog.selectors import version_current

    try:
        version = version_current()
    except NotFound:
        return 0  # no catalogue yet: grants name catalogue items
    node = str(settings.TONGBAN_NODE_CODE)
    implemented: dict[str, set[str]] = {}
    for department_key, division, department_division, code in Implementation.objects.filter(
        item__version=version, department__isnull=False
    ).values_list("department__key", "division_id", "department__division_id", "item__code"):
        if codes.contains(node, division) and codes.contains(node, department_division):
            implemented.setdefault(department_key, set()).add(code)
    proxy_items = set(version.items.filter(proxy=True).values_list("code", flat=True))
    for spec in _STAFF.get(prefix, []):
        if StaffRole.WINDOW_CLERK in spec.roles:
            implemented.setdefault(spec.department_key, set()).update(proxy_items)
    granted = 0
    household = resources.get(IDENTITY_RESOURCE)
    if household is not None:
        for department_key, items in sorted(implemented.items()):
            if not items:
                continue
            granted += _grant_seed(
                resource=household,
                department=Department.objects.get(key=department_key),
                purpose=IDENTITY_PURPOSE,
                items=items,
                questions=[IDENTITY_QUESTION],
            )
    insurance = resources.get(SOCIAL_INSURANCE_RESOURCE)
    known = set(version.items.filter(code__in=UNEMPLOYMENT_ITEMS).values_list("code", flat=True))
    if insurance is not None and prefix in HRSS and known:
        granted += _grant_seed(
            resource=insurance,
            department=Department.objects.get(key=HRSS[prefix]),
            purpose=SOCIAL_INSURANCE_PURPOSE,
            items=known,
            questions=list(SOCIAL_INSURANCE_QUESTIONS),
        )
    return granted


def _grant_seed(
    *,
    resource: Resource,
    department: Department,
    purpose: str,
    items: Iterable[str],
    questions: list[str],
) -> int:
    """One approved grant of ``resource`` to ``department``, unless it holds one in force (or
    has a request open). 1 if added.

    NOTE: demo seeding writes the request row itself: services.grant_request takes the
    requesting department from the actor's staff record (a department admin of the consumer),
    and the demo has no such login for most departments; SYSTEM is refused there. The decision
    then goes through services.grant_decide, as the provider would make it."""
    today = timezone.localdate()
    open_ones = Grant.objects.filter(
        resource=resource,
        consumer_node=resource.node,
        consumer_department_key=department.key,
        state__in=(GrantState.REQUESTED, GrantState.APPROVED),
    )
    if any(
        g.state == GrantState.REQUESTED or g.valid_until is None or today <= g.valid_until
        for g in open_ones
    ):
        return 0
    grant = Grant.objects.create(
        uid=uuid.uuid4(),
        resource=resource,
        consumer_node=resource.node,
        consumer_department=department,
        consumer_department_key=department.key,
        consumer_department_name=department.name,
        purpose=purpose,
        items=sorted(items),
        requested_questions=sorted(questions),
        requested_fields=[],
        state=GrantState.REQUESTED,
        requested_by="system",
        requested_at=timezone.now(),
    )
    audit_record(
        actor=SYSTEM,
        action="datashare.grant_requested",
        target=grant,
        changes={"resource": resource.ref, "questions": grant.requested_questions, "demo": True},
    )
    datashare.grant_decide(
        actor=SYSTEM,
        grant=grant,
        approve=True,
        valid_from=today,
        valid_until=today + dt.timedelta(days=GRANT_DAYS - 1),
        rate_limit=GRANT_RATE,
        reason="演示数据",
    )
    return 1
