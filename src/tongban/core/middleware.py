"""Request logging and metrics, and the JSON shape for domain errors raised in plain views."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

import structlog
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _

from tongban.core import metrics
from tongban.core.errors import (
    DomainError,
    ValidationFailed,
    error_response,
    machine_error_response,
)
from tongban.core.logging import get_logger
from tongban.core.text import forbidden_paths, has_forbidden_characters

log = get_logger("tongban.http")
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_QUIET_PATHS = frozenset({"/healthz", "/metrics"})
MACHINE_PREFIXES = ("/api/", "/federation/")


class RequestLogMiddleware:
    """Binds a request id to every log line of the request, logs one ``http.request`` event
    (method, route pattern, status, duration: no query strings, which may carry personal data)
    and records the request metrics."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
        finally:
            structlog.contextvars.unbind_contextvars("request_id")
        elapsed = time.perf_counter() - started
        match = request.resolver_match
        route = "/" + match.route if match is not None and match.route else "<unmatched>"
        metrics.observe_request(
            method=request.method or "", route=route, status=response.status_code, seconds=elapsed
        )
        if request.path not in _QUIET_PATHS:
            log.info(
                "http.request",
                request_id=request_id,
                method=request.method,
                route=route,
                status=response.status_code,
                duration_ms=round(elapsed * 1000, 2),
            )
        response["X-Request-ID"] = request_id
        return response


class MachineInputMiddleware:
    """Refuses any path, query parameter, form field or (on machine paths) JSON string with
    characters no field accepts (NUL, other control characters, lone surrogates), before a view
    sees it: such input would otherwise fail deep in the database driver as a 500. Machine
    paths get the JSON error, pages the error page."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        machine = request.path.startswith(MACHINE_PREFIXES)
        bad = ["path"] if has_forbidden_characters(request.path) else []
        length = str(request.META.get("CONTENT_LENGTH") or "0")
        if not length.isascii() or not length.isdigit():
            bad.append("Content-Length")  # Django would fail on it later, as a 500
        bad.extend(_bad_names(request.GET))
        if machine and request.content_type == "application/json" and request.body:
            try:
                body = json.loads(request.body)
            except (ValueError, RecursionError):
                body = None  # the API reports unparsable bodies itself
            bad.extend(forbidden_paths(body))
        elif not machine and request.method == "POST" and request.content_type in _FORMS:
            bad.extend(_bad_names(request.POST))
        if not bad:
            return self.get_response(request)
        error = ValidationFailed(
            _("The request contains characters that cannot be processed."),
            code="invalid_characters",
            fields={name: _("Remove control characters from this value.") for name in bad},
        )
        if machine:
            return error_response(error)
        return render(
            request,
            "errors/domain_error.html",
            {"message": error.message, "fields": error.fields},
            status=error.status,
        )


_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")


def _bad_names(data: Any) -> list[str]:
    return [
        name
        for name, values in data.lists()
        if has_forbidden_characters(name)
        or any(isinstance(v, str) and has_forbidden_characters(v) for v in values)
    ]


class DomainErrorMiddleware:
    """Domain errors raised in plain views become the JSON error shape; on machine paths
    (/api/, /federation/) every error page is JSON too, in development as in production."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            response.status_code >= 400
            and request.path.startswith(MACHINE_PREFIXES)
            and not response.get("Content-Type", "").startswith("application/json")
        ):
            return machine_error_response(response.status_code)
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, DomainError):
            return None
        if request.path.startswith(MACHINE_PREFIXES):
            return error_response(exception)
        # A page: the same message, as a page a person can read.
        return render(
            request,
            "errors/domain_error.html",
            {"message": exception.message, "fields": exception.fields},
            status=exception.status,
        )
