"""Node identity and the trust list: this node's keys, the hub's registry of nodes, and the
signed list every node fetches, caches and trusts.

The hub (100000) registers nodes — a new node with a one-time enrolment code and proof that it
holds the key it registers; a known node by signing with a key the hub already trusts (that is
how rotated keys reach everyone) — and issues a signed trust list of all nodes and keys.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeGuard

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import IntegrityError, transaction
from django.db.models import Max, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tongban.core.audit import SYSTEM, audit_record
from tongban.core.errors import Conflict, DomainError, Forbidden, ValidationFailed
from tongban.core.logging import get_logger
from tongban.core.text import forbidden_paths
from tongban.exchange import keys, trust
from tongban.exchange.models import Enrolment, Node, NodeKey, TrustListCopy

log = get_logger(__name__)

REGISTRATION_TYP = "tongban-registration+jws"
# A registration older or newer than this is refused (a captured one cannot be replayed later).
REGISTRATION_SKEW = dt.timedelta(minutes=5)
ENROLMENT_HOURS = 72
# ASCII digits only: str.isdigit() and \d also take full-width and other scripts' digits.
_NODE_CODE = re.compile(r"[0-9]{6}")


# Licence issuers this node vouches for (see ``issuer_source_register``).
IssuerSource = Callable[[], list[dict[str, Any]]]
_issuer_sources: list[IssuerSource] = []


def issuer_source_register(source: IssuerSource) -> None:
    """A domain that issues signed documents (licences) names its issuers and their public
    keys here; they travel in this node's registration and the hub publishes them in the trust
    list, so every node — and any offline verifier holding the list — can check what they
    sign. Each entry: ``{"code", "name", "keys": [{"kid", "jwk", "not_before", "not_after",
    "revoked"}]}`` with P-256 public keys."""
    if source not in _issuer_sources:
        _issuer_sources.append(source)


def issuer_entries() -> list[dict[str, Any]]:
    """This node's issuers as its sources name them now, in a stable order."""
    entries = [entry for source in _issuer_sources for entry in source()]
    return sorted(entries, key=lambda entry: str(entry.get("code", "")))


