"""The hub's side of single sign-on: an OpenID Connect provider (django-oauth-toolkit) whose
clients are the registered nodes.

- **Clients** are the nodes of the hub's registry: one OAuth application per node, client id
  = the node's code, redirect and logout URIs under the node's URL (``client_ensure``).
- **Client authentication** is a JWT signed with the node's Ed25519 key (``private_key_jwt``
  in spirit; RFC 7523 client assertions), checked against the keys the hub holds for that node,
  single use. Client secrets are never accepted.
- **Claims** (``HubValidator.get_additional_claims``): name, real-name level, a per-client keyed
  hash of the ID number, enterprise roles, and ``sid``, the hub session that signed in.
- **Logout**: when a hub session ends, every node it signed in to gets a signed logout token
  at its back-channel URI (``on_hub_logout`` → ``tasks.sso_backchannel_logout``).
- **Identity release** (``identity_release``): the ID number and phone for the node that holds
  the person's access token, encrypted to that node's X25519 key.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
import uuid
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from jwcrypto import jwk as jwcrypto_jwk
from jwcrypto import jwt as jwcrypto_jwt
from oauth2_provider.models import get_access_token_model, get_application_model
from oauth2_provider.oauth2_validators import OAuth2Validator
from oauth2_provider.settings import oauth2_settings
from oauthlib.oauth2.rfc6749 import errors as oauth_errors

from tongban.accounts.models import ID_NUMBER, Person, SsoLogin, TokenSeen
from tongban.core.audit import SYSTEM, audit_record
from tongban.core.errors import Conflict, DomainError, Forbidden, NotFound
from tongban.core.logging import get_logger
from tongban.core.pii import pii_hash
from tongban.exchange import keys, services, transport
from tongban.exchange.messaging import BadNodeToken, Untrusted, node_token_claims
from tongban.exchange.models import Node

log = get_logger(__name__)

CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_TYP = "tongban-client+jwt"
BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"
# Where a node answers (its URL + these paths): fixed, so the hub derives them from the registry.
CALLBACK_PATH = "/sso/callback/"
BACKCHANNEL_PATH = "/sso/backchannel-logout/"
LOGGED_OUT_PATH = "/"
# The hub session's id, kept in the hub's session so ID tokens and logout tokens can name it.
SESSION_SID = "tongban_sso_sid"
# A client assertion lives at most this long, and the hub allows this much clock difference.
ASSERTION_MAX_AGE = dt.timedelta(minutes=5)
CLOCK_SKEW = dt.timedelta(minutes=2)
LOGOUT_TOKEN_SECONDS = 120


def signing_key_ensure(path: Path | None = None) -> bool:
    """The hub's ID-token key (RSA 2048, PEM, mode 0600): created when missing. Returns whether
    it was created. The provider reads it at start-up (settings), so create it before serving."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    target = path or Path(settings.TONGBAN_SSO_KEY_FILE)
    if target.is_file():
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    descriptor = target.open("xb")
    target.chmod(0o600)
    with descriptor:
        descriptor.write(pem)
    log.info("sso.signing_key_created", path=str(target))
    return True


def is_provider() -> bool:
    return bool(settings.TONGBAN_NODE_CODE == settings.TONGBAN_HUB_CODE)


def issuer() -> str:
    return str(oauth2_settings.OIDC_ISS_ENDPOINT).rstrip("/")


# Clients ----------------------------------------------------------------------------------


def client_ensure(node: Node) -> Any | None:
    """The OAuth application of a registered node (created or brought up to date with the
    node's URL); None for the hub itself and for nodes without a URL."""
    if not is_provider() or node.is_self or node.code == settings.TONGBAN_HUB_CODE:
        return None
    base = (node.base_url or "").rstrip("/")
    if not base.startswith(("https://", "http://")):
        return None
    application_model = get_application_model()
    wanted = {
        "name": f"{node.name or node.code}",
        "client_type": application_model.CLIENT_CONFIDENTIAL,
        "authorization_grant_type": application_model.GRANT_AUTHORIZATION_CODE,
        "redirect_uris": base + CALLBACK_PATH,
        "post_logout_redirect_uris": base + LOGGED_OUT_PATH,
        "algorithm": application_model.RS256_ALGORITHM,
        "skip_authorization": True,
    }
    with transaction.atomic():
        application = (
            application_model.objects.select_for_update().filter(client_id=node.code).first()
        )
        if application is None:
            application = application_model(
                client_id=node.code,
                # Never used: nodes authenticate with their key. Random so it cannot be guessed.
                client_secret=secrets.token_urlsafe(32),
                **wanted,
            )
            application.save()
            audit_record(
                actor=SYSTEM,
                action="sso.client_created",
                target=application,
                changes={"client_id": node.code, "redirect_uris": wanted["redirect_uris"]},
            )
            return application
        changed = {k: v for k, v in wanted.items() if getattr(application, k) != v}
        if changed:
            for name, value in changed.items():
                setattr(application, name, value)
            application.save()
            audit_record(
                actor=SYSTEM, action="sso.client_updated", target=application, changes=changed
            )
    return application


