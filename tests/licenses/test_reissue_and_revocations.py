"""Re-issue (a new version, the old one superseded), revocation, and the signed revocation list
every verifier fetches as deltas."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from tests.factories import StaffFactory
from tests.licenses.test_issuing import approved, item, staff, trust  # noqa: F401 (fixtures)
from tongban.catalog.models import ServiceItem
from tongban.core.errors import Conflict, NotFound, ValidationFailed
from tongban.core.models import AuditEntry
from tongban.exchange import keys as exchange_keys
from tongban.exchange import services as exchange
from tongban.exchange import trust as trust_lists
from tongban.licenses import credential, identifiers, services, verification
from tongban.licenses.models import License, LicenseState

pytestmark = pytest.mark.django_db
REASON = "照面信息更正"


@pytest.fixture
def node(settings: Any, tmp_path: Path) -> Any:
    """This node's identity (its exchange key signs the revocation list)."""
    settings.TONGBAN_NODE_KEY_DIR = tmp_path / "node-keys"
    node, _created = exchange.node_identity_ensure(name="重庆市", base_url="https://cq.example.cn")
    return node


@pytest.fixture
def issued(item: ServiceItem, staff: dict[str, Any]) -> License:  # noqa: F811
    return License.objects.get(case=approved(item, staff))


def state_of(licence: License) -> tuple[str, int | None]:
    licence.refresh_from_db()
    return licence.state, licence.status_seq


# Re-issue ------------------------------------------------------------------------------------


def test_reissue_makes_the_next_version_and_supersedes_the_old(
    issued: License,
    staff: dict[str, Any],  # noqa: F811
) -> None:
    new = services.license_reissue(
        actor=staff["approver"].user, identifier=issued.identifier, reason=REASON
    )
    old_id, new_id = identifiers.parse(issued.identifier), identifiers.parse(new.identifier)
    assert (new_id.type_code, new_id.issuer_code, new_id.number) == (
        old_id.type_code,
        old_id.issuer_code,
        old_id.number,
    )
    assert (old_id.version, new_id.version) == (1, 2)
    assert (new.number, new.holder_person, new.surface) == (
        issued.number,
        issued.holder_person,
        issued.surface,
    )
    assert new.state == LicenseState.VALID
    assert state_of(issued) == (LicenseState.SUPERSEDED, 1)
    today = timezone.localdate()
    assert credential.verify(new.credential, trust(new.seal), today=today).claims["lid"] == (
        new.identifier
    )
    outcome = verification.verify_text(issued.credential)
    assert (outcome.valid, outcome.code, outcome.status_source) == (False, "superseded", "issuer")
    assert verification.verify_text(new.credential).valid
    entry = AuditEntry.objects.get(action="license.reissued")
    assert entry.changes["superseded"] == issued.identifier
    assert entry.changes["reason"] == REASON


def test_a_new_seal_signs_the_new_version(issued: License, staff: dict[str, Any]) -> None:  # noqa: F811
    from tongban.core.audit import SYSTEM

    fresh = services.seal_create(actor=SYSTEM, department_key="cq-justice")
    new = services.license_reissue(
        actor=staff["approver"].user, identifier=issued.identifier, reason="印章更换"
    )
    assert new.seal == fresh
    assert issued.seal != fresh
    # The retired seal's licence still verifies as signed; it is superseded, not forged.
    assert verification.verify_text(issued.credential).code == "superseded"


@pytest.mark.parametrize("role", ["reviewer", "other_department", "other_person"])
def test_only_the_issuing_department_reissues(
    issued: License,
    staff: dict[str, Any],  # noqa: F811
    role: str,
) -> None:
    from tests.factories import PersonFactory
    from tongban.core.errors import Forbidden

    actor = {
        "reviewer": lambda: staff["reviewer"].user,
        "other_department": lambda: StaffFactory(approver=True, department_key="cq-hrss").user,
        "other_person": lambda: PersonFactory(with_login=True).user,
    }[role]()
    expected = NotFound if role == "other_department" else Forbidden
    with pytest.raises(expected):
        services.license_reissue(actor=actor, identifier=issued.identifier, reason=REASON)
    assert License.objects.count() == 1
    assert state_of(issued) == (LicenseState.VALID, None)


def test_only_the_newest_valid_version_is_reissued(
    issued: License,
    staff: dict[str, Any],  # noqa: F811
) -> None:
    approver = staff["approver"].user
    services.license_reissue(actor=approver, identifier=issued.identifier, reason=REASON)
    with pytest.raises(Conflict) as stale:
        services.license_reissue(actor=approver, identifier=issued.identifier, reason=REASON)
    assert stale.value.code == "stale_state"
    assert License.objects.count() == 2


def test_a_revoked_licence_is_not_reissued(issued: License, staff: dict[str, Any]) -> None:  # noqa: F811
    approver = staff["approver"].user
    services.license_revoke(actor=approver, identifier=issued.identifier, reason="骗取")
    with pytest.raises(Conflict):
        services.license_reissue(actor=approver, identifier=issued.identifier, reason=REASON)
    assert License.objects.count() == 1


def test_a_reissue_needs_a_reason(issued: License, staff: dict[str, Any]) -> None:  # noqa: F811
    with pytest.raises(ValidationFailed) as error:
        services.license_reissue(
            actor=staff["approver"].user, identifier=issued.identifier, reason=" "
        )
    assert "reason" in error.value.fields
    assert state_of(issued) == (LicenseState.VALID, None)


