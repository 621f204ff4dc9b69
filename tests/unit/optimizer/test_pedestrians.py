"""Pedestrian delay in the optimiser's objective: a crossing is not left red for long cycles."""

from __future__ import annotations

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from optimizer.isolated import optimize_junction
from optimizer.model import JunctionDemand, LaneGroup, PhaseDemand
from optimizer.webster import webster_plan


def _mid_block_crossing(vehicles_vph: float, pedestrians_pph: float) -> JunctionDemand:
    """A road with a signalised crossing: phase 0 serves the road, phase 1 only pedestrians."""
    return JunctionDemand(
        junction_id="X",
        phases=(
            PhaseDemand(
                index=0,
                lane_groups=(
                    LaneGroup(id="road", flow_vph=vehicles_vph, saturation_flow_vph=3600),
                ),
                max_green_s=90,
            ),
            PhaseDemand(index=1, lane_groups=(), pedestrian_flow_pph=pedestrians_pph),
        ),
        cycle_min_s=40,
        cycle_max_s=120,
    )


def test_pedestrians_keep_a_quiet_crossing_on_a_short_cycle() -> None:
    without = optimize_junction(_mid_block_crossing(850, 0.0))
    with_pedestrians = optimize_junction(_mid_block_crossing(850, 60.0))
    # Vehicles alone pull the cycle up to phase 0's maximum green; counted pedestrians pull it back.
    assert without.cycle_s >= 100
    assert with_pedestrians.cycle_s < without.cycle_s


@settings(max_examples=30, deadline=None)
@given(st.floats(0, 1500), st.floats(0, 500))
def test_webster_ignores_pedestrian_flow(vehicles: float, pedestrians: float) -> None:
    a = webster_plan(_mid_block_crossing(vehicles, pedestrians))
    b = webster_plan(_mid_block_crossing(vehicles, 0.0))
    assert msgspec.json.encode(a) == msgspec.json.encode(b)


@settings(max_examples=20, deadline=None)
@given(st.floats(100, 1500), st.floats(1, 300), st.floats(1, 300))
def test_more_pedestrians_never_lengthen_the_red_they_wait(
    vehicles: float, p_low: float, extra: float
) -> None:
    low = optimize_junction(_mid_block_crossing(vehicles, p_low))
    high = optimize_junction(_mid_block_crossing(vehicles, p_low + extra))
    red_low = low.cycle_s - low.phases[1].green_s
    red_high = high.cycle_s - high.phases[1].green_s
    assert red_high <= red_low
