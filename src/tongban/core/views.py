"""Operational endpoints: health, metrics, and JSON error pages for machine paths."""

from __future__ import annotations

from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

import tongban
from tongban.core import metrics
from tongban.core.logging import get_logger

log = get_logger("tongban.health")


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """200 when this node can serve: the database answers a query. 503 otherwise."""
    body: dict[str, str] = {
        "status": "ok",
        "node": settings.TONGBAN_NODE_CODE,
        "version": tongban.__version__,
        "database": connection.vendor,
    }
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as error:
        log.error("health.database_unavailable", error_class=type(error).__name__)
        connection.close_if_unusable_or_obsolete()
        body["status"] = "unavailable"
        return JsonResponse(body, status=503)
    return JsonResponse(body)


@never_cache
@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    payload, content_type = metrics.render()
    return HttpResponse(payload, content_type=content_type)