def test_revoking_gives_the_next_place_in_the_list(
    item: ServiceItem,  # noqa: F811
    staff: dict[str, Any],  # noqa: F811
) -> None:
    first, second = (License.objects.get(case=approved(item, staff)) for _ in range(2))
    approver = staff["approver"].user
    services.license_revoke(actor=approver, identifier=second.identifier, reason="撤销")
    services.license_revoke(actor=approver, identifier=first.identifier, reason="撤销")
    assert state_of(second) == (LicenseState.REVOKED, 1)
    assert state_of(first) == (LicenseState.REVOKED, 2)
    # Revoking again changes nothing (no new place).
    services.license_revoke(actor=approver, identifier=first.identifier, reason="撤销")
    assert state_of(first) == (LicenseState.REVOKED, 2)


def test_revoking_a_superseded_version_moves_it_to_a_new_place(
    issued: License,
    staff: dict[str, Any],  # noqa: F811
) -> None:
    approver = staff["approver"].user
    services.license_reissue(actor=approver, identifier=issued.identifier, reason=REASON)
    assert state_of(issued) == (LicenseState.SUPERSEDED, 1)
    services.license_revoke(actor=approver, identifier=issued.identifier, reason="撤销")
    assert state_of(issued) == (LicenseState.REVOKED, 2)


# The revocation list ---------------------------------------------------------------------------


def read(token: str, node: Any) -> dict[str, Any]:
    jwk = node.keys.get().jwk
    return json.loads(exchange_keys.verify(token, jwk, typ=services.REVOCATIONS_TYP))


def test_the_list_is_signed_by_the_node_and_grows_in_order(
    node: Any,
    item: ServiceItem,  # noqa: F811
    staff: dict[str, Any],  # noqa: F811
) -> None:
    empty = read(services.revocation_list(), node)
    assert (empty["node"], empty["since"], empty["serial"], empty["entries"]) == (
        "500000",
        0,
        0,
        [],
    )
    first, second = (License.objects.get(case=approved(item, staff)) for _ in range(2))
    approver = staff["approver"].user
    services.license_revoke(actor=approver, identifier=first.identifier, reason="撤销")
    newer = services.license_reissue(actor=approver, identifier=second.identifier, reason=REASON)
    full = read(services.revocation_list(), node)
    assert full["serial"] == 2
    assert [(e["lid"], e["state"], e["seq"]) for e in full["entries"]] == [
        (first.identifier, "revoked", 1),
        (second.identifier, "superseded", 2),
    ]
    delta = read(services.revocation_list(since=1), node)
    assert (delta["since"], delta["serial"]) == (1, 2)
    assert [e["lid"] for e in delta["entries"]] == [second.identifier]
    assert newer.identifier not in json.dumps(full)
    up_to_date = read(services.revocation_list(since=2), node)
    assert (up_to_date["serial"], up_to_date["entries"]) == (2, [])


def test_a_long_list_comes_in_pages(
    node: Any,
    issued: License,
    staff: dict[str, Any],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    approver = staff["approver"].user
    monkeypatch.setattr(services, "REVOCATIONS_PAGE", 1)
    second = services.license_reissue(actor=approver, identifier=issued.identifier, reason=REASON)
    services.license_revoke(actor=approver, identifier=second.identifier, reason="撤销")
    page = read(services.revocation_list(), node)
    assert (page["serial"], page["more"], len(page["entries"])) == (1, True, 1)
    rest = read(services.revocation_list(since=1), node)
    assert (rest["serial"], rest["more"], len(rest["entries"])) == (2, False, 1)


def test_the_list_is_public_over_http(node: Any, issued: License, staff: dict[str, Any]) -> None:  # noqa: F811
    services.license_revoke(
        actor=staff["approver"].user, identifier=issued.identifier, reason="撤销"
    )
    answer = Client().get("/api/v1/licenses/revocations?since=0")
    assert answer.status_code == 200
    assert answer["Content-Type"] == "application/jose"
    assert read(answer.content.decode(), node)["entries"][0]["lid"] == issued.identifier
    bad = Client().get("/api/v1/licenses/revocations?since=-1")
    assert bad.status_code == 400
    assert Client().get("/api/v1/licenses/revocations?since=x").status_code in (400, 422)


def test_reading_a_list_checks_signature_node_and_continuity(
    node: Any,
    issued: License,
    staff: dict[str, Any],  # noqa: F811
) -> None:
    services.license_revoke(
        actor=staff["approver"].user, identifier=issued.identifier, reason="撤销"
    )
    token = services.revocation_list()
    key = node.keys.get()
    listed = trust_lists.TrustList(
        "100000",
        1,
        timezone.now(),
        timezone.now() + timezone.timedelta(days=1),
        (
            trust_lists.TrustedNode(
                "500000",
                "重庆市",
                "",
                (trust_lists.TrustedKey(key.kid, key.jwk, key.not_before, None),),
            ),
        ),
    )
    document = services.revocations_read(token, node="500000", since=0, listed=listed)
    assert document["serial"] == 1
    with pytest.raises(services.RevocationListRefused):
        services.revocations_read(token, node="510000", since=0, listed=listed)  # not its list
    with pytest.raises(services.RevocationListRefused):
        services.revocations_read(token, node="500000", since=5, listed=listed)  # a gap
    head, payload, signature = token.split(".")
    forged = f"{head}.{payload[:-4]}AAAA.{signature}"
    with pytest.raises(services.RevocationListRefused):
        services.revocations_read(forged, node="500000", since=0, listed=listed)
