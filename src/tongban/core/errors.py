"""The one error family of tongban and its JSON shape.

Every domain raises a subclass of ``DomainError``; one function (``error_payload``) turns it
into ``{"code", "message", "fields"}`` with its HTTP status, for the API and for plain views.
Messages are lazy translations: Chinese by default, English with ``Accept-Language: en``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from django.http import JsonResponse
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

Message = str | Promise


class DomainError(Exception):
    status: ClassVar[int] = 400
    code: str = "invalid_request"
    default_message: ClassVar[Message] = _("The request is invalid.")

    def __init__(
        self,
        message: Message | None = None,
        *,
        code: str | None = None,
        fields: Mapping[str, Message] | None = None,
    ) -> None:
        self.message: Message = message if message is not None else self.default_message
        if code is not None:
            self.code = code
        self.fields: dict[str, Message] = dict(fields or {})
        super().__init__(str(self.code))

    def __str__(self) -> str:
        detail = "; ".join(f"{name}: {text}" for name, text in self.fields.items())
        return f"{self.code}: {self.message}" + (f" ({detail})" if detail else "")


class ValidationFailed(DomainError):
    status = 400
    code = "validation_failed"
    default_message = _("Some fields are invalid.")


class NotAuthenticated(DomainError):
    status = 401
    code = "not_authenticated"
    default_message = _("Please log in first.")


class Forbidden(DomainError):
    status = 403
    code = "forbidden"
    default_message = _("You are not allowed to do this.")


class NotFound(DomainError):
    status = 404
    code = "not_found"
    default_message = _("The requested object does not exist.")


class UnsupportedMediaType(DomainError):
    status = 415
    code = "unsupported_media_type"
    default_message = _("Send the request body as JSON (Content-Type: application/json).")


class Conflict(DomainError):
    status = 409
    code = "conflict"
    default_message = _("The request conflicts with the current state.")


class FieldErrors:
    """Collects every field problem of one request, so the user sees all of them at once."""

    def __init__(self) -> None:
        self.fields: dict[str, Message] = {}

    def add(self, field: str, message: Message) -> None:
        self.fields.setdefault(field, message)

    def __bool__(self) -> bool:
        return bool(self.fields)

    def raise_if_any(self, message: Message | None = None) -> None:
        if self.fields:
            raise ValidationFailed(message, fields=self.fields)


def error_payload(
    code: str, message: Message, fields: Mapping[str, Message] | None = None
) -> dict[str, Any]:
    return {
        "code": code,
        "message": str(message),
        "fields": {name: str(text) for name, text in (fields or {}).items()},
    }


def error_response(error: DomainError) -> JsonResponse:
    return JsonResponse(
        error_payload(error.code, error.message, error.fields),
        status=error.status,
        json_dumps_params={"ensure_ascii": False},
    )


_STATUS_ERRORS: dict[int, tuple[str, Message]] = {
    400: ("bad_request", _("The request is invalid.")),
    401: ("not_authenticated", _("Please log in first.")),
    403: ("forbidden", _("You are not allowed to do this.")),
    404: ("not_found", _("No such endpoint or object.")),
    405: ("method_not_allowed", _("This method is not allowed here.")),
    413: ("too_large", _("The request is too large.")),
}


def machine_error_response(status: int) -> JsonResponse:
    """The JSON shape for an error page Django produced itself (no route, wrong method, a
    crash), so API clients never receive HTML."""
    code, message = _STATUS_ERRORS.get(
        status,
        ("server_error", _("An internal error occurred."))
        if status >= 500
        else ("error", _("The request is invalid.")),
    )
    return JsonResponse(
        error_payload(code, message), status=status, json_dumps_params={"ensure_ascii": False}
    )