def clients_sync() -> int:
    """Every registered node's application, up to date. Returns how many there are."""
    count = 0
    for node in Node.objects.exclude(is_self=True).order_by("code"):
        if client_ensure(node) is not None:
            count += 1
    return count


# The subject and its claims -----------------------------------------------------------------


def subject_of(person: Person) -> uuid.UUID:
    """The person's subject id at the hub, given on first use and never changed."""
    if person.subject is None:
        Person.objects.filter(pk=person.pk, subject__isnull=True).update(subject=uuid.uuid4())
        person.refresh_from_db(fields=["subject"])
    assert person.subject is not None
    return person.subject


def id_number_hash_for(person: Person, client_id: str) -> str:
    """A keyed hash of the ID number, different for every client: it identifies the person
    to that node across hub accounts, and cannot be matched between nodes or reversed without
    the hub's key."""
    return pii_hash(person.id_number, purpose=f"{ID_NUMBER}:sso:{client_id}")


def claims_for(person: Person, client_id: str) -> dict[str, Any]:
    return {
        "sub": str(subject_of(person)),
        "name": person.name,
        "real_name_level": int(person.real_name_level),
        "id_number_hash": id_number_hash_for(person, client_id),
        "enterprises": [
            {"uscc": m.enterprise.uscc, "name": m.enterprise.name, "role": m.role}
            for m in person.memberships.select_related("enterprise").order_by("enterprise__uscc")
        ],
    }


def _code_hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


class HubValidator(OAuth2Validator):
    """django-oauth-toolkit's validator with the hub's rules: node clients authenticated by
    signed assertions, persons only, and the tongban claims."""

    oidc_claim_scope = None  # every claim comes with ``openid``

    # Client authentication
    def authenticate_client(self, request: Any, *args: Any, **kwargs: Any) -> bool:
        assertion_type = getattr(request, "client_assertion_type", None)
        assertion = getattr(request, "client_assertion", None)
        if assertion_type != CLIENT_ASSERTION_TYPE or not isinstance(assertion, str):
            log.warning("sso.client_auth_refused", reason="no_assertion")
            return False
        client_id = client_assertion_check(
            assertion, audience=f"{issuer()}/token/", claimed=getattr(request, "client_id", None)
        )
        if client_id is None:
            return False
        application = get_application_model().objects.filter(client_id=client_id).first()
        if application is None:
            log.warning("sso.client_auth_refused", reason="unknown_client", client=client_id)
            return False
        request.client = application
        request.client_id = client_id
        return True

    def validate_grant_type(
        self, client_id: str, grant_type: str, client: Any, request: Any, *args: Any, **kwargs: Any
    ) -> bool:
        # The authorization code only: a node redeems it and fetches the identity at once, and
        # a refresh token would let its tokens outlive the hub session (and its logout).
        if grant_type != "authorization_code":
            return False
        return bool(
            super().validate_grant_type(client_id, grant_type, client, request, *args, **kwargs)
        )

    # prompt=none (无感切换): the view answers login_required for anyone not signed in before
    # these are asked, and nodes need no consent screen (they are the government's own portals).
    def validate_silent_login(self, request: Any) -> bool:
        return True

    def validate_silent_authorization(self, request: Any) -> bool:
        return True

    # Authorization codes carry the hub session that approved them
    def _create_authorization_code(self, request: Any, code: Any, expires: Any = None) -> Any:
        if request.code_challenge_method != "S256":
            # PKCE "plain" (also what a challenge without a method means) puts the verifier
            # itself in the browser's address bar; the library would accept it with a warning.
            raise oauth_errors.InvalidRequestError(
                description='PKCE with code_challenge_method "S256" only.', request=request
            )
        grant = super()._create_authorization_code(request, code, expires)
        sid = getattr(request, "tongban_sid", "") or ""
        SsoLogin.objects.create(
            sid=sid,
            user=request.user,
            client_id=request.client.client_id,
            code_hash=_code_hash(code["code"]),
        )
        return grant

    def validate_code(
        self, client_id: str, code: str, client: Any, request: Any, *args: Any, **kwargs: Any
    ) -> bool:
        if not super().validate_code(client_id, code, client, request, *args, **kwargs):
            return False
        login = SsoLogin.objects.filter(code_hash=_code_hash(code), client_id=client_id).first()
        request.tongban_sid = login.sid if login is not None else ""
        return True

    # Claims
    def get_claim_dict(self, request: Any) -> dict[str, Any]:
        person = Person.objects.filter(user_id=request.user.pk).first()
        if person is None:
            # Only persons sign in through the hub (the authorization view refuses others).
            return {"sub": f"user-{request.user.pk}"}
        client_id = request.client.client_id if request.client else ""
        claims = claims_for(person, client_id)
        sid = getattr(request, "tongban_sid", "")
        if sid:
            claims["sid"] = sid
        return claims

    def get_discovery_claims(self, request: Any) -> list[str]:
        return ["sub", "name", "real_name_level", "id_number_hash", "enterprises", "sid"]


