"""Messages between nodes: the transactional outbox, delivery with backoff and dead letters,
the idempotent inbox that applies each subject's events in order, and the evidence log.

Domains send with ``message_send`` inside the transaction of the change it reports, and
register a handler per event type (``handlers.register``) for what arrives.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.db import IntegrityError, close_old_connections, connection, transaction
from django.db.models import F, Max, Min
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from joserfc.errors import JoseError

from tongban.core import chain
from tongban.core.audit import audit_record
from tongban.core.errors import Conflict, DomainError, Forbidden, NotFound, ValidationFailed
from tongban.core.logging import get_logger
from tongban.exchange import envelope, keys, services, transport, trust
from tongban.exchange.models import (
    EvidenceEntry,
    InboxMessage,
    InboxState,
    OutboxMessage,
    OutboxState,
)

log = get_logger(__name__)

MAX_ATTEMPTS = 15
# Messages claimed at once, and sent in one request per peer (the inbox takes a batch in one
# transaction: one commit for all), up to BATCH_BYTES of tokens.
BATCH = 50
BATCH_BYTES = 4 * 1024 * 1024
# A claimed message is retried after the lease (TONGBAN_OUTBOX_LEASE_SECONDS) if its worker
# dies; the default is longer than one batch can take (BATCH sends of transport.TIMEOUT).

Handler = Callable[[dict[str, Any]], None]
_handlers: dict[str, Handler] = {}


def register_handler(event_type: str, handler: Handler) -> None:
    """What to do when an event of ``event_type`` arrives (called in the inbox transaction)."""
    _handlers[event_type] = handler


_sweeps: dict[str, Callable[[], int]] = {}


def register_sweep(name: str, work: Callable[[], int]) -> None:
    """Periodic work a domain needs around its messages (e.g. fetching the files an event
    named), run by every `tongban exchange tick`; returns how much it did."""
    _sweeps[name] = work


def sweeps() -> dict[str, Callable[[], int]]:
    return dict(_sweeps)


# Sending ------------------------------------------------------------------------------------


def message_send(*, recipient: str, type: str, subject: str, data: dict[str, Any]) -> OutboxMessage:
    """Put a signed event for ``recipient`` into the outbox, in the caller's transaction:
    it leaves only if that transaction commits, and is delivered after it."""
    now = timezone.now()
    own = settings.TONGBAN_NODE_CODE
    with transaction.atomic():
        serialise(f"outbox:{recipient}:{subject}")
        last = OutboxMessage.objects.filter(
            origin="", recipient=recipient, subject=subject
        ).aggregate(m=Max("sequence"))["m"]
        event = envelope.make_event(
            source=own,
            recipient=recipient,
            type=type,
            subject=subject,
            sequence=(last or 0) + 1,
            data=encrypt_for_node(recipient, data),
            time=now,
        )
        try:
            token = envelope.seal(event, services.signing_pair(at=now))
        except envelope.EnvelopeError as error:
            raise ValidationFailed(str(error), code="message_too_large") from None
        message = OutboxMessage.objects.create(
            event_id=uuid.UUID(event["id"]),
            recipient=recipient,
            type=type,
            subject=subject,
            sequence=event["sequence"],
            token=token,
            next_attempt_at=now,
        )
        _evidence(direction="out", peer=recipient, event_id=message.event_id, token=token)
        _wake_deliverer()
    return message


def encrypt_for_node(recipient: str, data: dict[str, Any]) -> dict[str, Any]:
    """The event's data, encrypted to the recipient's key when the trust list publishes one
    (``{"jwe": …}``): personal values in it are then readable only there, in transit and in
    every outbox, inbox and evidence log on the way. A recipient without a key gets it in
    clear (inside the signature, over TLS)."""
    try:
        peer = services.trust_list_current().node(recipient)
    except DomainError:
        peer = None
    if peer is None or not peer.enc:
        return data
    plaintext = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    try:
        return {"jwe": keys.encrypt_for(peer.enc, plaintext)}
    except (KeyError, ValueError, JoseError) as error:
        log.warning("exchange.cannot_encrypt", recipient=recipient, error=str(error))
        return data


def readable(event: dict[str, Any]) -> dict[str, Any]:
    """The event as its handler reads it: encrypted data decrypted with this node's key
    (ValidationFailed, so the event is rejected, when it cannot be)."""
    data = event.get("data")
    if not (isinstance(data, dict) and set(data) == {"jwe"} and isinstance(data["jwe"], str)):
        return event
    try:
        clear = json.loads(keys.decrypt(data["jwe"], services.enc_private_keys()))
    except (keys.CannotDecrypt, ValueError, RecursionError) as error:
        raise ValidationFailed(
            _("The event's data cannot be decrypted here: %(e)s") % {"e": error},
            code="cannot_decrypt",
        ) from None
    if not isinstance(clear, dict):
        raise ValidationFailed(_("The event's data is not an object."), code="cannot_decrypt")
    return {**event, "data": clear}


NOTIFY_CHANNEL = "tongban_outbox"


def _wake_deliverer() -> None:
    """After commit, someone sends the new message: the deliver process (on PostgreSQL a
    NOTIFY, delivered by the server at commit; on SQLite it polls), else a worker task."""
    if not settings.TONGBAN_OUTBOX_DELIVERER:
        transaction.on_commit(_schedule_delivery)
    elif connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"NOTIFY {NOTIFY_CHANNEL}")


def serialise(name: str) -> None:
    """Serialise the transactions that touch ``name`` until they commit: PostgreSQL takes a
    transaction-level advisory lock; SQLite's IMMEDIATE transactions already serialise."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [name])


