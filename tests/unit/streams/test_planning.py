"""Planning: flows measured from zone state, demand per phase, plan events."""

from __future__ import annotations

from graph.synthetic import crossroads
from optimizer.strategy import planner
from streams.events import ZoneReading
from streams.planning import (
    PlanningConfig,
    SiteRef,
    junction_demand,
    measure_approaches,
    plan_junction,
)
from streams.zone_state import ZoneState

MIN = 60_000
CFG = PlanningConfig(period_s=300, window_s=300)


def test_flow_is_scaled_to_reporting_time_and_lanes() -> None:
    j = crossroads("J", "Z", 1, 0.0, 0.0, lanes={"N": 2, "S": 2, "E": 1, "W": 1})
    state = ZoneState(zone_id="Z")
    # N: one detector on one of its two lanes, reporting 4 of 5 minutes: 10 veh/min on that lane.
    state.upsert([ZoneReading("dN", k * MIN, 60, 10) for k in range(1, 5)])
    # E: full coverage, 5 minutes of 3 vehicles.
    state.upsert([ZoneReading("dE", k * MIN, 60, 3) for k in range(1, 6)])
    sites = [SiteRef("dN", "J:N", 1), SiteRef("dE", "J:E", 1)]
    flows = {m.approach_id: m for m in measure_approaches(j, sites, state, 0, 5 * MIN, CFG)}
    assert flows["J:N"].flow_vph == 1200.0  # 600 veh/h on one lane, times two lanes
    assert flows["J:E"].flow_vph == 180.0
    assert not flows["J:S"].measured
    assert flows["J:S"].flow_vph == 0.0


def test_detector_reporting_too_little_is_not_a_measurement() -> None:
    j = crossroads("J", "Z", 1, 0.0, 0.0)
    state = ZoneState(zone_id="Z")
    state.upsert([ZoneReading("dN", 5 * MIN, 60, 10)])  # one minute of five
    flows = {
        m.approach_id: m
        for m in measure_approaches(j, [SiteRef("dN", "J:N", 2)], state, 0, 5 * MIN, CFG)
    }
    assert not flows["J:N"].measured


def test_demand_uses_phase_approaches() -> None:
    j = crossroads("J", "Z", 1, 0.0, 0.0)
    d = junction_demand(j, {"J:N": 600.0, "J:S": 300.0, "J:E": 100.0}, CFG)
    assert [[lg.id for lg in p.lane_groups] for p in d.phases] == [["J:N", "J:S"], ["J:E", "J:W"]]
    assert d.phases[0].flow_ratio() == 600.0 / 3600.0
    assert d.count_period_s == CFG.window_s  # flows are counts over the window


def test_plan_event_is_reproducible_and_explained() -> None:
    j = crossroads("J", "Z", 1, 0.0, 0.0)
    state = ZoneState(zone_id="Z")
    state.upsert([ZoneReading("dN", k * MIN, 60, 12) for k in range(1, 6)])
    sites = [SiteRef("dN", "J:N", 2)]
    a = plan_junction(j, sites, state, 5 * MIN, CFG, planner("webster"), "abc")
    b = plan_junction(j, sites, state, 5 * MIN, CFG, planner("webster"), "abc")
    assert a == b
    c = plan_junction(j, sites, state, 5 * MIN, CFG, planner("webster"), "abd")
    assert c.inputs_digest != a.inputs_digest
    assert sum(p.green_s + p.intergreen_s for p in a.phases) == a.cycle_s
    assert len(a.explanation.warnings) == 3  # S, E and W have no detector
    assert a.explanation.text_fr
    assert a.explanation.text_en
