"""The hub as OpenID Connect provider: this test process plays the hub (100000), Sichuan
(510000) is a registered node elsewhere whose key and encryption key the test holds."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from django.test import Client
from joserfc import jwt
from joserfc.jwk import KeySet, OKPKey

from tests.accounts import sso_support as sso
from tests.exchange import conftest as exchange_setup
from tests.exchange.conftest import KEYS_SINCE, SICHUAN, ForeignNode
from tests.factories import PersonFactory
from tongban.accounts.sso import provider
from tongban.core.audit import SYSTEM
from tongban.exchange import keys, services
from tongban.exchange.models import Node

# The exchange tests' set-up: this process is the hub, with its own key files and a cold cache
# of trust lists; Sichuan is a node elsewhere that builds its own registration.
hub = exchange_setup.hub
sichuan = exchange_setup.sichuan
_cold_trust_list_cache = exchange_setup._cold_trust_list_cache
_own_key_files = exchange_setup._own_key_files

CALLBACK = "https://sc.example.cn/sso/callback/"


@dataclass
class Province:
    """A registered node as the hub sees it, with the private halves the test plays it with."""

    node: ForeignNode
    enc: OKPKey

    @property
    def code(self) -> str:
        return self.node.code

    @property
    def pair(self) -> keys.NodeKeyPair:
        return self.node.pairs[-1]

    def assertion(self, **overrides: Any) -> str:
        return sso.assertion(
            self.pair, code=self.code, audience=f"{provider.issuer()}/token/", **overrides
        )


def register(node: ForeignNode, directory: Path) -> Province:
    enc = keys.generate_enc(directory)
    enrolment = services.enrolment_create(actor=SYSTEM, node_code=node.code)
    payload = node.payload(enrolment=enrolment) | {"enc": keys.enc_public_jwk(enc)}
    services.node_register(token=node.token(payload=payload))
    return Province(node, enc)


@pytest.fixture
def province(hub: Node, sichuan: ForeignNode, tmp_path: Path) -> Province:
    return register(sichuan, tmp_path / "sichuan-enc")


@pytest.fixture
def person(db: None) -> Any:
    return PersonFactory(with_login=True)


@pytest.fixture
def browser(person: Any) -> Client:
    browser = Client()
    browser.force_login(person.user)
    return browser


def authorize(browser: Client, challenge: str, **overrides: Any) -> Any:
    params = {
        "response_type": "code",
        "client_id": SICHUAN,
        "redirect_uri": CALLBACK,
        "scope": "openid profile",
        "state": "state-123",
        "nonce": "nonce-456",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    for name, value in overrides.items():
        if value is None:
            params.pop(name, None)
        else:
            params[name] = value
    return browser.get("/oidc/authorize/", params)


def token_request(**fields: Any) -> Any:
    data = {name: value for name, value in fields.items() if value is not None}
    return Client().post(
        "/oidc/token/", urlencode(data), content_type="application/x-www-form-urlencoded"
    )


def code_for(browser: Client, challenge: str, **overrides: Any) -> str:
    response = authorize(browser, challenge, **overrides)
    assert response.status_code == 302, response.content[:500]
    return sso.query(response["Location"])["code"]


def redeem(province: Province, code: str, verifier: str, **overrides: Any) -> Any:
    fields = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": CALLBACK,
        "code_verifier": verifier,
        "client_id": province.code,
        "client_assertion_type": provider.CLIENT_ASSERTION_TYPE,
        "client_assertion": province.assertion(),
    } | overrides
    return token_request(**fields)


def hub_keys() -> KeySet:
    answer = Client().get("/oidc/.well-known/jwks.json")
    assert answer.status_code == 200
    return KeySet.import_key_set(answer.json())


def id_token_claims(token: str) -> dict[str, Any]:
    """The claims of one of the hub's ID tokens, once its signature checks with the JWKS."""
    return dict(jwt.decode(token, hub_keys(), algorithms=["RS256"]).claims)


def signed_in(province: Province, browser: Client) -> dict[str, Any]:
    """The whole flow for ``province``: its token response."""
    verifier, challenge = sso.pkce()
    answer = redeem(province, code_for(browser, challenge), verifier)
    assert answer.status_code == 200, answer.content
    return dict(answer.json())


def refused_client(answer: Any) -> None:
    assert answer.status_code in (400, 401), answer.content
    assert answer.json()["error"] == "invalid_client"
    assert "id_token" not in answer.json()