def _schedule_delivery() -> None:
    from tongban.exchange.tasks import deliver_outbox

    try:
        deliver_outbox.enqueue()
    except Exception:  # the periodic sweep delivers it later
        log.exception("exchange.enqueue_failed")


def _backoff(attempts: int) -> dt.timedelta:
    longest = dt.timedelta(seconds=settings.TONGBAN_OUTBOX_MAX_BACKOFF_SECONDS)
    return min(dt.timedelta(seconds=2 ** min(attempts, 20)), longest)


def outbox_deliver(*, limit: int = 100) -> int:
    """Deliver the due messages, a batch at a time (each batch claimed for a lease longer than
    it can take, so two workers never send the same one at once and a crashed worker's claim
    runs out), one request per peer and batch. Returns how many were sent."""
    sent = 0
    while limit > 0:
        claimed = _claim(min(BATCH, limit))
        if not claimed:
            break
        limit -= len(claimed)
        routes: dict[str, list[OutboxMessage]] = {}
        urls: dict[str, str] = {}  # once per recipient and batch
        current: keys.NodeKeyPair | None = None
        for message in OutboxMessage.objects.filter(pk__in=claimed).order_by("id"):
            try:
                if message.recipient not in urls:
                    urls[message.recipient] = _route(message.recipient)
                current = current or services.signing_pair()
                sealed = _fresh_seal(message, current)
                routes.setdefault(urls[message.recipient], []).append(sealed)
            except Exception as error:  # no route, no key: that message's failure
                _failed(message, str(getattr(error, "message", error)))
        for url, group in routes.items():
            for chunk in _chunks(group):
                sent += _send_batch(url, chunk)
    return sent


def _chunks(group: list[OutboxMessage]) -> Iterator[list[OutboxMessage]]:
    chunk: list[OutboxMessage] = []
    size = 0
    for message in group:
        if chunk and size + len(message.token) + 1 > BATCH_BYTES:
            yield chunk
            chunk, size = [], 0
        chunk.append(message)
        size += len(message.token) + 1
    if chunk:
        yield chunk


def _send_batch(url: str, group: list[OutboxMessage]) -> int:
    """POST the group (one token, or several one per line); mark what the peer took as sent
    and each refusal as that message's failure. Returns how many were taken."""
    try:
        outcomes = _post(url, group)
    except Exception as error:  # the peer did not answer: every message of the group failed
        for message in group:
            _failed(message, str(getattr(error, "message", error)))
        return 0
    taken = [m.pk for m, problem in zip(group, outcomes, strict=True) if problem is None]
    OutboxMessage.objects.filter(pk__in=taken, state=OutboxState.PENDING).update(
        state=OutboxState.SENT, sent_at=timezone.now(), last_error=""
    )
    for message, problem in zip(group, outcomes, strict=True):
        if problem is not None:
            _failed(message, problem)
    return len(taken)


