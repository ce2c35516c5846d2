"""Random action sequences by random actors, per mode, against the invariants of the issue:
the state is always a state of the workflow, the clock is never negative and never runs while
paused, every chain verifies, a closed case accepts no further action, and only actors the
workflow allows ever succeed. JOINT cases also keep their legs in order: one leg at work while
the case is in its legs, none before acceptance or after the end, each result valid and handed
to the legs after it."""

from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from tests.cases.conftest import FORWARD, form_for, scan_identity
from tests.factories import PersonFactory, StaffFactory
from tongban.accounts.models import Staff
from tongban.cases import legs, services, workflow
from tongban.cases.models import Case, CaseLeg
from tongban.cases.selectors import case_clock, chain_break
from tongban.catalog.forms import form_errors
from tongban.core.errors import DomainError

PAYLOADS: dict[str, dict[str, Any]] = {
    "reject_intake": {"reasons": "不属于本机关职权范围", "apply_instead": "市教委"},
    "request_supplement": {"missing": ["学历证书"]},
    "pause": {"kind": "expert_review", "reason": "核查"},
    "extend": {"reason": "情况复杂"},
    "deny": {"reasons": "不符合条件"},
    "forward": FORWARD,
    "refuse_leg": {"reasons": "无参保缴费记录"},
}
# Who, of the cast below, the workflow lets take each side's actions.
SUCCESSES: dict[str, int] = {}
CAST = ["applicant", "stranger", "reviewer", "approver", "other_reviewer", "clerk"]
# JOINT: the pension transfer from Chengdu (origin) to Chongqing (destination, deciding).
JOINT_CAST = [*CAST, "origin_reviewer", "origin_approver"]
ALLOWED_ROLES = {
    "applicant": {"applicant"},
    "receiving": {"clerk"},
    "authority": {"reviewer", "approver"},
    "leg": {"reviewer", "approver", "origin_reviewer", "origin_approver"},
}
# The item, the deciding department and a department of the same place that must stay out.
SETUP = {
    "ONLINE": ("学历公证", "cq-justice", "cq-hrss"),
    "PROXY": ("学历公证", "cq-justice", "cq-hrss"),
    "JOINT": ("企业职工基本养老保险关系转移接续", "cq-hrss", "cq-justice"),
}
SAMPLE_DATE = "2026-11-26"
MOVE_ON = frozenset({"accept", "complete_leg"})


def valid_result(schema: dict[str, Any]) -> dict[str, Any]:
    """A result a leg's schema accepts (the shipped schemas use these kinds of field only)."""
    result: dict[str, Any] = {}
    for name, field in schema["properties"].items():
        if field["type"] == "string" and "pattern" in field:
            assert field["pattern"] == "^[0-9]{4}-[0-9]{2}-[0-9]{2}$", field
            result[name] = SAMPLE_DATE
        elif field["type"] == "string":
            result[name] = "TB-2026-1"
        elif field["type"] == "integer":
            result[name] = 180
        elif field["type"] == "number":
            result[name] = 12345.67
        else:
            raise AssertionError(f"no sample for {name}: {field}")
    assert form_errors(schema, result) == {}
    return result


def active_leg(case: Case) -> tuple[CaseLeg | None, legs.LegStep | None]:
    leg = CaseLeg.objects.filter(case=case, state="active").order_by("seq").first()
    plan = legs.plan_for_item(case.item.name)
    if leg is None or plan is None:
        return leg, None
    return leg, next(step for step in plan.legs if step.key == leg.key)