# The whole flow -------------------------------------------------------------------------------


def test_discovery_names_the_endpoints_and_claims(hub: Node) -> None:
    document = Client().get("/oidc/.well-known/openid-configuration").json()
    assert document["issuer"] == provider.issuer()
    assert document["jwks_uri"].endswith("/oidc/.well-known/jwks.json")
    assert document["authorization_endpoint"].endswith("/oidc/authorize/")
    assert document["token_endpoint"].endswith("/oidc/token/")
    assert {"sub", "real_name_level", "id_number_hash", "sid"} <= set(document["claims_supported"])


def test_the_code_flow_signs_a_person_in_for_a_node(province: Province, person, browser) -> None:
    verifier, challenge = sso.pkce()
    response = authorize(browser, challenge)
    assert response.status_code == 302
    location = response["Location"]
    assert location.startswith(CALLBACK + "?")
    returned = sso.query(location)
    assert returned["state"] == "state-123"
    assert set(returned) == {"code", "state"}

    answer = redeem(province, returned["code"], verifier)
    assert answer.status_code == 200, answer.content
    tokens = answer.json()
    assert tokens["token_type"] == "Bearer"
    assert sso.header_of(tokens["id_token"])["alg"] == "RS256"
    claims = id_token_claims(tokens["id_token"])
    person.refresh_from_db()
    assert claims["iss"] == provider.issuer()
    assert claims["aud"] == SICHUAN
    assert claims["nonce"] == "nonce-456"
    assert claims["sub"] == str(person.subject)
    assert claims["name"] == person.name
    assert claims["real_name_level"] == person.real_name_level == 3  # verified in person
    assert claims["id_number_hash"] == provider.id_number_hash_for(person, SICHUAN)
    assert claims["enterprises"] == []
    assert isinstance(claims["sid"], str)
    assert len(claims["sid"]) >= 20
    assert claims["exp"] > claims["iat"]
    # The ID number rides in no token nor in the token response, not even hashed without a key.
    assert person.id_number not in answer.content.decode()
    assert person.id_number not in json.dumps(claims)
    assert person.phone not in answer.content.decode()

    identity = Client().get(
        "/oidc/identity/", HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}"
    )
    assert identity.status_code == 200
    assert identity["Cache-Control"].startswith("max-age=0")
    sealed = identity.json()["jwe"]
    assert person.id_number not in sealed
    released = json.loads(keys.decrypt(sealed, {province.enc.thumbprint(): province.enc}))
    assert released["id_number"] == person.id_number
    assert released["phone"] == person.phone
    assert released["sub"] == claims["sub"]
    assert released["aud"] == SICHUAN


def test_the_id_number_hash_differs_between_nodes_and_is_keyed(province: Province, person):
    sichuan_hash = provider.id_number_hash_for(person, SICHUAN)
    assert sichuan_hash != provider.id_number_hash_for(person, "520000")
    assert person.id_number not in sichuan_hash
    import hashlib

    assert sichuan_hash != hashlib.sha256(person.id_number.encode()).hexdigest()


def test_the_subject_stays_the_same_across_sign_ins(province: Province, person, browser) -> None:
    first = id_token_claims(signed_in(province, browser)["id_token"])
    second = id_token_claims(signed_in(province, browser)["id_token"])
    assert first["sub"] == second["sub"]
    assert first["sid"] == second["sid"]  # the same hub session


def test_every_registered_node_is_a_client_with_its_own_uris(province: Province) -> None:
    from oauth2_provider.models import get_application_model

    application = get_application_model().objects.get(client_id=SICHUAN)
    assert application.redirect_uris == CALLBACK
    assert application.post_logout_redirect_uris == "https://sc.example.cn/"
    assert application.client_type == "confidential"
    assert application.algorithm == "RS256"
    # The hub is no client of itself.
    assert not get_application_model().objects.filter(client_id="100000").exists()


# Refusals at the token endpoint ------------------------------------------------------------------


def test_a_replayed_authorization_code_is_refused(province: Province, browser) -> None:
    verifier, challenge = sso.pkce()
    code = code_for(browser, challenge)
    assert redeem(province, code, verifier).status_code == 200
    again = redeem(province, code, verifier)
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"
    assert "id_token" not in again.json()


