"""Counted demand: the optimiser plans for the rate the counts cannot rule out; Webster does not."""

from __future__ import annotations

import math

import msgspec
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from optimizer import (
    InvalidDemand,
    JunctionDemand,
    LaneGroup,
    PhaseDemand,
    planner,
    webster_plan,
)
from optimizer._uncertainty import DEFAULT_CONFIDENCE_Z, planning_demand, upper_count
from optimizer.delay import degree_of_saturation
from optimizer.isolated import OptimizerOptions, optimize_junction
from tests.unit.optimizer._gen import junction_demands

PERIOD_S = 300.0


def _minor_phase_junction(minor_count: int) -> JunctionDemand:
    """Shaped like the twin's ingolstadt1 junction at its first re-plan: one phase carries most of
    the counted flow, a protected-turn phase has no lane group (its movement is counted where it is
    permissive), and a minor phase counted a few vehicles in five minutes."""
    per_veh = 3600.0 / PERIOD_S

    def lg(name: str, count: int, lanes: int) -> LaneGroup:
        return LaneGroup(id=name, flow_vph=count * per_veh, saturation_flow_vph=1800.0 * lanes)

    major = (lg("0:a", 35, 2), lg("0:b", 25, 1), lg("0:c", 55, 3))
    phases = (
        PhaseDemand(index=0, lane_groups=major, min_green_s=7, max_green_s=90, intergreen_s=3),
        PhaseDemand(index=1, lane_groups=(), min_green_s=6, max_green_s=90, intergreen_s=3),
        PhaseDemand(
            index=2,
            lane_groups=(lg("2:minor", minor_count, 1),),
            min_green_s=7,
            max_green_s=90,
            intergreen_s=3,
        ),
    )
    return JunctionDemand(junction_id="J", phases=phases, count_period_s=PERIOD_S)


def _capacity_vph(demand: JunctionDemand, plan_cycle: int, green: int, phase: int) -> float:
    p = demand.phases[phase]
    return p.lane_groups[0].saturation_flow_vph * (green - p.lost_time_s) / plan_cycle


def test_upper_count_bounds() -> None:
    z = DEFAULT_CONFIDENCE_Z
    assert upper_count(0, z) == pytest.approx(z * z)  # nothing counted is not "no traffic"
    for n in (1, 3, 10, 100, 1000):
        assert upper_count(n, z) > n + z * math.sqrt(n)
        assert upper_count(n, z) < n + z * math.sqrt(n) + z * z
    assert upper_count(5, 0.0) == 5


@given(st.integers(0, 500), st.integers(0, 500))
def test_upper_count_grows_with_the_count(a: int, b: int) -> None:
    assume(a < b)
    assert upper_count(a, DEFAULT_CONFIDENCE_Z) < upper_count(b, DEFAULT_CONFIDENCE_Z)


def test_flows_that_are_not_counts_are_planned_as_given() -> None:
    d = msgspec.structs.replace(_minor_phase_junction(3), count_period_s=None)
    assert planning_demand(d) is d
    counted = _minor_phase_junction(3)
    assert planning_demand(counted, 0.0) is counted


def test_a_quiet_period_does_not_starve_the_minor_phase() -> None:
    """3 vehicles in 5 minutes (36 veh/h) is compatible with a rate of about 90 veh/h; the twin's
    hourly truth on that approach was 149 veh/h. Planning for the point estimate gave the minor
    phase 80 veh/h of capacity in a 112 s cycle; planning for the bound keeps its capacity above
    the bound."""
    d = _minor_phase_junction(3)
    bound_vph = upper_count(3, DEFAULT_CONFIDENCE_Z) * 3600.0 / PERIOD_S
    point = optimize_junction(d, options=OptimizerOptions(count_confidence_z=0.0))
    robust = optimize_junction(d)
    g_point, g_robust = point.phases[2].green_s, robust.phases[2].green_s
    assert _capacity_vph(d, point.cycle_s, g_point, 2) < bound_vph
    assert _capacity_vph(d, robust.cycle_s, g_robust, 2) >= bound_vph
    assert robust.cycle_s < point.cycle_s
    # the plan reports the measured flows, and records how it allowed for the counts
    effects = {e.lane_group_id: e.flow_vph for e in robust.effects}
    assert effects["2:minor"] == pytest.approx(36.0)
    assert robust.explanation.parameters["count_period_s"] == PERIOD_S
    assert robust.explanation.parameters["count_confidence_z"] == DEFAULT_CONFIDENCE_Z


