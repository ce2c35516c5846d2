"""Data sharing across provinces: 成都市公安局 (Sichuan, 510000) serves a resource, 重庆市人社局
(Chongqing, 500000, this node) asks for a grant and calls it through the federation endpoint.

Both nodes live in this one test database (tests/federation_support.py): to play Sichuan a test
switches TONGBAN_NODE_CODE and makes Sichuan's signing key (the remote hub keeps it) the one
``exchange.services.signing_pair`` gives, so Sichuan's answers and catalogue carry Sichuan's
signature; the outbox's events are handed to the other node's handlers as the inbox would. A
call's POST is routed into Sichuan's view by a stand-in for ``transport.call``.

One database holds one row per resource (node, key) and per grant uid, so Sichuan's published
resource is also Chongqing's copy of it, and a grant's two copies are one row; the catalogue's
mirroring is checked on its own (it would clear the department of Sichuan's row)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from tests.datashare.support import FIELDS, PURPOSE, QUESTIONS, ZHANG, item_codes
from tests.factories import StaffFactory
from tests.federation_support import (  # chongqing: this node, for every test here
    CHONGQING,
    GUIZHOU,
    SICHUAN,
    URLS,
    RemoteHub,
    chongqing,  # noqa: F401
    node,
    remote_hub,
)
from tests.federation_support import incoming as event_for
from tests.federation_support import sent as sealed_events
from tongban.core.errors import Conflict, ValidationFailed
from tongban.datashare import services
from tongban.datashare.errors import Refused
from tongban.datashare.models import (
    Call,
    CallOutcome,
    CallSide,
    Dispute,
    DisputeState,
    Grant,
    GrantState,
    Resource,
)
from tongban.exchange import messaging, transport
from tongban.exchange import services as exchange
from tongban.regions.models import Department

pytestmark = pytest.mark.django_db

REF = f"{SICHUAN}.hukou"
CALL_URL = f"{URLS[SICHUAN]}/federation/v1/datashare/call"


@pytest.fixture
def hub(settings: Any, tmp_path: Path) -> RemoteHub:
    hub = remote_hub(settings, tmp_path)
    plain = hub._node
    own_enc = exchange.self_node().enc_jwk

    def with_enc(code: str, url: str) -> Any:
        # One process plays both nodes: both publish this process's encryption key, so what one
        # encrypts for the other (call parameters, answers, events) is decrypted here.
        found = plain(code, url)
        return dataclasses.replace(found, enc=own_enc) if code in (CHONGQING, SICHUAN) else found

    hub._node = with_enc  # type: ignore[method-assign]
    hub.publish(dict(URLS))
    return hub


def sent(type: str, **where: Any) -> list[dict[str, Any]]:
    """The outbox's events of ``type``, decrypted as the recipient's inbox reads them."""
    return [messaging.readable(event) for event in sealed_events(type, **where)]


def incoming(source: str, type: str, data: dict[str, Any]) -> dict[str, Any]:
    """An event as its handler gets it (``data`` as ``sent`` gives it: decrypted)."""
    return event_for(source, type, data)


class Nodes:
    def __init__(self, settings: Any, hub: RemoteHub, monkeypatch: pytest.MonkeyPatch) -> None:
        self.settings = settings
        self.hub = hub
        self.monkeypatch = monkeypatch

    @contextmanager
    def playing(self, code: str) -> Iterator[None]:
        """Be node ``code`` (its code, and its signing key from the remote hub)."""
        with node(self.settings, code), self.monkeypatch.context() as patch:
            patch.setattr(exchange, "signing_pair", lambda *, at=None: self.hub.pairs[code])
            yield


@pytest.fixture
def nodes(settings: Any, hub: RemoteHub, monkeypatch: pytest.MonkeyPatch) -> Nodes:
    return Nodes(settings, hub, monkeypatch)


@pytest.fixture
def sc_admin() -> Any:
    return StaffFactory(
        department_admin=True, department_key="cd-public-security", jurisdiction_code="510100"
    )


@pytest.fixture
def cq_admin() -> Any:
    return StaffFactory(department_admin=True, department_key="cq-hrss")


@pytest.fixture
def cq_clerk() -> Any:
    return StaffFactory(window_clerk=True, department_key="cq-hrss")


@pytest.fixture
def resource(nodes: Nodes, sc_admin: Any) -> Resource:
    with nodes.playing(SICHUAN):
        resource = services.resource_publish(
            actor=sc_admin.user,
            department=Department.objects.get(key="cd-public-security"),
            key="hukou",
            name="户籍人口基本信息",
            subject_kind="person",
            sensitivity="sensitive",
            fields=FIELDS,
            questions=QUESTIONS,
        )
        services.records_load(
            actor=sc_admin.user,
            resource=resource,
            records=[
                {"subject": ZHANG, "data": {"name": "张三", "gender": "男", "status": "正常"}}
            ],
        )
    assert resource.node == SICHUAN
    return resource


@pytest.fixture
def grant(nodes: Nodes, resource: Resource, cq_admin: Any, sc_admin: Any) -> Grant:
    """Asked at Chongqing, decided at Sichuan, the decision applied at Chongqing."""
    asked = services.grant_request(
        actor=cq_admin.user,
        resource=resource,
        purpose=PURPOSE,
        items=item_codes(1),
        questions=["name_matches"],
        fields=["name"],
    )
    (event,) = sent(services.GRANT_REQUESTED, to=SICHUAN, subject=asked.uid)
    with nodes.playing(SICHUAN):
        services.on_grant_requested(incoming(CHONGQING, event["type"], event["data"]))
        decided = services.grant_decide(
            actor=sc_admin.user,
            grant=Grant.objects.get(uid=asked.uid),
            approve=True,
            valid_until=timezone.localdate() + dt.timedelta(days=30),
            rate_limit=10,
        )
    assert decided.state == GrantState.APPROVED
    (event,) = sent(services.GRANT_DECIDED, to=CHONGQING, subject=asked.uid)
    assert event["data"]["state"] == GrantState.APPROVED
    services.on_grant_decided(incoming(SICHUAN, event["type"], event["data"]))
    return Grant.objects.get(uid=asked.uid)


class Route:
    """``transport.call`` to Sichuan's call endpoint, as Sichuan answers it (or not)."""

    def __init__(self, nodes: Nodes) -> None:
        self.nodes = nodes
        self.tokens: list[str] = []
        self.tamper = False
        self.down = False

    def __call__(
        self, method: str, url: str, body: bytes | None = None, **kwargs: Any
    ) -> tuple[int, bytes]:
        assert (method, url) == ("POST", CALL_URL)
        if self.down:
            raise transport.Unreachable("connection refused")
        assert body is not None
        self.tokens.append(body.decode())
        with self.nodes.playing(SICHUAN):
            response = Client().post(
                "/federation/v1/datashare/call", data=body, content_type="application/jose"
            )
        content = response.content
        if self.tamper:
            head, payload, signature = content.decode().split(".")
            content = f"{head}.{payload}.{'A' * len(signature)}".encode()
        return response.status_code, content


