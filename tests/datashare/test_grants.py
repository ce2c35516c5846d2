"""Grants (deny by default): asked by the consuming department's admin, decided, revoked by the
providing department's admin, withdrawn by the consumer; everyone else is turned away."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from tests.datashare.support import (
    CONSUMER,
    PURPOSE,
    approved,
    consumer_admin,
    item_codes,
    provider_admin,
    publish,
)
from tests.factories import StaffFactory
from tongban.core.errors import Conflict, Forbidden, ValidationFailed
from tongban.core.models import AuditEntry
from tongban.datashare import services
from tongban.datashare.models import Grant, GrantState, Resource
from tongban.exchange.models import OutboxMessage

pytestmark = pytest.mark.django_db


@pytest.fixture
def provider() -> Any:
    return provider_admin()


@pytest.fixture
def consumer() -> Any:
    return consumer_admin()


@pytest.fixture
def resource(provider: Any) -> Resource:
    return publish(provider.user)


def ask(consumer: Any, resource: Resource, **overrides: Any) -> Grant:
    values: dict[str, Any] = {
        "purpose": PURPOSE,
        "items": item_codes(1),
        "questions": ["name_matches"],
        "fields": ["name"],
    }
    values.update(overrides)
    return services.grant_request(actor=consumer.user, resource=resource, **values)


def until(days: int = 30) -> dt.date:
    return timezone.localdate() + dt.timedelta(days=days)


def audit(grant: Grant) -> list[str]:
    return list(
        AuditEntry.objects.filter(target_type="datashare.grant", target_id=str(grant.pk))
        .order_by("id")
        .values_list("action", flat=True)
    )


# Asking -----


def test_a_department_admin_asks_for_a_resource(consumer, resource) -> None:
    grant = ask(consumer, resource, questions=["name_matches", "name_matches"], fields=[])
    assert grant.state == GrantState.REQUESTED
    assert grant.consumer_department_key == CONSUMER
    assert grant.consumer_department.key == CONSUMER
    assert grant.requested_questions == ["name_matches"]
    assert grant.questions == []
    assert grant.fields == []
    assert grant.items == item_codes(1)
    assert audit(grant) == ["datashare.grant_requested"]
    entry = AuditEntry.objects.get(action="datashare.grant_requested")
    assert entry.actor == consumer.user
    assert entry.changes == {
        "resource": resource.ref,
        "questions": ["name_matches"],
        "fields": [],
    }
    assert not OutboxMessage.objects.exists()  # the resource is this node's: no message


def test_only_a_department_admin_asks(resource) -> None:
    clerk = StaffFactory(window_clerk=True, department_key=CONSUMER)
    with pytest.raises(Forbidden):
        ask(clerk, resource)
    assert not Grant.objects.exists()


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"purpose": " "}, "purpose"),
        ({"purpose": "x" * 501}, "purpose"),
        ({"items": []}, "items"),
        ({"items": ["no-such-item"]}, "items"),
        ({"items": "all"}, "items"),
        ({"questions": ["no_such_question"]}, "questions"),
        ({"fields": ["no_such_field"]}, "fields"),
        ({"questions": [], "fields": []}, "questions"),
    ],
)
def test_a_request_must_name_a_purpose_catalogue_items_and_a_scope(
    consumer, resource, overrides, field
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        ask(consumer, resource, **overrides)
    assert field in caught.value.fields
    assert not Grant.objects.exists()
    assert not AuditEntry.objects.filter(action="datashare.grant_requested").exists()


def test_a_resource_out_of_service_is_not_asked_for(provider, consumer, resource) -> None:
    services.resource_publish(
        actor=provider.user,
        department=resource.department,
        key=resource.key,
        name=resource.name,
        subject_kind=resource.subject_kind,
        sensitivity=resource.sensitivity,
        fields=resource.fields,
        questions=resource.questions,
        active=False,
    )
    resource.refresh_from_db()
    with pytest.raises(ValidationFailed) as caught:
        ask(consumer, resource)
    assert "resource" in caught.value.fields


def test_a_department_asks_once_while_a_request_or_grant_stands(
    provider, consumer, resource
) -> None:
    first = ask(consumer, resource)
    with pytest.raises(Conflict) as caught:
        ask(consumer, resource)
    assert caught.value.code == "grant_exists"
    services.grant_decide(
        actor=provider.user, grant=first, approve=True, valid_until=until(), rate_limit=10
    )
    with pytest.raises(Conflict):
        ask(consumer, resource)
    assert Grant.objects.count() == 1
    # Another department asks for itself.
    other = StaffFactory(department_admin=True, department_key="cq-education")
    assert ask(other, resource).consumer_department_key == "cq-education"
    # Once the grant is revoked, the department may ask again.
    services.grant_revoke(actor=provider.user, grant=first, reason="用途已结束")
    assert ask(consumer, resource).state == GrantState.REQUESTED


# Deciding -----


def test_the_provider_approves_with_a_scope_a_validity_and_a_rate(
    provider, consumer, resource
) -> None:
    grant = ask(consumer, resource, questions=["name_matches", "registered"], fields=["name"])
    decided = services.grant_decide(
        actor=provider.user,
        grant=grant,
        approve=True,
        questions=["registered"],
        fields=[],
        valid_until=until(),
        rate_limit=60,
    )
    assert decided.state == GrantState.APPROVED
    assert (decided.questions, decided.fields) == (["registered"], [])
    assert decided.valid_from == timezone.localdate()
    assert decided.valid_until == until()
    assert decided.rate_limit == 60
    assert decided.decided_by
    assert decided.decided_at
    assert audit(grant) == ["datashare.grant_requested", "datashare.grant_decided"]
    entry = AuditEntry.objects.get(action="datashare.grant_decided")
    assert entry.actor == provider.user
    assert entry.changes["state"] == ["requested", "approved"]
    assert entry.changes["questions"] == [[], ["registered"]]


def test_by_default_the_whole_request_is_granted(provider, consumer, resource) -> None:
    grant = approved(provider, consumer, resource)
    assert grant.questions == ["name_matches", "registered"]
    assert grant.fields == ["gender", "name"]


@pytest.mark.parametrize(
    ("scope", "field"),
    [
        ({"questions": ["registered"]}, "questions"),  # not asked for
        ({"fields": ["address"]}, "questions"),  # not asked for (the error sits on the scope)
        ({"questions": ["no_such"]}, "questions"),
        ({"questions": [], "fields": []}, "questions"),
    ],
)
def test_no_more_is_granted_than_was_asked(provider, consumer, resource, scope, field) -> None:
    grant = ask(consumer, resource, questions=["name_matches"], fields=["name"])
    with pytest.raises(ValidationFailed) as caught:
        services.grant_decide(
            actor=provider.user,
            grant=grant,
            approve=True,
            valid_until=until(),
            rate_limit=5,
            **scope,
        )
    assert field in caught.value.fields
    grant.refresh_from_db()
    assert grant.state == GrantState.REQUESTED
    assert grant.questions == []
    assert grant.fields == []


@pytest.mark.parametrize(
    ("terms", "field"),
    [
        ({"valid_until": None, "rate_limit": 5}, "valid_until"),
        ({"valid_until": dt.date(2000, 1, 1), "rate_limit": 5}, "valid_until"),
        ({"valid_from": until(20), "valid_until": until(10), "rate_limit": 5}, "valid_until"),
        ({"valid_until": until(6 * 366), "rate_limit": 5}, "valid_until"),
        ({"valid_until": until(), "rate_limit": None}, "rate_limit"),
        ({"valid_until": until(), "rate_limit": 0}, "rate_limit"),
        ({"valid_until": until(), "rate_limit": 100_001}, "rate_limit"),
    ],
)
def test_an_approval_needs_a_validity_and_a_rate_limit(
    provider, consumer, resource, terms, field
) -> None:
    grant = ask(consumer, resource)
    with pytest.raises(ValidationFailed) as caught:
        services.grant_decide(actor=provider.user, grant=grant, approve=True, **terms)
    assert field in caught.value.fields


def test_a_refusal_says_why(provider, consumer, resource) -> None:
    grant = ask(consumer, resource)
    with pytest.raises(ValidationFailed) as caught:
        services.grant_decide(actor=provider.user, grant=grant, approve=False)
    assert "reason" in caught.value.fields
    refused = services.grant_decide(
        actor=provider.user, grant=grant, approve=False, reason="用途不需要户籍地址"
    )
    assert refused.state == GrantState.REFUSED
    assert refused.reason == "用途不需要户籍地址"
    assert refused.questions == []
    assert refused.valid_until is None


def test_only_the_providing_departments_admin_decides(provider, consumer, resource) -> None:
    grant = ask(consumer, resource)
    others = [
        consumer,  # the asking department's admin
        StaffFactory(department_admin=True, department_key="cq-education"),
        StaffFactory(approver=True, department_key="cq-public-security"),  # not an admin
        StaffFactory(supervisor=True),
    ]
    for who in others:
        with pytest.raises(Forbidden):
            services.grant_decide(
                actor=who.user, grant=grant, approve=True, valid_until=until(), rate_limit=5
            )
        with pytest.raises(Forbidden):
            services.grant_decide(actor=who.user, grant=grant, approve=False, reason="不")
    grant.refresh_from_db()
    assert grant.state == GrantState.REQUESTED
    assert audit(grant) == ["datashare.grant_requested"]


def test_a_decided_request_is_not_decided_again(provider, consumer, resource) -> None:
    grant = ask(consumer, resource)
    services.grant_decide(actor=provider.user, grant=grant, approve=False, reason="不需要")
    with pytest.raises(Conflict) as caught:  # ``grant`` is the stale copy, still "requested"
        services.grant_decide(
            actor=provider.user, grant=grant, approve=True, valid_until=until(), rate_limit=5
        )
    assert caught.value.code == "stale_state"
    grant.refresh_from_db()
    assert grant.state == GrantState.REFUSED
    assert audit(grant) == ["datashare.grant_requested", "datashare.grant_decided"]


# Revoking and withdrawing -----


def test_the_provider_revokes_an_approved_grant(provider, consumer, resource) -> None:
    grant = approved(provider, consumer, resource)
    with pytest.raises(ValidationFailed):
        services.grant_revoke(actor=provider.user, grant=grant, reason=" ")
    with pytest.raises(Forbidden):
        services.grant_revoke(actor=consumer.user, grant=grant, reason="不再需要")
    revoked = services.grant_revoke(actor=provider.user, grant=grant, reason="发现超范围使用")
    assert revoked.state == GrantState.REVOKED
    assert revoked.reason == "发现超范围使用"
    assert audit(grant)[-1] == "datashare.grant_revoked"
    entry = AuditEntry.objects.get(action="datashare.grant_revoked")
    assert entry.changes["state"] == ["approved", "revoked"]
    with pytest.raises(Conflict) as caught:
        services.grant_revoke(actor=provider.user, grant=grant, reason="again")
    assert caught.value.code == "stale_state"


def test_a_request_is_not_revoked_but_refused(provider, consumer, resource) -> None:
    grant = ask(consumer, resource)
    with pytest.raises(Conflict):
        services.grant_revoke(actor=provider.user, grant=grant, reason="不")


def test_the_consumer_withdraws_its_request_or_its_grant(provider, consumer, resource) -> None:
    asked = ask(consumer, resource)
    with pytest.raises(Forbidden):
        services.grant_withdraw(actor=provider.user, grant=asked)
    with pytest.raises(Forbidden):  # the asking department's staff, but no admin
        services.grant_withdraw(
            actor=StaffFactory(approver=True, department_key=CONSUMER).user, grant=asked
        )
    withdrawn = services.grant_withdraw(actor=consumer.user, grant=asked)
    assert withdrawn.state == GrantState.WITHDRAWN
    assert audit(asked) == ["datashare.grant_requested", "datashare.grant_withdrawn"]
    with pytest.raises(Conflict) as caught:
        services.grant_withdraw(actor=consumer.user, grant=asked)
    assert caught.value.code == "stale_state"
    with pytest.raises(Conflict):  # a withdrawn request is not decided
        services.grant_decide(actor=provider.user, grant=asked, approve=False, reason="不")

    grant = approved(provider, consumer, resource)
    assert services.grant_withdraw(actor=consumer.user, grant=grant).state == (GrantState.WITHDRAWN)
    assert not OutboxMessage.objects.exists()  # both sides here: nothing travels


# Resources -----


def test_only_the_departments_admin_publishes_its_resources(provider) -> None:
    with pytest.raises(Forbidden):
        publish(consumer_admin().user)
    with pytest.raises(Forbidden):
        publish(StaffFactory(approver=True, department_key="cq-public-security").user)
    resource = publish(provider.user)
    assert resource.node == "500000"
    assert AuditEntry.objects.filter(
        action="datashare.resource_published",
        target_type="datashare.resource",
        target_id=str(resource.pk),
    ).exists()
    # Publishing the same again changes nothing and records nothing.
    assert publish(provider.user).pk == resource.pk
    assert not AuditEntry.objects.filter(action="datashare.resource_updated").exists()
    # Another department cannot take the key.
    with pytest.raises(Conflict) as caught:
        publish(consumer_admin().user, department_key=CONSUMER)
    assert caught.value.code == "key_taken"


def test_a_faulty_definition_is_not_published(provider) -> None:
    with pytest.raises(ValidationFailed) as caught:
        services.resource_publish(
            actor=provider.user,
            department=provider.department,
            key="Bad Key",
            name="",
            subject_kind="person",
            sensitivity="secret",
            fields=[],
            questions=[],
        )
    assert {"key", "name", "sensitivity", "fields"} <= set(caught.value.fields)
    assert not Resource.objects.exists()
