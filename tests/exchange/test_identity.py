"""This node's identity: its record, its signing keys, rotation and revocation."""

from __future__ import annotations

import datetime as dt
import json
import stat
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

from tongban.core.audit import SYSTEM
from tongban.core.errors import Conflict, ValidationFailed
from tongban.core.models import AuditEntry
from tongban.exchange import keys, services
from tongban.exchange.models import Node, NodeKey

pytestmark = pytest.mark.django_db
T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)


def _members(value: Any) -> set[str]:
    """Every object key anywhere in a JSON value."""
    if isinstance(value, dict):
        return set(value) | {name for item in value.values() for name in _members(item)}
    if isinstance(value, list):
        return {name for item in value for name in _members(item)}
    return set()


def test_identity_is_created_once(settings: Any) -> None:
    node, created = services.node_identity_ensure(name="重庆市", base_url="https://cq.example.cn")
    assert created
    assert (node.code, node.name, node.base_url, node.is_self) == (
        "500000",
        "重庆市",
        "https://cq.example.cn",
        True,
    )
    key = NodeKey.objects.get()
    assert key.node == node
    assert key.not_after is None
    assert key.revoked_at is None
    path = Path(settings.TONGBAN_NODE_KEY_DIR) / f"{key.kid}.pem"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert AuditEntry.objects.filter(action="node_key.created", target_id=str(key.pk)).exists()

    again, created = services.node_identity_ensure(name="重庆市人民政府")
    assert not created
    assert again.pk == node.pk
    assert again.name == "重庆市人民政府"
    assert again.base_url == settings.TONGBAN_NODE_URL
    assert NodeKey.objects.count() == 1
    assert keys.kids_on_disk(Path(settings.TONGBAN_NODE_KEY_DIR)) == [key.kid]
    assert services.signing_pair().kid == key.kid


def test_the_database_holds_only_the_public_key() -> None:
    services.node_identity_ensure(name="重庆市")
    key = NodeKey.objects.get()
    assert "d" not in _members(key.jwk)
    assert key.jwk == services.signing_pair().public_jwk()
    assert keys.kid_of(key.jwk) == key.kid
    private_d = services.signing_pair().private.as_dict(private=True)["d"]
    assert private_d not in json.dumps(list(NodeKey.objects.values()), default=str)


def test_the_data_of_another_node_is_refused(settings: Any) -> None:
    services.node_identity_ensure(name="重庆市")
    settings.TONGBAN_NODE_CODE = "510000"
    with pytest.raises(Conflict) as refused:
        services.node_identity_ensure(name="四川省")
    assert refused.value.code == "wrong_node"
    assert Node.objects.get(is_self=True).code == "500000"
    assert NodeKey.objects.count() == 1


def test_a_lost_key_file_means_a_new_key(settings: Any) -> None:
    services.node_identity_ensure(name="重庆市")
    lost = NodeKey.objects.get()
    (Path(settings.TONGBAN_NODE_KEY_DIR) / f"{lost.kid}.pem").unlink()
    with pytest.raises(Conflict) as refused:
        services.signing_pair()
    assert refused.value.code == "no_signing_key"
    _node, created = services.node_identity_ensure(name="重庆市")
    assert created
    assert services.signing_pair().kid != lost.kid


def test_a_peer_record_of_this_code_becomes_this_node() -> None:
    Node.objects.create(code="500000", name="重庆市（对端）", base_url="https://old.example.cn")
    node, _created = services.node_identity_ensure(name="重庆市", base_url="https://cq.example.cn")
    assert Node.objects.get().pk == node.pk
    assert node.is_self


def test_signing_needs_an_identity() -> None:
    with pytest.raises(Conflict) as refused:
        services.signing_pair()
    assert refused.value.code == "no_identity"


def test_a_rotated_key_signs_only_from_its_activation() -> None:
    with time_machine.travel(T0, tick=False) as traveller:
        services.node_identity_ensure(name="重庆市")
        old = NodeKey.objects.get()
        new = services.node_key_rotate(actor=SYSTEM, activate_in=HOUR)
        old.refresh_from_db()
        grace = dt.timedelta(days=settings.TONGBAN_KEY_GRACE_DAYS)
        assert new.not_before == T0 + HOUR
        assert old.not_after == T0 + HOUR + grace
        assert services.signing_pair().kid == old.kid

        traveller.move_to(T0 + HOUR - dt.timedelta(seconds=1))
        assert services.signing_pair().kid == old.kid
        traveller.move_to(T0 + HOUR)
        assert services.signing_pair().kid == new.kid
        # The old key still verifies during the grace period, then expires.
        traveller.move_to(T0 + HOUR + grace - dt.timedelta(seconds=1))
        assert {p.kid for p in services._usable_pairs(services.self_node(), T0 + HOUR)} == {
            old.kid,
            new.kid,
        }
        traveller.move_to(T0 + HOUR + grace)
        assert [p.kid for p in services._usable_pairs(services.self_node(), T0 + HOUR + grace)] == [
            new.kid
        ]
    assert AuditEntry.objects.filter(action="node_key.rotated", target_id=str(new.pk)).exists()


