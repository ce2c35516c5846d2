"""Leg plans for JOINT cases (多地联办), shipped as data (data/legs/*.json). Pure: no Django.

A plan names the items it serves, the places involved (``destination`` where the applicant
applies, ``origin`` the other end) and the legs in order. Each leg says where it happens, which
staff roles may do it and, as a JSON Schema, what it must record; that record is handed to the
legs after it. E.g. 大中专学生毕业户口迁移: the destination approves the move (准予迁入证明) →
the origin releases the household registration (户口迁移证) → the destination registers it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

LEGS_DIR = Path(__file__).resolve().parent / "data" / "legs"
PLACES = frozenset({"destination", "origin"})
LEG_ROLES = frozenset({"reviewer", "approver"})


class LegPlanError(ValueError):
    """A leg plan file contradicts itself."""


@dataclass(frozen=True)
class LegStep:
    key: str
    label: str
    place: str
    roles: tuple[str, ...]
    schema: dict[str, Any]


@dataclass(frozen=True)
class LegPlan:
    name: str
    label: str
    items: tuple[str, ...]
    places: dict[str, str]
    applied_at: str
    legs: tuple[LegStep, ...]

    def place_label(self, place: str) -> str:
        return self.places.get(place, place)

    def record_schema(self) -> dict[str, Any]:
        """One object schema holding every leg's fields (to reveal handed-over data)."""
        return {
            "type": "object",
            "properties": {
                name: prop
                for leg in self.legs
                for name, prop in (leg.schema.get("properties") or {}).items()
            },
        }

    def titles(self) -> dict[str, str]:
        """Field name → title over every leg's record, for showing handed-over data."""
        return {
            name: str(prop.get("title", name))
            for leg in self.legs
            for name, prop in (leg.schema.get("properties") or {}).items()
        }


def parse(data: dict[str, Any]) -> LegPlan:
    name = data["name"]
    places = dict(data["places"])
    if set(places) != PLACES or data.get("applied_at") not in PLACES:
        raise LegPlanError(f"{name}: places must be destination and origin")
    legs = []
    seen: set[str] = set()
    for raw in data["legs"]:
        step = LegStep(
            key=raw["key"],
            label=raw["label"],
            place=raw["place"],
            roles=tuple(raw["roles"]),
            schema=dict(raw["schema"]),
        )
        if step.key in seen:
            raise LegPlanError(f"{name}: leg {step.key} appears twice")
        if step.place not in PLACES:
            raise LegPlanError(f"{name}.{step.key}: unknown place {step.place!r}")
        if not step.roles or not set(step.roles) <= LEG_ROLES:
            raise LegPlanError(f"{name}.{step.key}: roles must be reviewer and/or approver")
        if step.schema.get("type") != "object":
            raise LegPlanError(f"{name}.{step.key}: the schema must describe an object")
        seen.add(step.key)
        legs.append(step)
    if len(legs) < 2 or {leg.place for leg in legs} != PLACES:
        raise LegPlanError(f"{name}: a joint plan has legs at both places")
    return LegPlan(
        name=name,
        label=data["label"],
        items=tuple(data["items"]),
        places=places,
        applied_at=data["applied_at"],
        legs=tuple(legs),
    )


@cache
def plans() -> dict[str, LegPlan]:
    """Every shipped plan by name; an item may be served by one plan only."""
    found: dict[str, LegPlan] = {}
    owner: dict[str, str] = {}
    for path in sorted(LEGS_DIR.glob("*.json")):
        plan = parse(json.loads(path.read_text(encoding="utf-8")))
        for item in plan.items:
            if item in owner:
                raise LegPlanError(f"{item} is in both {owner[item]} and {plan.name}")
            owner[item] = plan.name
        found[plan.name] = plan
    return found


def plan_for_item(item_name: str) -> LegPlan | None:
    return next((plan for plan in plans().values() if item_name in plan.items), None)


def handed_over(outputs: list[dict[str, Any]]) -> dict[str, Any]:
    """What the next leg receives: every earlier leg's result, later ones winning."""
    merged: dict[str, Any] = {}
    for output in outputs:
        merged.update(output)
    return merged
