"""Guardrails between periods: a published plan moves at most the configured bounds from the
junction's *active* plan (the last one approved, :class:`streams.events.ActivePlan`), and says how
it reaches the recommendation.

The active plan is the one representation of "what the junction runs": the event an approval
publishes on ``aiguilleur.signal-plans.active.v1``, held by every worker
(:class:`streams.oversight.Oversight`). A junction with no approved plan has nothing to bound
from: its recommendation is published as computed.

Pure: an active plan, a recommendation and the junction's demand come in; the plan to publish and
its transition go out (the bounded steps are :func:`optimizer.guardrails.guard_transition`'s).
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

from optimizer.errors import InvalidDemand
from optimizer.guardrails import (
    GuardrailConfig,
    Transition,
    TransitionStep,
    guard_transition,
    timing_delay_s_per_veh,
)
from optimizer.model import JunctionDemand, Plan
from streams.events import ActivePlan, PlanTransition, TransitionCycle

UNBOUNDED_S = 100_000
"""A step no cycle can take: what a bound of 0 (unbounded) becomes for the optimiser."""


def guardrail_config(max_cycle_step_s: int, max_green_step_s: int) -> GuardrailConfig | None:
    """The optimiser's bounds from the settings: 0 leaves that quantity unbounded; both 0 turns
    guardrails off (``None``)."""
    if max_cycle_step_s == 0 and max_green_step_s == 0:
        return None
    return GuardrailConfig(
        max_cycle_step_s=max_cycle_step_s or UNBOUNDED_S,
        max_green_step_s=max_green_step_s or UNBOUNDED_S,
    )


@dataclass(frozen=True, slots=True)
class Guarded:
    """The plan to publish now and the transition it starts."""

    plan: Plan
    transition: PlanTransition


def timing(active: ActivePlan) -> TransitionStep:
    """The cycle and greens the junction runs (greens in the active plan's phase order)."""
    return TransitionStep(
        cycle_s=active.plan.cycle_s, greens_s=tuple(p.green_s for p in active.plan.phases)
    )


def applies(active: ActivePlan | None, recommended: Plan) -> bool:
    """Whether ``active`` can be guarded against: same phases, and its greens plus the
    recommendation's intergreens fill its cycle (a network change breaks that: start afresh)."""
    if active is None:
        return False
    if tuple(p.index for p in active.plan.phases) != tuple(p.index for p in recommended.phases):
        return False
    intergreens = sum(p.intergreen_s for p in recommended.phases)
    return sum(p.green_s for p in active.plan.phases) + intergreens == active.plan.cycle_s


def timed_demand(demand: JunctionDemand, recommended: Plan) -> JunctionDemand:
    """``demand`` restricted to the phases ``recommended`` times (a planner may leave a
    skippable phase out of its plan: the bounds and delays then concern the phases it shows)."""
    timed = {p.index for p in recommended.phases}
    return msgspec.structs.replace(
        demand, phases=tuple(p for p in demand.phases if p.index in timed)
    )


def active_delay(
    active: ActivePlan | None, recommended: Plan, demand: JunctionDemand
) -> float | None:
    """The mean delay the active plan gives under ``demand`` (``None`` when it does not apply)."""
    if not applies(active, recommended) or active is None:
        return None
    demand = timed_demand(demand, recommended)
    if [p.index for p in demand.phases] != [p.index for p in recommended.phases]:
        return None
    try:
        return timing_delay_s_per_veh(timing(active), demand)
    except InvalidDemand:
        return None


def guard(
    active: ActivePlan | None,
    recommended: Plan,
    demand: JunctionDemand,
    config: GuardrailConfig | None,
) -> Guarded | None:
    """The bounded plan and its transition, or ``None`` when guardrails are off or do not apply
    (no active plan, other phases)."""
    if config is None or active is None or not applies(active, recommended):
        return None
    demand = timed_demand(demand, recommended)
    t = guard_transition(timing(active), recommended, demand, config)
    return Guarded(t.apply_now, _transition_event(t, active, recommended, config))


def _bound(v: int) -> int:
    return 0 if v >= UNBOUNDED_S else v


def _transition_event(
    t: Transition, active: ActivePlan, recommended: Plan, config: GuardrailConfig
) -> PlanTransition:
    running = timing(active)
    return PlanTransition(
        running_cycle_s=running.cycle_s,
        running_greens_s=running.greens_s,
        target_cycle_s=recommended.cycle_s,
        target_greens_s=tuple(p.green_s for p in recommended.phases),
        steps=tuple(TransitionCycle(cycle_s=s.cycle_s, greens_s=s.greens_s) for s in t.steps),
        cycles_to_target=t.cycles_to_target,
        clamped=t.clamped,
        reached=t.reached,
        max_cycle_step_s=_bound(config.max_cycle_step_s),
        max_green_step_s=_bound(config.max_green_step_s),
        text_en=t.text_en,
        text_fr=t.text_fr,
        active_plan_id=active.plan.plan_id,
    )
