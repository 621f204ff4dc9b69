"""Isolated junction optimiser: integer cycle and greens that minimise total HCM control delay.

Method (details and formulas in ``docs/optimizer.md``):

1. **Saturation first.** The least achievable worst degree of saturation ``z*`` over every
   integer plan is found by bisection on the tables. If ``z* <= saturation_cap`` (1.0 by default)
   every lane group is kept at or under the cap; otherwise the junction is *oversaturated*: the
   worst degree of saturation is pinned at ``z*`` (its minimum), the plan is flagged, and delay is
   minimised second.
2. **Enumerate cycles.** For every integer cycle in the bounds, the exact best green split and
   its delay come from :func:`optimizer._tables.cycle_costs`; the cheapest cycle wins (shortest on
   ties).
3. **Solve the split with OR-Tools** at that cycle: GLOP on the incremental LP when the costs are
   convex (exact, and its dual prices one more second of green), CP-SAT otherwise. The solver's
   status is the plan's status.

Pure and deterministic: same demand and options, byte-identical plan (:class:`OptimizerOptions`).
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec
import numpy as np
import numpy.typing as npt

from optimizer._evaluate import assemble_plan, evaluate, integer_bounds, validate_demand
from optimizer._solve import SplitResult, solve_cp_sat, solve_lp, split_data
from optimizer._tables import (
    FloatArray,
    IntArray,
    Tables,
    build_tables,
    cycle_costs,
    exact_split,
    greens_needed,
    min_worst_saturation,
)
from optimizer._text import optimizer_texts
from optimizer._uncertainty import DEFAULT_CONFIDENCE_Z, planning_demand
from optimizer.errors import InvalidDemand
from optimizer.model import ApproachEffect, Explanation, JunctionDemand, Plan
from optimizer.strategy import register_planner

AGREEMENT_TOL = 1e-6
"""Relative gap allowed between the enumeration's cost and the solver's before trusting CP-SAT."""


class OptimizerOptions(msgspec.Struct, frozen=True, kw_only=True):
    """Solver settings. They are recorded in the plan's explanation."""

    time_limit_s: float = 1.0
    num_workers: int = 1
    random_seed: int = 0
    saturation_cap: float = 1.0
    """Degree of saturation no lane group may exceed when some plan keeps them all under it."""
    deterministic: bool = True
    """Report ``solver_time_s = 0`` so that equal inputs give byte-identical plans."""
    count_confidence_z: float = DEFAULT_CONFIDENCE_Z
    """For counted demand (``JunctionDemand.count_period_s``), plan for the upper confidence bound
    of each lane group's rate at this normal quantile (0: plan for the counts as they are)."""


@dataclass(frozen=True)
class CycleAnalysis:
    """Everything the enumeration learns about a junction: per-cycle optimal delay and its data."""

    cycles: IntArray
    costs: FloatArray
    """Least total delay (veh·s/h) of each cycle under the saturation cap (``inf``: no split)."""
    convex: npt.NDArray[np.bool_]
    need: IntArray
    tables: Tables
    intergreens: list[int]
    bounds: tuple[int, int, list[int], list[int]]
    z_star: float
    oversaturated: bool


def analyse_cycles(
    demand: JunctionDemand, options: OptimizerOptions | None = None
) -> CycleAnalysis:
    """Tables, saturation cap and exact best delay of every feasible integer cycle.

    Counted demand is first raised to the rates its counts cannot rule out
    (:func:`optimizer._uncertainty.planning_demand`).
    """
    opts = options or OptimizerOptions()
    validate_demand(demand)
    demand = planning_demand(demand, opts.count_confidence_z)
    min_g, max_g, intergreens = integer_bounds(demand)
    ig_total = sum(intergreens)
    c_lo = max(demand.cycle_min_s, sum(min_g) + ig_total)
    c_hi = min(demand.cycle_max_s, sum(max_g) + ig_total)
    if c_lo > c_hi:
        raise InvalidDemand(
            demand.junction_id,
            f"no cycle fits: greens and intergreens need {sum(min_g) + ig_total}..."
            f"{sum(max_g) + ig_total} s, cycle bounds are "
            f"{demand.cycle_min_s}..{demand.cycle_max_s} s; widen the bounds",
        )
    cycles = np.arange(c_lo, c_hi + 1, dtype=np.int64)
    # No green can exceed what the longest cycle leaves the others: tables stop there (a
    # maximum green of a day must not make them a day wide). Explanations keep the real bounds.
    reach = [
        min(hi, c_hi - ig_total - (sum(min_g) - lo)) for lo, hi in zip(min_g, max_g, strict=True)
    ]
    tables = build_tables(demand, cycles, min_g, reach, ig_total)
    z_star = min_worst_saturation(tables)
    oversaturated = z_star > opts.saturation_cap
    need = greens_needed(tables, z_star if oversaturated else opts.saturation_cap)
    costs, convex = cycle_costs(tables, need)
    return CycleAnalysis(
        cycles=cycles,
        costs=costs,
        convex=convex,
        need=need,
        tables=tables,
        intergreens=intergreens,
        bounds=(c_lo, c_hi, min_g, max_g),
        z_star=z_star,
        oversaturated=oversaturated,
    )


