"""Checks an item document (see documents.py) before it is written. Returns the problems as
(field path, message) pairs; an empty list means the document can be saved."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from django.utils.translation import gettext_lazy as _

from tongban.accounts.models import RealNameLevel
from tongban.catalog.models import ItemType, Mode
from tongban.catalog.schema_safety import schema_problems
from tongban.core.errors import Message
from tongban.core.text import has_forbidden_characters

CODE = re.compile(r"[0-9A-Z]{12}")
IMPLEMENTATION_CODE = re.compile(r"[0-9A-Z]{31}")
KEY = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
FILE_TYPES = frozenset({"pdf", "jpg", "jpeg", "png", "ofd", "doc", "docx", "xls", "xlsx", "zip"})
MAX_DAYS = 365

Problem = tuple[str, Message]


class Known:
    """What references in a document may point at: department keys, division codes, themes."""

    def __init__(
        self, *, departments: Iterable[str], divisions: Iterable[str], themes: Iterable[str]
    ):
        self.departments = frozenset(departments)
        self.divisions = frozenset(divisions)
        self.themes = frozenset(themes)


def _text(
    doc: Mapping[str, Any],
    name: str,
    limit: int,
    problems: list[Problem],
    path: str,
    *,
    required: bool = False,
) -> None:
    value = doc.get(name, "")
    if value is None:
        value = ""
    if not isinstance(value, str):
        problems.append((f"{path}{name}", _("Expected text.")))
    elif has_forbidden_characters(value):
        problems.append((f"{path}{name}", _("Remove control characters from this value.")))
    elif required and not value.strip():
        problems.append((f"{path}{name}", _("This field is required.")))
    elif len(value) > limit:
        problems.append((f"{path}{name}", _("At most %(n)d characters.") % {"n": limit}))


def _flag(doc: Mapping[str, Any], name: str, problems: list[Problem], path: str) -> None:
    if name in doc and not isinstance(doc[name], bool):
        problems.append((f"{path}{name}", _("Expected true or false.")))


def _days(doc: Mapping[str, Any], name: str, problems: list[Problem], path: str) -> int | None:
    value = doc.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_DAYS:
        problems.append((f"{path}{name}", _("Expected a number of working days from 0 to 365.")))
        return None
    return value


def _keys(items: list[Any], problems: list[Problem], path: str) -> None:
    seen: set[str] = set()
    for index, entry in enumerate(items):
        key = entry.get("key") if isinstance(entry, Mapping) else None
        if not isinstance(key, str) or not KEY.fullmatch(key):
            problems.append(
                (f"{path}{index}.key", _("A key uses lower-case letters, digits and hyphens only."))
            )
        elif key in seen:
            problems.append((f"{path}{index}.key", _("This key appears twice.")))
        else:
            seen.add(key)


def check_item_document(doc: Any, known: Known) -> list[Problem]:
    problems: list[Problem] = []
    if not isinstance(doc, Mapping):
        return [("", _("Expected an object."))]
    code = doc.get("code")
    if not isinstance(code, str) or not CODE.fullmatch(code):
        problems.append(("code", _("A basic code has 12 digits or capital letters.")))
    _text(doc, "name", 128, problems, "", required=True)
    for name in ("legal_basis", "conditions", "scenario_text"):
        _text(doc, name, 20_000, problems, "")
    for name, limit in (
        ("batch", 8),
        ("pattern", 4),
        ("workflow", 64),
        ("source", 255),
        ("confidence", 16),
    ):
        _text(doc, name, limit, problems, "")
    item_type = doc.get("item_type", "")
    if item_type is not None and (
        not isinstance(item_type, str) or item_type not in {"", *ItemType.values}
    ):
        problems.append(
            (
                "item_type",
                _("Choose one of: %(choices)s.") % {"choices": ", ".join(ItemType.values)},
            )
        )
    level = doc.get("min_real_name_level")
    if level is not None and (
        isinstance(level, bool) or not isinstance(level, int) or level not in RealNameLevel.values
    ):
        problems.append(
            (
                "min_real_name_level",
                _("Choose one of: %(choices)s.")
                % {"choices": ", ".join(str(value) for value in RealNameLevel.values)},
            )
        )
    for name in ("code_provisional", "batch_inferred"):
        _flag(doc, name, problems, "")
    seq = doc.get("seq")
    if seq is not None and (
        isinstance(seq, bool) or not isinstance(seq, int) or not 0 < seq < 10_000
    ):
        problems.append(("seq", _("Expected a whole number.")))
    modes = doc.get("modes", [])
    if not _strings(modes) or not set(modes) <= set(Mode.values):
        problems.append(
            ("modes", _("Choose from: %(choices)s.") % {"choices": ", ".join(Mode.values)})
        )
    lead = doc.get("lead_unit")
    if lead is not None and (not isinstance(lead, str) or lead not in known.departments):
        problems.append(("lead_unit", _("Unknown department key.")))
    for name, allowed in (("cooperating_units", known.departments), ("themes", known.themes)):
        values = doc.get(name, [])
        if not _strings(values) or any(value not in allowed for value in values):
            problems.append((name, _("Unknown key in this list.")))

    scenarios = doc.get("scenarios")
    if not isinstance(scenarios, list) or not scenarios:
        problems.append(("scenarios", _("An item needs at least one scenario.")))
        scenarios = []
    _keys(scenarios, problems, "scenarios.")
    for index, scenario in enumerate(scenarios):
        if isinstance(scenario, Mapping):
            problems.extend(_check_scenario(scenario, f"scenarios.{index}."))

    implementations = doc.get("implementations", [])
    if not isinstance(implementations, list):
        problems.append(("implementations", _("Expected a list.")))
        implementations = []
    divisions_seen: set[str] = set()
    for index, implementation in enumerate(implementations):
        path = f"implementations.{index}."
        if not isinstance(implementation, Mapping):
            problems.append((path.rstrip("."), _("Expected an object.")))
            continue
        division = implementation.get("division")
        if not isinstance(division, str) or division not in known.divisions:
            problems.append((f"{path}division", _("No division has this code.")))
        elif division in divisions_seen:
            problems.append((f"{path}division", _("This division appears twice.")))
        else:
            divisions_seen.add(division)
        department = implementation.get("department")
        if department is not None and (
            not isinstance(department, str) or department not in known.departments
        ):
            problems.append((f"{path}department", _("Unknown department key.")))
        code_value = implementation.get("code") or ""
        if code_value and (
            not isinstance(code_value, str) or not IMPLEMENTATION_CODE.fullmatch(code_value)
        ):
            problems.append(
                (f"{path}code", _("An implementation code has 31 digits or capital letters."))
            )
        legal = _days(implementation, "legal_limit_days", problems, path)
        promised = _days(implementation, "promised_limit_days", problems, path)
        if legal is not None and promised is not None and promised > legal:
            problems.append(
                (
                    f"{path}promised_limit_days",
                    _("The promised limit cannot exceed the legal limit."),
                )
            )
        for name, limit in (("fee", 255), ("place", 2_000), ("hours", 255)):
            _text(implementation, name, limit, problems, path)
        for name in ("online", "window", "post"):
            _flag(implementation, name, problems, path)
    return problems


def _check_scenario(scenario: Mapping[str, Any], path: str) -> list[Problem]:
    problems: list[Problem] = []
    _text(scenario, "name", 128, problems, path, required=True)
    _text(scenario, "description", 20_000, problems, path)
    _flag(scenario, "generic", problems, path)
    schema = scenario.get("form_schema", {})
    for reason in schema_problems(schema):
        problems.append(
            (
                f"{path}form_schema",
                _("The form schema cannot be used: %(reason)s") % {"reason": reason},
            )
        )
    _order(scenario, problems, path)
    materials = scenario.get("materials", [])
    if not isinstance(materials, list):
        problems.append((f"{path}materials", _("Expected a list.")))
        return problems
    _keys(materials, problems, f"{path}materials.")
    for index, material in enumerate(materials):
        where = f"{path}materials.{index}."
        if not isinstance(material, Mapping):
            problems.append((where.rstrip("."), _("Expected an object.")))
            continue
        _text(material, "name", 128, problems, where, required=True)
        for name, limit in (
            ("license_type", 64),
            ("datashare_check", 64),
            ("template", 20_000),
            ("note", 2_000),
        ):
            _text(material, name, limit, problems, where)
        for name in ("required", "original_required"):
            _flag(material, name, problems, where)
        _order(material, problems, where)
        types = material.get("accepted_types", [])
        if not _strings(types) or not set(types) <= FILE_TYPES:
            problems.append(
                (
                    f"{where}accepted_types",
                    _("Choose from: %(choices)s.") % {"choices": ", ".join(sorted(FILE_TYPES))},
                )
            )
    return problems


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(entry, str) for entry in value)


def _order(doc: Mapping[str, Any], problems: list[Problem], path: str) -> None:
    value = doc.get("order", 0)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 32_767:
        problems.append((f"{path}order", _("Expected a whole number from 0 to 32767.")))