def _fresh_seal(message: OutboxMessage, current: keys.NodeKeyPair) -> OutboxMessage:
    """Seal the event again when the key it was sealed with no longer signs (rotated out,
    revoked): same id and sequence, a signature peers trust; the new token is logged too."""
    if message.origin:
        return message  # relayed: signed by the node it comes from, passed on unchanged
    if keys.unverified_header(message.token).get("kid") == current.kid:
        return message
    event = envelope.check_event(json.loads(keys.unverified_payload(message.token)))
    with transaction.atomic():
        message.token = envelope.seal(event, current)
        message.save(update_fields=["token"])
        _evidence(
            direction="out", peer=message.recipient, event_id=message.event_id, token=message.token
        )
    return message


def _claim(limit: int) -> list[int]:
    now = timezone.now()
    with transaction.atomic():
        due = OutboxMessage.objects.filter(state=OutboxState.PENDING, next_attempt_at__lte=now)
        if connection.vendor == "postgresql":
            due = due.select_for_update(skip_locked=True)
        ids = list(due.order_by("id").values_list("id", flat=True)[:limit])
        lease = dt.timedelta(seconds=settings.TONGBAN_OUTBOX_LEASE_SECONDS)
        OutboxMessage.objects.filter(pk__in=ids).update(next_attempt_at=now + lease)
    return ids


def _failed(message: OutboxMessage, error: str) -> None:
    attempts = message.attempts + 1
    dead = attempts >= MAX_ATTEMPTS
    # Only a message still pending: never undo a delivery another worker recorded.
    OutboxMessage.objects.filter(pk=message.pk, state=OutboxState.PENDING).update(
        attempts=F("attempts") + 1,
        last_error=error[:500],
        state=OutboxState.DEAD if dead else OutboxState.PENDING,
        next_attempt_at=timezone.now() + _backoff(attempts),
    )
    log.warning(
        "exchange.delivery_failed", message_id=message.pk, attempts=attempts, dead=dead, error=error
    )


def _route(recipient: str) -> str:
    """Where a message for ``recipient`` goes: straight to its inbox when the trust list
    publishes its URL, else to the hub's relay (the hub itself uses the URL the node
    registered with it). A node whose network reaches only the hub sends everything there."""
    if relay_only():
        return _hub_relay_url()
    try:
        return peer_url(recipient) + "/federation/v1/inbox"
    except DomainError:
        if services.is_hub():
            return _registered_url(recipient) + "/federation/v1/inbox"
        return _hub_relay_url()


def relay_only() -> bool:
    """Whether this node reaches its peers only through the hub."""
    return not services.is_hub() and settings.TONGBAN_NODE_REACH == "hub"


def registered_url(code: str) -> str:
    """On the hub: the URL node ``code`` registered (published or not)."""
    return _registered_url(code)


def hub_url() -> str:
    """The hub's base URL: as the trust list publishes it, else as configured."""
    return _hub_relay_url().removesuffix("/federation/v1/relay")


def _registered_url(code: str) -> str:
    from tongban.exchange.models import Node

    node = Node.objects.filter(code=code, is_self=False).first()
    if node is None or not node.base_url.startswith(("http://", "https://")):
        raise DomainError(
            _("No route: node %(code)s is not registered with the hub.") % {"code": code},
            code="no_route",
        )
    return node.base_url.rstrip("/")


def _hub_relay_url() -> str:
    try:
        url = peer_url(settings.TONGBAN_HUB_CODE)
    except DomainError:
        url = str(settings.TONGBAN_HUB_URL).rstrip("/")
        if not url.startswith(("http://", "https://")):
            raise DomainError(
                _("No route: the peer is not reachable directly and no hub is configured."),
                code="no_route",
            ) from None
    return url + "/federation/v1/relay"


def peer_url(recipient: str) -> str:
    """The base URL of a peer as the trust list publishes it (http or https only)."""
    try:
        peer = services.trust_list_current().node(recipient)
    except DomainError as error:
        raise DomainError(_("No route: %(e)s") % {"e": error.message}, code="no_route") from None
    if peer is None or not peer.url:
        raise DomainError(
            _("No route: node %(code)s is not on the trust list.") % {"code": recipient},
            code="no_route",
        )
    if not peer.url.startswith(("http://", "https://")):
        raise DomainError(_("No route: the peer's URL is not HTTP."), code="no_route")
    return peer.url.rstrip("/")


