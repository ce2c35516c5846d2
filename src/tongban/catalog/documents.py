"""The canonical document of a catalogue item: one nested dict that export writes, import
reads, and diff compares. Keys are stable; departments are named by key, divisions by code."""

from __future__ import annotations

from typing import Any

from tongban.catalog.models import Implementation, MaterialSpec, Scenario, ServiceItem

ITEM_FIELDS = (
    "code",
    "code_provisional",
    "name",
    "item_type",
    "legal_basis",
    "conditions",
    "batch",
    "batch_inferred",
    "seq",
    "scenario_text",
    "pattern",
    "workflow",
    "min_real_name_level",
    "source",
    "confidence",
)
SCENARIO_FIELDS = ("key", "name", "description", "generic", "form_schema", "order")
MATERIAL_FIELDS = (
    "key",
    "name",
    "required",
    "original_required",
    "license_type",
    "datashare_check",
    "accepted_types",
    "template",
    "note",
    "order",
)
IMPLEMENTATION_FIELDS = (
    "code",
    "legal_limit_days",
    "promised_limit_days",
    "fee",
    "online",
    "window",
    "post",
    "place",
    "hours",
)


def item_document(item: ServiceItem) -> dict[str, Any]:
    """The item with everything under it. Expects the prefetches of ``items_for_documents``."""
    document: dict[str, Any] = {name: getattr(item, name) for name in ITEM_FIELDS}
    document["modes"] = item.modes
    document["lead_unit"] = item.lead_unit.key if item.lead_unit else None
    document["cooperating_units"] = sorted(unit.key for unit in item.cooperating_units.all())
    document["themes"] = sorted(theme.key for theme in item.themes.all())
    document["scenarios"] = [_scenario_document(s) for s in item.scenarios.all()]
    document["implementations"] = [_implementation_document(i) for i in item.implementations.all()]
    return document


def _scenario_document(scenario: Scenario) -> dict[str, Any]:
    document: dict[str, Any] = {name: getattr(scenario, name) for name in SCENARIO_FIELDS}
    document["materials"] = [_material_document(m) for m in scenario.materials.all()]
    return document


def _material_document(material: MaterialSpec) -> dict[str, Any]:
    return {name: getattr(material, name) for name in MATERIAL_FIELDS}


def _implementation_document(implementation: Implementation) -> dict[str, Any]:
    document: dict[str, Any] = {
        "division": implementation.division_id,
        "department": implementation.department.key if implementation.department else None,
    }
    document.update({name: getattr(implementation, name) for name in IMPLEMENTATION_FIELDS})
    return document


def flatten(document: dict[str, Any]) -> dict[str, Any]:
    """A document as {path: value}, nested parts keyed by their own keys (scenario and material
    keys, implementation divisions), so a diff names exactly what changed:
    ``scenarios.general.materials.identity.required``, ``implementations.510100.fee``."""
    flat: dict[str, Any] = {}
    for name, value in document.items():
        if name == "scenarios" and isinstance(value, list):
            for scenario in value:
                base = f"scenarios.{scenario.get('key')}"
                for field, inner in scenario.items():
                    if field == "materials" and isinstance(inner, list):
                        for material in inner:
                            for mfield, mvalue in material.items():
                                flat[f"{base}.materials.{material.get('key')}.{mfield}"] = mvalue
                    else:
                        flat[f"{base}.{field}"] = inner
        elif name == "implementations" and isinstance(value, list):
            for implementation in value:
                base = f"implementations.{implementation.get('division')}"
                for field, inner in implementation.items():
                    flat[f"{base}.{field}"] = inner
        else:
            flat[name] = value
    return flat


def diff_documents(
    old: dict[str, dict[str, Any]], new: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """What changed between two catalogues given as {code: document}: per changed item, the
    paths (see ``flatten``) with [old, new]; a part added or removed shows None on one side."""
    added = sorted(set(new) - set(old))
    removed = sorted(set(old) - set(new))
    changed: dict[str, dict[str, list[Any]]] = {}
    for code in sorted(set(old) & set(new)):
        before, after = flatten(old[code]), flatten(new[code])
        fields = {
            path: [before.get(path), after.get(path)]
            for path in sorted(set(before) | set(after))
            if before.get(path) != after.get(path)
        }
        if fields:
            changed[code] = fields
    return {"added": added, "removed": removed, "changed": changed}
