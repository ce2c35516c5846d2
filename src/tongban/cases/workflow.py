"""Workflows as data (data/workflows/*.json): states, actions, who may take each action,
where it leads and what it does to the clock. This module reads and checks the definitions;
``services.case_act`` applies them (lock, check, write, chain, after-commit work).

An action has:
- ``from``: the states it may be taken in; ``to``: the next state (null: stays);
- ``side``: ``applicant`` (the applicant or their agent), ``receiving`` (staff where the case
  was received), ``authority`` (staff of the deciding department and jurisdiction) or ``leg``
  (staff of the department doing the current leg of a JOINT case);
- ``roles``: staff roles allowed (staff sides only);
- ``requires``: payload fields that must be given (reasons, what is missing …);
- ``clock``: ``start`` (受理), ``stop``/``resume`` (excluded time), ``extend`` (+10 working days,
  once), ``decide`` (the clock ends);
- ``notice``: the printable notice the action produces;
- ``issues``: what the action issues when it takes effect: ``license`` (an electronic licence,
  for items a licence type names; the licences domain does it, see ``cases/effects.py``);
- ``legs``: what it does to the legs of a JOINT case: ``open`` (the first leg starts),
  ``advance`` (the current leg is done and hands its result on; the case moves to ``to`` only
  when it was the last leg, and only then does ``clock: decide`` apply) or ``refuse``.

A workflow may also give ``notices``: the titles of its notices where they differ from the
administrative-licence ones. An item overrides the workflow of a mode by naming a file
``<item workflow>.<mode workflow>.json`` in its ``workflow`` field (see ``name_for``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

WORKFLOW_DIR = Path(__file__).resolve().parent / "data" / "workflows"
SIDES = frozenset({"applicant", "receiving", "authority", "leg"})
CLOCK = frozenset({"none", "start", "stop", "resume", "extend", "decide"})
LEGS = frozenset({"open", "advance", "refuse"})
ISSUES = frozenset({"license"})


# The shipped workflow of each mode; an item may override it per mode with a file named
# "<item workflow>.<mode workflow>.json" (e.g. notary.online.json for the 公证 items).
DEFAULT_OF_MODE = {"ONLINE": "online", "PROXY": "proxy", "JOINT": "joint"}


class WorkflowDefinitionError(ValueError):
    """A workflow file contradicts itself (unknown state, side, clock effect …)."""


@dataclass(frozen=True)
class Action:
    name: str
    label: str
    sources: frozenset[str]
    target: str | None
    side: str
    roles: frozenset[str]
    requires: tuple[str, ...]
    clock: str
    notice: str | None
    legs: str | None = None
    issues: str | None = None


@dataclass(frozen=True)
class Workflow:
    name: str
    label: str
    initial: str
    states: dict[str, str]
    final: frozenset[str]
    actions: dict[str, Action]
    notices: dict[str, str] | None = None  # notice kind → title, where it differs

    def allowed(self, state: str) -> list[str]:
        return sorted(name for name, action in self.actions.items() if state in action.sources)

    def is_final(self, state: str) -> bool:
        return state in self.final


def parse(data: dict[str, Any]) -> Workflow:
    states = dict(data["states"])
    actions: dict[str, Action] = {}
    for name, raw in data["actions"].items():
        action = Action(
            name=name,
            label=raw["label"],
            sources=frozenset(raw["from"]),
            target=raw.get("to"),
            side=raw["side"],
            roles=frozenset(raw.get("roles", [])),
            requires=tuple(raw.get("requires", [])),
            clock=raw.get("clock", "none"),
            notice=raw.get("notice"),
            legs=raw.get("legs"),
            issues=raw.get("issues"),
        )
        unknown = (action.sources | ({action.target} if action.target else set())) - set(states)
        if unknown:
            raise WorkflowDefinitionError(
                f"{data['name']}.{name}: unknown state(s) {sorted(unknown)}"
            )
        if action.side not in SIDES or action.clock not in CLOCK:
            raise WorkflowDefinitionError(f"{data['name']}.{name}: bad side or clock")
        if action.legs is not None and action.legs not in LEGS:
            raise WorkflowDefinitionError(f"{data['name']}.{name}: bad legs effect")
        if action.issues is not None and action.issues not in ISSUES:
            raise WorkflowDefinitionError(f"{data['name']}.{name}: bad issues effect")
        if action.side != "applicant" and not action.roles:
            raise WorkflowDefinitionError(f"{data['name']}.{name}: a staff action needs roles")
        actions[name] = action
    workflow = Workflow(
        name=data["name"],
        label=data["label"],
        initial=data["initial"],
        states=states,
        final=frozenset(data["final"]),
        actions=actions,
        notices=dict(data["notices"]) if data.get("notices") else None,
    )
    if workflow.initial not in states or not workflow.final <= set(states):
        raise WorkflowDefinitionError(f"{workflow.name}: unknown initial or final state")
    for final in workflow.final:
        if workflow.allowed(final):
            raise WorkflowDefinitionError(f"{workflow.name}: final state {final} has actions")
    return workflow


@cache
def load(name: str) -> Workflow:
    path = WORKFLOW_DIR / f"{name}.json"
    if not path.exists():
        raise WorkflowDefinitionError(f"no workflow named {name!r}")
    return parse(json.loads(path.read_text(encoding="utf-8")))


def name_for(item_workflow: str, mode: str) -> str:
    """The workflow a new case of this item and mode follows: the item's override for the mode
    if one is shipped, else the mode's own."""
    default = DEFAULT_OF_MODE[mode]
    if item_workflow and item_workflow != "standard":
        override = f"{item_workflow}.{default}"
        if (WORKFLOW_DIR / f"{override}.json").exists():
            return override
    return default