def test_a_replayed_client_assertion_is_refused(province: Province, browser) -> None:
    used = province.assertion()
    verifier, challenge = sso.pkce()
    assert (
        redeem(province, code_for(browser, challenge), verifier, client_assertion=used).status_code
        == 200
    )
    verifier, challenge = sso.pkce()
    code = code_for(browser, challenge)
    refused_client(redeem(province, code, verifier, client_assertion=used))
    # The code itself was not spent by the refused attempt.
    assert redeem(province, code, verifier).status_code == 200


def test_an_assertion_signed_by_a_key_the_hub_does_not_hold_is_refused(
    province: Province, browser, tmp_path: Path
) -> None:
    stranger = keys.generate(tmp_path / "stranger")
    forged = sso.assertion(stranger, code=SICHUAN, audience=f"{provider.issuer()}/token/")
    verifier, challenge = sso.pkce()
    refused_client(
        redeem(province, code_for(browser, challenge), verifier, client_assertion=forged)
    )


def test_an_assertion_naming_the_nodes_kid_but_signed_by_another_key_is_refused(
    province: Province, browser, tmp_path: Path
) -> None:
    stranger = keys.generate(tmp_path / "stranger")
    impostor = keys.NodeKeyPair(kid=province.pair.kid, private=stranger.private)
    forged = sso.assertion(impostor, code=SICHUAN, audience=f"{provider.issuer()}/token/")
    verifier, challenge = sso.pkce()
    refused_client(
        redeem(province, code_for(browser, challenge), verifier, client_assertion=forged)
    )


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"iat": 1_700_000_000, "exp": 1_700_000_060}, id="expired"),
        pytest.param({"exp": 4_000_000_000}, id="lives-too-long"),
        pytest.param({"iat": 4_000_000_000, "exp": 4_000_000_060}, id="from-the-future"),
        pytest.param({"exp": None}, id="no-exp"),
        pytest.param({"jti": None}, id="no-jti"),
        pytest.param({"jti": "short"}, id="short-jti"),
        pytest.param({"iat": True}, id="boolean-iat"),
        pytest.param({"exp": "soon"}, id="string-exp"),
        pytest.param({"aud": "https://elsewhere.example/oidc/token/"}, id="wrong-audience"),
        pytest.param({"aud": None}, id="no-audience"),
        pytest.param({"sub": "520000"}, id="issuer-subject-mismatch"),
        pytest.param({"iss": "520000", "sub": "520000"}, id="claims-another-node"),
        pytest.param({"typ": "JWT"}, id="wrong-typ"),
    ],
)
def test_a_bad_client_assertion_is_refused(province: Province, browser, overrides) -> None:
    typ = overrides.pop("typ", provider.ASSERTION_TYP)
    bad = sso.assertion(
        province.pair,
        code=SICHUAN,
        audience=f"{provider.issuer()}/token/",
        typ=typ,
        **overrides,
    )
    verifier, challenge = sso.pkce()
    code = code_for(browser, challenge)
    refused_client(redeem(province, code, verifier, client_assertion=bad))


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "a.b.c",
        "..",
        "eyJ9.eyJ9.",
        "\u4e2d.\u6587.x",
        "x" * 20_000,
        "W10.W10.W10",
        "bnVsbA.bnVsbA.x",
    ],
)
def test_a_garbage_client_assertion_is_refused_not_a_500(province: Province, browser, bad) -> None:
    verifier, challenge = sso.pkce()
    refused_client(redeem(province, code_for(browser, challenge), verifier, client_assertion=bad))


def test_a_client_secret_or_no_assertion_is_refused(province: Province, browser) -> None:
    from oauth2_provider.models import get_application_model

    application = get_application_model().objects.get(client_id=SICHUAN)
    application.client_secret = "a-secret-that-leaked-somehow"
    application.save()
    verifier, challenge = sso.pkce()
    code = code_for(browser, challenge)
    no_assertion = {"client_assertion": None, "client_assertion_type": None}
    refused_client(
        redeem(
            province, code, verifier, client_secret="a-secret-that-leaked-somehow", **no_assertion
        )
    )
    refused_client(redeem(province, code, verifier, **no_assertion))
    basic = sso.b64(f"{SICHUAN}:a-secret-that-leaked-somehow".encode())
    answer = Client().post(
        "/oidc/token/",
        urlencode(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": CALLBACK,
                "code_verifier": verifier,
            }
        ),
        content_type="application/x-www-form-urlencoded",
        HTTP_AUTHORIZATION=f"Basic {basic}",
    )
    refused_client(answer)
    # A wrong assertion type with a good assertion is no assertion either.
    refused_client(redeem(province, code, verifier, client_assertion_type="urn:other"))
    assert redeem(province, code, verifier).status_code == 200