TIE_TOLERANCE = 1e-9
"""Cycles whose delays differ by less than this (relative, at least 1e-9 in absolute) tie."""


def _shortest_best(costs: np.ndarray) -> int:
    """The shortest cycle among the best: a delay within :data:`TIE_TOLERANCE` of the least
    counts as equal. Rounding noise alone (flows of 1e-49 veh/h, as a least-squares estimate
    gives for a movement nobody takes) otherwise picked a longer cycle for more demand and a
    shorter one for less."""
    finite = costs[np.isfinite(costs)]
    if finite.size == 0:
        return int(np.argmin(costs))
    least = float(finite.min())
    return int(np.flatnonzero(costs <= least + TIE_TOLERANCE * max(1.0, abs(least)))[0])


def optimize_junction(
    demand: JunctionDemand, running: Plan | None = None, options: OptimizerOptions | None = None
) -> Plan:
    """The delay-minimising plan for ``demand``; ``running`` (the plan in force) is compared."""
    opts = options or OptimizerOptions()
    an = analyse_cycles(demand, opts)
    cycles, costs, need, intergreens = an.cycles, an.costs, an.need, an.intergreens
    c_lo, c_hi, min_g, max_g = an.bounds
    oversaturated, z_star, tables, convex = an.oversaturated, an.z_star, an.tables, an.convex
    k = _shortest_best(costs)
    if not np.isfinite(costs[k]):
        raise InvalidDemand(demand.junction_id, "no green split satisfies the bounds")
    result = _solve_split(tables, k, need[k].tolist(), bool(convex[k]), float(costs[k]), opts)
    cycle = int(cycles[k])
    timings, effects, mean_delay = evaluate(demand, cycle, result.greens, intergreens)
    running_mean, effects = _compare(demand, running, effects)
    binding = _binding(demand, cycle, c_lo, c_hi, result.greens, min_g, max_g, need[k].tolist())
    worst = max((t.degree_of_saturation for t in timings), default=0.0)
    texts = optimizer_texts(
        demand.junction_id, cycle, worst, oversaturated, mean_delay, running_mean, binding
    )
    explanation = Explanation(
        method="optimizer",
        objective=(
            "minimise the worst degree of saturation, then total control delay (HCM d1+d2)"
            if oversaturated
            else f"minimise total control delay (HCM d1+d2) with every x <= {opts.saturation_cap}"
        ),
        binding_constraints=tuple(binding),
        solver_status=result.status,
        solver_time_s=0.0 if opts.deterministic else round(result.wall_time_s, 6),
        parameters=_parameters(opts, result, len(cycles), z_star, demand.count_period_s),
        text_en=texts[0],
        text_fr=texts[1],
        oversaturated=oversaturated,
        objective_value=round(result.objective / 3600.0, 6),
        max_degree_of_saturation=worst,
        running_delay_s_per_veh=None if running_mean is None else round(running_mean, 2),
    )
    return assemble_plan(demand, cycle, (timings, effects, mean_delay), explanation, "optimizer")


def _solve_split(
    tables: Tables, k: int, need: list[int], convex: bool, expected: float, opts: OptimizerOptions
) -> SplitResult:
    """LP when convex; CP-SAT (hinted with the dynamic programme's split) when not, or on doubt."""
    data = split_data(tables, k, need)
    if convex:
        lp = solve_lp(data, opts.time_limit_s)
        if lp.status != "infeasible" and lp.objective <= expected + AGREEMENT_TOL * (
            abs(expected) + 1.0
        ):
            return lp
    best, hint = exact_split(tables, k, np.array(need, dtype=np.int64))
    found = solve_cp_sat(data, opts.time_limit_s, opts.num_workers, opts.random_seed, hint or None)
    if found.status == "infeasible" and hint:
        # CP-SAT stopped before any solution: the dynamic programme's split is exact anyway.
        return SplitResult(
            status="fallback",
            greens=hint,
            objective=best,
            solver="dp",
            wall_time_s=found.wall_time_s,
        )
    return found