def _is_node_code(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and _NODE_CODE.fullmatch(value) is not None


def is_hub() -> bool:
    return bool(settings.TONGBAN_NODE_CODE == settings.TONGBAN_HUB_CODE)


def _key_dir() -> Path:
    return Path(settings.TONGBAN_NODE_KEY_DIR)


# This node's identity -----------------------------------------------------------------------


def node_identity_ensure(*, name: str, base_url: str | None = None) -> tuple[Node, bool]:
    """This node's record and a usable signing key; creates them when missing (``tongban
    init``). Returns the node and whether a key was created."""
    url = base_url if base_url is not None else settings.TONGBAN_NODE_URL
    with transaction.atomic():
        node = Node.objects.select_for_update().filter(is_self=True).first()
        if node is None:
            node = Node.objects.filter(code=settings.TONGBAN_NODE_CODE).first() or Node(
                code=settings.TONGBAN_NODE_CODE
            )
            node.is_self = True
        elif node.code != settings.TONGBAN_NODE_CODE:
            raise Conflict(
                _("This data directory belongs to node %(code)s.") % {"code": node.code},
                code="wrong_node",
            )
        node.name, node.base_url = name, url
        node.save()
        _enc_ensure(node)
        if _usable_pairs(node, timezone.now()):
            return node, False
        pair = keys.generate(_key_dir())
        key = NodeKey.objects.create(
            node=node, kid=pair.kid, jwk=pair.public_jwk(), not_before=timezone.now()
        )
        audit_record(actor=SYSTEM, action="node_key.created", target=key, changes={})
    log.info("exchange.node_key_created", kid=pair.kid)
    return node, True


def _enc_ensure(node: Node) -> None:
    """This node has an encryption key (X25519) and publishes its newest one."""
    found = keys.enc_keys(_key_dir())
    published = (node.enc_jwk or {}).get("kid")
    if published in found:
        return
    key = keys.generate_enc(_key_dir()) if not found else None
    newest = key or max(
        found.values(),
        key=lambda k: (_key_dir() / keys.ENC_DIR / f"{k.thumbprint()}.pem").stat().st_mtime,
    )
    node.enc_jwk = keys.enc_public_jwk(newest)
    node.save(update_fields=["enc_jwk"])
    _enc_private.clear()


# This node's encryption keys by kid, read once (a kid's file never changes).
_enc_private: dict[str, Any] = {}


def enc_private_keys() -> dict[str, Any]:
    if not _enc_private:
        _enc_private.update(keys.enc_keys(_key_dir()))
    return _enc_private


def self_node() -> Node:
    node = Node.objects.filter(is_self=True).first()
    if node is None:
        raise Conflict(_("This node has no identity yet; run `tongban init`."), code="no_identity")
    return node


def _usable_pairs(node: Node, at: dt.datetime, *, first: bool = False) -> list[keys.NodeKeyPair]:
    """This node's valid keys whose private files are here and sound, newest first (among
    keys valid from the same instant, the one made last; only that one if ``first``). A
    damaged or too open file is logged and skipped, so one bad old key does not stop the node
    from signing."""
    on_disk = set(keys.kids_on_disk(_key_dir()))
    pairs = []
    for key in node.keys.filter(_valid_at(at)).order_by("-not_before", "-pk"):
        if key.kid not in on_disk:
            continue
        try:
            pairs.append(keys.load(_key_dir(), key.kid))
        except keys.KeyFileError as error:
            log.error("exchange.key_file_unusable", kid=key.kid, error=str(error))
            continue
        if first:
            break
    return pairs


def _valid_at(at: dt.datetime) -> Q:
    return Q(revoked_at__isnull=True, not_before__lte=at) & (
        Q(not_after__isnull=True) | Q(not_after__gt=at)
    )


def signing_pair(*, at: dt.datetime | None = None) -> keys.NodeKeyPair:
    """The key this node signs with now: the newest valid one whose private file is here."""
    pairs = _usable_pairs(self_node(), at or timezone.now(), first=True)
    if not pairs:
        raise Conflict(
            _("This node has no valid signing key; run `tongban exchange keys --rotate`."),
            code="no_signing_key",
        )
    return pairs[0]


def node_key_rotate(
    *, actor: Any, activate_in: dt.timedelta = dt.timedelta(0), grace: dt.timedelta | None = None
) -> NodeKey:
    """A new signing key, used from ``now + activate_in`` (time for the trust list to carry it
    to every peer); the keys in use now keep verifying for ``grace`` after that, then expire."""
    grace = grace if grace is not None else dt.timedelta(days=settings.TONGBAN_KEY_GRACE_DAYS)
    if activate_in < dt.timedelta(0) or grace < dt.timedelta(0):
        raise ValidationFailed(fields={"activate_in": _("Must not be negative.")})
    node = self_node()
    starts = timezone.now() + activate_in
    pair = keys.generate(_key_dir())
    with transaction.atomic():
        key = NodeKey.objects.create(
            node=node, kid=pair.kid, jwk=pair.public_jwk(), not_before=starts
        )
        ends = starts + grace
        for old in node.keys.select_for_update().exclude(pk=key.pk).filter(_valid_at(starts)):
            if old.not_after is None or old.not_after > ends:
                old.not_after = ends
                old.save(update_fields=["not_after"])
        audit_record(
            actor=actor,
            action="node_key.rotated",
            target=key,
            changes={"not_before": starts.isoformat(), "old_keys_until": ends.isoformat()},
        )
    log.info("exchange.node_key_rotated", kid=pair.kid)
    return key


def node_key_revoke(*, actor: Any, kid: str) -> NodeKey:
    """Stop trusting one of this node's keys at once (a leaked key). Register afterwards with
    another key the hub trusts (rotate and register first), or re-enrol with a new enrolment
    code if the revoked key was the only one."""
    node = self_node()
    with transaction.atomic():
        key = node.keys.select_for_update().filter(kid=kid).first()
        if key is None:
            raise ValidationFailed(fields={"kid": _("This node has no such key.")})
        if key.revoked_at is None:
            key.revoked_at = timezone.now()
            key.save(update_fields=["revoked_at"])
            audit_record(actor=actor, action="node_key.revoked", target=key, changes={})
    return key


def _key_entries(node: Node) -> list[dict[str, Any]]:
    return [
        {
            "kid": key.kid,
            "jwk": key.jwk,
            "not_before": key.not_before.isoformat(),
            "not_after": key.not_after.isoformat() if key.not_after else None,
            "revoked": key.revoked_at is not None,
        }
        for key in node.keys.order_by("not_before")
    ]


def _registration_pair(node: Node, at: dt.datetime) -> keys.NodeKeyPair:
    """The key to sign a registration with: one the hub already trusts for this node, as the
    trust list in force shows. Right after a rotation the newest key is one the hub has not
    seen yet, and a registration signed with it would be refused."""
    pairs = _usable_pairs(node, at)
    if not pairs:
        return signing_pair(at=at)  # raises no_signing_key
    try:
        listed = trust_list_current(at=at)
    except DomainError:
        return pairs[0]  # a new node: no list names it yet
    entry = listed.node(node.code)
    known = {key.kid for key in entry.keys if key.valid_at(at)} if entry else set()
    return next((pair for pair in pairs if pair.kid in known), pairs[0])


def registration_token(*, enrolment: str | None = None) -> str:
    """This node's registration for the hub: code, name, URL and keys, signed with a key the
    hub already trusts (a new node: with its newest key, and the enrolment code inside)."""
    node = self_node()
    _enc_ensure(node)
    payload = {
        "code": node.code,
        "name": node.name,
        "url": node.base_url,
        "enc": node.enc_jwk,
        "reach": "hub" if settings.TONGBAN_NODE_REACH == "hub" else "direct",
        "keys": _key_entries(node),
        "issuers": issuer_entries(),
        "time": timezone.now().isoformat(),
        **({"enrolment": enrolment} if enrolment else {}),
    }
    body = json.dumps(payload, ensure_ascii=False, sort_keys=True).encode("utf-8")
    return keys.sign(_registration_pair(node, timezone.now()), body, typ=REGISTRATION_TYP)


# On the hub: enrolment, registration, the trust list ------------------------------------------


def _require_hub() -> None:
    if not is_hub():
        raise Forbidden(_("Only the national hub does this."), code="not_the_hub")


def _hash(code: str) -> str:
    return hashlib.sha256(code.encode("utf-8")).hexdigest()


def enrolment_create(*, actor: Any, node_code: str, hours: int = ENROLMENT_HOURS) -> str:
    """A one-time code for the operator of node ``node_code`` to register it with the hub.
    Only its hash is kept; the code is shown once."""
    _require_hub()
    if not _is_node_code(node_code):
        raise ValidationFailed(fields={"node_code": _("A node code has six digits.")})
    if node_code == settings.TONGBAN_HUB_CODE:
        raise ValidationFailed(fields={"node_code": _("The hub does not enrol itself.")})
    code = secrets.token_urlsafe(24)
    with transaction.atomic():
        enrolment = Enrolment.objects.create(
            node_code=node_code,
            token_hash=_hash(code),
            expires_at=timezone.now() + dt.timedelta(hours=hours),
        )
        audit_record(
            actor=actor, action="enrolment.created", target=enrolment, changes={"node": node_code}
        )
    return code


def node_register(*, token: str) -> Node:
    """Register a node or update its keys from its signed registration (see
    ``registration_token``); issues a new trust list.

    A known node signs with a key the hub trusts for it. A new node signs with a key it
    registers and brings an enrolment code; so does a known node that holds no trusted key any
    more (its key directory lost, its only known key revoked)."""
    _require_hub()
    try:
        header = keys.unverified_header(token)
        claimed = json.loads(keys.unverified_payload(token))
    except (keys.BadSignature, ValueError, RecursionError):
        raise ValidationFailed(_("The registration is not a signed JSON object.")) from None
    if not isinstance(claimed, dict) or header.get("typ") != REGISTRATION_TYP:
        raise ValidationFailed(_("The registration is not a signed JSON object."))
    code = claimed.get("code")
    entries = claimed.get("keys")
    kid = header.get("kid")
    if not _is_node_code(code) or not isinstance(entries, list):
        raise ValidationFailed(fields={"code": _("A node code has six digits.")})
    if not isinstance(kid, str):
        raise ValidationFailed(_("The registration is not a signed JSON object."))
    bad = list(forbidden_paths(claimed))
    if bad:
        # NUL and other control characters would reach the database (PostgreSQL refuses NUL).
        raise ValidationFailed(
            _("The request contains characters that cannot be processed."),
            code="invalid_characters",
            fields={name: _("Remove control characters from this value.") for name in bad[:20]},
        )
    now = timezone.now()
    with transaction.atomic():
        node = Node.objects.select_for_update().filter(code=code).first()
        signer = node.keys.filter(_valid_at(now), kid=kid).first() if node is not None else None
        enrolling = signer is None
        if signer is not None:
            jwk = signer.jwk
        elif node is not None and node.keys.exists() and "enrolment" not in claimed:
            raise Forbidden(_("Signed with a key the hub does not trust for this node."))
        else:
            jwk = next(
                (e.get("jwk") for e in entries if isinstance(e, dict) and e.get("kid") == kid),
                None,
            )
            if not isinstance(jwk, dict):
                raise Forbidden(_("A new node signs its registration with a key it registers."))
        try:
            payload = json.loads(keys.verify(token, jwk, typ=REGISTRATION_TYP))
        except (keys.BadSignature, ValueError, RecursionError):
            raise Forbidden(_("The registration's signature does not verify.")) from None
        try:
            sent = trust.parse_time(payload.get("time"), "time")
        except trust.TrustError:
            sent = None
        if sent is None or abs(now - sent) > REGISTRATION_SKEW:
            raise Forbidden(_("The registration is too old or from the future."))
        if node is not None and node.last_registration_at and sent <= node.last_registration_at:
            # A captured registration replayed within the window would roll the node back.
            raise Forbidden(_("This registration is not newer than the last one accepted."))
        if enrolling:
            _use_enrolment(code, payload.get("enrolment"), now)
        node = _store_registration(node, payload, now)
        node.last_registration_at = sent
        node.save(update_fields=["last_registration_at"])
        if enrolling and not node.keys.filter(_valid_at(now), kid=kid).exists():
            # An enrolling node proves it holds a key the hub will trust: not a revoked, expired
            # or not yet valid one.
            raise Forbidden(_("A new node signs its registration with a key it registers."))
        audit_record(actor=SYSTEM, action="node.registered", target=node, changes={"kid": kid})
    trust_list_issue()
    log.info("exchange.node_registered", node=code)
    return node


def _use_enrolment(code: str, given: Any, now: dt.datetime) -> None:
    enrolment = (
        Enrolment.objects.select_for_update()
        .filter(token_hash=_hash(given if isinstance(given, str) else ""), node_code=code)
        .first()
    )
    if enrolment is None or enrolment.used_at is not None or enrolment.expires_at <= now:
        raise Forbidden(_("A new node needs a valid enrolment code from the hub."))
    enrolment.used_at = now
    enrolment.save(update_fields=["used_at"])


def _store_registration(node: Node | None, payload: dict[str, Any], now: dt.datetime) -> Node:
    try:
        parsed = trust.parse(
            {
                "issuer": "-",
                "serial": 0,
                "issued_at": now.isoformat(),
                "expires_at": now.isoformat(),
                "nodes": [payload],
            }
        ).nodes[0]
    except trust.TrustError as error:
        raise ValidationFailed(_("The registration is malformed: %(e)s") % {"e": error}) from None
    try:
        # Peers send messages to this URL: nothing but http(s), and it must fit the column.
        URLValidator(schemes=["http", "https"])(parsed.url)
        if len(parsed.url) > 255:
            raise ValidationError("too long")
    except ValidationError:
        raise ValidationFailed(fields={"url": _("Enter an http:// or https:// URL.")}) from None
    node = node or Node(code=parsed.code)
    node.name = parsed.name[:128]
    node.base_url = parsed.url
    node.relay_only = payload.get("reach") == "hub"
    if "enc" in payload:
        enc = keys.enc_public_members(payload["enc"])
        if enc is None and payload["enc"]:
            raise ValidationFailed(fields={"enc": _("Expected an X25519 public key (JWK).")})
        node.enc_jwk = enc or {}
    if "issuers" in payload:
        node.issuers = _checked_issuers(node.code, payload["issuers"])
    node.registered_at = node.registered_at or now
    node.save()
    for entry in parsed.keys:
        if keys.kid_of(entry.jwk) != entry.kid:
            raise ValidationFailed(fields={"keys": _("A key id does not match its key.")})
        key, created = NodeKey.objects.get_or_create(
            kid=entry.kid,
            defaults={
                "node": node,
                # Only the public members: a private "d" sent by mistake is never stored, nor
                # published in the trust list.
                "jwk": keys.public_members(entry.jwk),
                "not_before": entry.not_before,
                "not_after": entry.not_after,
                "revoked_at": now if entry.revoked else None,
            },
        )
        if not created:
            if key.node_id != node.pk:
                raise Conflict(_("This key belongs to another node."))
            # A node may shorten its keys' validity or revoke them, never revive them.
            if entry.not_after and (key.not_after is None or entry.not_after < key.not_after):
                key.not_after = entry.not_after
            if entry.revoked and key.revoked_at is None:
                key.revoked_at = now
            key.save(update_fields=["not_after", "revoked_at"])
    return node


def _checked_issuers(node_code: str, raw: Any) -> list[dict[str, Any]]:
    """A node's licence issuers as they may be published: well formed, public P-256 keys only,
    each key id its key's thumbprint, and every issuer in the node's own province (the issuer
    code is USCC-shaped: characters 3–8 are the registering division). A node cannot vouch for
    another province's authorities."""
    try:
        issuers = trust.parse_issuers(raw)
    except trust.TrustError as error:
        raise ValidationFailed(fields={"issuers": str(error)}) from None
    checked = []
    # A key another node already lists cannot be listed again (it would speak for two issuers).
    seen = {
        str(key.get("kid"))
        for listed in Node.objects.exclude(code=node_code).values_list("issuers", flat=True)
        for entry in listed or []
        for key in entry.get("keys", [])
    }
    for issuer in issuers:
        code = issuer.code
        if not (len(code) == 18 and code.isascii() and code.isalnum() and code == code.upper()):
            raise ValidationFailed(
                fields={"issuers": _("An issuer code has 18 letters and digits.")}
            )
        if code[2:4] != node_code[:2]:
            raise ValidationFailed(
                fields={"issuers": _("A node lists only the issuers of its own province.")}
            )
        public_keys = []
        for key in issuer.keys:
            public = keys.ec_public_members(key.jwk)
            if public is None or public["kid"] != key.kid or key.kid in seen:
                raise ValidationFailed(
                    fields={"issuers": _("An issuer key is a P-256 key listed once, by its id.")}
                )
            seen.add(key.kid)
            public_keys.append(
                trust.TrustedKey(key.kid, public, key.not_before, key.not_after, key.revoked)
            )
        issuer_entry = trust.TrustedIssuer(code, issuer.name[:128], tuple(public_keys))
        checked.append(trust.issuer_document(issuer_entry))
    return checked


def trust_list_issue(*, at: dt.datetime | None = None) -> TrustListCopy:
    """Sign and store a new trust list of every registered node (the hub included)."""
    _require_hub()
    now = at or timezone.now()
    for attempt in range(3):
        try:
            copy = _trust_list_sign(now)
            break
        except IntegrityError:
            # Another request issued the same serial at the same moment (two registrations,
            # or two first fetches of the day): take the next one.
            if attempt == 2:
                raise
    log.info("exchange.trust_list_issued", serial=copy.serial)
    return copy


def _trust_list_sign(now: dt.datetime) -> TrustListCopy:
    with transaction.atomic():
        serial = (TrustListCopy.objects.aggregate(m=Max("serial"))["m"] or 0) + 1
        nodes = []
        for node in Node.objects.prefetch_related("keys").order_by("code"):
            entries = [
                trust.TrustedKey(
                    kid=key.kid,
                    jwk=key.jwk,
                    not_before=key.not_before,
                    not_after=key.not_after,
                    revoked=key.revoked_at is not None,
                )
                for key in node.keys.all()
                # Long-expired keys drop out; revoked ones stay listed as revoked for ever, so
                # nobody who still has one configured starts trusting it again.
                if key.revoked_at is not None
                or key.not_after is None
                or key.not_after > now - dt.timedelta(days=30)
            ]
            if entries:
                # A node reached only through the hub is listed without its URL: peers send
                # to the hub's relay.
                url = "" if node.relay_only else node.base_url
                issuers = (
                    issuer_entries() if node.is_self else node.issuers  # the hub's own: live
                )
                nodes.append(
                    trust.TrustedNode(
                        node.code,
                        node.name,
                        url,
                        tuple(entries),
                        node.enc_jwk or None,
                        trust.parse_issuers(issuers or []),
                    )
                )
        listed = trust.TrustList(
            issuer=settings.TONGBAN_HUB_CODE,
            serial=serial,
            issued_at=now,
            expires_at=now + dt.timedelta(days=settings.TONGBAN_TRUST_LIST_DAYS),
            nodes=tuple(nodes),
        )
        return TrustListCopy.objects.create(
            serial=serial,
            issuer=listed.issuer,
            token=trust.sign_list(listed, signing_pair(at=now)),
            issued_at=listed.issued_at,
            expires_at=listed.expires_at,
        )


def trust_list_to_serve() -> TrustListCopy:
    """On the hub: the newest list, re-issued once a day so nodes never hold one near
    expiry."""
    _require_hub()
    latest = TrustListCopy.objects.order_by("-serial").first()
    if latest is None or latest.issued_at <= timezone.now() - dt.timedelta(days=1):
        return trust_list_issue()
    return latest


# On every node: the list in force ----------------------------------------------------------


def pinned_hub_keys() -> list[dict[str, Any]]:
    """The hub keys configured out of band (a JWK set file), plus the hub's keys named in the
    newest list this node verified (so a hub key rotation needs no reconfiguration), less the
    hub keys that list marks revoked (a leaked hub key stops signing lists even where it is
    still configured)."""
    return _hub_keys_after(_latest_verified(), at=timezone.now())


def _configured_hub_keys() -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    path = Path(settings.TONGBAN_HUB_KEYS_FILE)
    if path.exists():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError):
            log.error("exchange.hub_keys_unreadable", path=str(path))
            data = {}
        listed = data.get("keys") if isinstance(data, dict) else None
        if not isinstance(listed, list):
            log.error("exchange.hub_keys_unreadable", path=str(path))
            listed = []
        found.extend(k for k in listed if isinstance(k, dict))
    if is_hub():
        found.extend(k.jwk | {"kid": k.kid} for k in self_node().keys.all())
    return found


