"""Link state: BPR times, the speed correction of a jammed link, the congestion signature."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from optimizer.link_state import (
    BprParams,
    CongestionParams,
    LinkReading,
    bpr_time_s,
    congestion_signature,
    link_state,
    marginal_time_s,
)

BPR = BprParams()


@given(st.floats(1, 600), st.floats(0, 5000), st.floats(0, 5000), st.floats(50, 4000))
def test_bpr_grows_with_flow_and_marginal_is_above_average(
    t0: float, a: float, b: float, cap: float
) -> None:
    lo, hi = sorted((a, b))
    assert bpr_time_s(t0, lo, cap, BPR) <= bpr_time_s(t0, hi, cap, BPR)
    assert bpr_time_s(t0, 0, cap, BPR) == t0
    assert marginal_time_s(t0, hi, cap, BPR) >= bpr_time_s(t0, hi, cap, BPR)


def test_bpr_at_capacity_is_fifteen_percent_slower() -> None:
    assert bpr_time_s(60, 1000, 1000, BPR) == pytest.approx(69.0)


def test_a_jammed_link_is_read_from_its_speed_not_its_falling_flow() -> None:
    # 200 m, 14.4 s at free flow; low flow (BPR says free) but 10 km/h measured
    s = link_state(14.4, 200, 1800, [LinkReading(flow_vph=300, speed_kmh=10)])
    assert s.source == "measured_speed"
    assert s.time_s == pytest.approx(72.0)
    # no speed: the speed implied by flow and occupancy (300 veh/h at 40 %: 4.9 km/h)
    s = link_state(14.4, 200, 1800, [LinkReading(flow_vph=300, occupancy=0.4)])
    assert s.source == "flow_occupancy"
    assert s.time_s > 100
    # free-flowing: BPR from the flow
    s = link_state(14.4, 200, 1800, [LinkReading(flow_vph=900, occupancy=0.08, speed_kmh=52)])
    assert s.source == "bpr"


def test_no_readings_gives_the_assumed_flow() -> None:
    s = link_state(30, 400, 1000, [], assumed_flow_vph=500)
    assert (s.flow_vph, s.source) == (500, "bpr")
    assert link_state(30, 400, 1000, []).source == "free_flow"


def _series(occ: list[float], flow: list[float]) -> list[LinkReading]:
    return [LinkReading(flow_vph=f, occupancy=o) for o, f in zip(occ, flow, strict=True)]


def test_congestion_is_occupancy_rising_while_flow_falls() -> None:
    p = CongestionParams()
    rising = _series([0.12, 0.18, 0.26, 0.33], [900, 820, 700, 560])
    found, why = congestion_signature(rising, p)
    assert found
    assert "rising" in why
    # busy but steady: occupancy high, flow not falling
    steady = _series([0.27, 0.28, 0.27, 0.28], [1100, 1120, 1090, 1110])
    assert not congestion_signature(steady, p)[0]
    # light traffic thinning out: flow falls, occupancy low
    light = _series([0.08, 0.07, 0.06, 0.05], [500, 420, 380, 300])
    assert not congestion_signature(light, p)[0]
    # a standing queue over the loop: jam occupancy whatever the trend
    assert congestion_signature(_series([0.62], [120]), p)[0]
