"""/federation/v1/: what nodes ask each other (machine paths: JSON errors, no CSRF)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from tongban.core.errors import DomainError, ValidationFailed
from tongban.exchange import services, transport

JOSE = transport.JOSE
MAX_REGISTRATION_BYTES = 64 * 1024


@require_GET
def trust_list(request: HttpRequest) -> HttpResponse:
    """The hub's signed trust list (compact JWS, ``application/jose``)."""
    copy = services.trust_list_to_serve()
    response = HttpResponse(copy.token, content_type=JOSE)
    response["Cache-Control"] = "max-age=300"
    return response


@csrf_exempt
@require_POST
def register_node(request: HttpRequest) -> HttpResponse:
    """A node registers itself or its new keys with a signed registration (compact JWS)."""
    if len(request.body) > MAX_REGISTRATION_BYTES:
        raise ValidationFailed(code="too_large")
    node = services.node_register(token=request.body.decode("ascii", "replace").strip())
    body = {"code": node.code, "name": node.name, "keys": node.keys.count()}
    return JsonResponse(body, status=201, json_dumps_params={"ensure_ascii": False})


MAX_MESSAGE_BYTES = 256 * 1024


class TooLarge(DomainError):
    status = 413
    code = "too_large"
    default_message = _("The message is larger than this node accepts.")


# A batch: up to BATCH tokens, one per line (see messaging.outbox_deliver).
MAX_BATCH = 100
MAX_BATCH_BYTES = 4 * 1024 * 1024 + MAX_BATCH


def _refuse_too_large(request: HttpRequest) -> None:
    declared = str(request.META.get("CONTENT_LENGTH") or "0")
    if (declared.isdigit() and int(declared) > MAX_BATCH_BYTES) or (
        len(request.body) > MAX_BATCH_BYTES
    ):
        raise TooLarge()


def _tokens(request: HttpRequest) -> list[str]:
    """One token, or several one per line; each within the size of one message."""
    lines = request.body.decode("ascii", "replace").split("\n")
    if len(lines) > MAX_BATCH or any(len(line) > MAX_MESSAGE_BYTES for line in lines):
        raise TooLarge()
    tokens = [line.strip() for line in lines if line.strip()]
    return tokens or [""]


@csrf_exempt
@require_POST
def inbox(request: HttpRequest) -> HttpResponse:
    """A peer delivers a signed event (compact JWS). 202 when stored (applied now or once
    the events before it arrive), 200 for a repeat, 4xx (nothing stored) otherwise."""
    _refuse_too_large(request)
    from tongban.exchange import messaging

    tokens = _tokens(request)
    if len(tokens) > 1:
        results = messaging.inbox_receive_many(tokens)
        return JsonResponse({"results": results})
    message, new = messaging.inbox_receive(token=tokens[0])
    return JsonResponse(
        {"id": str(message.event_id), "state": message.state}, status=202 if new else 200
    )


@csrf_exempt
@require_POST
def relay(request: HttpRequest) -> HttpResponse:
    """On the hub: a signed event for a node the sender cannot reach directly. 202 when
    queued, 200 for a repeat, 4xx (nothing stored) otherwise."""
    _refuse_too_large(request)
    from tongban.exchange import messaging

    tokens = _tokens(request)
    if len(tokens) > 1:
        results = messaging.receive_batch(tokens, lambda t: messaging.relay_accept(token=t))
        return JsonResponse({"results": results})
    message, new = messaging.relay_accept(token=tokens[0])
    return JsonResponse({"id": str(message.event_id)}, status=202 if new else 200)


@require_GET
def blob(request: HttpRequest, kind: str, ref: str) -> HttpResponse:
    """A file a peer asks for with a signed request token (see blobs.py)."""
    from tongban.exchange import blobs

    content, content_type = blobs.serve(
        authorization=request.headers.get("Authorization", ""), kind=kind, ref=ref
    )
    response = HttpResponse(content, content_type=content_type)
    response["Cache-Control"] = "no-store"
    return response


@require_GET
def relay_blob(request: HttpRequest, node: str, kind: str, ref: str) -> HttpResponse:
    """On the hub: a file another node asks of a node it cannot reach directly."""
    from tongban.exchange import blobs

    status, content, content_type = blobs.relay(
        authorization=request.headers.get("Authorization", ""), node=node, kind=kind, ref=ref
    )
    response = HttpResponse(
        content, status=status, content_type=content_type or "application/octet-stream"
    )
    response["Cache-Control"] = "no-store"
    return response