def test_webster_ignores_the_count_period() -> None:
    d = _minor_phase_junction(3)
    assert webster_plan(d) == webster_plan(msgspec.structs.replace(d, count_period_s=None))


# Many generated junctions are oversaturated and filtered out; that is the property's domain, so
# Hypothesis's too-much-filtering health check (which failed a local run now and then) is off.
@settings(suppress_health_check=[HealthCheck.filter_too_much])
@given(junction_demands(), st.sampled_from([60.0, 300.0, 900.0]))
def test_every_lane_group_has_capacity_for_its_bound_unless_oversaturated(
    demand: JunctionDemand, period_s: float
) -> None:
    counted = msgspec.structs.replace(demand, count_period_s=period_s)
    try:
        plan = optimize_junction(counted)
    except InvalidDemand:
        assume(False)
        raise
    assume(not plan.explanation.oversaturated)
    bound = planning_demand(counted)
    for p, t in zip(bound.phases, plan.phases, strict=True):
        for lg in p.lane_groups:
            x = degree_of_saturation(
                lg.flow_vph,
                lg.saturation_flow_vph,
                max(0.0, t.green_s - p.lost_time_s),
                plan.cycle_s,
            )
            assert x <= 1.0 + 1e-9
            assert lg.flow_vph >= next(
                q.flow_vph for q in counted.phases[p.index].lane_groups if q.id == lg.id
            )


def test_the_planner_leaves_out_idle_skippable_phases() -> None:
    d = _minor_phase_junction(12)
    idle = PhaseDemand(index=3, lane_groups=(), min_green_s=7, intergreen_s=3, skippable=True)
    with_idle = msgspec.structs.replace(d, phases=(*d.phases, idle))
    plan = planner("optimizer").plan(with_idle)
    assert [p.index for p in plan.phases] == [0, 1, 2]  # phase 1 has no lane group but stays
    assert plan == planner("optimizer").plan(d)
    # kept when the other phases cannot fill the minimum cycle without it
    tight = msgspec.structs.replace(
        with_idle,
        phases=tuple(msgspec.structs.replace(p, max_green_s=10) for p in with_idle.phases),
        cycle_min_s=50,
    )
    assert [p.index for p in planner("optimizer").plan(tight).phases] == [0, 1, 2, 3]


def test_a_quiet_period_after_busy_ones_plans_for_the_recent_flow() -> None:
    """The ingolstadt1 side road counted 3 vehicles in the period after 15 of them."""
    quiet = _minor_phase_junction(3)
    busy = _minor_phase_junction(15)
    recent_vph = 150.0
    lgs = (msgspec.structs.replace(quiet.phases[2].lane_groups[0], recent_flow_vph=recent_vph),)
    remembered = msgspec.structs.replace(
        quiet,
        phases=(*quiet.phases[:2], msgspec.structs.replace(quiet.phases[2], lane_groups=lgs)),
    )
    minor = planning_demand(remembered).phases[2].lane_groups[0]
    assert minor.flow_vph == pytest.approx(upper_count(12.5, DEFAULT_CONFIDENCE_Z) * 12)
    plan = optimize_junction(remembered)
    assert plan.cycle_s < optimize_junction(quiet).cycle_s
    assert _capacity_vph(remembered, plan.cycle_s, plan.phases[2].green_s, 2) >= minor.flow_vph
    # a recent flow below the latest one changes nothing
    calmer = (msgspec.structs.replace(busy.phases[2].lane_groups[0], recent_flow_vph=36.0),)
    calm = msgspec.structs.replace(
        busy,
        phases=(*busy.phases[:2], msgspec.structs.replace(busy.phases[2], lane_groups=calmer)),
    )
    assert planning_demand(calm).phases[2].lane_groups[0].flow_vph == pytest.approx(
        planning_demand(busy).phases[2].lane_groups[0].flow_vph
    )