@pytest.fixture
def route(nodes: Nodes, monkeypatch: pytest.MonkeyPatch) -> Route:
    route = Route(nodes)
    monkeypatch.setattr(transport, "call", route)
    return route


def verify(**overrides: Any) -> services.Request:
    values: dict[str, Any] = {
        "resource": REF,
        "kind": "verify",
        "question": "name_matches",
        "params": {"id_number": ZHANG, "name": "张三"},
        "purpose": PURPOSE,
    }
    values.update(overrides)
    return services.Request(**values)


# Grants -----


def test_a_grant_is_asked_and_decided_across_nodes(grant, resource) -> None:
    assert grant.state == GrantState.APPROVED
    assert grant.consumer_node == CHONGQING
    assert grant.resource == resource
    assert grant.questions == ["name_matches"]
    assert grant.fields == ["name"]


def test_a_grant_request_from_a_node_for_another_nodes_department_is_refused(
    nodes, resource, cq_admin
) -> None:
    asked = services.grant_request(
        actor=cq_admin.user,
        resource=resource,
        purpose=PURPOSE,
        items=item_codes(1),
        questions=["name_matches"],
    )
    (event,) = sent(services.GRANT_REQUESTED)
    with nodes.playing(SICHUAN), pytest.raises(ValidationFailed) as caught:
        services.on_grant_requested(incoming(GUIZHOU, event["type"], event["data"]))
    assert caught.value.code == "not_theirs"
    assert Grant.objects.get(uid=asked.uid).state == GrantState.REQUESTED


