"""Random action sequences by random actors, per mode, against the invariants of the issue:
the state is always a state of the workflow, the clock is never negative and never runs while
paused, every chain verifies, a closed case accepts no further action, and only actors the
workflow allows ever succeed."""

from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from tests.cases.conftest import FORWARD, form_for, scan_identity
from tests.factories import PersonFactory, StaffFactory
from tongban.cases import services, workflow
from tongban.cases.models import Case
from tongban.cases.selectors import case_clock, chain_break
from tongban.core.errors import DomainError

PAYLOADS: dict[str, dict[str, Any]] = {
    "reject_intake": {"reasons": "不属于本机关职权范围", "apply_instead": "市教委"},
    "request_supplement": {"missing": ["学历证书"]},
    "pause": {"kind": "expert_review", "reason": "核查"},
    "extend": {"reason": "情况复杂"},
    "deny": {"reasons": "不符合条件"},
    "forward": FORWARD,
}
# Who, of the cast below, the workflow lets take each side's actions.
SUCCESSES: dict[str, int] = {}
CAST = ["applicant", "stranger", "reviewer", "approver", "other_reviewer", "clerk"]
ALLOWED_ROLES = {
    "applicant": {"applicant"},
    "receiving": {"clerk"},
    "authority": {"reviewer", "approver"},
}


def machine_for(mode: str) -> type[RuleBasedStateMachine]:
    class CaseMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            from tongban.catalog.models import ServiceItem
            from tongban.catalog.selectors import version_current

            item = ServiceItem.objects.get(version=version_current(), name="学历公证")
            applicant = PersonFactory(with_login=True)
            self.cast = {
                "applicant": applicant.user,
                "stranger": PersonFactory(with_login=True).user,
                "reviewer": StaffFactory(reviewer=True, department_key="cq-justice").user,
                "approver": StaffFactory(approver=True, department_key="cq-justice").user,
                "other_reviewer": StaffFactory(reviewer=True, department_key="cq-hrss").user,
                "clerk": StaffFactory(window_clerk=True, department_key="cq-big-data").user,
            }
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
                )
            self.flow = workflow.load(self.case.workflow)

        @rule(data=st.data())
        def act(self, data: st.DataObject) -> None:
            # Mostly actions possible in the current state (so cases move along), sometimes any
            # action (so refusals of impossible ones are exercised too); always a random actor.
            state = Case.objects.values_list("state", flat=True).get(pk=self.case.pk)
            possible = self.flow.allowed(state)
            chance = data.draw(st.integers(0, 9))
            pool = possible if possible and chance < 8 else sorted(self.flow.actions)
            action = data.draw(st.sampled_from(pool))
            who = data.draw(st.sampled_from(CAST))
            before = Case.objects.get(pk=self.case.pk)
            events_before = before.events.count()
            step = self.flow.actions[action]
            try:
                after = services.case_act(
                    actor=self.cast[who],
                    number=self.case.number,
                    action=action,
                    payload=PAYLOADS.get(action, {}),
                )
            except DomainError:
                unchanged = Case.objects.get(pk=self.case.pk)
                assert unchanged.state == before.state
                assert unchanged.events.count() == events_before
                return
            assert not self.flow.is_final(before.state), "a closed case accepted an action"
            assert before.state in step.sources
            assert who in ALLOWED_ROLES[step.side]
            if step.side == "authority":
                role = "reviewer" if who == "reviewer" else "approver"
                assert role in step.roles
            assert after.events.count() == events_before + 1
            SUCCESSES[mode] = SUCCESSES.get(mode, 0) + 1

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

    return CaseMachine


@pytest.mark.django_db
@pytest.mark.parametrize("mode", ["ONLINE", "PROXY"])
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
