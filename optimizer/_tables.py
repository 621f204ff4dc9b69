"""Delay and saturation tables over every (cycle, green) pair, and exact per-cycle green costs.

The isolated optimiser enumerates integer cycles. For each cycle the green split is a separable
resource allocation: share ``G = C - sum(intergreens)`` seconds among phases, each phase costing
``sum_j q_j * d_j(g, C)`` vehicle-seconds per hour (HCM d1 + d2, exactly as :mod:`optimizer.delay`).
Tables are built with numpy for all cycles at once; :func:`cycle_costs` then solves every cycle
exactly: by sorting marginal costs where a phase's cost is convex in its green (the usual case), by
dynamic programming where it is not.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from optimizer.delay import ANALYSIS_PERIOD_H
from optimizer.model import JunctionDemand

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

NO_GREEN_DELAY_S = 900.0 * ANALYSIS_PERIOD_H * 4
"""Delay :func:`optimizer.delay.control_delay_s` gives a lane group with no effective green."""

CONVEXITY_TOL = 1e-7
"""Relative slack when checking that marginal costs do not decrease."""


@dataclass(frozen=True)
class Tables:
    """Costs and degrees of saturation for cycles ``cycles[k]`` and greens ``0..max green``.

    ``cost[i][k, g]`` is phase ``i``'s delay (veh·s/h) with green ``g`` in cycle ``cycles[k]``;
    ``x[i][k, g]`` its worst lane-group degree of saturation.
    """

    cycles: IntArray
    green_total: IntArray
    lo: list[int]
    hi: list[int]
    cost: list[FloatArray]
    x: list[FloatArray]


def hcm_delay(
    flow: float, sat: float, green_eff: FloatArray, cycle: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Vectorised :func:`optimizer.delay.control_delay_s` and degree of saturation."""
    g_ratio = np.clip(green_eff / cycle, 0.0, 1.0)
    capacity = sat * g_ratio
    if flow <= 0:
        zeros = np.zeros(np.broadcast_shapes(green_eff.shape, cycle.shape))
        return zeros, zeros
    with np.errstate(divide="ignore", invalid="ignore"):
        x = np.where(capacity > 0, flow / np.where(capacity > 0, capacity, 1.0), np.inf)
        safe_cap = np.where(capacity > 0, capacity, 1.0)
        safe_x = np.where(capacity > 0, x, 1.0)
        red = g_ratio < 1
        d1 = np.where(
            red,
            0.5
            * cycle
            * (1 - g_ratio) ** 2
            / np.where(red, 1 - np.minimum(1.0, safe_x) * g_ratio, 1.0),
            0.0,
        )
        t = ANALYSIS_PERIOD_H
        d2 = 900 * t * ((safe_x - 1) + np.sqrt((safe_x - 1) ** 2 + 4.0 * safe_x / (safe_cap * t)))
    delay = np.where(capacity > 0, d1 + d2, NO_GREEN_DELAY_S)
    return delay, x


def pedestrian_delay(green: FloatArray, cycle: FloatArray) -> FloatArray:
    """HCM pedestrian delay (s per pedestrian) at a signalised crossing: ``(C - g)^2 / 2C``, with
    the phase's displayed green as the time pedestrians may start; convex and falling in ``g``."""
    red = np.maximum(0.0, cycle - green)
    return np.asarray(red**2 / (2.0 * cycle), dtype=np.float64)


def build_tables(
    demand: JunctionDemand, cycles: IntArray, lo: list[int], hi: list[int], intergreen_total: int
) -> Tables:
    """Tables for every cycle in ``cycles`` and every green up to ``max(hi)``."""
    greens = np.arange(max(hi) + 1, dtype=np.float64)[None, :]
    cyc = cycles.astype(np.float64)[:, None]
    costs: list[FloatArray] = []
    xs: list[FloatArray] = []
    for p in demand.phases:
        g_eff = np.maximum(0.0, greens - p.lost_time_s)
        cost = np.zeros((len(cycles), greens.shape[1]))
        worst = np.zeros_like(cost)
        for lg in p.lane_groups:
            d, x = hcm_delay(lg.flow_vph, lg.saturation_flow_vph, g_eff, cyc)
            cost += lg.flow_vph * d
            worst = np.maximum(worst, x)
        if p.pedestrian_flow_pph > 0:
            cost += p.pedestrian_flow_pph * pedestrian_delay(greens, cyc)
        costs.append(cost)
        xs.append(worst)
    return Tables(
        cycles=cycles,
        green_total=cycles - intergreen_total,
        lo=lo,
        hi=hi,
        cost=costs,
        x=xs,
    )