def test_a_grant_is_decided_only_at_the_providing_node(resource, cq_admin) -> None:
    asked = services.grant_request(
        actor=cq_admin.user,
        resource=resource,
        purpose=PURPOSE,
        items=item_codes(1),
        questions=["name_matches"],
    )
    with pytest.raises(ValidationFailed) as caught:
        services.grant_decide(actor=cq_admin.user, grant=asked, approve=False, reason="不")
    assert caught.value.code == "decided_elsewhere"


def test_a_revocation_travels_to_the_consumer(nodes, grant, sc_admin, cq_clerk, route) -> None:
    with nodes.playing(SICHUAN):
        services.grant_revoke(actor=sc_admin.user, grant=grant, reason="终止共享")
    event = sent(services.GRANT_DECIDED, subject=grant.uid)[-1]
    assert event["data"]["state"] == GrantState.REVOKED
    services.on_grant_decided(incoming(SICHUAN, event["type"], event["data"]))
    with pytest.raises(Refused) as caught:
        services.call_make(actor=cq_clerk.user, request=verify())
    assert caught.value.code == "grant_revoked"
    assert route.tokens == []  # deny by default: no call left Chongqing


def test_a_withdrawal_travels_to_the_provider_and_a_late_decision_does_not_undo_it(
    nodes, resource, cq_admin, sc_admin
) -> None:
    asked = services.grant_request(
        actor=cq_admin.user,
        resource=resource,
        purpose=PURPOSE,
        items=item_codes(1),
        questions=["name_matches"],
    )
    services.grant_withdraw(actor=cq_admin.user, grant=asked)
    (event,) = sent(services.GRANT_WITHDRAWN, to=SICHUAN, subject=asked.uid)
    with nodes.playing(SICHUAN):
        services.on_grant_withdrawn(incoming(CHONGQING, event["type"], event["data"]))
    # Sichuan approved before the withdrawal reached it; its decision arrives afterwards.
    late = {
        **event["data"],
        "state": GrantState.APPROVED,
        "questions": ["name_matches"],
        "valid_until": (timezone.localdate() + dt.timedelta(days=9)).isoformat(),
        "rate_limit": 5,
    }
    services.on_grant_decided(incoming(SICHUAN, services.GRANT_DECIDED, late))
    assert Grant.objects.get(uid=asked.uid).state == GrantState.WITHDRAWN
    with pytest.raises(ValidationFailed):  # a decision is no withdrawal, nor nonsense
        services.on_grant_decided(incoming(SICHUAN, services.GRANT_DECIDED, {**late, "state": "x"}))
    with pytest.raises(ValidationFailed):  # only the provider decides
        services.on_grant_decided(incoming(GUIZHOU, services.GRANT_DECIDED, late))


# Calls -----


def test_a_call_is_answered_by_the_provider_and_logged_on_both_sides(
    grant, cq_clerk, route
) -> None:
    entry, answer = services.call_make(actor=cq_clerk.user, request=verify())
    assert answer.answer is True
    assert answer.provider == "成都市公安局"
    assert entry.side == CallSide.CONSUMER
    assert entry.outcome == CallOutcome.ANSWERED
    provider = Call.objects.get(uid=entry.uid, side=CallSide.PROVIDER)
    assert provider.outcome == CallOutcome.ANSWERED
    assert provider.grant == grant
    assert provider.consumer_node == CHONGQING
    assert provider.request_hash == entry.request_hash
    (token,) = route.tokens
    assert entry.request_token == provider.request_token == token
    assert entry.response_token
    assert provider.response_token == entry.response_token
    # One answer, one hash: the provider logs the answer it signed, the consumer what it got.
    assert provider.response_hash == entry.response_hash
    assert entry.summary == provider.summary == {"answer": True}
    assert services.evidence_verify() is None

    entry, answer = services.call_make(
        actor=cq_clerk.user,
        request=services.Request(
            resource=REF,
            kind="query",
            fields=["name"],
            params={"id_number": ZHANG},
            purpose=PURPOSE,
        ),
    )
    assert answer.records == [{"name": "张三"}]