class _Refused(Exception):
    def __init__(self, reason: str, client: str = "") -> None:
        super().__init__(reason)
        self.reason, self.client = reason, client


def client_assertion_check(token: str, *, audience: str, claimed: Any = None) -> str | None:
    """The node that signed this client assertion for ``audience``, or None (logged) when it
    is forged, expired, replayed, for another audience or from an unknown node."""
    try:
        return _assertion_issuer(token, audience=audience, claimed=claimed)
    except _Refused as refused:
        log.warning("sso.client_auth_refused", reason=refused.reason, client=refused.client)
        return None


def _assertion_issuer(token: str, *, audience: str, claimed: Any) -> str:
    try:
        claims = node_token_claims(token, typ=ASSERTION_TYP)
    except BadNodeToken as bad:
        raise _Refused(bad.reason) from None
    except Untrusted:
        raise _Refused("bad_signature") from None
    client = str(claims["iss"])
    if claims.get("sub") != client:
        raise _Refused("issuer_subject_mismatch")
    if claimed not in (None, "", client):
        raise _Refused("client_id_mismatch", client)
    if claims.get("aud") != audience:
        raise _Refused("wrong_audience", client)
    expires, issued, jti = claims.get("exp"), claims.get("iat"), claims.get("jti")
    if not (
        isinstance(expires, int)
        and _is_time(expires)
        and isinstance(issued, int)
        and _is_time(issued)
        and isinstance(jti, str)
        and 8 <= len(jti) <= 100
    ):
        raise _Refused("malformed", client)
    now = timezone.now()
    expires_at = dt.datetime.fromtimestamp(expires, tz=dt.UTC)
    issued_at = dt.datetime.fromtimestamp(issued, tz=dt.UTC)
    if (
        expires_at <= now
        or issued_at > now + CLOCK_SKEW
        or expires_at - issued_at > ASSERTION_MAX_AGE
    ):
        raise _Refused("expired", client)
    if not token_first_use(f"assertion:{client}:{jti}", expires_at=expires_at):
        raise _Refused("replayed", client)
    return client


def _is_time(value: int) -> bool:
    return not isinstance(value, bool) and 0 < value < 2**40


def token_first_use(jti: str, *, expires_at: dt.datetime) -> bool:
    """Record a one-time token id; False when it was seen before (a replay). Expired ids are
    forgotten by the periodic housekeeping (client.housekeeping), not on every sign-in."""
    try:
        with transaction.atomic():
            TokenSeen.objects.create(jti=jti[:200], expires_at=expires_at)
    except IntegrityError:
        return False
    return True


# The authorization request ------------------------------------------------------------------


def authorization_check(user: Any) -> None:
    """Only persons sign in to nodes through the hub: staff log in at their own node."""
    if Person.objects.filter(user_id=user.pk).exists():
        return
    raise Forbidden(
        _("Only a registered person can sign in to other provinces' portals."),
        code="sso_person_only",
    )


def session_sid(session: Any) -> str:
    """The id of this hub session (made on first use)."""
    sid = session.get(SESSION_SID)
    if not isinstance(sid, str) or not sid:
        sid = secrets.token_urlsafe(24)
        session[SESSION_SID] = sid
    return sid


# Identity release ---------------------------------------------------------------------------