def _post(url: str, group: list[OutboxMessage]) -> list[str | None]:
    """Send the tokens; per message None when the peer took it, else why not. A single
    message goes alone (every node's inbox takes that); several go one per line, and the peer
    answers with a result per line."""
    body = "\n".join(message.token for message in group).encode("ascii")
    try:
        status, answer = transport.call("POST", url, body)
    except transport.Unreachable as error:
        raise DomainError(f"unreachable: {error}", code="unreachable") from None
    if len(group) == 1:
        if status in (200, 202):
            return [None]
        return [f"HTTP {status}: {answer[:300].decode('utf-8', 'replace')}"]
    if status != 200:
        raise DomainError(
            f"HTTP {status}: {answer[:300].decode('utf-8', 'replace')}", code="refused"
        )
    try:
        results = json.loads(answer)["results"]
        if not isinstance(results, list) or len(results) != len(group):
            raise ValueError("one result per message")
        return [
            None
            if isinstance(r, dict) and r.get("status") in (200, 202)
            else f"HTTP {r.get('status') if isinstance(r, dict) else '?'}: "
            f"{(r.get('code') if isinstance(r, dict) else '') or ''}"
            for r in results
        ]
    except (ValueError, KeyError, TypeError) as error:
        raise DomainError(f"the peer's answer is not understood: {error}", code="refused") from None


def receive_batch(
    tokens: list[str], receive: Callable[[str], tuple[Any, bool]]
) -> list[dict[str, Any]]:
    """Take several tokens in one transaction (one commit), each in its own savepoint: a
    refusal of one is its result, the others go on."""
    results: list[dict[str, Any]] = []
    with _one_trust_list(), transaction.atomic():
        for token in tokens:
            try:
                message, new = receive(token)
            except DomainError as error:
                results.append({"status": error.status, "code": error.code})
            else:
                results.append({"id": str(message.event_id), "status": 202 if new else 200})
    return results


@contextmanager
def _one_trust_list() -> Iterator[None]:
    """One look-up of the trust list in force for a whole batch (``resolve_key`` uses it)."""
    try:
        listed: trust.TrustList | DomainError = services.trust_list_current()
    except DomainError as error:
        listed = error
    marker = _batch_list.set(listed)
    try:
        yield
    finally:
        _batch_list.reset(marker)


# The trust list in force for the batch being received (None outside a batch).
_batch_list: contextvars.ContextVar[trust.TrustList | DomainError | None] = contextvars.ContextVar(
    "tongban_batch_trust_list", default=None
)


def deliver_forever(*, stop: Callable[[], bool], poll: float = 0.05, idle: float = 1.0) -> None:
    """Send the outbox as messages come (`tongban exchange deliver`): drain what is due,
    then wait for the next commit (PostgreSQL: LISTEN, waking at once; SQLite: a look every
    ``poll`` seconds) or for the next retry to come due."""
    listening = _listen()
    while not stop():
        try:
            sent = outbox_deliver(limit=10_000)
        except Exception as error:  # a database hiccup: log, wait, go on
            log.error("exchange.deliver_failed", error=repr(error))
            sent = 0
            close_old_connections()
            listening = _listen()
        if sent:
            continue
        due = next_due()
        wait = idle if due is None else max(0.0, min(idle, (due - timezone.now()).total_seconds()))
        if listening is not None:
            for _note in listening.notifies(timeout=wait, stop_after=1):
                break
        else:
            time.sleep(min(wait, poll))


def _listen() -> Any:
    """A PostgreSQL connection listening for new messages (None on SQLite)."""
    if connection.vendor != "postgresql":
        return None
    connection.ensure_connection()
    raw = connection.connection
    raw.autocommit = True
    raw.execute(f"LISTEN {NOTIFY_CHANNEL}")
    return raw


def next_due() -> dt.datetime | None:
    return OutboxMessage.objects.filter(state=OutboxState.PENDING).aggregate(
        m=Min("next_attempt_at")
    )["m"]


def outbox_retry(*, actor: Any, message_id: int) -> OutboxMessage:
    """Send a dead letter again (the admin's retry button)."""
    with transaction.atomic():
        message = OutboxMessage.objects.select_for_update().filter(pk=message_id).first()
        if message is None:
            raise NotFound()
        if message.state != OutboxState.DEAD:
            raise Conflict(_("Only messages that were given up can be retried."))
        message.state, message.attempts = OutboxState.PENDING, 0
        message.next_attempt_at = timezone.now()
        message.save(update_fields=["state", "attempts", "next_attempt_at"])
        audit_record(actor=actor, action="outbox.retried", target=message, changes={})
        transaction.on_commit(_schedule_delivery)
    return message


