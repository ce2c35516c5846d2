"""Maps every error the API can raise to the one JSON shape ``{"code","message","fields"}``."""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy as _
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError

from tongban.core.errors import (
    DomainError,
    Forbidden,
    Message,
    NotAuthenticated,
    NotFound,
    ValidationFailed,
    error_response,
    machine_error_response,
)

_PYDANTIC_MESSAGES: dict[str, Message] = {
    "missing": _("This field is required."),
    "string_type": _("Expected text."),
    "int_type": _("Expected a whole number."),
    "int_parsing": _("Expected a whole number."),
    "bool_type": _("Expected true or false."),
    "list_type": _("Expected a list."),
    "dict_type": _("Expected an object."),
    "model_attributes_type": _("Expected an object."),
    "string_too_long": _("This value is too long."),
    "enum": _("This value is not one of the allowed choices."),
    "literal_error": _("This value is not one of the allowed choices."),
    "json_invalid": _("The request body is not valid JSON."),
}
_LOCATIONS = {"body", "query", "path", "form", "header", "cookie"}


def _field_name(loc: list[Any] | tuple[Any, ...]) -> str:
    parts = [str(part) for part in loc]
    while parts and parts[0] in _LOCATIONS:
        parts.pop(0)
    # ninja nests a body schema under the parameter name ("payload"); drop it.
    if len(parts) > 1 and parts[0] in {"payload", "data"}:
        parts.pop(0)
    return ".".join(parts) or "body"


def validation_failed_from(errors: list[dict[str, Any]]) -> ValidationFailed:
    fields: dict[str, Message] = {}
    for error in errors:
        name = _field_name(error.get("loc", ()))
        fields.setdefault(
            name, _PYDANTIC_MESSAGES.get(error.get("type", ""), _("This value is invalid."))
        )
    return ValidationFailed(fields=fields)


def install(api: NinjaAPI) -> None:
    @api.exception_handler(DomainError)
    def on_domain_error(request: HttpRequest, exc: DomainError) -> HttpResponse:
        return error_response(exc)

    @api.exception_handler(NinjaValidationError)
    def on_validation_error(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
        return error_response(validation_failed_from(list(exc.errors)))

    @api.exception_handler(AuthenticationError)
    def on_authentication_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
        return error_response(NotAuthenticated())

    @api.exception_handler(Http404)
    def on_not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
        return error_response(NotFound())

    @api.exception_handler(HttpError)
    def on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
        # ninja raises HttpError(403) for a failed CSRF check and HttpError(400) only when it
        # cannot parse the body.
        if exc.status_code == 403 and "csrf" in str(exc.message).lower():
            return error_response(
                Forbidden(
                    _(
                        "The page has expired or the request is not from this site; "
                        "reload and try again."
                    ),
                    code="csrf_failed",
                )
            )
        if exc.status_code == 400:
            return error_response(
                DomainError(_("The request body is not valid JSON."), code="invalid_body")
            )
        return machine_error_response(exc.status_code)
