"""What the data-sharing tests share: a resource of 重庆市公安局 (cq-public-security) about
persons, its source records, and a grant to 重庆市人社局 (cq-hrss), all built through the
services. Imported explicitly (no conftest: tests/datashare/test_command.py is another's)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone

from tests.factories import StaffFactory, make_id_number
from tongban.catalog.models import ServiceItem
from tongban.catalog.selectors import version_current
from tongban.datashare import services
from tongban.datashare.models import Call, Grant, Resource, SourceRecord
from tongban.regions.models import Department

PROVIDER = "cq-public-security"
CONSUMER = "cq-hrss"
PURPOSE = "核验申请人身份，办理失业保险金申领"

FIELDS = [
    {"key": "name", "name": "姓名", "personal": True},
    {"key": "gender", "name": "性别"},
    {"key": "address", "name": "户籍地址", "personal": True},
    {"key": "status", "name": "户籍状态"},
]
QUESTIONS = [
    {
        "key": "name_matches",
        "name": "姓名与身份证号是否一致",
        "params": ["id_number", "name"],
        "rule": {"op": "match"},
    },
    {
        "key": "registered",
        "name": "户籍是否正常",
        "params": ["id_number"],
        "rule": {"op": "equals", "field": "status", "value": "正常"},
    },
]

ZHANG = make_id_number(901, birth_date="20000612")
LI = make_id_number(902, birth_date="20010101")
NOBODY = make_id_number(903, birth_date="19980101")


def department(key: str) -> Department:
    return Department.objects.get(key=key)


def item_codes(n: int = 2) -> list[str]:
    """Codes of catalogue items in force (reference data)."""
    rows = ServiceItem.objects.filter(version=version_current()).order_by("code")
    return [str(code) for code in rows.values_list("code", flat=True)[:n]]


def provider_admin(**kwargs: Any) -> Any:
    return StaffFactory(department_admin=True, department_key=PROVIDER, **kwargs)


def consumer_admin(**kwargs: Any) -> Any:
    return StaffFactory(department_admin=True, department_key=CONSUMER, **kwargs)


def publish(actor: Any, *, key: str = "hukou", department_key: str = PROVIDER) -> Resource:
    return services.resource_publish(
        actor=actor,
        department=department(department_key),
        key=key,
        name="户籍人口基本信息",
        subject_kind="person",
        sensitivity="sensitive",
        fields=FIELDS,
        questions=QUESTIONS,
    )


def load(actor: Any, resource: Resource) -> int:
    return services.records_load(
        actor=actor,
        resource=resource,
        records=[
            {
                "subject": ZHANG,
                "data": {
                    "name": "张三",
                    "gender": "男",
                    "address": "渝中区解放碑1号",
                    "status": "正常",
                },
            },
            {"subject": LI, "data": {"name": "李四", "gender": "女", "status": "注销"}},
        ],
    )


def approved(
    provider: Any,
    consumer: Any,
    resource: Resource,
    *,
    items: list[str] | None = None,
    rate_limit: int = 100,
    valid_from: dt.date | None = None,
    valid_until: dt.date | None = None,
) -> Grant:
    """A grant asked by ``consumer``'s department and approved by ``provider`` (whole scope)."""
    grant = services.grant_request(
        actor=consumer.user,
        resource=resource,
        purpose=PURPOSE,
        items=items or item_codes(1),
        questions=["name_matches", "registered"],
        fields=["name", "gender"],
    )
    today = timezone.localdate()
    return services.grant_decide(
        actor=provider.user,
        grant=grant,
        approve=True,
        valid_from=valid_from,
        valid_until=valid_until or today + dt.timedelta(days=365),
        rate_limit=rate_limit,
    )


def snapshot() -> tuple[Any, ...]:
    """What a refused call must leave as it was (besides its own evidence-log entry)."""
    return (
        list(Grant.objects.order_by("pk").values_list("pk", "state", "updated_at")),
        list(Resource.objects.order_by("pk").values_list("pk", "updated_at", "active")),
        SourceRecord.objects.count(),
    )


def calls() -> list[Call]:
    return list(Call.objects.order_by("seq"))