# Receiving ----------------------------------------------------------------------------------


class Untrusted(DomainError):
    status = 403
    code = "untrusted"
    default_message = _("The message is not signed by a key the trust list vouches for.")


def resolve_key(source: str, kid: str) -> dict[str, Any]:
    """The public key ``kid`` of node ``source`` if the trust list vouches for it now."""
    try:
        batch = _batch_list.get()
        if isinstance(batch, DomainError):
            raise batch
        listed = batch if batch is not None else services.trust_list_current()
        return listed.key_of(source, kid, at=timezone.now()).jwk
    except trust.TrustError as error:
        raise Untrusted(code=error.reason) from None
    except DomainError as error:
        raise Untrusted(error.message, code=error.code) from None


class BadNodeToken(ValueError):
    """A node token that does not parse (``malformed``) or whose signature does not check
    (``bad_signature``)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def node_token(claims: dict[str, Any], *, typ: str, at: dt.datetime | None = None) -> str:
    """``claims`` signed with this node's key as issuer (``iss``): a one-request proof for a
    peer (a file fetch, a client assertion at the hub)."""
    payload = json.dumps({**claims, "iss": settings.TONGBAN_NODE_CODE}, sort_keys=True).encode()
    return keys.sign(services.signing_pair(at=at), payload, typ=typ)


def node_token_claims(token: str, *, typ: str) -> dict[str, Any]:
    """The claims of a token another node signed (``node_token``), once its signature checks
    with the issuer's key the trust list vouches for. BadNodeToken when it does not parse or
    check; Untrusted when the trust list vouches for no such key. What the claims must say
    (audience, time, purpose) is the caller's to check."""
    try:
        header = keys.unverified_header(token)
        claims: Any = json.loads(keys.unverified_payload(token))
    except (keys.BadSignature, ValueError, RecursionError):
        raise BadNodeToken("malformed") from None
    if not isinstance(claims, dict) or not isinstance(claims.get("iss"), str):
        raise BadNodeToken("malformed")
    jwk = resolve_key(claims["iss"], str(header.get("kid", "")))
    try:
        keys.verify(token, jwk, typ=typ)
    except keys.BadSignature:
        raise BadNodeToken("bad_signature") from None
    return claims


def inbox_receive(*, token: str) -> tuple[InboxMessage, bool]:
    """Verify, store once and apply what is due. Returns the message and whether it was new
    (a repeat of a known event id changes nothing)."""
    event = _open(token)
    if event["recipient"] != settings.TONGBAN_NODE_CODE:
        raise Forbidden(_("This message is for another node."), code="wrong_recipient")
    event_id = _event_id(event)
    known = InboxMessage.objects.filter(event_id=event_id)
    existing = known.first() if known.exists() else None
    if existing is not None:
        if existing.state == InboxState.FAILED:
            inbox_retry(source=existing.source, subject=existing.subject)
            existing.refresh_from_db()
        return existing, False
    try:
        with transaction.atomic():
            message = _inbox_row(event, event_id, token)
            message.save(force_insert=True)
            _evidence(direction="in", peer=event["source"], event_id=event_id, token=token)
            _apply_ready(event["source"], event["subject"], arrived=message)
    except IntegrityError:
        # The same event (or another with its sequence) arrived concurrently: keep the first.
        existing = InboxMessage.objects.filter(event_id=event_id).first()
        if existing is None:
            raise Conflict(
                _("Another event already holds this sequence number."), code="sequence_taken"
            ) from None
        return existing, False
    return message, True


def _inbox_row(event: dict[str, Any], event_id: uuid.UUID, token: str) -> InboxMessage:
    return InboxMessage(
        event_id=event_id,
        source=event["source"],
        type=event["type"],
        subject=event["subject"],
        sequence=event["sequence"],
        event=event,
        token=token,
        state=InboxState.WAITING,
    )


