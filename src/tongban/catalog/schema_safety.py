"""What a scenario's form schema may contain. Pure: no Django.

Form schemas come from administrators and import files and are evaluated on every submission,
so they are data we must not trust: no ``$ref`` outside the schema itself (jsonschema would
fetch a remote URL: a server-side request forgery), no regular expressions with nested
quantifiers (catastrophic backtracking ties up a worker for seconds), bounded nesting, a string
with a pattern must bound its length, and the root describes an object.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from jsonschema import SchemaError
from jsonschema.validators import Draft202012Validator
from referencing import Registry

MAX_DEPTH = 12
MAX_PATTERN_INPUT = 500
# A group containing a quantifier, itself quantified: (a+)+, (a*)*, (a|aa)+ …
_NESTED_QUANTIFIER = re.compile(r"\((?:[^()\\]|\\.)*[+*}](?:[^()\\]|\\.)*\)\s*[+*{]")
_ALTERNATION_REPEATED = re.compile(r"\((?:[^()\\]|\\.)*\|(?:[^()\\]|\\.)*\)\s*[+*{]")


def schema_problems(schema: Any) -> list[str]:
    """Reasons the schema is unsafe or invalid; empty if it may be used."""
    if not isinstance(schema, Mapping):
        return ["the form schema must be a JSON object"]
    if schema and schema.get("type") != "object":
        return ['the form schema must describe an object ("type": "object")']
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as error:
        return [f"not a valid JSON Schema: {error.message}"]
    problems: list[str] = []
    for path, node, depth in _walk(schema):
        if depth > MAX_DEPTH:
            problems.append(f"{path}: nested deeper than {MAX_DEPTH} levels")
            break
        ref = node.get("$ref")
        if isinstance(ref, str) and not ref.startswith("#"):
            problems.append(f"{path}: $ref may only point inside the schema (#…)")
        if "$dynamicRef" in node or ("$id" in node and path != ""):
            problems.append(f"{path}: $id and $dynamicRef are not allowed")
        pattern = node.get("pattern")
        if isinstance(pattern, str):
            if _NESTED_QUANTIFIER.search(pattern) or _ALTERNATION_REPEATED.search(pattern):
                problems.append(f"{path}: the pattern repeats a repeated group (slow to match)")
            length = node.get("maxLength")
            if not isinstance(length, int) or length > MAX_PATTERN_INPUT:
                problems.append(
                    f"{path}: a string with a pattern needs maxLength ≤ {MAX_PATTERN_INPUT}"
                )
    return problems


def safe_validator(schema: Mapping[str, Any]) -> Draft202012Validator:
    """A validator that resolves references only inside the schema (an empty registry: nothing
    is ever retrieved from anywhere else)."""
    return Draft202012Validator(schema, registry=Registry())


def _walk(
    node: Any, path: str = "", depth: int = 0
) -> Iterator[tuple[str, Mapping[str, Any], int]]:
    if isinstance(node, Mapping):
        yield path, node, depth
        for key, value in node.items():
            yield from _walk(value, f"{path}/{key}", depth + 1)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, f"{path}/{index}", depth + 1)
