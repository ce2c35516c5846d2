"""Calls answered here (both departments on this node): verifications, look-ups, every refusal
in the evidence log, the source data at rest, the log's hash chain, disputes and metrics."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone
from prometheus_client import REGISTRY

from tests.cases.conftest import form_for
from tests.datashare.support import (
    CONSUMER,
    LI,
    NOBODY,
    PURPOSE,
    ZHANG,
    approved,
    calls,
    consumer_admin,
    item_codes,
    load,
    provider_admin,
    publish,
    snapshot,
)
from tests.factories import PersonFactory, StaffFactory
from tongban.catalog.models import ServiceItem
from tongban.catalog.selectors import version_current
from tongban.core.errors import Conflict, Forbidden, ValidationFailed
from tongban.datashare import services
from tongban.datashare.errors import Refused
from tongban.datashare.models import (
    Call,
    CallOutcome,
    CallSide,
    Dispute,
    DisputeState,
    Grant,
    Resource,
    SourceRecord,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def provider() -> Any:
    return provider_admin()


@pytest.fixture
def consumer() -> Any:
    return consumer_admin()


@pytest.fixture
def clerk() -> Any:
    """Staff of the consuming department who make calls."""
    return StaffFactory(window_clerk=True, department_key=CONSUMER)


@pytest.fixture
def resource(provider: Any) -> Resource:
    resource = publish(provider.user)
    load(provider.user, resource)
    return resource


@pytest.fixture
def grant(provider: Any, consumer: Any, resource: Resource) -> Grant:
    return approved(provider, consumer, resource)


def verify(question: str = "name_matches", **overrides: Any) -> services.Request:
    values: dict[str, Any] = {
        "resource": "hukou",
        "kind": "verify",
        "question": question,
        "params": {"id_number": ZHANG, "name": "张三"},
        "purpose": PURPOSE,
    }
    if question == "registered":
        values["params"] = {"id_number": ZHANG}
    values.update(overrides)
    return services.Request(**values)


def query(fields: Any = ("name",), **overrides: Any) -> services.Request:
    values: dict[str, Any] = {
        "resource": "hukou",
        "kind": "query",
        "fields": list(fields),
        "params": {"id_number": ZHANG},
        "purpose": PURPOSE,
    }
    values.update(overrides)
    return services.Request(**values)


def call(who: Any, request: services.Request) -> tuple[Call, services.Answer]:
    return services.call_make(actor=who.user, request=request)


def refused(who: Any, request: services.Request, code: str, status: int = 403) -> Call:
    """The call is refused with ``code``; its entry is the one new row of the log, and
    nothing else changed."""
    before = snapshot()
    count = Call.objects.count()
    with pytest.raises(Refused) as caught:
        call(who, request)
    assert (caught.value.code, caught.value.status) == (code, status)
    assert snapshot() == before
    assert Call.objects.count() == count + 1
    entry = Call.objects.order_by("-seq").first()
    assert entry is not None
    assert (entry.uid, entry.outcome, entry.code) == (request.uid, CallOutcome.REFUSED, code)
    assert entry.side == CallSide.LOCAL
    assert entry.summary == {}
    assert entry.response_hash == ""
    return entry


# Answers -----


def test_a_verification_answers_yes_or_no(grant, clerk) -> None:
    entry, answer = call(clerk, verify())
    assert answer.answer is True
    assert answer.records is None
    assert answer.provider == "重庆市公安局"
    assert entry.outcome == CallOutcome.ANSWERED
    assert entry.code == ""
    assert entry.side == CallSide.LOCAL
    assert entry.grant == grant
    assert entry.summary == {"answer": True}
    assert entry.consumer_department_key == CONSUMER
    assert entry.resource_key == "hukou"
    assert entry.provider_node == "500000"
    assert len(entry.request_hash) == 64
    assert len(entry.response_hash) == 64

    assert call(clerk, verify(params={"id_number": ZHANG, "name": "张四"}))[1].answer is False
    assert call(clerk, verify(params={"id_number": NOBODY, "name": "张三"}))[1].answer is False
    assert call(clerk, verify("registered"))[1].answer is True
    assert call(clerk, verify("registered", params={"id_number": LI}))[1].answer is False


def test_the_log_keeps_no_personal_values(grant, clerk) -> None:
    entry, _answer = call(clerk, verify())
    stored = repr(list(Call.objects.filter(pk=entry.pk).values()))
    assert ZHANG not in stored
    assert "张三" not in stored


def test_a_look_up_returns_only_the_granted_fields_asked(grant, clerk) -> None:
    entry, answer = call(clerk, query(["name", "gender"]))
    assert answer.records == [{"name": "张三", "gender": "男"}]
    assert answer.as_dict() == {
        "call": str(entry.uid),
        "kind": "query",
        "provider": "重庆市公安局",
        "found": 1,
        "records": [{"name": "张三", "gender": "男"}],
    }
    assert entry.summary == {"found": 1, "fields": ["gender", "name"]}
    assert entry.fields == ["name", "gender"]
    assert call(clerk, query(["name"], params={"id_number": NOBODY}))[1].records == []


def test_source_data_is_kept_encrypted(resource) -> None:
    rows = list(SourceRecord.objects.filter(resource=resource))
    assert len(rows) == 2
    for row in rows:
        assert "张三" not in row.data
        assert "李四" not in row.data
        assert "渝中区" not in row.data
        assert row.subject_hash not in (ZHANG, LI)
        assert ZHANG not in row.subject_hash
        assert ZHANG not in row.data


def test_records_are_loaded_by_the_department_admin_with_known_fields(
    provider, consumer, resource
) -> None:
    with pytest.raises(Forbidden):
        load(consumer.user, resource)
    bad = [{"subject": ZHANG, "data": {"salary": "1"}}]
    with pytest.raises(ValidationFailed) as caught:
        services.records_load(actor=provider.user, resource=resource, records=bad)
    assert "records.0.data" in caught.value.fields
    with pytest.raises(ValidationFailed) as caught:
        services.records_load(
            actor=provider.user, resource=resource, records=[{"subject": "1", "data": {}}]
        )
    assert "records.0.subject" in caught.value.fields
    assert SourceRecord.objects.count() == 2
    one = [{"subject": LI, "data": {"name": "李四"}}]
    assert services.records_load(actor=provider.user, resource=resource, records=one, replace=True)
    assert SourceRecord.objects.count() == 1


# Refusals -----


def test_without_a_grant_every_call_is_refused(resource, clerk) -> None:
    refused(clerk, verify(), "no_grant")
    refused(clerk, query(), "no_grant")


def test_a_revoked_grant_is_refused_as_revoked(provider, consumer, grant, clerk) -> None:
    services.grant_revoke(actor=provider.user, grant=grant, reason="到期前终止")
    refused(clerk, verify(), "grant_revoked")


def test_a_grant_not_yet_in_force_or_expired_is_refused(grant, clerk) -> None:
    today = timezone.localdate()
    Grant.objects.filter(pk=grant.pk).update(
        valid_from=today + dt.timedelta(days=1), valid_until=today + dt.timedelta(days=9)
    )
    refused(clerk, verify(), "grant_not_in_force")
    Grant.objects.filter(pk=grant.pk).update(
        valid_from=today - dt.timedelta(days=9), valid_until=today - dt.timedelta(days=1)
    )
    refused(clerk, verify(), "grant_expired")


def test_a_call_beyond_the_grants_scope_is_refused(provider, consumer, resource, clerk) -> None:
    grant = services.grant_request(
        actor=consumer.user,
        resource=resource,
        purpose=PURPOSE,
        items=item_codes(1),
        questions=["name_matches", "registered"],
        fields=["name", "address"],
    )
    services.grant_decide(
        actor=provider.user,
        grant=grant,
        approve=True,
        questions=["name_matches"],
        fields=["name"],
        valid_until=timezone.localdate() + dt.timedelta(days=3),
        rate_limit=10,
    )
    refused(clerk, verify("registered"), "question_not_granted")
    refused(clerk, query(["name", "address"]), "field_not_granted")
    refused(clerk, query(["gender"]), "field_not_granted")


def test_a_purpose_other_than_the_grants_is_refused(grant, clerk) -> None:
    refused(clerk, verify(purpose="核验申请人身份"), "purpose_mismatch")


def test_a_call_for_a_case_of_an_item_the_grant_does_not_serve_is_refused(
    provider, consumer, resource, clerk
) -> None:
    item = ServiceItem.objects.get(version=version_current(), name="学历公证")
    other = ServiceItem.objects.filter(version=version_current()).exclude(pk=item.pk).first()
    assert other is not None
    approved(provider, consumer, resource, items=[str(other.code)])
    citizen = PersonFactory(with_login=True)
    from tongban.cases import services as cases

    case = cases.case_submit(
        actor=citizen.user,
        item_code=item.code,
        scenario_key="general",
        authority_division="500000",
        form_data=form_for(citizen),
    )
    entry = refused(clerk, verify(case_number=case.number), "purpose_mismatch")
    assert entry.case_number == case.number
    # A case of a served item is answered.
    Grant.objects.update(items=[str(item.code)])
    assert call(clerk, verify(case_number=case.number))[1].answer is True
    # A case this node does not know is refused before anything is asked.
    with pytest.raises(Refused) as caught:
        call(clerk, verify(case_number="0" * 43))
    assert caught.value.code == "unknown_case"


def test_the_rate_limit_holds(provider, consumer, resource, clerk) -> None:
    approved(provider, consumer, resource, rate_limit=1)
    call(clerk, verify())
    refused(clerk, verify(), "rate_limited", status=429)
    # A refusal does not count against the limit, and the limit is per minute.
    Call.objects.update(at=timezone.now() - dt.timedelta(minutes=2))
    assert services.evidence_verify() is not None  # (moving time breaks the chain, of course)
    call(clerk, verify())


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (query([]), "fields"),
        (query(["salary"]), "fields"),
        (query("name"), "fields"),
        (verify("no_such_question"), "question"),
        (verify(kind="count"), "kind"),
        (verify(purpose=" "), "purpose"),
        (verify(params={"id_number": ZHANG}), "params.name"),
        (verify(params={"id_number": "123", "name": "张三"}), "params.id_number"),
        (verify(params={"id_number": ZHANG, "name": "张三", "x": "1"}), "params.x"),
        (verify(params=["x"]), "params"),
    ],
)
def test_a_malformed_call_is_refused(grant, clerk, request_, field) -> None:
    entry = refused(clerk, request_, "malformed_query", status=400)
    assert entry.grant is None


def test_a_malformed_call_names_the_field_at_fault(grant, clerk) -> None:
    with pytest.raises(Refused) as caught:
        call(clerk, query(["salary"]))
    assert set(caught.value.fields) == {"fields"}
    with pytest.raises(Refused) as caught:
        call(clerk, verify(params={"id_number": ZHANG}))
    assert set(caught.value.fields) == {"params.name"}


def test_an_unknown_resource_is_refused(grant, clerk) -> None:
    entry = refused(clerk, verify(resource="no-such"), "unknown_resource", status=404)
    assert entry.resource is None
    assert entry.resource_key == "no-such"


def test_a_resource_out_of_service_is_refused(provider, grant, clerk, resource) -> None:
    Resource.objects.filter(pk=resource.pk).update(active=False)
    refused(clerk, verify(), "resource_inactive", status=409)


def test_only_staff_of_a_department_make_calls(grant) -> None:
    with pytest.raises(Forbidden):
        call(StaffFactory(supervisor=True), verify())
    assert not Call.objects.exists()


# The evidence log -----


def test_the_evidence_log_is_a_chain_that_shows_tampering(grant, clerk) -> None:
    call(clerk, verify())
    with pytest.raises(Refused):
        call(clerk, verify(purpose="别的用途"))
    call(clerk, query())
    entries = calls()
    assert [c.seq for c in entries] == [1, 2, 3]
    assert entries[1].prev_hash == entries[0].hash
    assert services.evidence_verify() is None

    Call.objects.filter(pk=entries[1].pk).update(outcome=CallOutcome.ANSWERED, code="")
    broken = services.evidence_verify()
    assert broken is not None
    assert broken.seq == 2

    Call.objects.filter(pk=entries[1].pk).update(
        outcome=CallOutcome.REFUSED, code="purpose_mismatch"
    )
    assert services.evidence_verify() is None
    Call.objects.filter(pk=entries[1].pk).delete()  # a removed entry shows too
    broken = services.evidence_verify()
    assert broken is not None
    assert broken.seq == 3


# Disputes -----


def test_the_consumer_disputes_an_answer_and_the_provider_resolves_it(
    provider, grant, clerk
) -> None:
    entry, _answer = call(clerk, verify())
    with pytest.raises(ValidationFailed):
        services.dispute_raise(actor=clerk.user, call=entry, kind="nonsense", reason="")
    # Not the calling department: no dispute of theirs.
    stranger = StaffFactory(window_clerk=True, department_key="cq-education")
    with pytest.raises(Forbidden):
        services.dispute_raise(actor=stranger.user, call=entry, kind="stale", reason="旧")
    dispute = services.dispute_raise(
        actor=clerk.user, call=entry, kind="wrong_answer", reason="本人已更名"
    )
    assert dispute.state == DisputeState.OPEN
    assert dispute.side == CallSide.LOCAL
    with pytest.raises(Conflict):
        services.dispute_raise(actor=clerk.user, call=entry, kind="wrong_answer", reason="再")

    # Who may not resolve it: the consumer, another department's admin.
    for who in (
        consumer_admin(),
        StaffFactory(department_admin=True, department_key="cq-education"),
    ):
        with pytest.raises(Forbidden):
            services.dispute_resolve(actor=who.user, dispute=dispute, upheld=True, outcome="好")
    with pytest.raises(ValidationFailed):
        services.dispute_resolve(actor=provider.user, dispute=dispute, upheld=True, outcome="")
    resolved = services.dispute_resolve(
        actor=provider.user, dispute=dispute, upheld=True, outcome="已更新源数据"
    )
    assert resolved.state == DisputeState.UPHELD
    assert resolved.outcome == "已更新源数据"
    with pytest.raises(Conflict):
        services.dispute_resolve(actor=provider.user, dispute=dispute, upheld=False, outcome="x")


def test_misuse_is_raised_by_the_provider_and_resolved_only_by_a_supervisor(
    provider, grant, clerk
) -> None:
    entry, _answer = call(clerk, verify())
    with pytest.raises(Forbidden):  # the consumer does not claim misuse of its own call
        services.dispute_raise(actor=clerk.user, call=entry, kind="misuse", reason="?")
    with pytest.raises(Forbidden):  # the provider's staff other than its admin
        services.dispute_raise(
            actor=StaffFactory(approver=True, department_key="cq-public-security").user,
            call=entry,
            kind="misuse",
            reason="批量核验",
        )
    dispute = services.dispute_raise(
        actor=provider.user, call=entry, kind="misuse", reason="短时间内批量核验"
    )
    with pytest.raises(Forbidden):  # not the provider's own to judge
        services.dispute_resolve(actor=provider.user, dispute=dispute, upheld=True, outcome="x")
    supervisor = StaffFactory(supervisor=True)
    resolved = services.dispute_resolve(
        actor=supervisor.user, dispute=dispute, upheld=False, outcome="属正常业务量"
    )
    assert resolved.state == DisputeState.DISMISSED
    assert Dispute.objects.get(pk=dispute.pk).resolved_by


def test_a_refusal_may_be_disputed(resource, clerk) -> None:
    with pytest.raises(Refused):
        call(clerk, verify())
    entry = Call.objects.get()
    dispute = services.dispute_raise(
        actor=clerk.user, call=entry, kind="wrong_refusal", reason="已提交申请"
    )
    assert dispute.call == entry


# Metrics -----


def test_calls_are_counted_for_monitoring(grant, clerk, api) -> None:
    labels = {
        "side": "local",
        "resource": "500000.hukou",
        "consumer": CONSUMER,
        "outcome": "answered",
        "code": "",
    }
    before = REGISTRY.get_sample_value("tongban_datashare_calls_total", labels) or 0
    entry, _answer = call(clerk, verify())
    assert REGISTRY.get_sample_value("tongban_datashare_calls_total", labels) == before + 1
    refused_labels = {**labels, "outcome": "refused", "code": "purpose_mismatch"}
    before = REGISTRY.get_sample_value("tongban_datashare_calls_total", refused_labels) or 0
    with pytest.raises(Refused):
        call(clerk, verify(purpose="别的"))
    assert REGISTRY.get_sample_value("tongban_datashare_calls_total", refused_labels) == (
        before + 1
    )
    services.dispute_raise(actor=clerk.user, call=entry, kind="stale", reason="数据过期")
    assert (
        REGISTRY.get_sample_value(
            "tongban_datashare_open_disputes", {"resource": "500000.hukou", "kind": "stale"}
        )
        == 1
    )