def greens_needed(tables: Tables, cap: float) -> IntArray:
    """Per cycle and phase, the least green in bounds that keeps x <= ``cap`` (hi + 1 if none).

    Degrees of saturation fall as the green grows, so the count of greens in ``[lo, hi]`` that break
    the cap is how far above ``lo`` the least admissible green lies.
    """
    out = np.empty((len(tables.cycles), len(tables.lo)), dtype=np.int64)
    for i, (lo, hi) in enumerate(zip(tables.lo, tables.hi, strict=True)):
        over = tables.x[i][:, lo : hi + 1] > cap
        out[:, i] = lo + over.sum(axis=1)
    return out


def min_worst_saturation(tables: Tables) -> float:
    """The least achievable worst degree of saturation over all cycles and integer green splits."""
    finite = np.concatenate(
        [
            x[:, lo : hi + 1].ravel()
            for x, lo, hi in zip(tables.x, tables.lo, tables.hi, strict=True)
        ]
    )
    candidates = np.unique(finite[np.isfinite(finite)])
    if candidates.size == 0:
        return float("inf")

    def feasible(cap: float) -> bool:
        need = greens_needed(tables, cap)
        ok = (need <= np.array(tables.hi)).all(axis=1) & (need.sum(axis=1) <= tables.green_total)
        return bool(ok.any())

    lo_i, hi_i = 0, candidates.size - 1
    if not feasible(float(candidates[hi_i])):
        return float("inf")
    while lo_i < hi_i:
        mid = (lo_i + hi_i) // 2
        if feasible(float(candidates[mid])):
            hi_i = mid
        else:
            lo_i = mid + 1
    return float(candidates[lo_i])


def cycle_costs(tables: Tables, need: IntArray) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
    """Exact least total cost of each cycle with greens in ``[need, hi]`` summing to its total.

    Returns the costs (``inf`` where no split fits) and, per cycle, whether every phase's cost was
    convex over its admissible greens (then the split is the ``R`` cheapest marginal seconds).
    """
    n_cycles = len(tables.cycles)
    width = max(tables.hi) + 1
    n = len(tables.lo)
    hi = np.array(tables.hi)
    base = np.zeros(n_cycles)
    steps = np.full((n_cycles, n, width), np.inf)
    convex = np.ones(n_cycles, dtype=bool)
    col = np.arange(width)[None, :]
    for i in range(n):
        cost = tables.cost[i]
        start = np.minimum(need[:, i], hi[i])
        base += cost[np.arange(n_cycles), start]
        inc = np.full((n_cycles, width), np.inf)
        inc[:, :-1] = cost[:, 1:] - cost[:, :-1]
        valid = (col >= need[:, i : i + 1]) & (col < hi[i])
        inc = np.where(valid, inc, np.inf)
        steps[:, i, :] = inc
        finite = np.where(valid, inc, 0.0)
        diffs = finite[:, 1:] - finite[:, :-1]
        both = valid[:, 1:] & valid[:, :-1]
        scale = np.abs(finite[:, :-1]) + np.abs(finite[:, 1:]) + 1.0
        bad = both & (diffs < -CONVEXITY_TOL * scale)
        convex &= ~bad.any(axis=1)
    spare = tables.green_total - need.sum(axis=1)
    fits = (need <= hi).all(axis=1) & (spare >= 0) & (spare <= (hi - need).clip(0).sum(axis=1))
    ordered = np.sort(steps.reshape(n_cycles, -1), axis=1)
    ordered = np.where(np.isfinite(ordered), ordered, 0.0)
    prefix = np.concatenate([np.zeros((n_cycles, 1)), np.cumsum(ordered, axis=1)], axis=1)
    take = np.clip(spare, 0, prefix.shape[1] - 1)
    total = base + prefix[np.arange(n_cycles), take]
    total = np.where(fits, total, np.inf)
    for k in np.flatnonzero(fits & ~convex):
        total[k] = exact_split(tables, int(k), need[k])[0]
    return total, convex


def exact_split(tables: Tables, k: int, need: IntArray) -> tuple[float, list[int]]:
    """Least cost and greens for cycle ``k`` by dynamic programming over phases (any cost shape)."""
    total = int(tables.green_total[k])
    acc = np.full(total + 1, np.inf)
    acc[0] = 0.0
    choices: list[IntArray] = []
    for i, hi in enumerate(tables.hi):
        lo = int(need[i])
        new = np.full(total + 1, np.inf)
        arg = np.zeros(total + 1, dtype=np.int64)
        for g in range(lo, min(hi, total) + 1):
            cand = np.full(total + 1, np.inf)
            cand[g:] = acc[: total + 1 - g] + tables.cost[i][k, g]
            better = cand < new
            new = np.where(better, cand, new)
            arg = np.where(better, g, arg)
        acc = new
        choices.append(arg)
    if not np.isfinite(acc[total]):
        return float("inf"), []
    greens = [0] * len(tables.hi)
    left = total
    for i in range(len(tables.hi) - 1, -1, -1):
        greens[i] = int(choices[i][left])
        left -= greens[i]
    return float(acc[total]), greens
