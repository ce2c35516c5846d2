"""Small pieces every API router uses the same way."""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from tongban.core.errors import DomainError, Message, ValidationFailed

MAX_LIMIT = 200
MAX_OFFSET = 1_000_000


def check_paging(limit: int, offset: int = 0) -> None:
    fields: dict[str, Message] = {}
    if not 1 <= limit <= MAX_LIMIT:
        fields["limit"] = _("Choose a limit from 1 to %(n)d.") % {"n": MAX_LIMIT}
    if not 0 <= offset <= MAX_OFFSET:
        fields["offset"] = _("Choose an offset from 0 to %(n)d.") % {"n": MAX_OFFSET}
    if fields:
        raise ValidationFailed(fields=fields)


def json_body(request: HttpRequest, *, default: Any) -> Any:
    """A free-form JSON body (one ninja cannot describe as a schema); 400 if it does not parse,
    nests too deeply, holds NaN or Infinity (not JSON, and not storable), or is absent when
    there is no default."""
    try:
        return (
            json.loads(request.body, parse_constant=_no_constants, parse_float=_finite)
            if request.body
            else default
        )
    except (ValueError, RecursionError):
        raise DomainError(_("The request body is not valid JSON."), code="invalid_body") from None


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError("number out of range")
    return value
