"""The demo data-sharing set: resources, source records and grants every demo flow can use."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import override_settings
from django.utils import timezone

from tests.factories import StaffFactory
from tongban.datashare import questions as q
from tongban.datashare import services
from tongban.datashare.errors import Refused
from tongban.datashare.models import Grant, GrantState, Resource, SourceRecord
from tongban.ops import demo_datashare
from tongban.ops.demo import ENTERPRISES, PERSONS, demo_id_number, demo_uscc, load_demo
from tongban.ops.demo_datashare import IDENTITY_PURPOSE, SOCIAL_INSURANCE_PURPOSE

KEYS = ["business", "education", "household", "real-estate", "social-insurance"]
ZHANG_SAN, LI_SI, XINJIANG = PERSONS[0], PERSONS[1], PERSONS[4]


def _verify(department_key: str, resource: str, question: str, **params: str) -> bool | None:
    jurisdiction = "510100" if department_key.startswith("cd-") else "500000"
    reviewer = StaffFactory(
        reviewer=True, department_key=department_key, jurisdiction_code=jurisdiction
    )
    purpose = SOCIAL_INSURANCE_PURPOSE if resource == "social-insurance" else IDENTITY_PURPOSE
    _call, answer = services.call_make(
        actor=reviewer.user,
        request=services.Request(
            resource=resource, kind="verify", question=question, params=params, purpose=purpose
        ),
    )
    return answer.answer


@pytest.mark.parametrize("definition", demo_datashare.demo_resources(), ids=lambda d: d["key"])
def test_every_definition_is_valid(definition: dict[str, Any]) -> None:
    q.check_definition(
        subject_kind=definition["subject_kind"],
        fields=definition["fields"],
        questions=definition["questions"],
    )
    assert set(definition["publishers"]) == {"50", "51"}


@pytest.mark.django_db
def test_loading_twice_publishes_loads_and_grants_once() -> None:
    first = load_demo()
    resources = {r.key: r for r in Resource.objects.filter(node="500000")}
    assert sorted(resources) == KEYS
    assert resources["household"].department is not None
    assert resources["household"].department.key == "cq-public-security"
    assert resources["household"].sensitivity == "sensitive"
    assert resources["business"].sensitivity == "open"
    records = {key: SourceRecord.objects.filter(resource=r).count() for key, r in resources.items()}
    # 张三 and 王芳 were born in Chongqing; 阿依古丽 (新疆) is on neither node.
    assert records == {
        "business": 1,
        "education": 1,
        "household": 2,
        "real-estate": 1,
        "social-insurance": 2,
    }
    grants = Grant.objects.filter(state=GrantState.APPROVED)
    count = grants.count()
    assert first[-1].startswith("5 data-sharing resources published and ")

    again_lines = load_demo()

    assert again_lines[-1].startswith("0 data-sharing resources published and 0 grants approved")
    assert Resource.objects.filter(node="500000").count() == len(KEYS)
    again = {key: SourceRecord.objects.filter(resource=r).count() for key, r in resources.items()}
    assert again == records
    assert Grant.objects.count() == count


@pytest.mark.django_db
def test_a_demo_persons_identity_verifies_under_a_demo_grant() -> None:
    load_demo()
    grant = Grant.objects.get(resource__key="household", consumer_department_key="cq-hrss")
    today = timezone.localdate()
    assert grant.purpose == IDENTITY_PURPOSE
    assert grant.questions == ["identity_match"]
    assert grant.rate_limit == 600
    assert grant.valid_from == today
    assert (grant.valid_until - today).days == 364  # type: ignore[operator]
    assert "992000000005" in grant.items  # 失业登记, the demo flows' item

    id_number = demo_id_number(ZHANG_SAN)
    assert _verify("cq-hrss", "household", "identity_match", id_number=id_number, name="张三")
    assert not _verify("cq-hrss", "household", "identity_match", id_number=id_number, name="李四")
    xinjiang = demo_id_number(XINJIANG)
    assert not _verify(
        "cq-hrss", "household", "identity_match", id_number=xinjiang, name=XINJIANG.name
    )


@pytest.mark.django_db
def test_the_window_department_may_verify_for_every_proxy_item() -> None:
    load_demo()
    grant = Grant.objects.get(resource__key="household", consumer_department_key="cq-big-data")
    assert grant.state == GrantState.APPROVED
    assert {"992000000005", "992000000016"} <= set(grant.items)
    id_number = demo_id_number(PERSONS[2])
    assert _verify("cq-big-data", "household", "identity_match", id_number=id_number, name="王芳")


@pytest.mark.django_db
def test_hrss_checks_contributions_and_insurance() -> None:
    load_demo()
    id_number = demo_id_number(ZHANG_SAN)
    today = timezone.localdate()
    last = f"{today.year - 1:04d}-{today.month:02d}"  # a year ago: within the 36 months paid
    assert _verify("cq-hrss", "social-insurance", "insured", id_number=id_number)
    assert _verify(
        "cq-hrss",
        "social-insurance",
        "contributions_paid",
        id_number=id_number,
        **{"from": last, "to": last},
    )
    assert not _verify(
        "cq-hrss",
        "social-insurance",
        "contributions_paid",
        id_number=id_number,
        **{"from": "2000-01", "to": last},
    )
    # Another department holds no grant on social insurance: refused, deny by default.
    with pytest.raises(Refused) as refused:
        _verify("cq-big-data", "social-insurance", "insured", id_number=id_number)
    assert refused.value.code == "no_grant"


@pytest.mark.django_db
@override_settings(TONGBAN_NODE_CODE="510000")
def test_the_sichuan_node_gets_its_own_departments_resources() -> None:
    lines = demo_datashare.load_demo_datashare()
    assert lines == [
        f"5 data-sharing resources published and {Grant.objects.count()} grants approved "
        "(business, education, household, real-estate, social-insurance; 8 source records "
        f"reloaded; identity checks state the purpose “{IDENTITY_PURPOSE}”)"
    ]
    household = Resource.objects.get(node="510000", key="household")
    assert household.department is not None
    assert household.department.key == "cd-public-security"
    business = Resource.objects.get(node="510000", key="business")
    assert business.records.count() == 1
    assert Grant.objects.filter(
        consumer_department_key="cd-government-services", state=GrantState.APPROVED
    ).exists()
    assert Grant.objects.filter(
        resource__key="social-insurance", consumer_department_key="cd-hrss"
    ).exists()
    id_number = demo_id_number(LI_SI)
    assert _verify("cd-hrss", "household", "identity_match", id_number=id_number, name="李四")
    reviewer = StaffFactory(
        reviewer=True, department_key="cd-market-regulation", jurisdiction_code="510100"
    )
    # Business registration is open data, yet deny by default holds: the market regulator's
    # grant is on household only.
    with pytest.raises(Refused) as refused:
        services.call_make(
            actor=reviewer.user,
            request=services.Request(
                resource="business",
                kind="verify",
                question="registered_active",
                params={"uscc": demo_uscc(ENTERPRISES[1])},
                purpose=IDENTITY_PURPOSE,
            ),
        )
    assert refused.value.code == "no_grant"


@pytest.mark.django_db
@override_settings(TONGBAN_NODE_CODE="100000")
def test_the_hub_gets_no_data_sharing_demo() -> None:
    assert demo_datashare.load_demo_datashare() == [
        "0 data-sharing resources (no demo data set for this node)"
    ]
    assert not Resource.objects.exists()
