"""The two OR-Tools split models agree with each other and with brute force."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from optimizer._solve import SplitData, solve_cp_sat, solve_lp


def _brute(data: SplitData) -> float:
    ranges = [range(lo, hi + 1) for lo, hi in zip(data.lo, data.hi, strict=True)]
    return min(
        sum(c[g - lo] for c, g, lo in zip(data.costs, gs, data.lo, strict=True))
        for gs in itertools.product(*ranges)
        if sum(gs) == data.green_total
    )


@st.composite
def split_problems(draw: st.DrawFn, convex: bool) -> SplitData:
    n = draw(st.integers(2, 3))
    lo = [draw(st.integers(3, 8)) for _ in range(n)]
    hi = [a + draw(st.integers(2, 12)) for a in lo]
    costs = []
    for a, b in zip(lo, hi, strict=True):
        steps = [draw(st.integers(-500, 500)) for _ in range(b - a)]
        if convex:
            steps.sort()
        values = [float(draw(st.integers(0, 1000)))]
        for s in steps:
            values.append(values[-1] + s)
        costs.append(values)
    total = draw(st.integers(sum(lo), sum(hi)))
    return SplitData(lo=lo, hi=hi, green_total=total, costs=costs)


@settings(max_examples=40, deadline=None)
@given(split_problems(convex=True))
def test_lp_is_exact_and_integral_on_convex_costs(data: SplitData) -> None:
    res = solve_lp(data, time_limit_s=1.0)
    assert res.status == "optimal"
    assert sum(res.greens) == data.green_total
    assert all(lo <= g <= hi for g, lo, hi in zip(res.greens, data.lo, data.hi, strict=True))
    assert abs(res.objective - _brute(data)) < 1e-6


@settings(max_examples=25, deadline=None)
@given(split_problems(convex=False))
def test_cp_sat_is_exact_on_any_costs(data: SplitData) -> None:
    res = solve_cp_sat(data, time_limit_s=2.0, num_workers=1, seed=0, hint=None)
    assert res.status == "optimal"
    assert sum(res.greens) == data.green_total
    assert abs(res.objective - _brute(data)) < 1e-6
