"""Guardrails: every step of a transition stays within its bounds and reaches the target."""

from __future__ import annotations

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from optimizer import InvalidDemand, JunctionDemand, fixed_time_plan
from optimizer.guardrails import GuardrailConfig, TransitionStep, guard_transition
from optimizer.isolated import optimize_junction
from tests.unit.optimizer._gen import demands, junction_demands


@settings(max_examples=50, deadline=None)
@given(
    demand=junction_demands(),
    cycle=st.integers(30, 160),
    cstep=st.integers(1, 15),
    gstep=st.integers(1, 10),
)
def test_every_step_is_bounded_and_the_transition_reaches_the_recommendation(
    demand: JunctionDemand, cycle: int, cstep: int, gstep: int
) -> None:
    try:
        running = fixed_time_plan(demand, cycle)
        recommended = optimize_junction(demand)
    except InvalidDemand:
        assume(False)
        return
    cfg = GuardrailConfig(max_cycle_step_s=cstep, max_green_step_s=gstep)
    tr = guard_transition(TransitionStep.of(running), recommended, demand, cfg)
    ig = sum(p.intergreen_s for p in running.phases)
    previous = (running.cycle_s, [p.green_s for p in running.phases])
    for step in tr.steps:
        assert abs(step.cycle_s - previous[0]) <= cstep
        assert all(abs(a - b) <= gstep for a, b in zip(step.greens_s, previous[1], strict=True))
        assert sum(step.greens_s) + ig == step.cycle_s
        for g, p in zip(step.greens_s, demand.phases, strict=True):
            assert max(p.min_green_s, p.pedestrian_min_green_s) <= g <= p.max_green_s
        previous = (step.cycle_s, list(step.greens_s))
    assert tr.reached
    if tr.steps:
        assert previous == (recommended.cycle_s, [p.green_s for p in recommended.phases])
    assert tr.cycles_to_target == len(tr.steps)
    now = tr.apply_now
    assert now.total_green_s() + ig == now.cycle_s
    moved = [p.green_s for p in now.phases] != [p.green_s for p in recommended.phases]
    assert tr.clamped == (now.cycle_s != recommended.cycle_s or moved)


def test_a_small_change_is_applied_at_once_and_a_large_one_is_staged() -> None:
    demand = demands(2, [[500.0], [250.0]])
    recommended = optimize_junction(demand)
    near = guard_transition(
        TransitionStep.of(fixed_time_plan(demand, recommended.cycle_s)),
        recommended,
        demand,
        GuardrailConfig(max_cycle_step_s=10, max_green_step_s=30),
    )
    assert not near.clamped
    assert near.apply_now == recommended
    far = guard_transition(
        TransitionStep.of(fixed_time_plan(demand, 120)),
        recommended,
        demand,
        GuardrailConfig(max_cycle_step_s=5, max_green_step_s=5),
    )
    assert far.clamped
    assert far.cycles_to_target >= (120 - recommended.cycle_s) // 5
    assert far.apply_now.strategy == "optimizer+guardrails"
    assert "guardrail" in far.apply_now.explanation.binding_constraints
    assert "cycles" in far.text_en
    assert "cycles" in far.text_fr
