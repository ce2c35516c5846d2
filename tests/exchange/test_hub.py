"""On the hub: enrolment codes, node registration, the trust list, and their HTTP views."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from typing import Any

import pytest
import time_machine
from django.db import IntegrityError
from django.test import Client
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.exchange.conftest import HUB, SICHUAN, ForeignNode, hub_public_keys, verified
from tongban.core.audit import SYSTEM
from tongban.core.errors import Conflict, Forbidden, ValidationFailed
from tongban.core.models import AuditEntry
from tongban.exchange import keys, services, trust
from tongban.exchange.models import Enrolment, Node, NodeKey, TrustListCopy

pytestmark = pytest.mark.django_db
T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
JOSE = "application/jose"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def enrol(code: str = SICHUAN, **options: Any) -> str:
    return services.enrolment_create(actor=SYSTEM, node_code=code, **options)


def snapshot() -> dict[str, Any]:
    """What a refused registration must leave untouched."""
    return {
        "nodes": sorted(Node.objects.values_list("code", "name", "base_url")),
        "keys": sorted(NodeKey.objects.values_list("kid", "not_before", "not_after", "revoked_at")),
        "lists": TrustListCopy.objects.count(),
        "unused": Enrolment.objects.filter(used_at__isnull=True).count(),
    }


@pytest.fixture
def registered(hub: Node, sichuan: ForeignNode) -> ForeignNode:
    services.node_register(token=sichuan.token(enrolment=enrol()))
    return sichuan


# Enrolment ---------------------------------------------------------------------------------


def test_an_enrolment_code_is_kept_only_as_a_hash(hub: Node) -> None:
    with time_machine.travel(T0, tick=False):
        code = enrol()
    enrolment = Enrolment.objects.get()
    assert enrolment.node_code == SICHUAN
    assert enrolment.token_hash == hashlib.sha256(code.encode()).hexdigest()
    assert enrolment.expires_at == T0 + dt.timedelta(hours=services.ENROLMENT_HOURS)
    assert enrolment.used_at is None
    assert len(code) >= 32
    assert code not in json.dumps(list(Enrolment.objects.values()), default=str)
    assert AuditEntry.objects.filter(action="enrolment.created").count() == 1


def test_only_the_hub_enrols(db: None) -> None:
    with pytest.raises(Forbidden) as refused:
        enrol()
    assert refused.value.code == "not_the_hub"


@pytest.mark.parametrize(
    "code",
    ["", "51000", "5100000", "51000a", "５１００００", "51000٠", " 510000", 510000, None, HUB],
)
def test_bad_node_codes_are_refused(hub: Node, code: Any) -> None:
    with pytest.raises(ValidationFailed) as refused:
        enrol(code)
    assert "node_code" in refused.value.fields
    assert not Enrolment.objects.exists()


def test_the_enrol_command_prints_the_code(hub: Node, capsys: pytest.CaptureFixture[str]) -> None:
    from django.core.management import call_command

    call_command("exchange", "enrol", SICHUAN)
    code = capsys.readouterr().out.strip()
    assert Enrolment.objects.get().token_hash == hashlib.sha256(code.encode()).hexdigest()


# Registration of a new node ----------------------------------------------------------------


def test_a_new_node_registers_with_an_enrolment_code(hub: Node, sichuan: ForeignNode) -> None:
    node = services.node_register(token=sichuan.token(enrolment=enrol()))
    assert (node.code, node.name, node.base_url, node.is_self) == (
        SICHUAN,
        "四川省",
        "https://sc.example.cn",
        False,
    )
    assert node.registered_at is not None
    key = NodeKey.objects.get(node=node)
    assert key.kid == sichuan.pairs[0].kid
    assert key.jwk == sichuan.pairs[0].public_jwk()
    assert Enrolment.objects.get().used_at is not None
    assert AuditEntry.objects.filter(action="node.registered", target_id=str(node.pk)).exists()

    listed = verified(TrustListCopy.objects.get().token)
    assert [n.code for n in listed.nodes] == [HUB, SICHUAN]
    assert listed.key_of(SICHUAN, key.kid, at=timezone.now()).jwk == key.jwk
    assert listed.node(SICHUAN).url == "https://sc.example.cn"  # type: ignore[union-attr]


def test_a_private_key_sent_by_mistake_is_not_stored(hub: Node, sichuan: ForeignNode) -> None:
    entry = sichuan.entries[0]
    entry["jwk"] = dict(sichuan.pairs[0].private.as_dict(private=True)) | {"kid": entry["kid"]}
    assert "d" in entry["jwk"]
    services.node_register(token=sichuan.token(enrolment=enrol()))
    assert NodeKey.objects.get(kid=entry["kid"]).jwk == sichuan.pairs[0].public_jwk()
    listed = verified(TrustListCopy.objects.get().token)
    assert "d" not in listed.node(SICHUAN).keys[0].jwk  # type: ignore[union-attr]


def _refused(hub: Node, token: str, error: type[Exception] = Forbidden) -> Exception:
    before = snapshot()
    with pytest.raises(error) as refused:
        services.node_register(token=token)
    assert snapshot() == before
    return refused.value


def test_no_enrolment_code_is_refused(hub: Node, sichuan: ForeignNode) -> None:
    enrol()
    _refused(hub, sichuan.token())


def test_an_unknown_enrolment_code_is_refused(hub: Node, sichuan: ForeignNode) -> None:
    enrol()
    _refused(hub, sichuan.token(enrolment="not-the-code"))


def test_an_enrolment_code_for_another_node_is_refused(hub: Node, sichuan: ForeignNode) -> None:
    code = enrol("520000")
    _refused(hub, sichuan.token(enrolment=code))


def test_an_expired_enrolment_code_is_refused(hub: Node, sichuan: ForeignNode) -> None:
    with time_machine.travel(T0, tick=False) as traveller:
        code = enrol(hours=1)
        traveller.move_to(T0 + dt.timedelta(hours=1))
        _refused(hub, sichuan.token(enrolment=code))
        traveller.move_to(T0 + dt.timedelta(minutes=59))
        services.node_register(token=sichuan.token(enrolment=code))


def test_an_enrolment_code_works_once(hub: Node, sichuan: ForeignNode, tmp_path: Any) -> None:
    code = enrol()
    services.node_register(token=sichuan.token(enrolment=code))
    # Someone else claiming 510000 with the spent code and their own key.
    impostor = ForeignNode(SICHUAN, tmp_path / "impostor", name="冒名", url="https://x.example")
    impostor.new_key()
    _refused(hub, impostor.token(enrolment=code))
    assert Node.objects.get(code=SICHUAN).name == "四川省"


def test_a_signature_by_a_key_not_in_the_registration_is_refused(
    hub: Node, sichuan: ForeignNode, tmp_path: Any
) -> None:
    stranger = keys.generate(tmp_path / "stranger")
    _refused(hub, sichuan.token(enrolment=enrol(), signer=stranger))


def test_a_tampered_registration_is_refused(hub: Node, sichuan: ForeignNode) -> None:
    code = enrol()
    header, _payload, signature = sichuan.token(enrolment=code).split(".")
    changed = sichuan.payload(enrolment=code) | {"url": "https://evil.example.com"}
    forged = ".".join([header, b64(json.dumps(changed).encode()), signature])
    _refused(hub, forged)
    raw = bytearray(base64.urlsafe_b64decode(signature + "=="))
    raw[-1] ^= 0x40
    _refused(hub, ".".join([header, _payload, b64(bytes(raw))]))


@pytest.mark.parametrize(
    "skew",
    [dt.timedelta(minutes=-6), dt.timedelta(minutes=6), dt.timedelta(days=-365)],
    ids=["old", "future", "last-year"],
)
def test_a_registration_outside_five_minutes_is_refused(
    hub: Node, sichuan: ForeignNode, skew: dt.timedelta
) -> None:
    code = enrol()
    _refused(hub, sichuan.token(enrolment=code, at=timezone.now() + skew))


def test_a_registration_within_five_minutes_is_accepted(hub: Node, sichuan: ForeignNode) -> None:
    code = enrol()
    token = sichuan.token(enrolment=code, at=timezone.now() - dt.timedelta(minutes=4))
    assert services.node_register(token=token).code == SICHUAN


@pytest.mark.parametrize(
    "time", [None, "", "now", "2026-03-02T09:00:00", 1772442000, "0001-01-01T00:00:00+14:00"]
)
def test_a_registration_without_a_usable_time_is_refused(
    hub: Node, sichuan: ForeignNode, time: Any
) -> None:
    payload = sichuan.payload(enrolment=enrol()) | {"time": time}
    _refused(hub, sichuan.token(payload=payload))


def test_a_captured_registration_cannot_be_replayed_later(hub: Node, sichuan: ForeignNode) -> None:
    with time_machine.travel(T0, tick=False) as traveller:
        token = sichuan.token(enrolment=enrol())
        services.node_register(token=token)
        traveller.move_to(T0 + dt.timedelta(minutes=6))
        _refused(hub, token)


def test_a_kid_that_does_not_match_its_key_is_refused(
    hub: Node, sichuan: ForeignNode, tmp_path: Any
) -> None:
    other = keys.generate(tmp_path / "other")
    sichuan.entries[0]["jwk"] = other.public_jwk()  # the signer's kid, someone else's key
    _refused(hub, sichuan.token(enrolment=enrol()))


def test_another_key_whose_kid_does_not_match_is_refused(
    hub: Node, sichuan: ForeignNode, tmp_path: Any
) -> None:
    code = enrol()
    extra = sichuan.new_key()
    sichuan.entry(extra.kid)["kid"] = sichuan.pairs[0].kid[::-1]
    error = _refused(hub, sichuan.token(enrolment=code, signer=sichuan.pairs[0]), ValidationFailed)
    assert "keys" in error.fields  # type: ignore[attr-defined]


def test_an_enrolling_node_signs_with_a_key_valid_now(hub: Node, sichuan: ForeignNode) -> None:
    code = enrol()
    sichuan.entries[0]["revoked"] = True
    _refused(hub, sichuan.token(enrolment=code))
    sichuan.entries[0]["revoked"] = False
    sichuan.entries[0]["not_before"] = (timezone.now() + dt.timedelta(days=1)).isoformat()
    _refused(hub, sichuan.token(enrolment=code))


def test_a_registration_of_another_type_is_refused(hub: Node, sichuan: ForeignNode) -> None:
    _refused(hub, sichuan.token(enrolment=enrol(), typ=trust.TYP), ValidationFailed)


def test_a_node_cannot_claim_the_key_of_another_node(
    hub: Node, sichuan: ForeignNode, tmp_path: Any
) -> None:
    code = enrol()
    hub_key = NodeKey.objects.get(node=hub)
    sichuan.entries.append(
        {
            "kid": hub_key.kid,
            "jwk": hub_key.jwk,
            "not_before": timezone.now().isoformat(),
            "not_after": None,
            "revoked": True,
        }
    )
    _refused(hub, sichuan.token(enrolment=code, signer=sichuan.pairs[0]), Conflict)
    assert NodeKey.objects.get(kid=hub_key.kid).revoked_at is None


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"code": "５１００００"}, "code"),
        ({"code": 510000}, "code"),
        ({"keys": {}}, "code"),
        ({"url": "javascript:alert(1)"}, "url"),
        ({"url": "ftp://sc.example.cn"}, "url"),
        ({"url": "https://sc.example.cn/" + "x" * 300}, "url"),
        ({"name": "四川\x00省"}, "name"),
        ({"url": "https://sc.example.cn/\ud800"}, "url"),
    ],
)
def test_malformed_registrations_are_refused(
    hub: Node, sichuan: ForeignNode, change: dict[str, Any], field: str
) -> None:
    payload = sichuan.payload(enrolment=enrol()) | change
    raw = json.dumps(payload).encode()  # \u escapes: lone surrogates too
    error = _refused(hub, sichuan.token(payload=raw), ValidationFailed)
    assert field in error.fields  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "change",
    [
        {"not_before": "2026-03-02T09:00:00"},
        {"not_before": None},
        {"not_after": "tomorrow"},
        {"jwk": "key"},
        {"not_before": "0001-01-01T00:00:00+14:00"},
    ],
)
def test_malformed_keys_are_refused(
    hub: Node, sichuan: ForeignNode, change: dict[str, Any]
) -> None:
    code = enrol()
    extra = sichuan.new_key()
    sichuan.entry(extra.kid).update(change)
    token = sichuan.token(enrolment=code, signer=sichuan.pairs[0])
    before = snapshot()
    with pytest.raises((ValidationFailed, Forbidden)):
        services.node_register(token=token)
    assert snapshot() == before


def test_a_province_node_registers_nobody(db: None, sichuan: ForeignNode) -> None:
    with pytest.raises(Forbidden):
        services.node_register(token=sichuan.token())


# Registration of a known node --------------------------------------------------------------


def test_a_known_node_adds_a_rotated_key_without_enrolment(registered: ForeignNode) -> None:
    current = registered.pairs[0]
    following = registered.new_key(not_before=timezone.now() + dt.timedelta(hours=1))
    registered.entry(current.kid)["not_after"] = (timezone.now() + dt.timedelta(days=8)).isoformat()
    services.node_register(token=registered.token(signer=current))
    stored = {key.kid: key for key in NodeKey.objects.filter(node__code=SICHUAN)}
    assert set(stored) == {current.kid, following.kid}
    assert stored[current.kid].not_after is not None
    listed = verified(TrustListCopy.objects.order_by("-serial").first().token)  # type: ignore[union-attr]
    assert {key.kid for key in listed.node(SICHUAN).keys} == set(stored)  # type: ignore[union-attr]
    assert listed.serial == 2
    assert Enrolment.objects.filter(used_at__isnull=True).count() == 0


def test_a_known_node_signing_with_an_unknown_key_is_refused(
    hub: Node, registered: ForeignNode
) -> None:
    newcomer = registered.new_key()
    _refused(hub, registered.token(signer=newcomer))


def test_a_known_node_re_enrols_when_it_holds_no_trusted_key(
    hub: Node, registered: ForeignNode
) -> None:
    lost = registered.pairs[0]
    registered.entry(lost.kid)["revoked"] = True
    fresh = registered.new_key()
    _refused(hub, registered.token(signer=fresh))  # without a new code: refused
    services.node_register(token=registered.token(signer=fresh, enrolment=enrol()))
    assert NodeKey.objects.get(kid=lost.kid).revoked_at is not None
    assert NodeKey.objects.filter(kid=fresh.kid).exists()


def test_a_registration_signed_with_a_revoked_key_is_refused(
    hub: Node, registered: ForeignNode
) -> None:
    old = registered.pairs[0]
    following = registered.new_key()
    services.node_register(token=registered.token(signer=old))
    registered.entry(old.kid)["revoked"] = True
    services.node_register(token=registered.token(signer=following))
    assert NodeKey.objects.get(kid=old.kid).revoked_at is not None
    registered.name = "四川省（伪）"
    _refused(hub, registered.token(signer=old))


def test_a_node_cannot_revive_a_revoked_key(hub: Node, registered: ForeignNode) -> None:
    old = registered.pairs[0]
    following = registered.new_key()
    services.node_register(token=registered.token(signer=old))
    registered.entry(old.kid)["revoked"] = True
    services.node_register(token=registered.token(signer=following))
    revoked_at = NodeKey.objects.get(kid=old.kid).revoked_at
    assert revoked_at is not None
    registered.entry(old.kid)["revoked"] = False
    services.node_register(token=registered.token(signer=following))
    assert NodeKey.objects.get(kid=old.kid).revoked_at == revoked_at
    listed = verified(TrustListCopy.objects.order_by("-serial").first().token)  # type: ignore[union-attr]
    with pytest.raises(trust.TrustError) as refused:
        listed.key_of(SICHUAN, old.kid, at=timezone.now())
    assert refused.value.reason == "revoked_key"


def test_a_node_may_shorten_a_key_but_never_lengthen_it(registered: ForeignNode) -> None:
    key = registered.pairs[0]
    entry = registered.entry(key.kid)
    until = timezone.now() + dt.timedelta(days=10)
    entry["not_after"] = until.isoformat()
    services.node_register(token=registered.token(signer=key))
    assert NodeKey.objects.get(kid=key.kid).not_after == until
    for longer in [until + dt.timedelta(days=30), None]:
        entry["not_after"] = longer.isoformat() if longer else None
        services.node_register(token=registered.token(signer=key))
        assert NodeKey.objects.get(kid=key.kid).not_after == until
    entry["not_after"] = (until - dt.timedelta(days=5)).isoformat()
    services.node_register(token=registered.token(signer=key))
    assert NodeKey.objects.get(kid=key.kid).not_after == until - dt.timedelta(days=5)


def test_a_known_node_updates_its_name_and_url(registered: ForeignNode) -> None:
    registered.name, registered.url = "四川省政务服务平台", "https://tfb.example.cn"
    services.node_register(token=registered.token())
    node = Node.objects.get(code=SICHUAN)
    assert (node.name, node.base_url) == ("四川省政务服务平台", "https://tfb.example.cn")


def test_another_node_cannot_speak_for_the_hub(hub: Node, tmp_path: Any) -> None:
    impostor = ForeignNode(HUB, tmp_path / "impostor", name="假中心", url="https://x.example")
    impostor.new_key()
    _refused(hub, impostor.token())
    _refused(hub, impostor.token(enrolment="anything"))


# The trust list ----------------------------------------------------------------------------


def test_the_hub_lists_itself(hub: Node) -> None:
    copy = services.trust_list_to_serve()
    listed = verified(copy.token)
    assert listed.issuer == HUB
    assert [node.code for node in listed.nodes] == [HUB]
    assert trust.hub_keys_in(listed, at=timezone.now()) == hub_public_keys()


def test_the_served_list_is_reissued_after_a_day(hub: Node) -> None:
    with time_machine.travel(T0, tick=False) as traveller:
        first = services.trust_list_to_serve()
        traveller.move_to(T0 + dt.timedelta(hours=23, minutes=59))
        assert services.trust_list_to_serve().pk == first.pk
        traveller.move_to(T0 + dt.timedelta(days=1))
        second = services.trust_list_to_serve()
    assert second.serial == first.serial + 1
    assert second.issued_at == T0 + dt.timedelta(days=1)
    assert second.expires_at == second.issued_at + dt.timedelta(days=7)


def test_long_expired_keys_drop_out_of_the_list(registered: ForeignNode) -> None:
    key = registered.pairs[0]
    registered.new_key()
    registered.entry(key.kid)["not_after"] = (timezone.now() + dt.timedelta(hours=1)).isoformat()
    services.node_register(token=registered.token(signer=key))
    with time_machine.travel(timezone.now() + dt.timedelta(days=30), tick=False):
        listed = verified(services.trust_list_issue().token)
        assert key.kid in {k.kid for k in listed.node(SICHUAN).keys}  # type: ignore[union-attr]
    with time_machine.travel(timezone.now() + dt.timedelta(days=31, hours=2), tick=False):
        listed = verified(services.trust_list_issue().token)
        assert key.kid not in {k.kid for k in listed.node(SICHUAN).keys}  # type: ignore[union-attr]


def test_issuing_retries_when_another_request_took_the_serial(
    hub: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = services._trust_list_sign
    calls = []

    def racing(now: dt.datetime) -> TrustListCopy:
        calls.append(now)
        if len(calls) == 1:
            raise IntegrityError("duplicate key value violates unique constraint")
        return real(now)

    monkeypatch.setattr(services, "_trust_list_sign", racing)
    assert services.trust_list_issue().serial == 1
    assert len(calls) == 2


def test_the_trust_list_needs_the_hub(db: None) -> None:
    with pytest.raises(Forbidden):
        services.trust_list_to_serve()
    with pytest.raises(Forbidden):
        services.trust_list_issue()


# HTTP --------------------------------------------------------------------------------------


def _error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"code", "message", "fields"}
    return body  # type: ignore[no-any-return]


def test_get_trust_list_on_the_hub(hub: Node, api: Client) -> None:
    response = api.get("/federation/v1/trust-list")
    assert response.status_code == 200
    assert response["Content-Type"] == JOSE
    assert response["Cache-Control"] == "max-age=300"
    listed = verified(response.content.decode("ascii"))
    assert listed.serial == TrustListCopy.objects.get().serial
    assert api.get("/federation/v1/trust-list").content == response.content


def test_get_trust_list_elsewhere_is_a_json_403(db: None, api: Client) -> None:
    body = _error(api.get("/federation/v1/trust-list"), 403)
    assert body["code"] == "not_the_hub"
    assert body["message"]
    assert body["fields"] == {}


def test_posting_to_the_trust_list_is_a_json_405(hub: Node, api: Client) -> None:
    assert _error(api.post("/federation/v1/trust-list"), 405)["code"] == "method_not_allowed"


def test_post_a_registration(hub: Node, sichuan: ForeignNode, api: Client) -> None:
    response = api.post(
        "/federation/v1/nodes", data=sichuan.token(enrolment=enrol()), content_type=JOSE
    )
    assert response.status_code == 201
    assert response.json() == {"code": SICHUAN, "name": "四川省", "keys": 1}


def test_a_refused_registration_is_a_json_403(hub: Node, sichuan: ForeignNode, api: Client) -> None:
    body = _error(api.post("/federation/v1/nodes", data=sichuan.token(), content_type=JOSE), 403)
    assert body["code"] == "forbidden"
    assert not Node.objects.filter(code=SICHUAN).exists()


def test_registering_on_a_province_node_is_a_json_403(
    db: None, sichuan: ForeignNode, api: Client
) -> None:
    response = api.post("/federation/v1/nodes", data=sichuan.token(), content_type=JOSE)
    assert _error(response, 403)["code"] == "not_the_hub"


def test_get_nodes_is_a_json_405(hub: Node, api: Client) -> None:
    _error(api.get("/federation/v1/nodes"), 405)


_DEEP = "e30." + b64(b"[" * 30000 + b"]" * 30000) + ".AA"


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"", JOSE, 400),
        (b"garbage", JOSE, 400),
        (b"a.b.c", JOSE, 400),
        ("é.é.é".encode(), JOSE, 400),
        (b"\x00\xff\xfe", JOSE, 400),
        (b'{"code": "510000"}', "application/json", 400),
        (b'{"code": "510000\\u0000"}', "application/json", 400),
        (b"[" * 10000, "application/json", 400),
        (b"x=1&y=2", "application/x-www-form-urlencoded", 400),
        (_DEEP.encode(), JOSE, 400),
        (b"A" * (64 * 1024 + 1), JOSE, 400),
        (b"A" * (3 * 1024 * 1024), JOSE, 400),
    ],
    ids=[
        "empty",
        "garbage",
        "dots",
        "non-ascii",
        "binary",
        "json",
        "json-nul",
        "json-deep",
        "form",
        "deeply-nested-payload",
        "over-64k",
        "over-upload-limit",
    ],
)
def test_garbage_registrations_are_json_4xx(
    hub: Node, api: Client, body: bytes, content_type: str, status: int
) -> None:
    _error(api.post("/federation/v1/nodes", data=body, content_type=content_type), status)
    assert Node.objects.count() == 1


def test_a_deeply_nested_signed_payload_is_a_400(hub: Node, api: Client, tmp_path: Any) -> None:
    pair = keys.generate(tmp_path / "deep")
    token = keys.sign(pair, b"[" * 20000 + b"]" * 20000, typ=services.REGISTRATION_TYP)
    _error(api.post("/federation/v1/nodes", data=token, content_type=JOSE), 400)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=st.binary(max_size=400) | st.text(max_size=400).map(str.encode))
def test_random_bodies_are_never_a_500(hub: Node, api: Client, body: bytes) -> None:
    response = api.post("/federation/v1/nodes", data=body, content_type=JOSE)
    assert 400 <= response.status_code < 500
    assert set(response.json()) == {"code", "message", "fields"}


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=10,
)
_FIELDS = st.sampled_from(["code", "name", "url", "keys", "time", "enrolment"])


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(payload=st.dictionaries(_FIELDS, _JSON))
def test_random_signed_payloads_are_never_a_500(
    hub: Node, api: Client, sichuan: ForeignNode, payload: dict[str, Any]
) -> None:
    body = sichuan.payload() | payload
    response = api.post("/federation/v1/nodes", data=sichuan.token(payload=body), content_type=JOSE)
    assert 400 <= response.status_code < 500, response.content