def _hub_keys_after(previous: trust.TrustList | None, *, at: dt.datetime) -> list[dict[str, Any]]:
    """The hub keys to verify the next list with, given the last verified one.

    The configured (pinned) keys only bootstrap: once a list has been verified, a hub key is
    trusted only while that list names it valid — so a revoked or expired hub key that is
    still in the pinned file signs nothing. (The hub itself also trusts its own valid keys.)
    The hub rotates its key with an activation delay, so lists carry the next key first."""
    if previous is None:
        return _configured_hub_keys()
    own = (
        [k.jwk | {"kid": k.kid} for k in self_node().keys.filter(_valid_at(at))] if is_hub() else []
    )
    return own + trust.hub_keys_in(previous, at=at)


# Verified lists by (serial, hash of the token): a serial alone is not the list (another hub, a
# database restored or re-created, a test's rolled-back transaction can reuse one).
_verified: dict[tuple[int, str], trust.TrustList] = {}


def _cache_key(copy: TrustListCopy) -> tuple[int, str]:
    return copy.serial, hashlib.sha256(copy.token.encode("utf-8")).hexdigest()


def _verify_copy(copy: TrustListCopy, hub_keys: list[dict[str, Any]]) -> trust.TrustList:
    key = _cache_key(copy)
    if key not in _verified:
        _verified[key] = trust.verify_list(
            copy.token, hub_code=settings.TONGBAN_HUB_CODE, hub_keys=hub_keys, at=copy.issued_at
        )
    return _verified[key]