def inbox_receive_many(tokens: list[str]) -> list[dict[str, Any]]:
    """A batch for this node's inbox, with the answers of ``receive_batch``: each token is
    verified on its own (no lock held while checking signatures); then, in one transaction,
    one look-up of the known event ids, one insert of the new events and one of their evidence,
    and each subject's events applied in order. Should two of them claim one sequence number,
    the batch is taken one by one instead (each answer then as ``inbox_receive`` gives it)."""
    results: list[dict[str, Any] | None] = [None] * len(tokens)
    opened: list[tuple[int, dict[str, Any], uuid.UUID]] = []
    with _one_trust_list():
        for index, token in enumerate(tokens):
            try:
                event = _open(token)
                if event["recipient"] != settings.TONGBAN_NODE_CODE:
                    raise Forbidden(_("This message is for another node."), code="wrong_recipient")
                opened.append((index, event, _event_id(event)))
            except DomainError as error:
                results[index] = {"status": error.status, "code": error.code}
        retry: set[tuple[str, str]] = set()
        with transaction.atomic():
            serialise("evidence")
            known = dict(
                InboxMessage.objects.filter(
                    event_id__in=[event_id for _i, _e, event_id in opened]
                ).values_list("event_id", "state")
            )
            fresh: list[tuple[int, InboxMessage]] = []
            for index, event, event_id in opened:
                if event_id in known:
                    results[index] = {"id": str(event_id), "status": 200}
                    if known[event_id] == InboxState.FAILED:
                        retry.add((event["source"], event["subject"]))
                    continue
                known[event_id] = InboxState.WAITING
                fresh.append((index, _inbox_row(event, event_id, tokens[index])))
            try:
                with transaction.atomic():
                    InboxMessage.objects.bulk_create([message for _i, message in fresh])
                if any(message.pk is None for _i, message in fresh):
                    # A database that cannot return the new rows' ids: read them back.
                    ids = dict(
                        InboxMessage.objects.filter(
                            event_id__in=[message.event_id for _i, message in fresh]
                        ).values_list("event_id", "pk")
                    )
                    for _i, message in fresh:
                        message.pk = ids[message.event_id]
            except IntegrityError:
                for index, _message in fresh:  # one by one: each gets its own answer
                    try:
                        stored, new = inbox_receive(token=tokens[index])
                    except DomainError as error:
                        results[index] = {"status": error.status, "code": error.code}
                    else:
                        results[index] = {
                            "id": str(stored.event_id),
                            "status": 202 if new else 200,
                        }
                fresh = []
            _evidence_many(
                [("in", message.source, message.event_id, message.token) for _i, message in fresh]
            )
            first: dict[tuple[str, str], InboxMessage] = {}
            for index, message in fresh:
                results[index] = {"id": str(message.event_id), "status": 202}
                key = (message.source, message.subject)
                if key not in first or message.sequence < first[key].sequence:
                    first[key] = message
            for (source, subject), message in first.items():
                _apply_ready(source, subject, arrived=message)
        for source, subject in retry:
            inbox_retry(source=source, subject=subject)
    return [result or {"status": 500, "code": "not_processed"} for result in results]


def relay_accept(*, token: str) -> tuple[OutboxMessage | InboxMessage, bool]:
    """On the hub: a node sends through the hub an event for a node it cannot reach. The
    sender's signature is checked as the inbox checks it; the token is passed on unchanged
    (the recipient checks it again), queued and delivered like the hub's own messages.
    Returns the queued message and whether it was new."""
    if not services.is_hub():
        raise Forbidden(_("Only the hub relays messages."), code="not_a_relay")
    event = _open(token)
    if event["recipient"] == settings.TONGBAN_NODE_CODE:
        return inbox_receive(token=token)
    _registered_url(event["recipient"])  # no route: refused now, not queued for ever
    event_id = _event_id(event)
    existing = OutboxMessage.objects.filter(event_id=event_id).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            message = OutboxMessage.objects.create(
                event_id=event_id,
                origin=event["source"],
                recipient=event["recipient"],
                type=event["type"],
                subject=event["subject"],
                sequence=event["sequence"],
                token=token,
                next_attempt_at=timezone.now(),
            )
            _evidence(direction="in", peer=event["source"], event_id=event_id, token=token)
            _evidence(direction="out", peer=event["recipient"], event_id=event_id, token=token)
            transaction.on_commit(_schedule_delivery)
    except IntegrityError:
        existing = OutboxMessage.objects.filter(event_id=event_id).first()
        if existing is None:
            raise Conflict(
                _("Another event already holds this sequence number."), code="sequence_taken"
            ) from None
        return existing, False
    return message, True


