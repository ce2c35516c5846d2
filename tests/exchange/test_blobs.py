"""Files between nodes (exchange/blobs.py): ``GET /federation/v1/blobs/<kind>/<ref>`` answers
only a request signed, for exactly that path, this node and now, by a key the trust list in
force vouches for; then the domain that offers the kind decides. Here the hub asks itself (the
list it issues names it), which exercises the same checks as two nodes."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.db import transaction
from django.test import Client
from django.utils import timezone

from tests.exchange.conftest import HUB, KEYS_SINCE, SICHUAN
from tongban.cases import federation
from tongban.core.errors import Forbidden, NotFound
from tongban.exchange import blobs, envelope, keys, services

pytestmark = pytest.mark.django_db

KIND = "test-file"
REF = "a1b2c3"
CONTENT = b"%PDF-1.7\n%test\n"
PATH = blobs.path_for(KIND, REF)
LIMIT = 1024  # the most a fetch accepts here
# A fixed moment (after the fixtures' keys became valid) for the tests about time.
MOMENT = dt.datetime(2026, 3, 2, 2, 0, 0, 500_000, tzinfo=dt.UTC)


@pytest.fixture
def listed(hub: Any) -> None:
    services.trust_list_issue()


@pytest.fixture
def asked() -> Iterator[list[tuple[str, str]]]:
    """A test kind of file: REF is there, "secret" is not for anyone, the rest unknown."""
    seen: list[tuple[str, str]] = []

    def provide(peer: str, ref: str) -> tuple[bytes, str]:
        seen.append((peer, ref))
        if ref == "secret":
            raise Forbidden()
        if ref != REF:
            raise NotFound()
        return CONTENT, "application/pdf"

    blobs.register_provider(KIND, provide)
    yield seen
    blobs._providers.pop(KIND, None)


@pytest.fixture
def client() -> Client:
    return Client(raise_request_exception=False)


def get(client: Client, path: str = PATH, *, token: str | None = None, scheme: str = blobs.SCHEME):
    headers = {} if token is None else {"Authorization": f"{scheme} {token}"}
    return client.get(path, headers=headers)


def refused(response: Any, status: int = 403) -> str:
    """The error code of a JSON error answer with ``status``."""
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"code", "message", "fields"}
    return str(body["code"])


def hand_signed(signer: keys.NodeKeyPair | None = None, typ: str = blobs.TYP, **changes: Any):
    """A request token built by hand (``changes`` replace or, with None, drop claims)."""
    claims: dict[str, Any] = {
        "iss": HUB,
        "aud": HUB,
        "htm": "GET",
        "htu": PATH,
        "iat": int(timezone.now().timestamp()),
        "jti": uuid.uuid4().hex,
    }
    claims.update(changes)
    claims = {name: value for name, value in claims.items() if value is not None}
    payload = json.dumps(claims).encode()
    return keys.sign(signer or services.signing_pair(), payload, typ=typ)


# What is given -------------------------------------------------------------------------------


def test_a_signed_request_gets_the_file(listed, asked, client) -> None:
    response = get(client, token=blobs.request_token(peer=HUB, path=PATH))
    assert response.status_code == 200
    assert response.content == CONTENT
    assert response["Content-Type"] == "application/pdf"
    assert response["Cache-Control"] == "no-store"
    assert asked == [(HUB, REF)]  # the provider learns who asks


def test_the_request_token_says_who_asks_whom_for_what(listed) -> None:
    token = blobs.request_token(peer=SICHUAN, path=PATH)
    assert keys.unverified_header(token)["typ"] == blobs.TYP
    assert keys.unverified_header(token)["kid"] == services.signing_pair().kid
    claims = json.loads(keys.unverified_payload(token))
    assert (claims["iss"], claims["aud"], claims["htm"], claims["htu"]) == (
        HUB,
        SICHUAN,
        "GET",
        PATH,
    )
    assert abs(claims["iat"] - timezone.now().timestamp()) < 5
    assert blobs.request_token(peer=SICHUAN, path=PATH) != token  # a fresh jti each time


def test_the_provider_decides_who_may_have_which_file(listed, asked, client) -> None:
    secret = blobs.path_for(KIND, "secret")
    assert refused(get(client, secret, token=blobs.request_token(peer=HUB, path=secret))) == (
        "forbidden"
    )
    unknown = blobs.path_for(KIND, "nothing")
    response = get(client, unknown, token=blobs.request_token(peer=HUB, path=unknown))
    assert refused(response, 404) == "not_found"
    assert asked == [(HUB, "secret"), (HUB, "nothing")]


def test_an_unknown_kind_of_file_is_a_404(listed, asked, client) -> None:
    path = blobs.path_for("no-such-kind", REF)
    response = get(client, path, token=blobs.request_token(peer=HUB, path=path))
    assert refused(response, 404) == "not_found"
    assert asked == []


def test_an_unknown_case_file_is_a_404(listed, client) -> None:
    path = blobs.path_for(federation.BLOB_KIND, uuid.uuid4().hex)
    response = get(client, path, token=blobs.request_token(peer=HUB, path=path))
    assert refused(response, 404) == "not_found"


def test_only_get_is_answered(listed, asked, client) -> None:
    token = blobs.request_token(peer=HUB, path=PATH)
    response = client.post(PATH, headers={"Authorization": f"{blobs.SCHEME} {token}"})
    assert refused(response, 405) == "method_not_allowed"
    assert asked == []


# What is refused ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("authorization", "code"),
    [
        (None, "no_request_token"),
        ("", "no_request_token"),
        (f"{blobs.SCHEME}", "no_request_token"),
        (f"{blobs.SCHEME} ", "no_request_token"),
        ("Bearer {token}", "no_request_token"),
        (f"{blobs.SCHEME} not-a-jws", "malformed_request_token"),
        (f"{blobs.SCHEME} a.b.c", "malformed_request_token"),
    ],
    ids=["none", "empty", "scheme-only", "scheme-blank", "bearer", "junk", "abc"],
)
def test_a_request_without_a_request_token_is_a_403(
    listed, asked, client, authorization, code
) -> None:
    headers = {}
    if authorization is not None:
        token = blobs.request_token(peer=HUB, path=PATH)
        headers["Authorization"] = authorization.format(token=token)
    response = client.get(PATH, headers=headers)
    assert refused(response) == code
    assert asked == []


@pytest.mark.parametrize(
    "changes",
    [
        {"iss": None},
        {"iss": 100000},
    ],
    ids=["no-issuer", "issuer-not-text"],
)
def test_a_token_that_names_no_signer_is_a_403(listed, asked, client, changes) -> None:
    assert refused(get(client, token=hand_signed(**changes))) == "malformed_request_token"
    assert asked == []


def test_a_token_whose_payload_is_not_an_object_is_a_403(listed, asked, client) -> None:
    token = keys.sign(services.signing_pair(), b"[1, 2]", typ=blobs.TYP)
    assert refused(get(client, token=token)) == "malformed_request_token"
    assert asked == []


def test_a_token_for_another_path_is_a_403(listed, asked, client) -> None:
    other = blobs.path_for(KIND, "other-file")
    token = blobs.request_token(peer=HUB, path=other)
    assert refused(get(client, token=token)) == "request_token_not_for_this"
    # Nor the same handle under another kind, nor the path with a query or slash added.
    for path in (blobs.path_for("other-kind", REF), PATH + "/", PATH + "?x=1"):
        assert refused(get(client, token=blobs.request_token(peer=HUB, path=path))) == (
            "request_token_not_for_this"
        )
    assert asked == []


def test_a_token_for_another_node_is_a_403(listed, asked, client) -> None:
    token = blobs.request_token(peer=SICHUAN, path=PATH)
    assert refused(get(client, token=token)) == "request_token_not_for_this"
    assert asked == []


@pytest.mark.parametrize(
    "changes",
    [
        {"htm": "POST"},
        {"htm": None},
        {"aud": None},
        {"htu": None},
        {"iat": None},
        {"iat": str(int(dt.datetime.now(tz=dt.UTC).timestamp()))},
        {"iat": True},
        {"iat": 1.5},
    ],
    ids=["post", "no-method", "no-audience", "no-path", "no-time", "time-text", "bool", "float"],
)
def test_a_token_with_a_wrong_or_missing_claim_is_a_403(listed, asked, client, changes) -> None:
    assert refused(get(client, token=hand_signed(**changes))) == "request_token_not_for_this"
    assert asked == []


def test_a_hand_built_token_with_every_claim_right_is_accepted(listed, asked, client) -> None:
    """The control for the tests above: only the claim each changes makes the difference."""
    response = get(client, token=hand_signed())
    assert response.status_code == 200
    assert asked == [(HUB, REF)]


def test_a_token_older_than_two_minutes_is_a_403(hub, asked, client) -> None:
    with time_machine.travel(MOMENT, tick=False) as traveller:
        services.trust_list_issue()
        token = blobs.request_token(peer=HUB, path=PATH)
        traveller.shift(dt.timedelta(seconds=119))
        assert get(client, token=token).status_code == 200
        traveller.shift(dt.timedelta(seconds=2))  # 121 s
        assert refused(get(client, token=token)) == "request_token_not_for_this"
        traveller.shift(dt.timedelta(hours=1))
        assert refused(get(client, token=token)) == "request_token_not_for_this"
    assert asked == [(HUB, REF)]


def test_a_token_dated_more_than_two_minutes_ahead_is_a_403(hub, asked, client) -> None:
    with time_machine.travel(MOMENT, tick=False):
        services.trust_list_issue()
        ahead = blobs.request_token(peer=HUB, path=PATH, at=MOMENT + dt.timedelta(minutes=3))
        assert refused(get(client, token=ahead)) == "request_token_not_for_this"
        near = blobs.request_token(peer=HUB, path=PATH, at=MOMENT + dt.timedelta(seconds=60))
        assert get(client, token=near).status_code == 200


def test_a_token_signed_by_a_key_not_on_the_trust_list_is_a_403(
    listed, asked, client, tmp_path: Path
) -> None:
    stranger = keys.generate(tmp_path / "stranger")
    assert refused(get(client, token=hand_signed(stranger))) == "unknown_key"
    assert refused(get(client, token=hand_signed(stranger, iss=SICHUAN))) == "unknown_node"
    # A stranger's signature under the kid of a listed key.
    spoofed = keys.NodeKeyPair(kid=services.signing_pair().kid, private=stranger.private)
    assert refused(get(client, token=hand_signed(spoofed))) == "bad_signature"
    assert asked == []


def test_a_token_of_another_kind_is_a_403(listed, asked, client) -> None:
    """A signed event (or any other JWS of this node) is no request token."""
    event = envelope.make_event(
        source=HUB,
        recipient=HUB,
        type="cn.tongban.test.noted",
        subject="S",
        sequence=1,
        data={"htu": PATH},
        time=timezone.now(),
    )
    sealed = envelope.seal(event, services.signing_pair())
    assert refused(get(client, token=sealed)) == "malformed_request_token"  # names no "iss"
    assert refused(get(client, token=hand_signed(typ=envelope.TYP))) == "bad_signature"
    assert asked == []


def test_a_token_signed_by_a_revoked_key_is_a_403(listed, asked, client) -> None:
    token = blobs.request_token(peer=HUB, path=PATH)
    services.node_key_revoke(actor=None, kid=services.signing_pair().kid)
    services._verified.clear()
    services.node_identity_ensure(name="hub")  # a fresh key to sign the next list
    services.trust_list_issue()
    assert refused(get(client, token=token)) == "revoked_key"
    assert asked == []


def test_without_a_trust_list_in_force_every_request_is_a_403(hub, asked, client) -> None:
    token = blobs.request_token(peer=HUB, path=PATH)
    assert refused(get(client, token=token)) == "no_trust_list"
    with time_machine.travel(KEYS_SINCE, tick=False):
        services.trust_list_issue()
    # That list has expired long since.
    token = blobs.request_token(peer=HUB, path=PATH)
    assert refused(get(client, token=token)) == "trust_list_expired"
    assert asked == []


# Fetching over HTTP ---------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_fetch_gets_a_file_from_a_live_node(live_server, settings, asked) -> None:
    """The hub fetching from itself over loopback, through the URL the trust list gives."""
    settings.TONGBAN_NODE_CODE = HUB
    host = live_server.url.split("//", 1)[1].rsplit(":", 1)[0]
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, host]
    services.node_identity_ensure(name="hub", base_url=live_server.url)
    with transaction.atomic():
        services.trust_list_issue()
    assert blobs.fetch(peer=HUB, kind=KIND, ref=REF, limit=LIMIT) == CONTENT
    with pytest.raises(blobs.FetchFailed) as refused_there:
        blobs.fetch(peer=HUB, kind=KIND, ref="secret", limit=LIMIT)
    assert "HTTP 403" in str(refused_there.value.message)
    with pytest.raises(blobs.FetchFailed) as missing:
        blobs.fetch(peer=HUB, kind=KIND, ref="nothing", limit=LIMIT)
    assert "HTTP 404" in str(missing.value.message)
    assert asked == [(HUB, REF), (HUB, "secret"), (HUB, "nothing")]


def test_fetch_from_a_node_that_does_not_answer_fails(hub, settings) -> None:
    services.node_identity_ensure(name="hub", base_url="http://127.0.0.1:9")
    services.trust_list_issue()
    with pytest.raises(blobs.FetchFailed) as failed:
        blobs.fetch(peer=HUB, kind=KIND, ref=REF, limit=LIMIT)
    assert "unreachable" in str(failed.value.message)


def test_a_token_with_an_absurd_time_is_a_403_not_a_500(listed, asked, client) -> None:
    assert refused(get(client, token=hand_signed(iat=10**400))) == "request_token_not_for_this"
    assert asked == []