def _latest_verified() -> trust.TrustList | None:
    """The newest stored list, verified again when this process has not seen it yet.

    A list is stored only after verification, but may be signed by a hub key that only an
    earlier list named (a hub key rotation): on a cold cache, walk back to the newest list the
    configured keys verify, then forward, each list vouching for the hub keys of the next."""
    copies = TrustListCopy.objects.order_by("-serial")
    newest = copies.first()
    if newest is None:
        return None
    cached = _verified.get(_cache_key(newest))
    if cached is not None:
        return cached
    configured = _configured_hub_keys()
    unverified: list[TrustListCopy] = []
    listed: trust.TrustList | None = None
    for copy in copies.iterator():
        try:
            listed = _verify_copy(copy, configured)
            break
        except trust.TrustError:
            unverified.append(copy)
    for copy in reversed(unverified):
        if listed is None:
            break
        try:
            listed = _verify_copy(copy, _hub_keys_after(listed, at=copy.issued_at))
        except trust.TrustError:
            listed = None
    if listed is None:
        log.error("exchange.cached_trust_list_unverifiable", serial=newest.serial)
    return listed


def trust_list_current(*, at: dt.datetime | None = None) -> trust.TrustList:
    """The trust list in force: the newest verified one, until it expires (then every message
    is refused until a fresh one arrives)."""
    listed = _latest_verified()
    now = at or timezone.now()
    if listed is None:
        raise DomainError(_("This node has no trust list yet."), code="no_trust_list")
    if now >= listed.expires_at:
        raise DomainError(
            _("The trust list has expired; fetch a new one."), code="trust_list_expired"
        )
    return listed


