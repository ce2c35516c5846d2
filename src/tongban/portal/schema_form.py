"""HTML forms from the JSON Schemas the catalogue and the leg plans ship: which input to draw
for each property, and how to read the posted strings back into typed values. Pure: no Django.

Reading never validates: values that do not parse stay strings, so the JSON Schema check in the
service reports them with the same messages the API gives.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_DATE_PATTERNS = {"^[0-9]{4}-[0-9]{2}-[0-9]{2}$", r"^\d{4}-\d{2}-\d{2}$"}
_INTEGER = re.compile(r"[+-]?\d+")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")
_LONG_TEXT = 200


@dataclass(frozen=True)
class Field:
    name: str  # the form field's name (with prefix)
    key: str  # the property name
    title: str
    widget: str  # text, tel, date, number, select, checkbox, textarea
    required: bool
    value: str
    error: str = ""
    pattern: str = ""
    min_length: int | None = None
    max_length: int | None = None
    minimum: float | None = None
    maximum: float | None = None
    step: str = ""
    options: tuple[tuple[str, str], ...] = ()
    help: str = ""


def fields(
    schema: Mapping[str, Any],
    values: Mapping[str, Any] | None = None,
    errors: Mapping[str, Any] | None = None,
    *,
    prefix: str = "",
) -> list[Field]:
    """One field per property of an object schema, in the schema's order."""
    values = values or {}
    errors = errors or {}
    required = set(schema.get("required", []))
    drawn = []
    for key, prop in (schema.get("properties") or {}).items():
        if not isinstance(prop, Mapping):
            continue
        value = values.get(key, prop.get("default", ""))
        drawn.append(
            Field(
                name=f"{prefix}{key}",
                key=key,
                title=str(prop.get("title") or key),
                widget=_widget(prop),
                required=key in required,
                value="" if value is None else _as_text(value),
                error=str(errors.get(key, "")),
                pattern=_html_pattern(prop),
                min_length=prop.get("minLength"),
                max_length=prop.get("maxLength"),
                minimum=prop.get("minimum"),
                maximum=prop.get("maximum"),
                step="1" if prop.get("type") == "integer" else "any",
                options=tuple((str(v), str(v)) for v in prop.get("enum", ())),
                help=str(prop.get("description", "")),
            )
        )
    return drawn


def read(schema: Mapping[str, Any], data: Mapping[str, Any], *, prefix: str = "") -> dict[str, Any]:
    """The posted values of an object schema's properties, typed where they parse. Empty
    inputs are left out, so a missing required value is reported as missing."""
    found: dict[str, Any] = {}
    for key, prop in (schema.get("properties") or {}).items():
        if not isinstance(prop, Mapping):
            continue
        kind = prop.get("type")
        raw = data.get(f"{prefix}{key}")
        if kind == "boolean":
            found[key] = raw in ("on", "true", "1", "yes")
            continue
        text = raw.strip() if isinstance(raw, str) else ""
        if not text:
            continue
        if kind == "integer" and _INTEGER.fullmatch(text):
            found[key] = _integer(text)
        elif kind == "number" and _NUMBER.fullmatch(text):
            found[key] = _number(text)
        elif kind == "array":
            found[key] = [line.strip() for line in text.splitlines() if line.strip()]
        else:
            found[key] = text
    return found


def _integer(text: str) -> int | str:
    try:
        return int(text)
    except ValueError:  # more digits than int() converts (sys.int_info.str_digits_check_threshold)
        return text


def _number(text: str) -> int | float | str:
    number = float(text)
    if not math.isfinite(number):
        # Overflowed to infinity, which JSON cannot carry (PostgreSQL refuses it): keep the text.
        return text
    if number.is_integer() and "." not in text:
        return _integer(text)
    return number


def split_errors(
    fields: Mapping[str, Any], *, prefix: str = "form_data."
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A service's field errors split into (errors of the schema form, keyed by property;
    errors of the other inputs of the page)."""
    form: dict[str, Any] = {}
    other: dict[str, Any] = {}
    for name, text in fields.items():
        if name.startswith(prefix):
            form[name.removeprefix(prefix)] = text
        else:
            other[name] = text
    return form, other


def _widget(prop: Mapping[str, Any]) -> str:
    kind = prop.get("type")
    if prop.get("enum"):
        return "select"
    if kind == "boolean":
        return "checkbox"
    if kind in ("integer", "number"):
        return "number"
    if kind == "array":
        return "textarea"
    if prop.get("format") == "date" or prop.get("pattern") in _DATE_PATTERNS:
        return "date"
    if prop.get("x-personal") == "phone":
        return "tel"
    if (prop.get("maxLength") or 0) > _LONG_TEXT:
        return "textarea"
    return "text"


def _html_pattern(prop: Mapping[str, Any]) -> str:
    """The schema's pattern as an HTML pattern attribute, which must match the whole value
    (the browser anchors it itself), where a JSON Schema pattern matches anywhere. The two
    agree only for a pattern anchored at both ends and without alternatives (``|``); any other
    is left to the server's check rather than have the browser flag values the server accepts."""
    pattern = prop.get("pattern")
    if not isinstance(pattern, str) or pattern in _DATE_PATTERNS:
        return ""
    inner = pattern[1:-1]
    if (
        len(pattern) < 2
        or not pattern.startswith("^")
        or not pattern.endswith("$")
        or inner.endswith("\\")  # the $ is a literal dollar sign, not the end
        or "|" in inner
    ):
        return ""
    return inner


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else ""
    if isinstance(value, list):
        return "\n".join(str(v) for v in value)
    return str(value)