def machine_for(mode: str) -> type[RuleBasedStateMachine]:
    class CaseMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            from tongban.catalog.models import ServiceItem
            from tongban.catalog.selectors import version_current

            item_name, department, other_department = SETUP[mode]
            item = ServiceItem.objects.get(version=version_current(), name=item_name)
            applicant = PersonFactory(with_login=True)
            staff = {
                "reviewer": StaffFactory(reviewer=True, department_key=department),
                "approver": StaffFactory(approver=True, department_key=department),
                "other_reviewer": StaffFactory(reviewer=True, department_key=other_department),
                "clerk": StaffFactory(window_clerk=True, department_key="cq-big-data"),
            }
            if mode == "JOINT":
                for role in ("reviewer", "approver"):
                    staff[f"origin_{role}"] = StaffFactory(
                        department_key="cd-hrss", jurisdiction_code="510100", roles=[role]
                    )
            self.staff: dict[str, Staff] = staff
            self.cast = {
                "applicant": applicant.user,
                "stranger": PersonFactory(with_login=True).user,
                **{name: member.user for name, member in staff.items()},
            }
            self.names = JOINT_CAST if mode == "JOINT" else CAST
            if mode == "PROXY":
                self.case = services.case_submit(
                    actor=self.cast["clerk"],
                    item_code=item.code,
                    scenario_key="general",
                    authority_division="500000",
                    form_data=form_for(applicant),
                    mode="PROXY",
                    applicant_id_number=applicant.id_number,
                )
                scan_identity(self.cast["clerk"], self.case.number)
            else:
                self.case = services.case_submit(
                    actor=applicant.user,
                    item_code=item.code,
                    scenario_key="general",
                    authority_division="500000",
                    form_data=form_for(applicant),
                    mode=mode,
                    origin_division="510100" if mode == "JOINT" else None,
                )
            self.flow = workflow.load(self.case.workflow)

        @rule(data=st.data())
        def act(self, data: st.DataObject) -> None:
            # Mostly actions possible in the current state (so cases move along), sometimes any
            # action (so refusals of impossible ones are exercised too); a random actor, for a
            # leg's action half the time one of the leg's staff (a random one rarely fits).
            state = Case.objects.values_list("state", flat=True).get(pk=self.case.pk)
            possible = self.flow.allowed(state)
            chance = data.draw(st.integers(0, 9))
            pool = possible if possible and chance < 8 else sorted(self.flow.actions)
            if mode == "JOINT":
                # Three legs must be done before a JOINT case is decided, and one withdrawal,
                # rejection or refusal ends it: weight the steps forward so cases get through.
                pool = [*pool, *(2 * [name for name in pool if name in MOVE_ON])]
            action = data.draw(st.sampled_from(pool))
            before = Case.objects.get(pk=self.case.pk)
            step = self.flow.actions[action]
            leg, leg_step = active_leg(before)
            fit = [
                name
                for name, member in self.staff.items()
                if leg is not None
                and step.side == "leg"
                and member.department_id == leg.department_id
                and set(member.roles) & set(leg.roles)
            ]
            lucky = bool(fit) and data.draw(st.booleans())
            who = data.draw(st.sampled_from(fit if lucky else self.names))
            events_before = before.events.count()
            legs_before = list(before.legs.order_by("seq").values_list("state", "output"))
            payload = PAYLOADS.get(action, {})
            if action == "complete_leg":
                # Mostly the valid result of whichever leg is at work, sometimes an empty one.
                valid = leg_step is not None and data.draw(st.integers(0, 4)) > 0
                payload = {"result": valid_result(leg_step.schema) if valid else {}}
            try:
                after = services.case_act(
                    actor=self.cast[who],
                    number=self.case.number,
                    action=action,
                    payload=payload,
                )
            except DomainError:
                unchanged = Case.objects.get(pk=self.case.pk)
                assert unchanged.state == before.state
                assert unchanged.events.count() == events_before
                assert (
                    list(unchanged.legs.order_by("seq").values_list("state", "output"))
                    == legs_before
                )
                return
            assert not self.flow.is_final(before.state), "a closed case accepted an action"
            assert before.state in step.sources
            assert who in ALLOWED_ROLES[step.side]
            if step.side in {"authority", "leg"}:
                member = self.staff[who]
                roles = set(member.roles) & step.roles
                if step.side == "leg":
                    # Staff of the department doing the leg at work, in a role the leg allows.
                    assert leg is not None
                    assert member.department_id == leg.department_id
                    if step.legs is not None:
                        roles &= set(leg.roles)
                else:
                    assert member.department_id == before.authority_department_id
                assert roles, f"{who} took {action} without a role for it"
            assert after.events.count() == events_before + 1
            for key in (mode, f"{mode}.{action}"):
                SUCCESSES[key] = SUCCESSES.get(key, 0) + 1

        @invariant()
        def consistent(self) -> None:
            case = Case.objects.get(pk=self.case.pk)
            assert case.state in self.flow.states
            assert chain_break(case) is None
            clock = case_clock(case)
            if clock.used is not None:
                assert clock.used >= 0
            open_pauses = case.pauses.filter(ended_on__isnull=True).count()
            assert (case.state == "paused") == (open_pauses == 1)
            assert open_pauses <= 1
            assert (case.accepted_on is None) == (clock.started_on is None)
            if mode == "JOINT":
                self.legs_in_order(case)

        def legs_in_order(self, case: Case) -> None:
            rows = list(case.legs.order_by("seq"))
            states = [leg.state for leg in rows]
            active = states.count("active")
            assert active == (1 if case.state in {"in_legs", "paused"} else 0)
            if case.state in {"submitted", "awaiting_supplement"}:
                assert set(states) == {"waiting"}
            if case.state in {"approved", "delivering"}:
                assert set(states) == {"done"}
            if case.state in {"denied", *self.flow.final}:
                assert not {"waiting", "active"} & set(states)
            # Done legs come first, each after the other; a refusal is the last leg that acted.
            done = states.count("done")
            assert states[:done] == ["done"] * done
            assert states.count("refused") <= 1
            assert (case.state == "denied") <= ("refused" in states)
            plan = legs.plan_for_item(case.item.name)
            assert plan is not None
            outputs: list[dict[str, Any]] = []
            for leg, plan_step in zip(rows, plan.legs, strict=True):
                assert leg.key == plan_step.key
                if leg.state == "done":
                    assert form_errors(plan_step.schema, leg.output) == {}
                if leg.state in {"active", "done", "refused"}:
                    assert leg.input == legs.handed_over(outputs)
                outputs.append(leg.output)

    return CaseMachine


@pytest.mark.django_db
@pytest.mark.parametrize("mode", ["ONLINE", "PROXY", "JOINT"])
def test_random_action_sequences_keep_the_invariants(mode: str) -> None:
    run_state_machine_as_test(
        machine_for(mode),
        settings=settings(
            max_examples=15,
            stateful_step_count=30,
            deadline=None,
            derandomize=True,  # the same sequences on every run: CI stays deterministic
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
    # The machine must have moved cases along, not only collected refusals.
    assert SUCCESSES.get(mode, 0) >= 10
    if mode == "JOINT":  # and through the legs, not only in and out of intake
        assert SUCCESSES.get("JOINT.complete_leg", 0) >= 3
