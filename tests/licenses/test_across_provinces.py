"""A licence issued on the Sichuan node, checked on the Chongqing node: the issuer's seal key
comes from the hub's trust list, the revocation from Sichuan's signed list, fetched as deltas.
Sichuan and the hub are in other processes here: their keys are made in the test, never stored
in this node's database."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.utils import timezone

from tests.exchange.test_node_trust import CHONGQING, Hub, chongqing  # noqa: F401 (fixture)
from tongban.exchange import keys, trust
from tongban.exchange import services as exchange
from tongban.exchange.models import Node
from tongban.licenses import credential, services, verification
from tongban.licenses.identifiers import LicenseIdentifier
from tongban.licenses.models import PeerRevocation, RevocationListCopy
from tongban.licenses.signing import P256Signer

pytestmark = pytest.mark.django_db
SICHUAN = "510000"
ISSUER = "00510100" + "0000000042"  # 成都市司法局 (a stand-in code of the right shape)
TYPE = "11100000000000000N001"
DAY = dt.timedelta(days=1)


class Sichuan:
    """The Sichuan node: its exchange key, the seal of 成都市司法局, and its revocations."""

    def __init__(self, directory: Path) -> None:
        self.pair = keys.generate(directory)
        self.seal = P256Signer.generate()
        self.revoked: list[dict[str, Any]] = []

    def node(self, *, seal_revoked: bool = False) -> trust.TrustedNode:
        seal_key = trust.TrustedKey(
            self.seal.kid,
            self.seal.public_jwk(),
            timezone.now() - 30 * DAY,
            timezone.now() + 900 * DAY,
            seal_revoked,
        )
        return trust.TrustedNode(
            SICHUAN,
            "四川省",
            "https://sc.example.cn",
            (Hub.entry(self.pair),),
            issuers=(trust.TrustedIssuer(ISSUER, "成都市司法局", (seal_key,)),),
        )

    def licence(self, number: int, *, issuer: str = ISSUER, signer: Any = None) -> str:
        identifier = LicenseIdentifier(TYPE, issuer, f"5101002026{number:06d}", 1)
        today = timezone.localdate().isoformat()
        claims = {
            "v": 1,
            "lid": str(identifier),
            "typ": TYPE,
            "tn": "公证书",
            "nm": "公证书",
            "no": f"（2026）川成证字第{number:06d}号",
            "hn": "赵敏",
            "hct": "111",
            "hc": "5101**********1234",
            "hh": credential.holder_hash(str(identifier), "510107199501153684"),
            "iss": issuer,
            "isn": "成都市司法局",
            "div": "510100",
            "iat": today,
            "nbf": today,
            "exp": None,
        }
        return credential.encode(claims, signer or self.seal)

    def revocations(self, since: int) -> str:
        entries = [e for e in self.revoked if e["seq"] > since]
        document = {
            "v": 1,
            "node": SICHUAN,
            "issued_at": timezone.now().isoformat(),
            "since": since,
            "serial": entries[-1]["seq"] if entries else since,
            "more": False,
            "entries": entries,
        }
        payload = json.dumps(document, ensure_ascii=False).encode()
        return keys.sign(self.pair, payload, typ=services.REVOCATIONS_TYP)


@pytest.fixture
def sichuan(tmp_path: Path) -> Sichuan:
    return Sichuan(tmp_path / "sichuan")


@pytest.fixture
def listed(chongqing: Node, tmp_path: Path, settings: Any, sichuan: Sichuan) -> Hub:  # noqa: F811
    """Chongqing holds a trust list from the hub that names Sichuan and its issuer."""
    hub = Hub(tmp_path / "hub-keys")
    hub.pin(Path(settings.TONGBAN_HUB_KEYS_FILE))
    hub.peers = [
        trust.TrustedNode(CHONGQING, "重庆市", "https://cq.example.cn", ()),
        sichuan.node(),
    ]
    exchange._verified.clear()
    exchange.trust_list_accept(token=hub.token(1))
    return hub


def lid_of(text: str) -> str:
    return str(json.loads(credential._unpack(text)[1])["lid"])


def test_a_sichuan_licence_verifies_on_chongqing(listed: Hub, sichuan: Sichuan) -> None:
    outcome = verification.verify_text(sichuan.licence(1))
    assert (outcome.valid, outcome.code) == (True, "valid")
    assert (outcome.issuer, outcome.node) == ("成都市司法局", SICHUAN)
    assert outcome.claims["hn"] == "赵敏"
    # No list of Sichuan's revocations is held yet: the verifier is told so.
    assert (outcome.status_source, outcome.status_as_of) == ("none", None)


def test_without_the_trust_list_the_issuer_is_unknown(chongqing: Node, sichuan: Sichuan) -> None:  # noqa: F811
    outcome = verification.verify_text(sichuan.licence(1))
    assert (outcome.valid, outcome.code) == (False, "unknown_issuer")
    assert outcome.claims == {}


def test_a_key_the_list_marks_revoked_verifies_nothing(listed: Hub, sichuan: Sichuan) -> None:
    listed.peers[1] = sichuan.node(seal_revoked=True)
    exchange.trust_list_accept(token=listed.token(2))
    assert verification.verify_text(sichuan.licence(1)).code == "unknown_issuer"


def test_sichuan_cannot_sign_for_an_issuer_it_does_not_list(listed: Hub, sichuan: Sichuan) -> None:
    # Signed with Sichuan's seal, but claiming a Chongqing department as issuer.
    text = sichuan.licence(1, issuer="00500000" + "0000000007")
    assert verification.verify_text(text).code == "wrong_key"


def test_a_tampered_licence_is_refused(listed: Hub, sichuan: Sichuan) -> None:
    header, payload, signature = credential._unpack(sichuan.licence(1))
    forged = payload.replace("赵敏".encode(), "钱敏".encode())
    text = ".".join(credential.b64url(part) for part in (header, forged, signature))
    assert verification.verify_text(text).code == "bad_signature"


def test_a_revocation_on_sichuans_list_reaches_chongqing(
    listed: Hub, sichuan: Sichuan, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = sichuan.licence(1), sichuan.licence(2)
    sichuan.revoked.append(
        {"lid": lid_of(first), "state": "revoked", "at": timezone.now().isoformat(), "seq": 1}
    )
    asked: list[str] = []

    def call(method: str, url: str, **kwargs: Any) -> tuple[int, bytes]:
        asked.append(url)
        since = int(url.rsplit("since=", 1)[1])
        return 200, sichuan.revocations(since).encode()

    from tongban.exchange import transport

    monkeypatch.setattr(transport, "call", call)
    assert services.revocations_sync() == 1
    assert asked == ["https://sc.example.cn/api/v1/licenses/revocations?since=0"]
    revoked = verification.verify_text(first)
    assert (revoked.valid, revoked.code, revoked.status_source) == (
        False,
        "revoked",
        "revocation_list",
    )
    assert revoked.status_as_of is not None
    still = verification.verify_text(second)
    assert (still.valid, still.status_source) == (True, "revocation_list")

    # The next fetch asks only for what is new (a delta), and not before ten minutes.
    sichuan.revoked.append(
        {"lid": lid_of(second), "state": "superseded", "at": timezone.now().isoformat(), "seq": 2}
    )
    assert services.revocations_sync() == 0
    assert services.revocations_sync(force=True) == 1
    assert asked[-1].endswith("since=1")
    assert verification.verify_text(second).code == "superseded"
    assert RevocationListCopy.objects.get(node=SICHUAN).serial == 2


def test_a_node_cannot_revoke_another_nodes_licences(listed: Hub, sichuan: Sichuan) -> None:
    chongqing_lid = str(LicenseIdentifier(TYPE, "00500000" + "0000000007", "5000002026000001", 1))
    document = json.loads(keys.unverified_payload(sichuan.revocations(0)))
    document["entries"] = [
        {"lid": chongqing_lid, "state": "revoked", "at": timezone.now().isoformat(), "seq": 1}
    ]
    document["serial"] = 1
    services.revocations_accept(node=SICHUAN, document=document, issuers={ISSUER})
    assert not PeerRevocation.objects.exists()
    assert RevocationListCopy.objects.get(node=SICHUAN).serial == 1


def test_a_forged_or_unreachable_list_changes_nothing(
    listed: Hub, sichuan: Sichuan, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from tongban.exchange import transport

    first = sichuan.licence(1)
    sichuan.revoked.append(
        {"lid": lid_of(first), "state": "revoked", "at": timezone.now().isoformat(), "seq": 1}
    )
    impostor = Sichuan(tmp_path / "impostor")
    impostor.revoked = sichuan.revoked
    monkeypatch.setattr(transport, "call", lambda *a, **k: (200, impostor.revocations(0).encode()))
    assert services.revocations_sync() == 0
    assert "not a revocation list signed by 510000" in RevocationListCopy.objects.get().error
    assert not PeerRevocation.objects.exists()

    def down(*args: Any, **kwargs: Any) -> Any:
        raise transport.Unreachable("connection refused")

    monkeypatch.setattr(transport, "call", down)
    assert services.revocations_sync(force=True) == 0
    assert verification.verify_text(first).valid  # what is held stays; nothing is invented


def test_the_cli_verifies_with_a_trust_list_file(
    listed: Hub, sichuan: Sichuan, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "trust-list.jws"
    path.write_text(listed.token(3))
    text = sichuan.licence(7)
    call_command("license", "verify", text, "--trust-list", str(path))
    out = capsys.readouterr().out
    assert "VALID (qr)" in out
    assert "成都市司法局" in out
    assert "revocation not checked" in out
    with pytest.raises(SystemExit) as failed:
        call_command("license", "verify", text[:-10], "--trust-list", str(path))
    assert failed.value.code == 1
    assert "NOT VALID (qr): malformed" in capsys.readouterr().out