def test_a_refusal_at_the_provider_is_signed_and_logged_on_both_sides(
    grant, cq_clerk, route
) -> None:
    request = verify(purpose="另一个用途")
    with pytest.raises(Refused) as caught:
        services.call_make(actor=cq_clerk.user, request=request)
    assert caught.value.code == "purpose_mismatch"
    consumer = Call.objects.get(uid=request.uid, side=CallSide.CONSUMER)
    provider = Call.objects.get(uid=request.uid, side=CallSide.PROVIDER)
    assert consumer.outcome == provider.outcome == CallOutcome.REFUSED
    assert consumer.code == provider.code == "purpose_mismatch"
    assert consumer.request_hash == provider.request_hash
    assert consumer.response_token
    assert provider.response_token == consumer.response_token
    assert provider.response_hash == consumer.response_hash


def test_a_tampered_answer_is_not_taken(grant, cq_clerk, route) -> None:
    route.tamper = True
    request = verify()
    with pytest.raises(Refused) as caught:
        services.call_make(actor=cq_clerk.user, request=request)
    assert (caught.value.code, caught.value.status) == ("bad_answer", 502)
    entry = Call.objects.get(uid=request.uid, side=CallSide.CONSUMER)
    assert (entry.outcome, entry.code) == (CallOutcome.FAILED, "bad_answer")
    assert entry.request_token == route.tokens[0]


def test_an_unreachable_provider_is_logged_as_failed(grant, cq_clerk, route) -> None:
    route.down = True
    request = verify()
    with pytest.raises(Refused) as caught:
        services.call_make(actor=cq_clerk.user, request=request)
    assert (caught.value.code, caught.value.status) == ("provider_unreachable", 503)
    entry = Call.objects.get(uid=request.uid)
    assert (entry.side, entry.outcome, entry.code) == (
        CallSide.CONSUMER,
        CallOutcome.FAILED,
        "provider_unreachable",
    )


