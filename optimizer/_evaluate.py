"""Shared plan arithmetic: validate a demand; turn a cycle and greens into timings and effects."""

from __future__ import annotations

import math

from optimizer.delay import control_delay_s, degree_of_saturation
from optimizer.errors import InvalidDemand
from optimizer.model import ApproachEffect, Explanation, JunctionDemand, PhaseTiming, Plan


def validate_demand(demand: JunctionDemand) -> None:
    """Raise :class:`InvalidDemand` when the demand cannot be timed as given."""
    if not demand.phases:
        raise InvalidDemand(demand.junction_id, "no phase to time")
    for p in demand.phases:
        for lg in p.lane_groups:
            if lg.flow_vph < 0 or lg.saturation_flow_vph <= 0:
                raise InvalidDemand(
                    demand.junction_id,
                    f"lane group {lg.id}: flow must be >= 0 and saturation flow > 0",
                )


def integer_bounds(demand: JunctionDemand) -> tuple[list[int], list[int], list[int]]:
    """Integer minimum greens (rounded up), maximum greens (rounded down) and intergreens."""
    min_g = [math.ceil(p.min_green_needed_s()) for p in demand.phases]
    max_g = [math.floor(p.max_green_s) for p in demand.phases]
    intergreens = [round(p.intergreen_s) for p in demand.phases]
    for p, lo, hi in zip(demand.phases, min_g, max_g, strict=True):
        if lo > hi:
            raise InvalidDemand(
                demand.junction_id,
                f"phase {p.index}: minimum green {p.min_green_needed_s()} s exceeds "
                f"maximum {p.max_green_s} s; "
                "fix the phase's bounds",
            )
    return min_g, max_g, intergreens


def evaluate(
    demand: JunctionDemand, cycle_s: int, greens: list[int], intergreens: list[int]
) -> tuple[tuple[PhaseTiming, ...], tuple[ApproachEffect, ...], float]:
    """Timings, per-lane-group effects and flow-weighted mean delay (s/veh) of a plan.

    Effective green is the displayed green minus the phase's start-up lost time (HCM convention used
    throughout the package; the intergreen is wholly lost).
    """
    timings: list[PhaseTiming] = []
    effects: list[ApproachEffect] = []
    total_delay = 0.0
    total_flow = 0.0
    for p, g, ig in zip(demand.phases, greens, intergreens, strict=True):
        g_eff = max(0.0, g - p.lost_time_s)
        xs = []
        for lg in p.lane_groups:
            x = degree_of_saturation(lg.flow_vph, lg.saturation_flow_vph, g_eff, cycle_s)
            d = control_delay_s(lg.flow_vph, lg.saturation_flow_vph, g_eff, cycle_s)
            xs.append(x)
            effects.append(
                ApproachEffect(
                    lane_group_id=lg.id,
                    flow_vph=lg.flow_vph,
                    degree_of_saturation=round(x, 4),
                    delay_s_per_veh=round(d, 2),
                    saturation_flow_vph=lg.saturation_flow_vph,
                )
            )
            total_delay += d * lg.flow_vph
            total_flow += lg.flow_vph
        timings.append(
            PhaseTiming(
                index=p.index,
                green_s=g,
                intergreen_s=ig,
                flow_ratio=round(p.flow_ratio(), 4),
                degree_of_saturation=round(max(xs, default=0.0), 4),
            )
        )
    mean_delay = total_delay / total_flow if total_flow > 0 else 0.0
    return tuple(timings), tuple(effects), mean_delay


def assemble_plan(
    demand: JunctionDemand,
    cycle_s: int,
    evaluated: tuple[tuple[PhaseTiming, ...], tuple[ApproachEffect, ...], float],
    explanation: Explanation,
    strategy: str,
) -> Plan:
    """A plan (offset 0) from :func:`evaluate`'s output and its explanation."""
    timings, effects, mean_delay = evaluated
    return Plan(
        junction_id=demand.junction_id,
        cycle_s=cycle_s,
        offset_s=0,
        phases=timings,
        effects=effects,
        expected_delay_s_per_veh=round(mean_delay, 2),
        explanation=explanation,
        strategy=strategy,
    )
