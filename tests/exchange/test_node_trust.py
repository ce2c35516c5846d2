"""On a province node: the hub's keys pinned out of band, accepting the hub's trust lists,
and the list in force."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.db import transaction
from django.utils import timezone

from tests.exchange.conftest import HUB, KEYS_SINCE, SICHUAN
from tongban.core.audit import SYSTEM
from tongban.core.errors import Conflict, DomainError, ValidationFailed
from tongban.exchange import keys, services, trust
from tongban.exchange.models import Node, NodeKey, TrustListCopy
from tongban.exchange.trust import TrustedKey, TrustedNode, TrustList

pytestmark = pytest.mark.django_db
CHONGQING = "500000"
DAY = dt.timedelta(days=1)


class Hub:
    """The national hub in another process: its keys and the lists it signs."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.pair = keys.generate(directory)
        self.keys: list[TrustedKey] = [self.entry(self.pair)]
        self.peers: list[TrustedNode] = []

    @staticmethod
    def entry(
        pair: keys.NodeKeyPair,
        *,
        not_before: dt.datetime = KEYS_SINCE,
        not_after: dt.datetime | None = None,
        revoked: bool = False,
    ) -> TrustedKey:
        return TrustedKey(pair.kid, pair.public_jwk(), not_before, not_after, revoked)

    def pin(self, path: Path, *pairs: keys.NodeKeyPair) -> None:
        """What the operator does once: `tongban exchange public-keys` on the hub, into a file."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"keys": [p.public_jwk() for p in pairs or (self.pair,)]}))

    def token(
        self,
        serial: int,
        *,
        signer: keys.NodeKeyPair | None = None,
        issuer: str = HUB,
        issued_at: dt.datetime | None = None,
        days: int = 7,
    ) -> str:
        issued = issued_at or timezone.now()
        hub = TrustedNode(HUB, "国家政务服务平台", "https://hub.example.cn", tuple(self.keys))
        listed = TrustList(issuer, serial, issued, issued + days * DAY, (hub, *self.peers))
        return trust.sign_list(listed, signer or self.pair)


@pytest.fixture
def hub(settings: Any, tmp_path: Path) -> Hub:
    hub = Hub(tmp_path / "hub-keys")
    hub.pin(Path(settings.TONGBAN_HUB_KEYS_FILE))
    sichuan = keys.generate(tmp_path / "sichuan")
    hub.peers = [
        TrustedNode(CHONGQING, "重庆市（中心登记）", "https://cq.example.cn", ()),
        TrustedNode(SICHUAN, "四川省", "https://sc.example.cn", (Hub.entry(sichuan),)),
    ]
    return hub


@pytest.fixture
def chongqing(db: None) -> Node:
    with time_machine.travel(KEYS_SINCE, tick=False):
        node, _created = services.node_identity_ensure(
            name="重庆市", base_url="https://cq.example.cn"
        )
    return node


def refused(token: str) -> DomainError:
    before = list(TrustListCopy.objects.values_list("serial", "token"))
    with pytest.raises(DomainError) as error:
        services.trust_list_accept(token=token)
    assert list(TrustListCopy.objects.values_list("serial", "token")) == before
    return error.value


def test_a_list_signed_by_the_pinned_key_is_accepted(chongqing: Node, hub: Hub) -> None:
    token = hub.token(3)
    copy = services.trust_list_accept(token=token)
    assert (copy.serial, copy.issuer, copy.token) == (3, HUB, token)
    listed = services.trust_list_current()
    assert listed.serial == 3
    assert [node.code for node in listed.nodes] == [HUB, CHONGQING, SICHUAN]


def test_peers_are_mirrored_as_nodes(chongqing: Node, hub: Hub) -> None:
    services.trust_list_accept(token=hub.token(1))
    peers = {n.code: (n.name, n.base_url) for n in Node.objects.filter(is_self=False)}
    assert peers == {
        HUB: ("国家政务服务平台", "https://hub.example.cn"),
        SICHUAN: ("四川省", "https://sc.example.cn"),
    }
    chongqing.refresh_from_db()
    assert (chongqing.name, chongqing.is_self) == ("重庆市", True)  # this node keeps its own
    hub.peers[1] = TrustedNode(SICHUAN, "四川省（新）", "https://tfb.example.cn", hub.peers[1].keys)
    services.trust_list_accept(token=hub.token(2))
    assert Node.objects.get(code=SICHUAN).base_url == "https://tfb.example.cn"
    assert not NodeKey.objects.filter(node__is_self=False).exists()  # keys live in the list


def test_a_list_signed_by_another_key_is_refused(chongqing: Node, hub: Hub, tmp_path: Path) -> None:
    stranger = keys.generate(tmp_path / "stranger")
    error = refused(hub.token(1, signer=stranger))
    assert isinstance(error, ValidationFailed)
    assert error.code == "trust_list_refused"
    assert "unknown_key" in str(error.message)


def test_an_expired_list_is_refused(chongqing: Node, hub: Hub) -> None:
    error = refused(hub.token(1, issued_at=timezone.now() - 8 * DAY))
    assert "trust_list_expired" in str(error.message)


def test_a_list_issued_by_a_province_is_refused(chongqing: Node, hub: Hub) -> None:
    error = refused(hub.token(1, issuer=SICHUAN))
    assert "wrong_issuer" in str(error.message)


@pytest.mark.parametrize("token", ["", "garbage", "a.b.c", "<html>502 Bad Gateway</html>"])
def test_garbage_from_the_hub_is_refused(chongqing: Node, hub: Hub, token: str) -> None:
    error = refused(token)
    assert error.code == "trust_list_refused"


def test_without_pinned_keys_nothing_is_accepted(chongqing: Node, hub: Hub, settings: Any) -> None:
    Path(settings.TONGBAN_HUB_KEYS_FILE).unlink()
    assert refused(hub.token(1)).code == "trust_list_refused"


@pytest.mark.parametrize("content", ["", "{", "[]", '{"keys": {}}', '{"keys": ["x", 1]}'])
def test_an_unreadable_pinned_file_trusts_nothing(
    chongqing: Node, hub: Hub, settings: Any, content: str
) -> None:
    services.trust_list_accept(token=hub.token(1))
    Path(settings.TONGBAN_HUB_KEYS_FILE).write_text(content)
    services._verified.clear()  # another process: verifies the stored list again, and cannot
    with pytest.raises(DomainError) as error:
        services.trust_list_current()
    assert error.value.code == "no_trust_list"
    assert refused(hub.token(2)).code == "trust_list_refused"


def test_an_older_list_is_refused(chongqing: Node, hub: Hub) -> None:
    older = hub.token(4)
    services.trust_list_accept(token=hub.token(5))
    error = refused(older)
    assert isinstance(error, Conflict)
    assert error.code == "trust_list_older"
    assert services.trust_list_current().serial == 5


def test_the_same_list_is_accepted_again(chongqing: Node, hub: Hub) -> None:
    token = hub.token(5)
    first = services.trust_list_accept(token=token)
    assert services.trust_list_accept(token=token).pk == first.pk
    assert TrustListCopy.objects.count() == 1


def test_another_list_under_the_serial_held_is_refused(chongqing: Node, hub: Hub) -> None:
    services.trust_list_accept(token=hub.token(5))
    hub.peers.pop()
    error = refused(hub.token(5))
    assert isinstance(error, Conflict)
    assert error.code == "trust_list_conflict"
    assert services.trust_list_current().node(SICHUAN) is not None


def test_no_list_yet(chongqing: Node) -> None:
    with pytest.raises(DomainError) as error:
        services.trust_list_current()
    assert error.value.code == "no_trust_list"


def test_the_list_in_force_expires(chongqing: Node, hub: Hub) -> None:
    now = timezone.now()
    services.trust_list_accept(token=hub.token(1, issued_at=now, days=7))
    with time_machine.travel(now + 7 * DAY - dt.timedelta(seconds=1), tick=False):
        assert services.trust_list_current().serial == 1
    with time_machine.travel(now + 7 * DAY, tick=False):
        with pytest.raises(DomainError) as error:
            services.trust_list_current()
        assert error.value.code == "trust_list_expired"
    assert services.trust_list_current(at=now + 7 * DAY - DAY).serial == 1


def test_another_process_verifies_the_stored_list_again(chongqing: Node, hub: Hub) -> None:
    services.trust_list_accept(token=hub.token(1))
    services._verified.clear()
    assert services.trust_list_current().serial == 1
    assert len(services._verified) == 1


def test_a_stored_list_that_does_not_verify_is_not_in_force(
    chongqing: Node, hub: Hub, tmp_path: Path
) -> None:
    """Stored behind the node's back (a restored database, another hub's list)."""
    stranger = keys.generate(tmp_path / "stranger")
    now = timezone.now()
    TrustListCopy.objects.create(
        serial=1,
        issuer=HUB,
        token=hub.token(1, signer=stranger, issued_at=now),
        issued_at=now,
        expires_at=now + 7 * DAY,
    )
    with pytest.raises(DomainError) as error:
        services.trust_list_current()
    assert error.value.code == "no_trust_list"


def test_the_cache_is_not_fooled_by_a_reused_serial(chongqing: Node, hub: Hub) -> None:
    """Verified lists are cached per process. A serial seen before may name another list: this
    test's rolled-back transaction, a database re-created, another process storing it."""
    with transaction.atomic():
        services.trust_list_accept(token=hub.token(1))
        assert services.trust_list_current().node(SICHUAN) is not None
        transaction.set_rollback(True)
    hub.peers.pop()  # the hub's next list #1 no longer names Sichuan
    now = timezone.now()
    token = hub.token(1, issued_at=now)
    TrustListCopy.objects.create(  # as the process that fetched it stored it
        serial=1, issuer=HUB, token=token, issued_at=now, expires_at=now + 7 * DAY
    )
    assert services.trust_list_current().node(SICHUAN) is None