def test_rotation_with_a_chosen_grace_and_no_delay() -> None:
    with time_machine.travel(T0, tick=False):
        services.node_identity_ensure(name="重庆市")
        old = NodeKey.objects.get()
        new = services.node_key_rotate(actor=SYSTEM, grace=dt.timedelta(days=2))
        old.refresh_from_db()
        assert services.signing_pair().kid == new.kid
        assert old.not_after == T0 + dt.timedelta(days=2)


def test_rotation_never_lengthens_an_old_key() -> None:
    with time_machine.travel(T0, tick=False):
        services.node_identity_ensure(name="重庆市")
        old = NodeKey.objects.get()
        services.node_key_rotate(actor=SYSTEM, grace=dt.timedelta(days=1))
        services.node_key_rotate(actor=SYSTEM, grace=dt.timedelta(days=30))
        old.refresh_from_db()
        assert old.not_after == T0 + dt.timedelta(days=1)


@pytest.mark.parametrize(
    "options", [{"activate_in": -HOUR}, {"grace": -HOUR}], ids=["activation", "grace"]
)
def test_negative_delays_are_refused(options: dict[str, dt.timedelta]) -> None:
    services.node_identity_ensure(name="重庆市")
    with pytest.raises(ValidationFailed):
        services.node_key_rotate(actor=SYSTEM, **options)
    assert NodeKey.objects.count() == 1


def test_a_revoked_key_stops_signing() -> None:
    services.node_identity_ensure(name="重庆市")
    old = NodeKey.objects.get()
    new = services.node_key_rotate(actor=SYSTEM, activate_in=HOUR)
    services.node_key_revoke(actor=SYSTEM, kid=old.kid)
    with pytest.raises(Conflict) as refused:
        services.signing_pair()  # the new key is not active yet, the old one revoked
    assert refused.value.code == "no_signing_key"
    assert services.signing_pair(at=new.not_before).kid == new.kid
    assert AuditEntry.objects.filter(action="node_key.revoked", target_id=str(old.pk)).exists()


def test_revocation_is_idempotent_and_keeps_the_first_time() -> None:
    with time_machine.travel(T0, tick=False) as traveller:
        services.node_identity_ensure(name="重庆市")
        kid = NodeKey.objects.get().kid
        services.node_key_revoke(actor=SYSTEM, kid=kid)
        traveller.shift(HOUR)
        assert services.node_key_revoke(actor=SYSTEM, kid=kid).revoked_at == T0
    assert AuditEntry.objects.filter(action="node_key.revoked").count() == 1


def test_revoking_an_unknown_key_is_refused() -> None:
    services.node_identity_ensure(name="重庆市")
    with pytest.raises(ValidationFailed) as refused:
        services.node_key_revoke(actor=SYSTEM, kid="nope")
    assert "kid" in refused.value.fields


def test_revoking_the_only_key_leaves_nothing_to_sign_with() -> None:
    services.node_identity_ensure(name="重庆市")
    services.node_key_revoke(actor=SYSTEM, kid=NodeKey.objects.get().kid)
    with pytest.raises(Conflict) as refused:
        services.signing_pair()
    assert refused.value.code == "no_signing_key"
    with pytest.raises(Conflict):
        services.registration_token()
    # `tongban init` puts a usable key back.
    _node, created = services.node_identity_ensure(name="重庆市")
    assert created
    assert services.signing_pair().kid != NodeKey.objects.order_by("pk").first().kid  # type: ignore[union-attr]


def test_the_keys_command_lists_rotates_and_revokes(capsys: pytest.CaptureFixture[str]) -> None:
    services.node_identity_ensure(name="重庆市")
    first = NodeKey.objects.get().kid
    call_command("exchange", "keys", "--rotate", "--activate-in-hours", "1")
    output = capsys.readouterr().out.splitlines()
    second = NodeKey.objects.exclude(kid=first).get().kid
    assert output[0].startswith(f"new key {second}")
    states = {json.loads(line)["kid"]: json.loads(line)["state"] for line in output[2:]}
    assert states == {first: "valid", second: "not yet valid"}

    call_command("exchange", "keys", f"--revoke={first}")  # a kid may start with "-"
    states = {
        json.loads(line)["kid"]: json.loads(line)["state"]
        for line in capsys.readouterr().out.splitlines()
    }
    assert states[first] == "revoked"

    call_command("exchange", "public-keys")
    published = json.loads(capsys.readouterr().out)
    assert [key["kid"] for key in published["keys"]] == [second]
    assert "d" not in _members(published)


def test_the_keys_command_reports_domain_errors() -> None:
    with pytest.raises(CommandError, match="no_identity"):
        call_command("exchange", "keys")
    services.node_identity_ensure(name="重庆市")
    with pytest.raises(CommandError, match="validation_failed"):
        call_command("exchange", "keys", "--rotate", "--activate-in-hours", "-1")