def inbox_retry(*, source: str, subject: str) -> None:
    """Try a subject's failed event again, then whatever waits behind it (a redelivery, the
    periodic sweep and the admin's retry all come here)."""
    with transaction.atomic():
        InboxMessage.objects.filter(source=source, subject=subject, state=InboxState.FAILED).update(
            state=InboxState.WAITING, error=""
        )
        _apply_ready(source, subject)


def inbox_sweep() -> int:
    """Retry every subject held up by a failed event (e.g. a handler that hit a lock, or an
    event type whose handler arrived with an upgrade). Returns how many subjects were tried."""
    stuck = list(
        InboxMessage.objects.filter(state=InboxState.FAILED)
        .values_list("source", "subject")
        .distinct()
    )
    for source, subject in stuck:
        try:
            inbox_retry(source=source, subject=subject)
        except Exception as error:  # one subject's trouble (e.g. at commit) spares the rest
            log.error("exchange.retry_failed", source=source, subject=subject, error=repr(error))
    return len(stuck)


def _open(token: str) -> dict[str, Any]:
    """The event in a sealed token, verified against the trust list; 403 / 400 otherwise."""
    try:
        return envelope.open_sealed(token, resolve_key)
    except (envelope.EnvelopeError, keys.BadSignature) as error:
        reason = getattr(error, "reason", "malformed")
        if reason == "bad_signature":
            raise Untrusted(code="bad_signature") from None
        raise ValidationFailed(
            _("The message is not a well-formed event: %(e)s") % {"e": error},
            code="malformed_event",
        ) from None


def _event_id(event: dict[str, Any]) -> uuid.UUID:
    if not _is_uuid(event["id"]):
        raise ValidationFailed(_("The event id must be a UUID."), code="malformed_event")
    return uuid.UUID(event["id"])


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


REJECTED = "cn.tongban.exchange.rejected"


_DONE = (InboxState.APPLIED, InboxState.REJECTED)


def _apply_ready(source: str, subject: str, arrived: InboxMessage | None = None) -> None:
    """Apply the subject's waiting events in sequence, as far as there is no gap: from
    ``arrived`` (just stored) when the event before it is done, else from the first waiting
    one after the last done. A handler's refusal (a 4xx domain error: the event can never be
    applied) rejects the event for good and tells its sender; any other failure keeps it for
    a retry and holds back the rest. (Inbox transactions are serialised by the evidence log's
    lock, so no two see the same gap.) The waiting events are read in one query, and those
    applied marked so in one statement."""
    waiting = InboxMessage.objects.select_for_update().filter(
        source=source, subject=subject, state=InboxState.WAITING
    )
    if arrived is not None:
        if arrived.sequence != 1 and not (
            InboxMessage.objects.filter(
                source=source, subject=subject, sequence=arrived.sequence - 1, state__in=_DONE
            ).exists()
        ):
            return
        expected = arrived.sequence
    else:
        done = InboxMessage.objects.filter(
            source=source, subject=subject, state__in=_DONE
        ).aggregate(m=Max("sequence"))["m"]
        expected = (done or 0) + 1
    while True:
        queue = list(waiting.filter(sequence__gte=expected).order_by("sequence")[:_APPLY_CHUNK])
        applied: list[InboxMessage] = []
        try:
            for following in queue:
                if following.sequence != expected:
                    return  # a gap: the rest waits for the events before it
                if arrived is not None and following.pk == arrived.pk:
                    following = arrived  # the caller's object shows the outcome
                if not _apply_one(following):
                    return  # held for a retry, and everything after it
                if following.state == InboxState.APPLIED:
                    applied.append(following)
                expected += 1
        finally:
            if applied:
                InboxMessage.objects.filter(pk__in=[m.pk for m in applied]).update(
                    state=InboxState.APPLIED, applied_at=applied[-1].applied_at
                )
        if len(queue) < _APPLY_CHUNK:
            return


_APPLY_CHUNK = 500