def _compare(
    demand: JunctionDemand, running: Plan | None, effects: tuple[ApproachEffect, ...]
) -> tuple[float | None, tuple[ApproachEffect, ...]]:
    """The running plan's mean delay under this demand, and each lane group's delay under it."""
    if running is None or [p.index for p in running.phases] != [p.index for p in demand.phases]:
        return None, effects
    greens = [p.green_s for p in running.phases]
    igs = [p.intergreen_s for p in running.phases]
    _, before, mean = evaluate(demand, running.cycle_s, greens, igs)
    by_id = {e.lane_group_id: e.delay_s_per_veh for e in before}
    merged = tuple(
        msgspec.structs.replace(e, running_delay_s_per_veh=by_id.get(e.lane_group_id))
        for e in effects
    )
    return mean, merged


def _binding(
    demand: JunctionDemand,
    cycle: int,
    c_lo: int,
    c_hi: int,
    greens: list[int],
    min_g: list[int],
    max_g: list[int],
    need: list[int],
) -> list[str]:
    """Constraints that hold with equality in the chosen plan."""
    out: list[str] = []
    if cycle == demand.cycle_max_s:
        out.append("cycle_max")
    elif cycle == c_hi:
        out.append("max_greens_force_cycle")
    if cycle == demand.cycle_min_s:
        out.append("cycle_min")
    elif cycle == c_lo:
        out.append("min_greens_force_cycle")
    for p, g, lo, hi, nd in zip(demand.phases, greens, min_g, max_g, need, strict=True):
        if g == lo:
            ped = p.pedestrian_min_green_s > p.min_green_s
            out.append(f"{'pedestrian_min_green' if ped else 'min_green'}[{p.index}]")
        elif g == nd:
            out.append(f"saturation_cap[{p.index}]")
        if g == hi:
            out.append(f"max_green[{p.index}]")
    return out


def _parameters(
    opts: OptimizerOptions,
    result: SplitResult,
    n_cycles: int,
    z_star: float,
    count_period_s: float | None,
) -> dict[str, float | int | str]:
    params: dict[str, float | int | str] = {
        "engine": f"enumerate-cycles+{result.solver}",
        "cycles_enumerated": n_cycles,
        "time_limit_s": opts.time_limit_s,
        "num_workers": opts.num_workers,
        "random_seed": opts.random_seed,
        "saturation_cap": opts.saturation_cap,
        "least_worst_saturation": round(z_star, 4) if np.isfinite(z_star) else "inf",
    }
    if count_period_s is not None and opts.count_confidence_z > 0:
        params["count_period_s"] = count_period_s
        params["count_confidence_z"] = opts.count_confidence_z
    if result.marginal_s_per_s is not None:
        params["delay_change_per_extra_green_s"] = round(result.marginal_s_per_s, 3)
    return params


class OptimizerPlanner:
    """The isolated optimiser as a Planner."""

    name = "optimizer"

    def __init__(self, options: OptimizerOptions | None = None) -> None:
        self.options = options or OptimizerOptions()

    def plan(self, demand: JunctionDemand) -> Plan:
        """The delay-minimising plan for ``demand``, leaving out idle skippable phases when the
        cycle bounds still hold without them (:func:`shown_phases`)."""
        shown = shown_phases(demand)
        if shown is not demand:
            try:
                return optimize_junction(shown, options=self.options)
            except InvalidDemand:
                pass  # e.g. the remaining maximum greens cannot fill the minimum cycle
        return optimize_junction(demand, options=self.options)


def shown_phases(demand: JunctionDemand) -> JunctionDemand:
    """``demand`` without its skippable phases that have no lane group (itself if none or all).

    Such a phase serves nobody the other phases do not serve with priority; timing it anyway
    costs its minimum green plus intergreen of lost time every cycle (measured in the twin on
    grid4x4, where four of eight phases are split phases covered by the four paired ones).
    """
    kept = tuple(p for p in demand.phases if p.lane_groups or not p.skippable)
    if not kept or len(kept) == len(demand.phases):
        return demand
    return msgspec.structs.replace(demand, phases=kept)


register_planner("optimizer", OptimizerPlanner)