def test_an_unknown_client_is_refused(province: Province, browser, tmp_path: Path) -> None:
    verifier, challenge = sso.pkce()
    code = code_for(browser, challenge)
    stranger = keys.generate(tmp_path / "stranger")
    unknown = sso.assertion(stranger, code="520000", audience=f"{provider.issuer()}/token/")
    refused_client(redeem(province, code, verifier, client_id="520000", client_assertion=unknown))
    # Sichuan's own assertion does not make another client id its own.
    refused_client(redeem(province, code, verifier, client_id="520000"))


def test_an_unknown_client_cannot_authorize(province: Province, browser) -> None:
    _verifier, challenge = sso.pkce()
    response = authorize(browser, challenge, client_id="520000")
    assert response.status_code == 400
    assert not response.has_header("Location")


def test_a_code_issued_to_another_node_is_not_redeemed(
    province: Province, browser, tmp_path: Path
) -> None:
    guizhou = ForeignNode(
        "520000", tmp_path / "gz-keys", name="贵州省", url="https://gz.example.cn"
    )
    guizhou.new_key(not_before=KEYS_SINCE)
    other = register(guizhou, tmp_path / "gz-enc")
    verifier, challenge = sso.pkce()
    code = code_for(
        browser, challenge, client_id=other.code, redirect_uri="https://gz.example.cn/sso/callback/"
    )
    answer = redeem(province, code, verifier)
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_grant"
    answer = redeem(province, code, verifier, client_id=other.code)  # Sichuan's assertion
    refused_client(answer)
    # Guizhou itself redeems it.
    assert (
        redeem(
            other,
            code,
            verifier,
            client_id=other.code,
            client_assertion=other.assertion(),
            redirect_uri="https://gz.example.cn/sso/callback/",
        ).status_code
        == 200
    )


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "https://evil.example/sso/callback/",
        "https://sc.example.cn.evil.example/sso/callback/",
        "https://sc.example.cn/sso/callback/../../evil",
        "https://sc.example.cn/elsewhere/",
        "http://sc.example.cn/sso/callback/",
        "https://sc.example.cn@evil.example/sso/callback/",
    ],
)
def test_a_wrong_redirect_uri_is_refused_without_going_there(
    province: Province, browser, redirect_uri: str
) -> None:
    _verifier, challenge = sso.pkce()
    response = authorize(browser, challenge, redirect_uri=redirect_uri)
    assert response.status_code == 400
    assert not response.has_header("Location")
    from oauth2_provider.models import get_grant_model

    assert not get_grant_model().objects.exists()


def test_the_redirect_uri_at_the_token_endpoint_must_match(province: Province, browser) -> None:
    verifier, challenge = sso.pkce()
    code = code_for(browser, challenge)
    answer = redeem(province, code, verifier, redirect_uri="https://sc.example.cn/elsewhere/")
    assert answer.status_code == 400
    assert "id_token" not in answer.json()


def test_pkce_is_required(province: Province, browser) -> None:
    _verifier, challenge = sso.pkce()
    response = authorize(browser, challenge, code_challenge=None, code_challenge_method=None)
    location = response.get("Location", "")
    assert "code=" not in location
    if location:  # an error sent back to the node's own callback, never a code
        assert location.startswith(CALLBACK)
        assert sso.query(location)["error"] == "invalid_request"


@pytest.mark.parametrize("method", ["plain", None])
def test_the_plain_pkce_method_is_refused(province: Province, browser, method) -> None:
    # "plain" (or no method, which means plain) puts the verifier in the address bar.
    verifier, _challenge = sso.pkce()
    response = authorize(browser, verifier, code_challenge_method=method)
    location = response.get("Location", "")
    assert "code=" not in location
    assert location.startswith(CALLBACK)
    assert sso.query(location)["error"] == "invalid_request"
    from oauth2_provider.models import get_grant_model

    assert not get_grant_model().objects.exists()


