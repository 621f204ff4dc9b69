"""Guardrails between periods: a published plan moves at most the configured bounds from the
junction's running plan, and says how it reaches the recommendation.

"Running" is the last plan published for the junction: the pipeline has no operator-approval topic
yet. When approvals exist, the approved plan replaces it here. The running plans live in the zone's
state (:class:`streams.zone_state.ZoneState`), so they survive restarts like the counts do.

Pure: a running plan, a recommendation and the junction's demand come in; the plan to publish and
its transition go out (the bounded steps are :func:`optimizer.guardrails.guard_transition`'s).
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

from optimizer.guardrails import GuardrailConfig, Transition, guard_transition
from optimizer.model import Explanation, JunctionDemand, PhaseTiming, Plan
from streams.events import PlanTransition, SignalPlan, TransitionCycle

UNBOUNDED_S = 100_000
"""A step no cycle can take: what a bound of 0 (unbounded) becomes for the optimiser."""


class RunningPlan(msgspec.Struct, frozen=True, kw_only=True):
    """What the guardrails need of the plan a junction runs (kept in the zone's state)."""

    cycle_s: int
    phase_indices: tuple[int, ...]
    greens_s: tuple[int, ...]
    offset_s: int = 0
    valid_from_ms: int = 0
    """Start of the period the plan was published for."""

    @classmethod
    def of(cls, event: SignalPlan) -> RunningPlan:
        """The running plan a published ``SignalPlan`` becomes."""
        return cls(
            cycle_s=event.cycle_s,
            phase_indices=tuple(p.index for p in event.phases),
            greens_s=tuple(p.green_s for p in event.phases),
            offset_s=event.offset_s,
            valid_from_ms=int(event.valid_from.timestamp() * 1000),
        )


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


def applies(running: RunningPlan | None, recommended: Plan) -> bool:
    """Whether ``running`` can be guarded against: same phases, and its greens plus the
    recommendation's intergreens fill its cycle (a network change breaks that: start afresh)."""
    if running is None:
        return False
    if running.phase_indices != tuple(p.index for p in recommended.phases):
        return False
    intergreens = sum(p.intergreen_s for p in recommended.phases)
    return sum(running.greens_s) + intergreens == running.cycle_s


def guard(
    running: RunningPlan | None,
    recommended: Plan,
    demand: JunctionDemand,
    config: GuardrailConfig | None,
) -> Guarded | None:
    """The bounded plan and its transition, or ``None`` when guardrails are off or do not apply
    (no running plan, other phases)."""
    if config is None or running is None or not applies(running, recommended):
        return None
    t = guard_transition(_as_plan(running, recommended), recommended, demand, config)
    return Guarded(t.apply_now, _transition_event(t, running, recommended, config))


def _as_plan(running: RunningPlan, like: Plan) -> Plan:
    """The running plan in the optimiser's type (only cycle, phases and greens are read)."""
    return Plan(
        junction_id=like.junction_id,
        cycle_s=running.cycle_s,
        offset_s=running.offset_s,
        phases=tuple(
            PhaseTiming(
                index=i,
                green_s=g,
                intergreen_s=p.intergreen_s,
                flow_ratio=0.0,
                degree_of_saturation=0.0,
            )
            for i, g, p in zip(running.phase_indices, running.greens_s, like.phases, strict=True)
        ),
        effects=(),
        expected_delay_s_per_veh=0.0,
        explanation=Explanation(
            method="running", objective="", binding_constraints=(), solver_status="closed_form"
        ),
        strategy="running",
    )


def _bound(v: int) -> int:
    return 0 if v >= UNBOUNDED_S else v


def _transition_event(
    t: Transition, running: RunningPlan, recommended: Plan, config: GuardrailConfig
) -> PlanTransition:
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
    )