def trust_list_accept(*, token: str) -> TrustListCopy:
    """Store a trust list fetched from the hub, once verified; never an older serial than the
    newest held (no rollback to a list that still trusted a revoked key)."""
    now = timezone.now()
    try:
        listed = trust.verify_list(
            token, hub_code=settings.TONGBAN_HUB_CODE, hub_keys=pinned_hub_keys(), at=now
        )
    except trust.TrustError as error:
        raise ValidationFailed(
            _("The trust list was refused: %(reason)s") % {"reason": error.reason},
            code="trust_list_refused",
        ) from None
    with transaction.atomic():
        newest = TrustListCopy.objects.select_for_update().order_by("-serial").first()
        if newest is not None and listed.serial < newest.serial:
            raise Conflict(
                _("An older trust list than the one held was refused."), code="trust_list_older"
            )
        if newest is not None and listed.serial == newest.serial:
            if newest.token != token:
                # The hub signs deterministically (Ed25519): one serial, one token. Two lists
                # under one serial mean a hub restored from backup, or a forgery.
                raise Conflict(
                    _("A different trust list with the serial held was refused."),
                    code="trust_list_conflict",
                )
            return newest
        copy = TrustListCopy.objects.create(
            serial=listed.serial,
            issuer=listed.issuer,
            token=token,
            issued_at=listed.issued_at,
            expires_at=listed.expires_at,
        )
        _verified[_cache_key(copy)] = listed
        _mirror_peers(listed)
    log.info("exchange.trust_list_accepted", serial=listed.serial)
    return copy


def _mirror_peers(listed: trust.TrustList) -> None:
    """Keep the peers of the list as Node rows (for the admin and routing)."""
    for peer in listed.nodes:
        node, _created = Node.objects.get_or_create(
            code=peer.code, defaults={"name": peer.name, "base_url": peer.url}
        )
        if not node.is_self and (node.name, node.base_url) != (peer.name, peer.url):
            node.name, node.base_url = peer.name, peer.url
            node.save(update_fields=["name", "base_url", "updated_at"])
