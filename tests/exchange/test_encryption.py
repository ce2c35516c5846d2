"""Event data encrypted to the recipient: each node has an X25519 key (private file in
``keys/node/enc``, public half registered with the hub and published in the trust list); a
message's data goes as a JWE to the recipient's key, so personal values are readable only there
— not in transit, not at the hub's relay, not in any outbox, inbox or evidence log."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import transaction

from tests.exchange.conftest import HUB, ForeignNode
from tongban.exchange import keys, messaging, services, trust
from tongban.exchange.models import EvidenceEntry, InboxMessage, InboxState, Node, OutboxMessage

TYPE = "cn.tongban.test.private"
SECRET = "500103199903071234"


@pytest.fixture
def applied() -> Iterator[list[dict[str, Any]]]:
    seen: list[dict[str, Any]] = []
    messaging.register_handler(TYPE, seen.append)
    yield seen
    messaging._handlers.pop(TYPE, None)


@pytest.fixture
def listed(hub: Node) -> trust.TrustList:
    services.trust_list_issue()
    return services.trust_list_current()


def _send(recipient: str, data: dict[str, Any]) -> OutboxMessage:
    with transaction.atomic():
        return messaging.message_send(recipient=recipient, type=TYPE, subject="CASE-1", data=data)


def test_a_node_gets_an_encryption_key_file_and_publishes_its_public_half(
    hub: Node, listed: trust.TrustList
) -> None:
    hub.refresh_from_db()
    kid = hub.enc_jwk["kid"]
    path = Path(settings.TONGBAN_NODE_KEY_DIR) / "enc" / f"{kid}.pem"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert set(hub.enc_jwk) == {"kty", "crv", "x", "kid", "use", "alg"}  # no private "d"
    assert hub.enc_jwk["crv"] == "X25519"
    own = listed.node(HUB)
    assert own is not None
    assert own.enc == hub.enc_jwk
    # The registration a province sends carries it too.
    payload = json.loads(keys.unverified_payload(services.registration_token()))
    assert payload["enc"] == hub.enc_jwk


def test_data_for_a_node_with_a_key_travels_and_rests_encrypted(listed, applied) -> None:
    message = _send(HUB, {"id_number": SECRET, "n": 1})
    event = json.loads(keys.unverified_payload(message.token))
    assert set(event["data"]) == {"jwe"}
    assert SECRET not in message.token
    assert SECRET not in keys.unverified_payload(message.token).decode()

    stored, new = messaging.inbox_receive(token=message.token)
    assert new
    assert stored.state == InboxState.APPLIED
    # The handler reads the clear data; the inbox and the evidence keep the ciphertext.
    assert applied[0]["data"] == {"id_number": SECRET, "n": 1}
    assert set(InboxMessage.objects.get().event["data"]) == {"jwe"}
    assert all(SECRET not in entry.token for entry in EvidenceEntry.objects.all())


def test_data_for_a_node_without_a_key_goes_in_clear(
    hub: Node, sichuan: ForeignNode, client: Any
) -> None:
    # Sichuan registers without an encryption key (an older node): its data is not encrypted.
    code = services.enrolment_create(actor=None, node_code=sichuan.code)
    services.node_register(token=sichuan.token(enrolment=code))
    message = _send(sichuan.code, {"n": 1})
    assert json.loads(keys.unverified_payload(message.token))["data"] == {"n": 1}


def test_data_encrypted_to_another_key_is_rejected_not_retried(listed, applied, tmp_path) -> None:
    stranger = keys.generate_enc(tmp_path)
    message = _send(HUB, {"n": 1})
    event = json.loads(keys.unverified_payload(message.token))
    event["data"] = {"jwe": keys.encrypt_for(keys.enc_public_jwk(stranger), b'{"n": 1}')}
    event["id"] = "6f1c0f5e-0000-4000-8000-000000000001"
    event["sequence"] = 2
    from tongban.exchange import envelope

    token = envelope.seal(event, services.signing_pair())
    messaging.inbox_receive(token=message.token)
    stored, _new = messaging.inbox_receive(token=token)
    assert stored.state == InboxState.REJECTED
    assert "cannot_decrypt" in stored.error
    assert len(applied) == 1  # only the first


def test_keys_refuse_what_is_not_an_x25519_public_key(tmp_path: Path) -> None:
    private = keys.generate_enc(tmp_path)
    assert keys.enc_public_members(private.as_dict(private=True))["kid"] == private.thumbprint()
    assert "d" not in keys.enc_public_members(private.as_dict(private=True))  # type: ignore[operator]
    signing = keys.generate(tmp_path / "sig")
    assert keys.enc_public_members(signing.public_jwk()) is None
    assert keys.enc_public_members("x") is None
    assert keys.enc_public_members({"kty": "OKP", "crv": "X25519", "x": "!!"}) is None


def test_a_registration_with_a_bad_encryption_key_is_refused(
    hub: Node, sichuan: ForeignNode
) -> None:
    from tongban.core.errors import ValidationFailed

    code = services.enrolment_create(actor=None, node_code=sichuan.code)
    payload = sichuan.payload(enrolment=code) | {"enc": {"kty": "OKP", "crv": "Ed25519", "x": "a"}}
    with pytest.raises(ValidationFailed):
        services.node_register(token=sichuan.token(payload=payload))
    assert not Node.objects.filter(code=sichuan.code).exists()


def test_decrypting_with_the_wrong_keys_fails_cleanly(tmp_path: Path) -> None:
    mine = keys.generate_enc(tmp_path / "a")
    other = keys.generate_enc(tmp_path / "b")
    token = keys.encrypt_for(keys.enc_public_jwk(mine), b"secret")
    assert keys.decrypt(token, {mine.thumbprint(): mine}) == b"secret"
    with pytest.raises(keys.CannotDecrypt):
        keys.decrypt(token, {other.thumbprint(): other})
    with pytest.raises(keys.CannotDecrypt):
        keys.decrypt("not.a.jwe", {mine.thumbprint(): mine})