def test_a_wrong_or_missing_code_verifier_is_refused(province: Province, browser) -> None:
    verifier, challenge = sso.pkce()
    code = code_for(browser, challenge)
    for wrong in (sso.pkce()[0], None, ""):
        answer = redeem(province, code, verifier, code_verifier=wrong)
        assert answer.status_code == 400
        assert answer.json()["error"] in ("invalid_grant", "invalid_request")
    assert redeem(province, code, verifier).status_code == 200


# Who may sign in ------------------------------------------------------------------------------


def test_a_staff_account_cannot_sign_in_to_nodes(province: Province) -> None:
    from tests.factories import StaffFactory

    staff = StaffFactory()
    browser = Client()
    browser.force_login(staff.user)
    _verifier, challenge = sso.pkce()
    response = authorize(browser, challenge)
    assert response.status_code == 403
    assert not response.has_header("Location")
    from tongban.accounts.models import SsoLogin

    assert not SsoLogin.objects.exists()


def test_an_anonymous_visitor_goes_to_the_hubs_login_page_first(province: Province) -> None:
    _verifier, challenge = sso.pkce()
    response = authorize(Client(), challenge)
    assert response.status_code == 302
    location = response["Location"]
    assert location.startswith("/login/?")
    back = sso.query(location)["next"]
    assert back.startswith("/oidc/authorize/?")  # a local path: no open redirect
    assert sso.query(back)["client_id"] == SICHUAN
    assert sso.query(back)["code_challenge"] == challenge


def test_prompt_none_for_an_anonymous_visitor_answers_login_required(province: Province) -> None:
    _verifier, challenge = sso.pkce()
    response = authorize(Client(), challenge, prompt="none")
    assert response.status_code == 302
    location = response["Location"]
    assert location.startswith(CALLBACK + "?")
    returned = sso.query(location)
    assert returned["error"] == "login_required"
    assert returned["state"] == "state-123"
    assert "code" not in returned


def test_prompt_none_for_a_signed_in_person_sends_a_code(province: Province, browser) -> None:
    _verifier, challenge = sso.pkce()
    response = authorize(browser, challenge, prompt="none")
    assert "code" in sso.query(response["Location"])


# The identity endpoint -----------------------------------------------------------------------


def test_the_identity_endpoint_refuses_a_bad_token(province: Province, browser) -> None:
    for header in ({}, {"HTTP_AUTHORIZATION": "Bearer not-a-token"}, {"HTTP_AUTHORIZATION": "x"}):
        answer = Client().get("/oidc/identity/", **header)
        assert answer.status_code == 401
        assert answer.json()["code"] == "invalid_token"
        assert "jwe" not in answer.json()


def test_the_identity_endpoint_refuses_an_expired_token(province: Province, browser) -> None:
    import datetime as dt

    import time_machine
    from django.utils import timezone

    tokens = signed_in(province, browser)
    with time_machine.travel(timezone.now() + dt.timedelta(minutes=10)):
        answer = Client().get(
            "/oidc/identity/", HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}"
        )
    assert answer.status_code == 401


def test_an_id_token_is_not_an_access_token(province: Province, browser) -> None:
    tokens = signed_in(province, browser)
    answer = Client().get("/oidc/identity/", HTTP_AUTHORIZATION=f"Bearer {tokens['id_token']}")
    assert answer.status_code == 401


def test_no_identity_for_a_node_without_an_encryption_key(
    hub: Node, browser, person, tmp_path: Path
) -> None:
    guizhou = ForeignNode(
        "520000", tmp_path / "gz-keys", name="贵州省", url="https://gz.example.cn"
    )
    guizhou.new_key(not_before=KEYS_SINCE)
    enrolment = services.enrolment_create(actor=SYSTEM, node_code=guizhou.code)
    services.node_register(token=guizhou.token(enrolment=enrolment))  # no "enc"
    other = Province(guizhou, OKPKey.generate_key("X25519"))
    verifier, challenge = sso.pkce()
    code = code_for(
        browser, challenge, client_id=other.code, redirect_uri="https://gz.example.cn/sso/callback/"
    )
    answer = redeem(
        other,
        code,
        verifier,
        client_id=other.code,
        client_assertion=other.assertion(),
        redirect_uri="https://gz.example.cn/sso/callback/",
    )
    assert answer.status_code == 200
    identity = Client().get(
        "/oidc/identity/", HTTP_AUTHORIZATION=f"Bearer {answer.json()['access_token']}"
    )
    assert identity.status_code == 409
    assert identity.json()["code"] == "no_encryption_key"
    assert person.id_number not in identity.content.decode()


