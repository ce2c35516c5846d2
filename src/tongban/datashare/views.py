"""The node-to-node endpoints of data sharing (under /federation/v1/datashare/): a peer's
signed call, answered with a signed answer; this node's signed resource catalogue."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from tongban.core.errors import DomainError, error_response
from tongban.datashare import services
from tongban.exchange.transport import JOSE

MAX_CALL_BYTES = 256 * 1024


@csrf_exempt
@require_POST
def call(request: HttpRequest) -> HttpResponse:
    if len(request.body) > MAX_CALL_BYTES:
        return error_response(DomainError(code="too_large"))
    try:
        signed = services.call_receive(token=request.body.decode("ascii", "replace").strip())
    except DomainError as error:
        return error_response(error)
    return HttpResponse(signed, content_type=JOSE)


@require_GET
def catalogue(request: HttpRequest) -> HttpResponse:
    try:
        signed = services.catalogue_document()
    except DomainError as error:  # no identity or no signing key yet
        return error_response(error)
    return HttpResponse(signed, content_type=JOSE)