def test_nothing_personal_is_sent_to_a_provider_without_an_encryption_key(
    grant, cq_clerk, route, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As for a node registered before nodes published encryption keys: data would go in clear.
    monkeypatch.setattr(messaging, "encrypt_for_node", lambda recipient, data: data)
    request = verify()
    with pytest.raises(Refused) as caught:
        services.call_make(actor=cq_clerk.user, request=request)
    assert (caught.value.code, caught.value.status) == ("no_encryption_key", 409)
    assert route.tokens == []
    entry = Call.objects.get(uid=request.uid)
    assert (entry.side, entry.outcome, entry.request_token) == (
        CallSide.CONSUMER,
        CallOutcome.REFUSED,
        "",
    )
    assert ZHANG not in str(Call.objects.values())


def test_a_call_token_is_good_once_for_its_audience_and_its_time(
    nodes, grant, cq_clerk, route
) -> None:
    services.call_make(actor=cq_clerk.user, request=verify())
    (token,) = route.tokens
    with nodes.playing(SICHUAN), pytest.raises(Conflict) as caught:
        services.call_receive(token=token)
    assert caught.value.code == "replayed"

    claims = messaging.node_token_claims(token, typ=services.CALL_TYP)
    now = int(timezone.now().timestamp())

    def signed(**changes: Any) -> str:
        body = {k: v for k, v in claims.items() if k != "iss"}
        return messaging.node_token(
            {**body, "jti": str(verify().uid), **changes}, typ=services.CALL_TYP
        )

    for changes, code in [
        ({"aud": GUIZHOU}, "wrong_recipient"),
        ({"iat": now - 600, "exp": now - 480}, "expired"),
        ({"iat": now + 600, "exp": now + 720}, "expired"),
        ({"consumer": {**claims["consumer"], "node": GUIZHOU}}, "not_theirs"),
        ({"jti": "not-a-uuid"}, "malformed"),
    ]:
        forged = signed(**changes)
        with nodes.playing(SICHUAN), pytest.raises(ValidationFailed) as caught:
            services.call_receive(token=forged)
        assert caught.value.code == code, changes
    with nodes.playing(SICHUAN), pytest.raises(ValidationFailed) as caught:
        services.call_receive(token="not.a.token")
    assert caught.value.code == "malformed"
    assert Call.objects.filter(side=CallSide.PROVIDER).count() == 1


def test_the_federation_endpoint_turns_away_an_unsigned_call(nodes, grant, api) -> None:
    with nodes.playing(SICHUAN):
        response = api.post(
            "/federation/v1/datashare/call", data=b"garbage", content_type="application/jose"
        )
    assert response.status_code == 400
    assert not Call.objects.exists()


# The catalogue -----


def test_a_peers_catalogue_is_mirrored_when_it_carries_the_peers_signature(
    nodes, resource, api
) -> None:
    with nodes.playing(SICHUAN):
        response = api.get("/federation/v1/datashare/catalogue")
    assert response.status_code == 200
    token = response.content.decode()
    with nodes.playing(GUIZHOU):
        # Guizhou's own catalogue lists nothing; signed as Guizhou, it is not Sichuan's.
        guizhou = services.catalogue_document()
    with pytest.raises(ValidationFailed) as caught:
        services.catalogue_accept(node=SICHUAN, token=guizhou)
    assert caught.value.code == "not_theirs"
    # Signed with Guizhou's key but claiming to be Sichuan's: the signature does not check.
    with nodes.playing(GUIZHOU), node(nodes.settings, SICHUAN):
        forged = services.catalogue_document()
    with pytest.raises(messaging.Untrusted):
        services.catalogue_accept(node=SICHUAN, token=forged)
    with pytest.raises(ValidationFailed):  # its own catalogue is not a peer's
        services.catalogue_accept(node=CHONGQING, token=token)
    resource.refresh_from_db()
    assert resource.department is not None  # nothing taken so far

    assert services.catalogue_accept(node=SICHUAN, token=token) == 1
    mirrored = Resource.objects.get(node=SICHUAN, key="hukou")
    assert mirrored.department is None
    assert mirrored.department_name == "成都市公安局"
    assert mirrored.fetched_at is not None
    assert [q["key"] for q in mirrored.questions] == ["name_matches", "registered"]


# Disputes -----


def test_a_dispute_travels_to_the_provider_and_its_outcome_back(
    nodes, grant, cq_clerk, sc_admin, route
) -> None:
    entry, _answer = services.call_make(actor=cq_clerk.user, request=verify())
    raised = services.dispute_raise(
        actor=cq_clerk.user, call=entry, kind="stale", reason="申请人已迁出"
    )
    assert raised.side == CallSide.CONSUMER
    with pytest.raises(ValidationFailed) as caught:  # resolved where the call was answered
        services.dispute_resolve(
            actor=StaffFactory(supervisor=True).user, dispute=raised, upheld=True, outcome="x"
        )
    assert caught.value.code == "resolved_elsewhere"
    (event,) = sent(services.DISPUTE_RAISED, to=SICHUAN, subject=raised.uid)
    with nodes.playing(SICHUAN):
        with pytest.raises(ValidationFailed):  # only the node that made the call raises on it
            services.on_dispute_raised(incoming(GUIZHOU, event["type"], event["data"]))
        services.on_dispute_raised(incoming(CHONGQING, event["type"], event["data"]))
        services.on_dispute_raised(incoming(CHONGQING, event["type"], event["data"]))  # again
        there = Dispute.objects.get(uid=raised.uid, side=CallSide.PROVIDER)
        assert there.call.side == CallSide.PROVIDER
        assert there.raised_node == CHONGQING
        services.dispute_resolve(
            actor=sc_admin.user, dispute=there, upheld=True, outcome="已更新迁出记录"
        )
    (event,) = sent(services.DISPUTE_RESOLVED, to=CHONGQING, subject=raised.uid)
    with pytest.raises(ValidationFailed):  # only the provider's node resolves
        services.on_dispute_resolved(incoming(GUIZHOU, event["type"], event["data"]))
    services.on_dispute_resolved(incoming(SICHUAN, event["type"], event["data"]))
    raised.refresh_from_db()
    assert raised.state == DisputeState.UPHELD
    assert raised.outcome == "已更新迁出记录"


def test_a_provider_does_not_accept_misuse_claimed_by_the_consumer(
    nodes, grant, cq_clerk, route
) -> None:
    entry, _answer = services.call_make(actor=cq_clerk.user, request=verify())
    raised = services.dispute_raise(actor=cq_clerk.user, call=entry, kind="stale", reason="旧")
    (event,) = sent(services.DISPUTE_RAISED)
    with nodes.playing(SICHUAN), pytest.raises(ValidationFailed) as caught:
        services.on_dispute_raised(
            incoming(CHONGQING, event["type"], {**event["data"], "kind": "misuse"})
        )
    assert caught.value.code == "invalid_kind"
    assert not Dispute.objects.filter(uid=raised.uid, side=CallSide.PROVIDER).exists()