def identity_release(*, user: Any, client_id: str) -> dict[str, str]:
    """What a node gets about the person whose access token it holds: the ID number and phone
    encrypted to the node's X25519 key from the trust list (``{"jwe": …}``). Refused when the
    node publishes no encryption key: the number never travels in clear."""
    person = Person.objects.filter(user_id=user.pk).first() if user is not None else None
    if person is None:
        raise NotFound(_("No registered person signed in with this token."))
    try:
        peer = services.trust_list_current().node(client_id)
    except DomainError:
        peer = None
    if peer is None or not peer.enc:
        raise Conflict(
            _("The node publishes no encryption key; the ID number is not sent in clear."),
            code="no_encryption_key",
        )
    payload = {
        "sub": str(subject_of(person)),
        "name": person.name,
        "id_number": person.id_number,
        "phone": person.phone,
        "real_name_level": int(person.real_name_level),
        "aud": client_id,
        "iat": int(timezone.now().timestamp()),
    }
    plaintext = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    audit_record(
        actor=user,
        action="sso.identity_released",
        target=person,
        changes={"client_id": client_id},
    )
    return {"jwe": keys.encrypt_for(peer.enc, plaintext)}


# Logout ------------------------------------------------------------------------------------


def on_hub_logout(*, sid: str) -> list[str]:
    """The hub session ``sid`` ended: each node it signed in to is told (after commit).
    Returns the client ids to be told."""
    if not sid:
        return []
    with transaction.atomic():
        logins = list(
            SsoLogin.objects.select_for_update().filter(sid=sid, logged_out_at__isnull=True)
        )
        if not logins:
            return []
        SsoLogin.objects.filter(pk__in=[login.pk for login in logins]).update(
            logged_out_at=timezone.now()
        )
        person = Person.objects.filter(user_id=logins[0].user_id).first()
        subject = str(subject_of(person)) if person is not None else ""
        clients = sorted({login.client_id for login in logins})
        # The access tokens the session's sign-ins got end with it (not minutes later): a node
        # can no longer fetch the person's identity with them.
        get_access_token_model().objects.filter(
            user_id=logins[0].user_id,
            application__client_id__in=clients,
            created__gte=min(login.created_at for login in logins),
        ).delete()

        def enqueue() -> None:
            from tongban.accounts.tasks import sso_backchannel_logout

            for client_id in clients:
                sso_backchannel_logout.enqueue(client_id=client_id, sid=sid, subject=subject)

        transaction.on_commit(enqueue)
    log.info("sso.hub_logout", sid=sid[:8], clients=clients)
    return clients


def logout_token(*, client_id: str, sid: str, subject: str) -> str:
    """A back-channel logout token (OpenID Connect Back-Channel Logout 1.0), signed with the
    hub's ID-token key."""
    now = int(timezone.now().timestamp())
    claims = {
        "iss": issuer(),
        "aud": client_id,
        "iat": now,
        "exp": now + LOGOUT_TOKEN_SECONDS,
        "jti": uuid.uuid4().hex,
        "events": {BACKCHANNEL_EVENT: {}},
        "sid": sid,
    }
    if subject:
        claims["sub"] = subject
    key = jwcrypto_jwk.JWK.from_pem(str(oauth2_settings.OIDC_RSA_PRIVATE_KEY).encode())
    token = jwcrypto_jwt.JWT(
        header={"alg": "RS256", "typ": "logout+jwt", "kid": key.thumbprint()}, claims=claims
    )
    token.make_signed_token(key)
    return str(token.serialize())


def backchannel_send(*, client_id: str, sid: str, subject: str) -> bool:
    """POST a logout token to the node's back-channel URI. True when the node acknowledged."""
    node = Node.objects.filter(code=client_id).first()
    base = (node.base_url if node is not None else "").rstrip("/")
    if not base.startswith(("https://", "http://")):
        log.warning("sso.backchannel_no_url", client=client_id)
        return False
    from urllib.parse import urlencode

    body = urlencode({"logout_token": logout_token(client_id=client_id, sid=sid, subject=subject)})
    try:
        status, _body = transport.call(
            "POST",
            base + BACKCHANNEL_PATH,
            body.encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            limit=4096,
        )
    except (transport.Unreachable, transport.TooLarge) as error:
        log.warning("sso.backchannel_failed", client=client_id, error=str(error))
        return False
    if status != 200:
        log.warning("sso.backchannel_refused", client=client_id, status=status)
        return False
    log.info("sso.backchannel_sent", client=client_id, sid=sid[:8])
    return True


def client_name_for_next(next_url: str) -> str:
    """On the hub's login page: the name of the node an authorization request in ``next``
    comes from ("" when it is not one, or not from a known node)."""
    from urllib.parse import parse_qs, urlsplit

    if not is_provider() or not next_url:
        return ""
    parts = urlsplit(next_url)
    if parts.netloc or not parts.path.startswith("/oidc/authorize"):
        return ""
    client_id = (parse_qs(parts.query).get("client_id") or [""])[0]
    node = Node.objects.filter(code=client_id[:6]).first() if client_id else None
    return node.name if node is not None and node.name else ""