def test_a_hub_key_rotation_needs_no_reconfiguration(
    chongqing: Node, hub: Hub, settings: Any
) -> None:
    pinned = Path(settings.TONGBAN_HUB_KEYS_FILE).read_text()
    following = keys.generate(hub.directory)
    now = timezone.now()
    hub.keys.append(Hub.entry(following, not_before=now))
    services.trust_list_accept(token=hub.token(1))  # signed by the pinned key, names the next
    hub.keys[0] = Hub.entry(hub.pair, not_after=now + DAY)
    services.trust_list_accept(token=hub.token(2, signer=following))
    assert services.trust_list_current().serial == 2
    assert Path(settings.TONGBAN_HUB_KEYS_FILE).read_text() == pinned
    assert following.kid in {k["kid"] for k in services.pinned_hub_keys()}

    # A restarted process starts from the pinned key and follows the lists to the new one.
    services._verified.clear()
    assert services.trust_list_current().serial == 2
    with time_machine.travel(now + 2 * DAY, tick=False):
        services._verified.clear()
        services.trust_list_accept(token=hub.token(3, signer=following))
        assert services.trust_list_current().serial == 3


def test_a_hub_key_named_only_by_an_untrusted_list_is_not_trusted(
    chongqing: Node, hub: Hub, tmp_path: Path
) -> None:
    stranger = keys.generate(tmp_path / "stranger")
    hub.keys.append(Hub.entry(stranger))
    refused(hub.token(1, signer=stranger))


