"""Webster's plan keeps its own promises: greens plus intergreens fill the cycle, bounds hold."""

from __future__ import annotations

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from optimizer import InvalidDemand, JunctionDemand, webster_plan
from optimizer.webster import split_integer
from tests.unit.optimizer._gen import junction_demands


@settings(max_examples=300, deadline=None)
@given(data=st.data(), n=st.integers(2, 5))
def test_split_integer_sums_exactly_within_bounds(data: st.DataObject, n: int) -> None:
    lo = [data.draw(st.integers(0, 20)) for _ in range(n)]
    hi = [a + data.draw(st.integers(0, 30)) for a in lo]
    total = data.draw(st.integers(sum(lo), sum(hi)))
    weights = [data.draw(st.sampled_from([0.0, 0.5, 1.0, 3.0, 10.0])) for _ in range(n)]
    out = split_integer(total, weights, lo, hi)
    assert sum(out) == total
    assert all(a <= o <= b for o, a, b in zip(out, lo, hi, strict=True))


@settings(max_examples=150, deadline=None)
@given(junction_demands())
def test_webster_greens_and_intergreens_fill_the_cycle(demand: JunctionDemand) -> None:
    try:
        plan = webster_plan(demand)
    except InvalidDemand:
        assume(False)
        return
    assert plan.total_green_s() + sum(p.intergreen_s for p in plan.phases) == plan.cycle_s
    assert demand.cycle_min_s <= plan.cycle_s <= demand.cycle_max_s
    for timing, phase in zip(plan.phases, demand.phases, strict=True):
        assert max(phase.min_green_s, phase.pedestrian_min_green_s) <= timing.green_s
        assert timing.green_s <= phase.max_green_s