def _apply_one(message: InboxMessage) -> bool:
    """Run the event's handler; False when it failed and must be retried. The message's
    state is set in memory (APPLIED) or saved (REJECTED, FAILED)."""
    handler = _handlers.get(message.type)
    try:
        if handler is None:
            raise LookupError(f"no handler for {message.type}")
        with transaction.atomic():
            handler(readable(message.event))
    except DomainError as error:
        if not 400 <= error.status < 500:
            _hold(message, error)
            return False
        _reject(message, error)
        return True
    except Exception as error:  # a handler's failure must not lose the message
        _hold(message, error)
        return False
    message.state, message.applied_at = InboxState.APPLIED, timezone.now()
    return True


def _hold(message: InboxMessage, error: Exception) -> None:
    message.state, message.error = InboxState.FAILED, str(error)[:500]
    message.save(update_fields=["state", "error"])
    log.error("exchange.apply_failed", message_id=message.pk, error=str(error))


def _reject(message: InboxMessage, error: DomainError) -> None:
    reason = f"{error.code}: {error.message}"
    if error.fields:
        reason += " (" + "; ".join(f"{k}: {v}" for k, v in list(error.fields.items())[:5]) + ")"
    message.state, message.error = InboxState.REJECTED, reason[:500]
    message.applied_at = timezone.now()
    message.save(update_fields=["state", "error", "applied_at"])
    log.warning("exchange.rejected", message_id=message.pk, code=error.code)
    if message.type != REJECTED:  # a refusal of a refusal is not answered
        message_send(
            recipient=message.source,
            type=REJECTED,
            subject=message.subject,
            data={"event_id": str(message.event_id), "type": message.type, "reason": reason[:500]},
        )


def _on_rejected(event: dict[str, Any]) -> None:
    """The recipient of one of our messages refused it: mark it so (visible in the admin)."""
    data = event.get("data") or {}
    try:
        event_id = uuid.UUID(str(data.get("event_id")))
    except ValueError:
        raise ValidationFailed(_("The event id must be a UUID."), code="malformed_event") from None
    OutboxMessage.objects.filter(event_id=event_id, origin="", recipient=event["source"]).update(
        state=OutboxState.REJECTED, last_error=str(data.get("reason", ""))[:500]
    )


register_handler(REJECTED, _on_rejected)


# Evidence -----------------------------------------------------------------------------------


def _evidence(*, direction: str, peer: str, event_id: uuid.UUID, token: str) -> EvidenceEntry:
    serialise("evidence")
    last = EvidenceEntry.objects.order_by("-seq").values_list("seq", "hash").first()
    seq, previous = (last[0] + 1, last[1]) if last else (1, chain.GENESIS)
    entry = EvidenceEntry(
        seq=seq,
        direction=direction,
        peer=peer,
        event_id=event_id,
        token=token,
        at=timezone.now().replace(microsecond=0),
        prev_hash=previous,
    )
    entry.hash = chain.link_hash(previous, evidence_body(entry))
    entry.save()
    return entry


def _evidence_many(entries: list[tuple[str, str, uuid.UUID, str]]) -> None:
    """Several links of the evidence log at once (direction, peer, event id, token), in
    order; the caller holds the log's lock (``serialise("evidence")``)."""
    if not entries:
        return
    last = EvidenceEntry.objects.order_by("-seq").values_list("seq", "hash").first()
    seq, previous = (last[0], last[1]) if last else (0, chain.GENESIS)
    at = timezone.now().replace(microsecond=0)
    rows = []
    for direction, peer, event_id, token in entries:
        seq += 1
        entry = EvidenceEntry(
            seq=seq,
            direction=direction,
            peer=peer,
            event_id=event_id,
            token=token,
            at=at,
            prev_hash=previous,
        )
        entry.hash = previous = chain.link_hash(previous, evidence_body(entry))
        rows.append(entry)
    EvidenceEntry.objects.bulk_create(rows)


def evidence_body(entry: EvidenceEntry) -> dict[str, Any]:
    return {
        "seq": entry.seq,
        "direction": entry.direction,
        "peer": entry.peer,
        "event_id": str(entry.event_id),
        "token": entry.token,
        "at": entry.at.isoformat(),
    }


def evidence_verify() -> chain.Break | None:
    """The first broken link of this node's evidence log, or None."""
    return chain.verify(
        chain.Link(seq=e.seq, prev_hash=e.prev_hash, hash=e.hash, body=evidence_body(e))
        for e in EvidenceEntry.objects.order_by("seq").iterator()
    )
