"""Licence issuers in the trust list: a node names the authorities it vouches for and their
seal keys in its registration; the hub checks them and publishes them; a node whose issuers
changed (a new seal) registers again by itself."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone, translation

from tests.exchange.conftest import HUB, SICHUAN, ForeignNode, verified
from tests.exchange.test_hub import enrol, registered  # noqa: F401 (fixture)
from tongban.core.errors import ValidationFailed
from tongban.exchange import client, services, trust
from tongban.exchange.models import Node, TrustListCopy
from tongban.licenses.signing import P256Signer

pytestmark = pytest.mark.django_db
CHENGDU = "00510100" + "0000000042"


def issuer(code: str = CHENGDU, signer: P256Signer | None = None, **key: Any) -> dict[str, Any]:
    signer = signer or P256Signer.generate()
    return {
        "code": code,
        "name": "成都市司法局",
        "keys": [
            {
                "kid": key.get("kid", signer.kid),
                "jwk": key.get("jwk", signer.public_jwk()),
                "not_before": timezone.now().isoformat(),
                "not_after": None,
                "revoked": False,
            }
        ],
    }


def register(node: ForeignNode, issuers: Any, **options: Any) -> Node:
    payload = node.payload(**options) | {"issuers": issuers}
    return services.node_register(token=node.token(payload=payload))


def test_the_trust_list_publishes_a_nodes_issuers(registered: ForeignNode) -> None:  # noqa: F811
    seal = P256Signer.generate()
    register(registered, [issuer(signer=seal)])
    listed = verified(TrustListCopy.objects.order_by("-serial").first().token)  # type: ignore[union-attr]
    node, found, key = listed.issuer_key(seal.kid)  # type: ignore[misc]
    assert (node.code, found.code, found.name) == (SICHUAN, CHENGDU, "成都市司法局")
    public = {name: seal.public_jwk()[name] for name in ("kty", "crv", "x", "y")}
    assert key.jwk == public | {"kid": seal.kid}
    # The document round-trips (what a verifier parses is what was signed).
    assert trust.parse(trust.document(listed)) == listed


def test_a_private_member_sent_by_mistake_is_not_published(
    registered: ForeignNode,  # noqa: F811
) -> None:
    seal = P256Signer.generate()
    register(registered, [issuer(signer=seal, jwk=seal.public_jwk() | {"d": "secret"})])
    stored = Node.objects.get(code=SICHUAN).issuers[0]["keys"][0]["jwk"]
    assert "d" not in stored
    assert "secret" not in TrustListCopy.objects.order_by("-serial").first().token  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("issuers", "why"),
    [
        ("not a list", "issuers are a list"),
        ([issuer(code="00500000" + "0000000007")], "own province"),  # a Chongqing authority
        ([issuer(code="short")], "18"),
        ([issuer(kid="not-its-thumbprint")], "P-256"),
        ([issuer(jwk={"kty": "OKP", "crv": "Ed25519", "x": "AAAA"})], "P-256"),
        ([{"name": "no code", "keys": []}], "code"),
    ],
)
def test_bad_issuers_are_refused_and_change_nothing(
    registered: ForeignNode,  # noqa: F811
    issuers: Any,
    why: str,
) -> None:
    lists = TrustListCopy.objects.count()
    with pytest.raises(ValidationFailed) as error:
        register(registered, issuers)
    with translation.override("en"):
        assert why in str(error.value.fields.get("issuers", error.value.message))
    assert Node.objects.get(code=SICHUAN).issuers == []
    assert TrustListCopy.objects.count() == lists


def test_a_key_another_node_lists_cannot_be_listed_again(hub: Node, tmp_path: Any) -> None:
    seal = P256Signer.generate()
    sichuan = ForeignNode(SICHUAN, tmp_path / "sc")
    sichuan.new_key()
    services.node_register(token=sichuan.token(enrolment=enrol()))
    register(sichuan, [issuer(signer=seal)])
    guangdong = ForeignNode("440000", tmp_path / "gd", name="广东省")
    guangdong.new_key()
    services.node_register(token=guangdong.token(enrolment=enrol("440000")))
    with pytest.raises(ValidationFailed):
        register(guangdong, [issuer(code="00440100" + "0000000001", signer=seal)])
    assert Node.objects.get(code="440000").issuers == []


def test_a_node_registers_again_when_its_issuers_change(
    hub: Node, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On the hub itself (one database): a new seal puts a new list out at the next tick."""
    entries: list[dict[str, Any]] = []
    monkeypatch.setattr(services, "_issuer_sources", [lambda: entries])
    services.trust_list_issue()
    assert client.issuers_publish() == 0  # nothing changed
    before = TrustListCopy.objects.count()
    entries.append(issuer(code="00100000" + "0000000001"))
    assert client.issuers_publish() == 1
    assert TrustListCopy.objects.count() == before + 1
    assert client.issuers_publish() == 0
    listed = services.trust_list_current()
    assert [i.code for i in listed.node(HUB).issuers] == ["00100000" + "0000000001"]  # type: ignore[union-attr]


def test_a_province_node_registers_again_when_its_issuers_change(
    settings: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """On a province node: when the list in force does not show its issuers as they are, it
    registers again (the registration carries them to the hub)."""
    from tests.exchange.test_node_trust import CHONGQING, Hub

    settings.TONGBAN_NODE_CODE = CHONGQING
    services.node_identity_ensure(name="重庆市", base_url="https://cq.example.cn")
    hub = Hub(tmp_path / "hub-keys")
    hub.pin(Path(settings.TONGBAN_HUB_KEYS_FILE))
    hub.peers = [trust.TrustedNode(CHONGQING, "重庆市", "https://cq.example.cn", ())]
    services.trust_list_accept(token=hub.token(1))
    calls: list[str] = []
    monkeypatch.setattr(client, "register", lambda: calls.append("register"))
    monkeypatch.setattr(services, "_issuer_sources", [lambda: []])
    assert client.issuers_publish() == 0
    seal = issuer(code="00500000" + "0000000007")
    monkeypatch.setattr(services, "_issuer_sources", [lambda: [seal]])
    assert client.issuers_publish() == 1
    assert calls == ["register"]
    # Once the hub's list shows it, nothing more is sent.
    hub.peers = [
        trust.TrustedNode(
            CHONGQING,
            "重庆市",
            "https://cq.example.cn",
            (),
            issuers=trust.parse_issuers([seal]),
        )
    ]
    services.trust_list_accept(token=hub.token(2))
    assert client.issuers_publish() == 0
    assert calls == ["register"]
