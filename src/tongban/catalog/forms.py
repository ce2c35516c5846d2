"""Checking an applicant's form data against a scenario's JSON Schema, with messages a citizen
can read (jsonschema's own messages are English and technical)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.utils.translation import gettext_lazy as _

from tongban.catalog.schema_safety import safe_validator
from tongban.core.errors import Message


def form_errors(schema: Mapping[str, Any], data: Any) -> dict[str, Message]:
    """``{field path: message}`` for every problem of ``data`` under ``schema``; empty if valid."""
    validator = safe_validator(schema)
    found: dict[str, Message] = {}
    for error in sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path)):
        path = ".".join(str(part) for part in error.absolute_path)
        if error.validator == "required":
            missing = error.message.split("'")[1] if "'" in error.message else ""
            field = f"{path}.{missing}" if path else missing
            found.setdefault(field or "form", _("This field is required."))
        elif error.validator == "additionalProperties":
            for extra in sorted(set(error.instance) - set(error.schema.get("properties", {}))):
                found.setdefault(
                    f"{path}.{extra}" if path else extra, _("This field is not part of the form.")
                )
        else:
            found.setdefault(path or "form", _message(error))
    return found


def _message(error: Any) -> Message:
    kind = error.validator
    value = error.validator_value
    title = error.schema.get("title", "") if isinstance(error.schema, Mapping) else ""
    if kind == "type":
        return _("This value has the wrong type.")
    if kind == "pattern":
        return (
            _("The format of %(title)s is not right.") % {"title": title}
            if title
            else _("The format is not right.")
        )
    if kind == "maxLength":
        return _("At most %(n)d characters.") % {"n": value}
    if kind == "minLength":
        return (
            _("This field is required.")
            if value == 1
            else _("At least %(n)d characters.") % {"n": value}
        )
    if kind in {"enum", "const"}:
        return _("This value is not one of the allowed choices.")
    if kind in {"minimum", "exclusiveMinimum"}:
        return _("The value is too small.")
    if kind in {"maximum", "exclusiveMaximum"}:
        return _("The value is too large.")
    return _("This value is invalid.")