def test_a_revoked_hub_key_stops_signing_even_when_pinned(chongqing: Node, hub: Hub) -> None:
    following = keys.generate(hub.directory)
    hub.keys.append(Hub.entry(following))
    services.trust_list_accept(token=hub.token(1))
    hub.keys[0] = Hub.entry(hub.pair, revoked=True)  # the pinned key leaked
    services.trust_list_accept(token=hub.token(2, signer=following))
    assert hub.pair.kid not in {k["kid"] for k in services.pinned_hub_keys()}
    hub.keys[0] = Hub.entry(hub.pair)  # a forger holding the leaked key "un-revokes" it
    error = refused(hub.token(3, signer=hub.pair))
    assert "unknown_key" in str(error.message)


def test_the_trust_list_command_shows_the_list_in_force(
    chongqing: Node, hub: Hub, capsys: pytest.CaptureFixture[str]
) -> None:
    from django.core.management import call_command
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="no_trust_list"):
        call_command("exchange", "trust-list")
    services.trust_list_accept(token=hub.token(7))
    call_command("exchange", "trust-list")
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines[0]["serial"] == 7
    assert [line["code"] for line in lines[1:]] == [HUB, CHONGQING, SICHUAN]
    with pytest.raises(CommandError, match="no_hub"):
        call_command("exchange", "trust-list", "--fetch")


# Registration as this node builds it -------------------------------------------------------


def _signer(token: str) -> str:
    return str(keys.unverified_header(token)["kid"])


def test_a_new_node_signs_its_registration_with_its_newest_key(chongqing: Node) -> None:
    token = services.registration_token(enrolment="code")
    payload = json.loads(keys.unverified_payload(token))
    key = NodeKey.objects.get()
    assert _signer(token) == key.kid
    assert payload["code"] == CHONGQING
    assert payload["enrolment"] == "code"
    assert [entry["kid"] for entry in payload["keys"]] == [key.kid]
    assert "d" not in payload["keys"][0]["jwk"]
    assert keys.verify(token, key.jwk, typ=services.REGISTRATION_TYP)


def test_after_a_rotation_the_registration_is_signed_with_a_key_the_hub_knows(
    chongqing: Node, hub: Hub
) -> None:
    """Right after `keys --rotate` the new key signs; the hub does not know it yet, so the
    registration that tells the hub must be signed with the old one."""
    old = NodeKey.objects.get()
    hub.peers[0] = TrustedNode(
        CHONGQING,
        "重庆市",
        "https://cq.example.cn",
        (TrustedKey(old.kid, old.jwk, old.not_before, None),),
    )
    services.trust_list_accept(token=hub.token(1))
    new = services.node_key_rotate(actor=SYSTEM)
    assert services.signing_pair().kid == new.kid
    token = services.registration_token()
    assert _signer(token) == old.kid
    assert {entry["kid"] for entry in json.loads(keys.unverified_payload(token))["keys"]} == {
        old.kid,
        new.kid,
    }
    # Once the hub lists the new key, that one signs.
    hub.peers[0] = TrustedNode(
        CHONGQING,
        "重庆市",
        "https://cq.example.cn",
        (
            TrustedKey(old.kid, old.jwk, old.not_before, None),
            TrustedKey(new.kid, new.jwk, new.not_before, None),
        ),
    )
    services.trust_list_accept(token=hub.token(2))
    assert _signer(services.registration_token()) == new.kid
