"""Fixed-time control as cities run it today: one cycle, greens that ignore demand."""

from __future__ import annotations

import math

from optimizer._envelope import EnvelopeGuard
from optimizer._evaluate import assemble_plan, evaluate, integer_bounds, validate_demand
from optimizer.errors import InvalidDemand
from optimizer.model import Explanation, JunctionDemand, Plan
from optimizer.strategy import (
    Decision,
    Envelope,
    JunctionState,
    register_controller,
    register_planner,
)
from optimizer.webster import split_integer

DEFAULT_CYCLE_S = 90
"""The cycle a fixed-time plan uses when its bounds allow it (a common urban default)."""


def fixed_time_greens(
    cycle_s: int, min_green: list[int], max_green: list[int], intergreens: list[int]
) -> list[int]:
    """Equal greens for ``cycle_s`` (largest-remainder rounding), within the bounds."""
    return split_integer(cycle_s - sum(intergreens), [1.0] * len(min_green), min_green, max_green)


def fixed_time_plan(demand: JunctionDemand, cycle_s: int = DEFAULT_CYCLE_S) -> Plan:
    """A plan with ``cycle_s`` (moved into the feasible range), equal greens."""
    validate_demand(demand)
    min_g, max_g, ig = integer_bounds(demand)
    low = max(demand.cycle_min_s, sum(min_g) + sum(ig))
    high = min(demand.cycle_max_s, sum(max_g) + sum(ig))
    if low > high:
        raise InvalidDemand(
            demand.junction_id, "no cycle satisfies the cycle bounds and the green bounds"
        )
    cycle = min(max(cycle_s, low), high)
    greens = fixed_time_greens(cycle, min_g, max_g, ig)
    timings, effects, mean_delay = evaluate(demand, cycle, greens, ig)
    over = any(t.degree_of_saturation >= 1 for t in timings)
    explanation = Explanation(
        method="fixed-time",
        objective="none: equal greens at a fixed cycle (reference for comparisons)",
        binding_constraints=("cycle_fixed",),
        solver_status="closed_form",
        parameters={"requested_cycle_s": cycle_s},
        text_en=f"Junction {demand.junction_id}: fixed {cycle} s cycle, greens shared equally.",
        text_fr=(
            f"Carrefour {demand.junction_id} : cycle fixe de {cycle} s, "
            "verts répartis à parts égales."
        ),
        oversaturated=over,
    )
    return assemble_plan(demand, cycle, (timings, effects, mean_delay), explanation, "fixed-time")


class FixedTimePlanner:
    """Fixed-time plans as a Planner."""

    name = "fixed-time"

    def __init__(self, cycle_s: int = DEFAULT_CYCLE_S) -> None:
        self.cycle_s = cycle_s

    def plan(self, demand: JunctionDemand) -> Plan:
        """Equal greens at the fixed cycle."""
        return fixed_time_plan(demand, self.cycle_s)


class FixedTimeController:
    """Plays a fixed plan second by second: each phase keeps its green, then the next one in order.

    ``greens_s`` (by phase index) defaults to equal greens at :data:`DEFAULT_CYCLE_S` moved into the
    envelope's cycle bounds.
    """

    name = "fixed-time"

    def __init__(self, envelope: Envelope, greens_s: tuple[float, ...] | None = None) -> None:
        self.envelope = envelope
        self._guard = EnvelopeGuard(envelope)
        if greens_s is None:
            greens_s = tuple(float(g) for g in _envelope_greens(envelope))
        self.greens_s = greens_s

    def decide(self, state: JunctionState) -> Decision:
        """Keep the current phase until its planned green has run, then switch to the next one."""
        cur = state.current_phase
        planned = self.greens_s[cur] if 0 <= cur < len(self.greens_s) else 0.0
        left = planned - state.phase_elapsed_s
        if left > 0:
            return self._guard.decide(
                state,
                want=cur,
                hold_s=left,
                reason=f"fixed plan: phase {cur} green {planned:.0f} s, {left:.0f} s left",
            )
        succ = self._guard.successor(cur)
        return self._guard.decide(
            state,
            want=succ,
            hold_s=0.0,
            reason=f"fixed plan: phase {cur} green of {planned:.0f} s done, next {succ}",
        )


def _envelope_greens(envelope: Envelope) -> list[int]:
    order = envelope.phase_order
    n = len(envelope.min_green_s)
    ig_total = round(sum(envelope.intergreen_s[p] for p in order))
    low = [math.ceil(envelope.min_green_s[p]) for p in order]
    high = [math.floor(envelope.max_green_s[p]) for p in order]
    cycle = round(min(max(DEFAULT_CYCLE_S, envelope.cycle_min_s), envelope.cycle_max_s))
    total = min(max(cycle - ig_total, sum(low)), sum(high))
    shares = split_integer(total, [1.0] * len(order), low, high)
    greens = [0] * n
    for p, g in zip(order, shares, strict=True):
        greens[p] = g
    return greens


register_planner("fixed-time", FixedTimePlanner)
register_controller("fixed-time", FixedTimeController)