# Only on the hub -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/oidc/authorize/"),
        ("post", "/oidc/token/"),
        ("get", "/oidc/.well-known/openid-configuration"),
        ("get", "/oidc/.well-known/jwks.json"),
        ("get", "/oidc/userinfo/"),
        ("get", "/oidc/logout/"),
        ("get", "/oidc/identity/"),
    ],
)
def test_the_provider_is_not_found_on_other_nodes(db: None, settings, method: str, path: str):
    settings.TONGBAN_NODE_CODE = "500000"
    answer = getattr(Client(), method)(path)
    assert answer.status_code == 404


# Logout at the hub: the back-channel ------------------------------------------------------------


@pytest.fixture
def posted(monkeypatch) -> list[dict[str, Any]]:
    """What the hub POSTs to other nodes (``transport.call`` captured; every node says 200)."""
    calls: list[dict[str, Any]] = []

    def call(method: str, url: str, body: bytes | None = None, **options: Any) -> tuple[int, bytes]:
        calls.append({"method": method, "url": url, "body": body, **options})
        return 200, b""

    monkeypatch.setattr("tongban.exchange.transport.call", call)
    return calls


def logout_tokens(calls: list[dict[str, Any]]) -> dict[str, str]:
    from urllib.parse import parse_qs

    found = {}
    for call in calls:
        assert call["method"] == "POST"
        assert call["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
        found[call["url"]] = parse_qs(call["body"].decode())["logout_token"][0]
    return found


def test_logout_at_the_hub_tells_every_node_the_session_reached(
    province: Province, browser, person, posted, tmp_path: Path, django_capture_on_commit_callbacks
) -> None:
    guizhou = ForeignNode(
        "520000", tmp_path / "gz-keys", name="贵州省", url="https://gz.example.cn"
    )
    guizhou.new_key(not_before=KEYS_SINCE)
    other = register(guizhou, tmp_path / "gz-enc")
    sid = id_token_claims(signed_in(province, browser)["id_token"])["sid"]
    verifier, challenge = sso.pkce()
    gz_code = code_for(
        browser, challenge, client_id=other.code, redirect_uri="https://gz.example.cn/sso/callback/"
    )
    assert posted == []

    with django_capture_on_commit_callbacks(execute=True):
        response = browser.post("/logout/")
    assert response.status_code == 302
    tokens = logout_tokens(posted)
    assert set(tokens) == {
        "https://sc.example.cn/sso/backchannel-logout/",
        "https://gz.example.cn/sso/backchannel-logout/",
    }
    person.refresh_from_db()
    for url, token in tokens.items():
        header = sso.header_of(token)
        assert header["alg"] == "RS256"
        assert header["typ"] == "logout+jwt"
        claims = id_token_claims(token)  # the hub's published key verifies it
        assert claims["iss"] == provider.issuer()
        assert claims["aud"] == (SICHUAN if "sc." in url else other.code)
        assert claims["events"] == {provider.BACKCHANNEL_EVENT: {}}
        assert claims["sid"] == sid
        assert claims["sub"] == str(person.subject)
        assert "nonce" not in claims
        assert len(claims["jti"]) >= 16
        assert 0 < claims["exp"] - claims["iat"] <= 300
    assert len({sso.payload_of(t)["jti"] for t in tokens.values()}) == 2
    # The hub session is over: a code issued in it does nothing more, the next sign-in asks
    # for the password, and a second logout tells no one again.
    assert authorize(browser, challenge)["Location"].startswith("/login/")
    posted.clear()
    with django_capture_on_commit_callbacks(execute=True):
        browser.post("/logout/")
    assert posted == []
    del gz_code, verifier


def test_the_sessions_access_tokens_end_with_the_hub_logout(
    province: Province, browser, django_capture_on_commit_callbacks
) -> None:
    tokens = signed_in(province, browser)
    header = {"HTTP_AUTHORIZATION": f"Bearer {tokens['access_token']}"}
    assert Client().get("/oidc/identity/", **header).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        browser.post("/logout/")
    answer = Client().get("/oidc/identity/", **header)
    assert answer.status_code == 401
    assert "jwe" not in answer.json()


def test_a_new_hub_session_has_a_new_sid(province: Province, browser, person, posted) -> None:
    first = id_token_claims(signed_in(province, browser)["id_token"])["sid"]
    browser.post("/logout/")
    browser.force_login(person.user)
    assert id_token_claims(signed_in(province, browser)["id_token"])["sid"] != first


def test_logout_of_a_session_that_reached_no_node_tells_no_one(
    province: Province, browser, posted, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        browser.post("/logout/")
    assert posted == []


def test_an_unreachable_node_does_not_break_the_logout(
    province: Province, browser, monkeypatch, django_capture_on_commit_callbacks
) -> None:
    from tongban.accounts import tasks
    from tongban.exchange import transport

    tries: list[str] = []

    def call(method: str, url: str, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        tries.append(url)
        raise transport.Unreachable("down")

    monkeypatch.setattr("tongban.exchange.transport.call", call)
    monkeypatch.setattr(tasks, "BACKCHANNEL_TRIES", (0.0, 0.0))
    signed_in(province, browser)
    with django_capture_on_commit_callbacks(execute=True):
        response = browser.post("/logout/")
    assert response.status_code == 302
    assert len(tries) == 2
    assert Client().get("/api/v1/accounts/me").status_code == 401


def test_the_end_session_endpoint_logs_out_and_returns_to_the_node(
    province: Province, browser, posted, django_capture_on_commit_callbacks
) -> None:
    tokens = signed_in(province, browser)
    with django_capture_on_commit_callbacks(execute=True):
        response = browser.get(
            "/oidc/logout/",
            {
                "id_token_hint": tokens["id_token"],
                "client_id": SICHUAN,
                "post_logout_redirect_uri": "https://sc.example.cn/",
            },
        )
    assert response.status_code == 302
    assert response["Location"] == "https://sc.example.cn/"
    assert list(logout_tokens(posted)) == ["https://sc.example.cn/sso/backchannel-logout/"]
    assert browser.get("/api/v1/accounts/me").status_code == 401


@pytest.mark.parametrize(
    "target",
    ["https://evil.example/", "https://sc.example.cn.evil.example/", "//evil.example/"],
)
def test_the_end_session_endpoint_never_returns_elsewhere(
    province: Province, browser, posted, target: str
) -> None:
    tokens = signed_in(province, browser)
    response = browser.get(
        "/oidc/logout/",
        {
            "id_token_hint": tokens["id_token"],
            "client_id": SICHUAN,
            "post_logout_redirect_uri": target,
        },
    )
    assert "evil" not in response.get("Location", "")


# Other grants ------------------------------------------------------------------------------------


@pytest.mark.parametrize("grant_type", ["client_credentials", "password", "implicit", "x"])
def test_other_grants_are_refused(province: Province, person, grant_type: str) -> None:
    answer = token_request(
        grant_type=grant_type,
        username=person.phone,
        password="Correct-Horse-42",
        client_id=SICHUAN,
        client_assertion_type=provider.CLIENT_ASSERTION_TYPE,
        client_assertion=province.assertion(),
    )
    assert answer.status_code in (400, 401)
    assert "access_token" not in answer.json()


def test_no_refresh_after_the_hub_session_ended(
    province: Province, browser, posted, django_capture_on_commit_callbacks
) -> None:
    # Found in review: the library issues a refresh token with every code, and a node could
    # trade it for new tokens (and the identity) after the person had logged out at the hub.
    tokens = signed_in(province, browser)
    with django_capture_on_commit_callbacks(execute=True):
        browser.post("/logout/")
    answer = token_request(
        grant_type="refresh_token",
        refresh_token=tokens.get("refresh_token", "none"),
        client_id=SICHUAN,
        client_assertion_type=provider.CLIENT_ASSERTION_TYPE,
        client_assertion=province.assertion(),
    )
    assert answer.status_code in (400, 401), answer.content
    assert "access_token" not in answer.json()


@pytest.mark.parametrize("response_type", ["token", "id_token", "id_token token", "code id_token"])
def test_only_the_code_flow_is_offered(province: Province, browser, response_type: str) -> None:
    _verifier, challenge = sso.pkce()
    response = authorize(browser, challenge, response_type=response_type)
    location = response.get("Location", "")
    assert "access_token" not in location
    assert "id_token=" not in location
    assert "code=" not in location
    if location:
        assert location.startswith(CALLBACK)
