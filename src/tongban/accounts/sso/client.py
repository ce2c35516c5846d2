"""A province's node as relying party of the hub's OpenID Connect provider.

Authorization code flow with PKCE (S256), ``state`` and ``nonce``; the code is redeemed with a
client assertion signed by this node's key. The ID token is checked here (RS256 with the hub's
published keys; issuer, audience, expiry, issue time, nonce, authorized party) before anyone is
signed in, and the ID number is fetched from the hub's identity endpoint, encrypted to this
node. Back-channel logout tokens from the hub end the local sessions of a hub session.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy as _
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from tongban.accounts.models import (
    ID_NUMBER,
    PHONE,
    Enterprise,
    EnterpriseMember,
    MemberRole,
    Person,
    SsoLogin,
    SsoSession,
    TokenSeen,
    User,
)
from tongban.accounts.sso.provider import (
    ASSERTION_TYP,
    BACKCHANNEL_EVENT,
    CALLBACK_PATH,
    CLIENT_ASSERTION_TYPE,
    CLOCK_SKEW,
    LOGGED_OUT_PATH,
    token_first_use,
)
from tongban.core.audit import SYSTEM, audit_record
from tongban.core.errors import DomainError
from tongban.core.logging import get_logger
from tongban.core.pii import pii_encrypt, pii_hash
from tongban.exchange import keys, services, transport
from tongban.exchange.messaging import node_token

log = get_logger(__name__)

FLOWS = "tongban_sso_flows"  # session key: pending sign-ins by state
SESSION = "tongban_sso"  # session key: the hub session this local session came from
MAX_PENDING = 5
FLOW_SECONDS = 600
JWKS_SECONDS = 600
JWKS_REFRESH_SECONDS = 10
ID_TOKEN_ALGORITHMS = ["RS256"]
# The hub's answers to prompt=none when nobody is signed in there.
NOT_SIGNED_IN = frozenset({"login_required", "interaction_required"})


class SsoFailed(DomainError):
    status = 400
    code = "sso_failed"
    default_message = _("Signing in through the national identity service failed.")


@dataclass(frozen=True)
class SignIn:
    user: Any
    next_url: str
    sid: str
    subject: str
    id_token: str


def enabled() -> bool:
    """This node signs people in through the hub: it names a hub and is not the hub."""
    return bool(
        settings.TONGBAN_SSO_ENABLED
        and settings.TONGBAN_HUB_URL
        and settings.TONGBAN_NODE_CODE != settings.TONGBAN_HUB_CODE
    )


def hub_issuer() -> str:
    return settings.TONGBAN_HUB_URL.rstrip("/") + "/oidc"


def redirect_uri() -> str:
    return settings.TONGBAN_NODE_URL.rstrip("/") + CALLBACK_PATH


# HTTP to the hub (one function, so tests can route it to a hub in the same process).


def http(
    method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    return transport.call(method, url, body, headers=headers or {}, limit=256 * 1024)


# Starting -----------------------------------------------------------------------------------


def safe_next(candidate: str | None, *, host: str) -> str:
    """A local path to return to; anything else (another host, a scheme, ``//x``) is "/"."""
    if (
        candidate
        and candidate.startswith("/")
        and not candidate.startswith("//")
        and url_has_allowed_host_and_scheme(candidate, allowed_hosts={host})
    ):
        return candidate
    return "/"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def login_start(session: SessionBase, *, next_url: str, prompt: str = "") -> str:
    """The hub URL to send the browser to; the pending flow is kept in the session."""
    state, nonce, verifier = (secrets.token_urlsafe(24) for _ in range(3))
    flows: dict[str, Any] = dict(session.get(FLOWS) or {})
    now = int(time.time())
    flows = {k: v for k, v in flows.items() if now - int(v.get("at", 0)) < FLOW_SECONDS}
    while len(flows) >= MAX_PENDING:
        flows.pop(min(flows, key=lambda k: int(flows[k].get("at", 0))))
    flows[state] = {"nonce": nonce, "verifier": verifier, "next": next_url, "at": now}
    session[FLOWS] = flows
    params = {
        "response_type": "code",
        "client_id": settings.TONGBAN_NODE_CODE,
        "redirect_uri": redirect_uri(),
        "scope": "openid profile",
        "state": state,
        "nonce": nonce,
        "code_challenge": _b64(hashlib.sha256(verifier.encode()).digest()),
        "code_challenge_method": "S256",
    }
    if prompt in {"none", "create"}:
        params["prompt"] = prompt
    return f"{hub_issuer()}/authorize/?{urlencode(params)}"


# Finishing ----------------------------------------------------------------------------------


def _pending(session: SessionBase, state: str) -> dict[str, Any]:
    flows: dict[str, Any] = dict(session.get(FLOWS) or {})
    flow = flows.pop(state, None) if state else None
    session[FLOWS] = flows
    if not isinstance(flow, dict) or int(time.time()) - int(flow.get("at", 0)) > FLOW_SECONDS:
        raise SsoFailed(
            _("This sign-in was not started here or has expired; please sign in again."),
            code="sso_state_unknown",
        )
    return flow


def login_finish(session: SessionBase, *, params: dict[str, str]) -> SignIn | str:
    """Redeem the hub's answer. Returns who signed in, or — when the hub says nobody is signed
    in there (``prompt=none``) — the local path to go back to. SsoFailed otherwise."""
    flow = _pending(session, params.get("state", ""))
    error = params.get("error", "")
    if error in NOT_SIGNED_IN:
        return str(flow["next"])
    if error or not params.get("code"):
        log.warning("sso.hub_refused", error=error[:64])
        raise SsoFailed(
            _("The national identity service did not sign you in (%(e)s).") % {"e": error[:64]},
            code="sso_refused",
        )
    tokens = _redeem(params["code"], verifier=str(flow["verifier"]))
    claims = id_token_verify(str(tokens.get("id_token", "")), nonce=str(flow["nonce"]))
    identity = _identity(str(tokens.get("access_token", "")), subject=str(claims["sub"]))
    user = person_sign_in(claims=claims, identity=identity)
    return SignIn(
        user,
        str(flow["next"]),
        str(claims.get("sid", "")),
        str(claims["sub"]),
        str(tokens["id_token"]),
    )


def client_assertion(*, audience: str) -> str:
    """A one-use proof that this node is calling (signed by its node key)."""
    now = int(time.time())
    claims = {
        "sub": settings.TONGBAN_NODE_CODE,
        "aud": audience,
        "iat": now,
        "exp": now + 60,
        "jti": uuid.uuid4().hex,
    }
    return node_token(claims, typ=ASSERTION_TYP)


def _redeem(code: str, *, verifier: str) -> dict[str, Any]:
    token_url = f"{hub_issuer()}/token/"
    body = urlencode(
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri(),
            "code_verifier": verifier,
            "client_id": settings.TONGBAN_NODE_CODE,
            "client_assertion_type": CLIENT_ASSERTION_TYPE,
            "client_assertion": client_assertion(audience=token_url),
        }
    ).encode()
    status, answer = _call(
        "POST", token_url, body, {"Content-Type": "application/x-www-form-urlencoded"}
    )
    tokens = _json(answer)
    if status != 200 or not isinstance(tokens, dict):
        log.warning("sso.token_refused", status=status, error=str(_field(tokens, "error"))[:64])
        raise SsoFailed(
            _("The national identity service refused the sign-in code."), code="sso_code_refused"
        )
    return tokens


