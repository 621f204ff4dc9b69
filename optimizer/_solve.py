"""OR-Tools models for the green split at one cycle: an LP for convex costs, CP-SAT otherwise.

Both follow the OR-Tools samples: :func:`split_data` builds the data, a ``solve_*`` function
builds and solves the model under a time limit and reports OPTIMAL and FEASIBLE distinctly.

- **GLOP (LP)**: with convex per-phase costs, write each green as its lower bound plus unit
  increments ``0 <= u_ij <= 1`` whose costs are the marginal delays. The only coupling row is
  ``sum u = spare seconds``: the matrix is totally unimodular, so a simplex vertex is integral
  and the LP optimum is the integer optimum. Its dual value prices one more second of green.
- **CP-SAT**: any cost shape, one ``AddElement`` per phase over its admissible greens.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ortools.linear_solver import pywraplp
from ortools.sat.python import cp_model

from optimizer._tables import Tables

COST_SCALE = 10.0
"""CP-SAT needs integers: costs in tenths of a vehicle-second per hour."""

Status = Literal["optimal", "feasible", "infeasible", "fallback"]


@dataclass(frozen=True)
class SplitData:
    """The green split problem at one cycle: bounds, spare seconds, per-green costs."""

    lo: list[int]
    hi: list[int]
    green_total: int
    costs: list[list[float]]
    """``costs[i][g - lo[i]]`` for ``g`` in ``lo[i]..hi[i]``."""


@dataclass(frozen=True)
class SplitResult:
    """Greens found, the status, the solver's own wall time and the LP dual (when there is one)."""

    status: Status
    greens: list[int]
    objective: float
    solver: str
    wall_time_s: float
    marginal_s_per_s: float | None = None
    """Change of total delay (veh·s/h) per extra second of green to share (LP dual)."""


def split_data(tables: Tables, k: int, need: list[int]) -> SplitData:
    """The split problem at cycle index ``k`` with least greens ``need``."""
    costs = [
        [float(v) for v in tables.cost[i][k, need[i] : hi + 1]] for i, hi in enumerate(tables.hi)
    ]
    return SplitData(
        lo=need, hi=list(tables.hi), green_total=int(tables.green_total[k]), costs=costs
    )


def split_cost(data: SplitData, greens: list[int]) -> float:
    """Total cost of a split."""
    total = 0.0
    for costs, g, lo in zip(data.costs, greens, data.lo, strict=True):
        total += costs[g - lo]
    return total


def solve_lp(data: SplitData, time_limit_s: float) -> SplitResult:
    """Incremental LP with GLOP (exact for convex costs, see the module docstring)."""
    solver = pywraplp.Solver.CreateSolver("GLOP")
    solver.SetTimeLimit(max(1, round(time_limit_s * 1000)))
    spare = data.green_total - sum(data.lo)
    share = solver.Constraint(spare, spare, "share")
    objective = solver.Objective()
    units: list[list[pywraplp.Variable]] = []
    for i, costs in enumerate(data.costs):
        row = []
        for j in range(len(costs) - 1):
            u = solver.NumVar(0.0, 1.0, f"u_{i}_{j}")
            share.SetCoefficient(u, 1.0)
            objective.SetCoefficient(u, costs[j + 1] - costs[j])
            row.append(u)
        units.append(row)
    objective.SetOffset(sum(c[0] for c in data.costs))
    objective.SetMinimization()
    code = solver.Solve()
    wall = solver.wall_time() / 1000.0
    if code not in (pywraplp.Solver.OPTIMAL, pywraplp.Solver.FEASIBLE):
        return SplitResult(
            status="infeasible", greens=[], objective=float("inf"), solver="glop", wall_time_s=wall
        )
    greens = [
        lo + round(sum(u.solution_value() for u in row))
        for lo, row in zip(data.lo, units, strict=True)
    ]
    value = split_cost(data, greens)
    status: Status = "optimal" if code == pywraplp.Solver.OPTIMAL else "feasible"
    return SplitResult(
        status=status,
        greens=greens,
        objective=value,
        solver="glop",
        wall_time_s=wall,
        marginal_s_per_s=share.dual_value(),
    )


def solve_cp_sat(
    data: SplitData, time_limit_s: float, num_workers: int, seed: int, hint: list[int] | None
) -> SplitResult:
    """Exact split for any cost shape with CP-SAT (element constraints)."""
    model = cp_model.CpModel()
    greens = [
        model.new_int_var(lo, hi, f"g{i}")
        for i, (lo, hi) in enumerate(zip(data.lo, data.hi, strict=True))
    ]
    model.add(sum(greens) == data.green_total)
    terms = []
    for i, costs in enumerate(data.costs):
        scaled = [round(c * COST_SCALE) for c in costs]
        cost = model.new_int_var(min(scaled), max(scaled), f"cost{i}")
        index = model.new_int_var(0, len(scaled) - 1, f"idx{i}")
        model.add(index == greens[i] - data.lo[i])
        model.add_element(index, scaled, cost)
        terms.append(cost)
    model.minimize(sum(terms))
    if hint:
        for var, guess in zip(greens, hint, strict=True):
            model.add_hint(var, guess)
    solver = cp_model.CpSolver()
    # Deterministic time, not the wall clock, bounds the search: equal inputs, equal greens.
    solver.parameters.max_deterministic_time = time_limit_s
    solver.parameters.max_time_in_seconds = 20 * time_limit_s
    solver.parameters.num_workers = num_workers
    solver.parameters.random_seed = seed
    code = solver.solve(model)
    if code not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return SplitResult(
            status="infeasible",
            greens=[],
            objective=float("inf"),
            solver="cp-sat",
            wall_time_s=solver.wall_time,
        )
    values = [int(solver.value(g)) for g in greens]
    value = split_cost(data, values)
    status: Status = "optimal" if code == cp_model.OPTIMAL else "feasible"
    return SplitResult(
        status=status,
        greens=values,
        objective=value,
        solver="cp-sat",
        wall_time_s=solver.wall_time,
    )