def _call(
    method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    try:
        return http(method, url, body, headers)
    except (transport.Unreachable, transport.TooLarge) as error:
        log.warning("sso.hub_unreachable", url=url, error=str(error)[:200])
        raise SsoFailed(
            _("The national identity service cannot be reached; please try again later."),
            code="sso_unreachable",
        ) from None


def _json(content: bytes) -> Any:
    try:
        return json.loads(content)
    except (ValueError, RecursionError):
        return None


def _field(value: Any, name: str) -> Any:
    return value.get(name) if isinstance(value, dict) else None


# The hub's keys -----------------------------------------------------------------------------

_jwks: dict[str, tuple[float, KeySet]] = {}


def hub_keys(*, refresh: bool = False) -> KeySet:
    """The hub's ID-token keys (its JWKS), cached for a while; ``refresh`` fetches anew (a
    token names a key not in the cache: the hub rotated)."""
    now = time.monotonic()
    cached = _jwks.get(hub_issuer())
    if cached is not None and now - cached[0] < (JWKS_REFRESH_SECONDS if refresh else JWKS_SECONDS):
        # A refresh at most every few seconds: tokens naming unknown keys arrive unasked (the
        # back-channel endpoint is open), and must not make this node call the hub each time.
        return cached[1]
    status, answer = _call("GET", f"{hub_issuer()}/.well-known/jwks.json")
    document = _json(answer)
    try:
        if status != 200 or not isinstance(document, dict):
            raise ValueError("no key set")
        key_set = KeySet.import_key_set(
            {"keys": [k for k in document.get("keys", []) if _field(k, "kty") == "RSA"]}
        )
    except (ValueError, TypeError, JoseError):
        raise SsoFailed(
            _("The national identity service's keys cannot be read."), code="sso_no_keys"
        ) from None
    _jwks[hub_issuer()] = (now, key_set)
    return key_set


def _decode(token: str) -> Any:
    """The token's claims once its signature checks with one of the hub's keys."""
    if not token or len(token) > 16_384:
        raise SsoFailed(_("The token is missing or too long."), code="sso_bad_token")
    for refresh in (False, True):
        try:
            return jwt.decode(token, hub_keys(refresh=refresh), algorithms=ID_TOKEN_ALGORITHMS)
        except (JoseError, ValueError) as error:
            # Fetch the keys anew only for a key not held (the hub rotated), never because a
            # signature by a known key does not check.
            if refresh or _kid_known(token):
                log.warning("sso.bad_signature", error=str(error)[:200])
                raise SsoFailed(
                    _("The token's signature does not check."), code="sso_bad_signature"
                ) from None
    raise AssertionError("unreachable")  # pragma: no cover


def _kid_known(token: str) -> bool:
    """Whether the token names a key the cached key set holds (True too for a token whose
    header does not parse: fetching keys would not help it)."""
    try:
        part = token.split(".", 1)[0]
        header = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
        kid = header.get("kid") if isinstance(header, dict) else None
    except (ValueError, RecursionError):
        return True
    if not isinstance(kid, str):
        return True
    return any(key.kid == kid for key in hub_keys().keys)


def _registry(**claims: Any) -> jwt.JWTClaimsRegistry:
    return jwt.JWTClaimsRegistry(leeway=int(CLOCK_SKEW.total_seconds()), **claims)


def id_token_verify(token: str, *, nonce: str) -> dict[str, Any]:
    """The claims of an ID token made for this node and this sign-in; SsoFailed otherwise."""
    decoded = _decode(token)
    client_id = settings.TONGBAN_NODE_CODE
    registry = _registry(
        iss={"essential": True, "value": hub_issuer()},
        aud={"essential": True, "value": client_id},
        sub={"essential": True},
        exp={"essential": True},
        iat={"essential": True},
        nonce={"essential": True, "value": nonce},
    )
    try:
        registry.validate(decoded.claims)
    except JoseError as error:
        log.warning("sso.id_token_refused", error=str(error)[:200])
        raise SsoFailed(
            _("The sign-in token is not valid here (%(e)s).") % {"e": error.error},
            code="sso_bad_token",
        ) from None
    claims = dict(decoded.claims)
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if len(audiences) > 1 and claims.get("azp") != client_id:
        raise SsoFailed(_("The sign-in token is for another party."), code="sso_bad_token")
    if not isinstance(claims.get("real_name_level"), int) or not isinstance(
        claims.get("name"), str
    ):
        raise SsoFailed(_("The sign-in token lacks the person's details."), code="sso_bad_token")
    try:
        uuid.UUID(str(claims["sub"]))
    except ValueError:
        raise SsoFailed(_("The sign-in token names no person."), code="sso_bad_token") from None
    return claims


def _identity(access_token: str, *, subject: str) -> dict[str, Any]:
    """The person's ID number and phone from the hub, decrypted with this node's key."""
    status, answer = _call(
        "GET", f"{hub_issuer()}/identity/", None, {"Authorization": f"Bearer {access_token}"}
    )
    sealed = _field(_json(answer), "jwe")
    try:
        if status != 200 or not isinstance(sealed, str):
            raise ValueError(f"status {status}")
        identity = json.loads(keys.decrypt(sealed, services.enc_private_keys()))
    except (keys.CannotDecrypt, ValueError, RecursionError) as error:
        log.warning("sso.identity_refused", status=status, error=str(error)[:200])
        raise SsoFailed(
            _("The national identity service did not release the person's details."),
            code="sso_no_identity",
        ) from None
    if (
        not isinstance(identity, dict)
        or identity.get("sub") != subject
        or identity.get("aud") != settings.TONGBAN_NODE_CODE
        or not isinstance(identity.get("id_number"), str)
    ):
        raise SsoFailed(_("The person's details do not match the sign-in."), code="sso_no_identity")
    return identity


# The local person ---------------------------------------------------------------------------


def person_sign_in(*, claims: dict[str, Any], identity: dict[str, Any]) -> Any:
    """The local login of the hub's person: found by subject, else by ID number (a person
    this node knew without a login, e.g. from a case handed over), else recorded now. The
    name and enterprise roles follow the hub; the real-name level never goes down."""
    from tongban.accounts.services import _validated_person_fields

    subject = uuid.UUID(str(claims["sub"]))
    errors, name, id_number, phone = _validated_person_fields(
        name=str(claims["name"]),
        id_number=str(identity["id_number"]),
        phone=str(identity.get("phone") or ""),
        phone_required=False,
    )
    if errors:
        raise SsoFailed(_("The person's details from the hub do not check."), code="sso_bad_person")
    level = max(1, min(3, int(claims["real_name_level"])))
    try:
        return _person_sign_in(claims, subject, name, id_number, phone, level)
    except IntegrityError:
        # Two first sign-ins at once (two tabs): the other recorded the person; link to it.
        return _person_sign_in(claims, subject, name, id_number, phone, level)


# Linking a hub account to a person this node already knows by ID number hands it that
# person's cases: only for an identity the hub has verified (L2 and up), at least as well as
# it was verified here. A self-declared (L1) account links to nobody.
MIN_LEVEL_TO_LINK = 2


def _person_sign_in(
    claims: dict[str, Any], subject: uuid.UUID, name: str, id_number: str, phone: str, level: int
) -> Any:
    with transaction.atomic():
        id_hash = pii_hash(id_number, purpose=ID_NUMBER)
        person = Person.objects.select_for_update().filter(subject=subject).first()
        if person is None:
            person = Person.objects.select_for_update().filter(id_number_hash=id_hash).first()
            if person is not None and level < max(MIN_LEVEL_TO_LINK, person.real_name_level):
                log.warning("sso.link_refused", person_id=person.pk, hub_level=level)
                raise SsoFailed(
                    _(
                        "This ID number is already known on this platform. Verify your national "
                        "account's identity (real-name level %(level)d or higher) to use it here."
                    )
                    % {"level": max(MIN_LEVEL_TO_LINK, person.real_name_level)},
                    code="sso_level_too_low_to_link",
                )
        if person is not None and person.id_number_hash != id_hash:
            # The hub's subject now names someone else's ID number: never merge two people.
            log.error("sso.subject_mismatch", person_id=person.pk)
            raise SsoFailed(
                _("This account does not match the person recorded here."),
                code="sso_person_mismatch",
            )
        created = person is None
        if person is None:
            person = Person(
                name=name,
                id_number_hash=id_hash,
                id_number_encrypted=pii_encrypt(id_number, purpose=ID_NUMBER),
                real_name_level=level,
            )
        before = {"subject": str(person.subject or ""), "level": person.real_name_level}
        person.subject = subject
        person.name = name
        person.real_name_level = max(person.real_name_level, level)
        phone_hash = pii_hash(phone, purpose=PHONE) if phone else ""
        if (
            phone_hash
            and not person.phone_hash
            and not Person.objects.filter(phone_hash=phone_hash, user__isnull=False).exists()
        ):
            # The hub's phone, where this person has none here and no other login uses it.
            person.phone_hash = phone_hash
            person.phone_encrypted = pii_encrypt(phone, purpose=PHONE)
        if person.user_id is None:
            user = User(username=f"p-{secrets.token_hex(8)}")
            user.set_unusable_password()  # signs in through the hub only
            user.save()
            person.user = user
        person.save()
        after = {"subject": str(subject), "level": person.real_name_level}
        if created or before != after:
            audit_record(
                actor=SYSTEM,
                action="person.signed_in_from_hub" if not created else "person.recorded_from_hub",
                target=person,
                changes={k: [before[k], after[k]] for k in after if before[k] != after[k]},
            )
        _enterprises(person, claims.get("enterprises"))
    return person.user


def _enterprises(person: Person, listed: Any) -> None:
    """Enterprise roles the hub vouches for: where the enterprise is known here (or this
    person is its legal representative, so it can be recorded), the membership is recorded;
    a role recorded from the hub earlier that the hub no longer lists ends here too (one
    recorded at this node's window stays)."""
    from tongban.core.errors import FieldErrors
    from tongban.core.validation import check_uscc

    if not isinstance(listed, list):
        return
    vouched: set[int] = set()
    for entry in listed[:50]:
        role = _field(entry, "role")
        if role not in MemberRole.values:
            continue
        errors = FieldErrors()
        uscc = check_uscc(str(_field(entry, "uscc") or ""), field="uscc", errors=errors)
        name = str(_field(entry, "name") or "")[:128].strip()
        if errors or not uscc or not name:
            continue
        enterprise = Enterprise.objects.filter(uscc=uscc).first()
        if enterprise is None and role == MemberRole.LEGAL_REPRESENTATIVE:
            enterprise = Enterprise.objects.create(
                uscc=uscc, name=name, legal_representative=person
            )
            audit_record(
                actor=SYSTEM,
                action="enterprise.recorded_from_hub",
                target=enterprise,
                changes={"uscc": uscc},
            )
        if enterprise is None:
            continue
        member, added = EnterpriseMember.objects.get_or_create(
            enterprise=enterprise, person=person, role=role, defaults={"from_hub": True}
        )
        vouched.add(member.pk)
        if added:
            audit_record(
                actor=SYSTEM,
                action="enterprise_member.recorded_from_hub",
                target=enterprise,
                changes={"role": role},
            )
    ended = person.memberships.filter(from_hub=True).exclude(pk__in=vouched)
    for member in ended.select_related("enterprise"):
        member.delete()
        audit_record(
            actor=SYSTEM,
            action="enterprise_member.ended_by_hub",
            target=member.enterprise,
            changes={"role": member.role},
        )


# Sessions and logout ------------------------------------------------------------------------


def session_opened(session: SessionBase, sign_in: SignIn) -> None:
    """Remember which hub session this local session came from (for back-channel logout)."""
    if session.session_key is None:
        session.save()
    assert session.session_key is not None
    # The ID token goes back to the hub as the logout's hint (who is logging out, from where).
    session[SESSION] = {"sid": sign_in.sid, "sub": sign_in.subject, "hint": sign_in.id_token}
    SsoSession.objects.update_or_create(
        session_key=session.session_key,
        defaults={"sid": sign_in.sid, "subject": uuid.UUID(sign_in.subject)},
    )


def logout_url(session: SessionBase) -> str | None:
    """Where to send the browser after a local logout, so the hub session ends too (and with
    it every other node's): the hub's end-session endpoint; None for a local-only session."""
    opened = session.get(SESSION)
    if not enabled() or not isinstance(opened, dict):
        return None
    params = {
        "id_token_hint": str(opened.get("hint", "")),
        "client_id": settings.TONGBAN_NODE_CODE,
        "post_logout_redirect_uri": settings.TONGBAN_NODE_URL.rstrip("/") + LOGGED_OUT_PATH,
    }
    return f"{hub_issuer()}/logout/?{urlencode(params)}"


def backchannel_logout(*, token: str) -> int:
    """A logout token from the hub: the local sessions of that hub session end. Returns how
    many ended. SsoFailed for a token that is forged, expired, replayed or not for us."""
    decoded = _decode(token)
    registry = _registry(
        iss={"essential": True, "value": hub_issuer()},
        aud={"essential": True, "value": settings.TONGBAN_NODE_CODE},
        iat={"essential": True},
        exp={"essential": True},
        jti={"essential": True},
    )
    try:
        registry.validate(decoded.claims)
    except JoseError as error:
        raise SsoFailed(
            _("The logout token is not valid here (%(e)s).") % {"e": error.error},
            code="sso_bad_logout_token",
        ) from None
    claims = dict(decoded.claims)
    events = claims.get("events")
    sid, subject = claims.get("sid"), claims.get("sub")
    if (
        not isinstance(events, dict)
        or BACKCHANNEL_EVENT not in events
        or "nonce" in claims
        or (not (isinstance(sid, str) and sid) and not isinstance(subject, str))
    ):
        raise SsoFailed(_("This is not a logout token."), code="sso_bad_logout_token")
    expires = dt.datetime.fromtimestamp(int(claims["exp"]), tz=dt.UTC)
    if not token_first_use(f"logout:{claims['jti']}", expires_at=expires):
        raise SsoFailed(_("This logout token was used already."), code="sso_replayed")
    sessions = SsoSession.objects.filter(sid=sid) if sid else SsoSession.objects.none()
    if not sid:
        try:
            sessions = SsoSession.objects.filter(subject=uuid.UUID(str(subject)))
        except ValueError:
            raise SsoFailed(_("This is not a logout token."), code="sso_bad_logout_token") from None
    from importlib import import_module

    store = import_module(settings.SESSION_ENGINE).SessionStore
    ended = 0
    for row in list(sessions):
        store(session_key=row.session_key).delete()
        row.delete()
        ended += 1
    log.info("sso.backchannel_logout", sid=str(sid)[:8], ended=ended)
    return ended


def sessions_forget(session_key: str | None) -> None:
    if session_key:
        SsoSession.objects.filter(session_key=session_key).delete()


def housekeeping(*, now: dt.datetime | None = None) -> int:
    """Forget what no session can need any more: links to local sessions and hub sign-ins
    older than the longest session, and one-time token ids past their expiry. Run by every
    `tongban exchange tick`. Returns how many rows went."""
    moment = now or timezone.now()
    limit = moment - dt.timedelta(seconds=settings.SESSION_COOKIE_AGE)
    sessions, _rows = SsoSession.objects.filter(created_at__lt=limit).delete()
    logins, _rows = SsoLogin.objects.filter(created_at__lt=limit).delete()
    tokens, _rows = TokenSeen.objects.filter(expires_at__lt=moment - CLOCK_SKEW).delete()
    return sessions + logins + tokens
