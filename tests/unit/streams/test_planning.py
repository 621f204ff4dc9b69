"""Planning: detector windows from zone state, the estimator's demand, plan events."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from graph.osm import load_network
from graph.synthetic import crossroads
from optimizer.strategy import planner
from streams.events import ZoneReading
from streams.planning import (
    PlanningConfig,
    SiteRef,
    detector_windows,
    estimate,
    json_parameters,
    plan_junction,
)
from streams.zone_state import ZoneState
from tests.unit.streams.test_guarding import approved, retimed

MIN = 60_000
CFG = PlanningConfig(period_s=300, window_s=300)
DEMO_OSM = Path(__file__).resolve().parents[3] / "data" / "demo" / "lyon-villeurbanne.osm.gz"


def test_flow_is_scaled_to_reporting_time_and_lanes() -> None:
    j = crossroads("J", "Z", 1, 0.0, 0.0, lanes={"N": 2, "S": 2, "E": 1, "W": 1})
    state = ZoneState(zone_id="Z")
    # N: one detector on one of its two lanes, reporting 4 of 5 minutes: 10 veh/min on that lane.
    state.upsert([ZoneReading("dN", k * MIN, 60, 10) for k in range(1, 5)])
    # E: full coverage, 5 minutes of 3 vehicles.
    state.upsert([ZoneReading("dE", k * MIN, 60, 3) for k in range(1, 6)])
    sites = [SiteRef("dN", "J:N", 1), SiteRef("dE", "J:E", 1)]
    flows = {a.approach_id: a for a in estimate(j, sites, state, 5 * MIN, CFG).approaches}
    assert flows["J:N"].flow_vph == 1200.0  # 600 veh/h on one lane, times two lanes
    assert flows["J:E"].flow_vph == 180.0
    assert not flows["J:S"].measured
    assert flows["J:S"].flow_vph == 0.0


def test_detector_reporting_too_little_is_not_a_measurement() -> None:
    j = crossroads("J", "Z", 1, 0.0, 0.0)
    state = ZoneState(zone_id="Z")
    state.upsert([ZoneReading("dN", 5 * MIN, 60, 10)])  # one minute of five
    est = estimate(j, [SiteRef("dN", "J:N", 2)], state, 5 * MIN, CFG)
    assert not est.measured


def test_demand_has_a_group_per_phase_and_approach() -> None:
    j = crossroads("J", "Z", 1, 0.0, 0.0)
    state = ZoneState(zone_id="Z")
    for arm, n in (("N", 10), ("S", 5), ("E", 2)):
        state.upsert([ZoneReading(f"d{arm}", k * MIN, 60, n) for k in range(1, 6)])
    sites = [SiteRef(f"d{arm}", f"J:{arm}", 2 if arm in "NS" else 1) for arm in "NSE"]
    d = estimate(j, sites, state, 5 * MIN, CFG).demand
    assert [[lg.id for lg in p.lane_groups] for p in d.phases] == [
        ["0:J:N", "0:J:S"],
        ["1:J:E", "1:J:W"],
    ]
    assert d.phases[0].flow_ratio() == 600.0 / 3600.0
    assert d.count_period_s == CFG.window_s  # flows are counts over the window
    assert d.phases[0].lane_groups[0].recent_flow_vph == 600.0  # the 15 minutes hold 5 of data


def test_occupancy_reaches_the_estimator() -> None:
    j = crossroads("J", "Z", 1, 0.0, 0.0)
    state = ZoneState(zone_id="Z")
    state.upsert([ZoneReading("dN", k * MIN, 60, 10, 0.2 * k) for k in range(1, 6)])
    (w,) = detector_windows(j, [SiteRef("dN", "J:N", 2)], state, 0, 5 * MIN)
    assert w.occupancy == pytest.approx(0.6)
    # occupied beyond 0.7 over the window: the group's flow is raised to its running capacity
    state.upsert([ZoneReading("dN", k * MIN, 60, 10, 0.9) for k in range(1, 6)])
    first = plan_junction(
        j, [SiteRef("dN", "J:N", 2)], state, 5 * MIN, CFG, planner("webster"), "a"
    )
    active = retimed(approved(first), 60, (30, 20))
    est = estimate(j, [SiteRef("dN", "J:N", 2)], state, 5 * MIN, CFG, active)
    north = next(g for g in est.groups if g.id == "0:J:N")
    assert "occupancy-saturated" in north.sources
    assert north.flow_vph == pytest.approx(3600.0 * 28.0 / 60.0)
    assert est.running is not None
    assert est.running.source == "active"
    # without an approved plan (and no programme in the model) there is nothing to judge against
    assert estimate(j, [SiteRef("dN", "J:N", 2)], state, 5 * MIN, CFG).running is None


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
    group = next(g for g in a.explanation.lane_groups if g.id == "0:J:N")
    assert group.flow_vph == 720.0
    assert group.sources == ("approach-count", "prior")
    assert sum(m.flow_vph for m in group.movements) == pytest.approx(720.0, abs=0.01)
    assert group.degree_of_saturation > 0
    north = next(x for x in a.explanation.approaches if x.approach_id == "J:N")
    assert north.degree_of_saturation == group.degree_of_saturation


def test_an_approach_served_by_two_phases_keeps_both_groups() -> None:
    """Regression: on the demo junction osm-190817710 one approach is served by two phases; its
    two lane groups had one id and the event kept only the last one's figures."""
    network = load_network(DEMO_OSM)
    j = network.junction("osm-190817710")
    shared = "osm-190817710:33581450:7138286183"
    phases = [p.index for p in j.phases if shared in p.approach_ids]
    assert len(phases) == 2
    state = ZoneState(zone_id=j.zone_id)
    sites = []
    for a in j.approaches:
        sites.append(SiteRef(f"d-{a.id}", a.id, a.lanes))
        state.upsert([ZoneReading(f"d-{a.id}", k * MIN, 60, 8) for k in range(1, 6)])
    event = plan_junction(j, sites, state, 5 * MIN, CFG, planner("optimizer"), "abc")
    ids = [g.id for g in event.explanation.lane_groups]
    assert len(ids) == len(set(ids))
    mine = [g for g in event.explanation.lane_groups if g.approach_id == shared]
    assert sorted(g.phase for g in mine) == phases
    assert all(g.flow_vph > 0 and g.degree_of_saturation > 0 for g in mine)
    # the approach's flow is the sum of its groups', each with its own movements
    assert sum(g.flow_vph for g in mine) == pytest.approx(480.0, abs=0.01)
    assert {m.movement_id for g in mine for m in g.movements} == {
        m.id for m in j.movements if m.approach_id == shared
    }


def test_non_finite_parameters_reach_consumers_as_strings() -> None:
    """JSON has no infinity: msgspec writes ``null``, which the plans' schema refuses (a zone
    whose common cycle cannot time a junction costs ``inf``)."""
    assert json_parameters({"a": math.inf, "b": -math.inf, "c": 1.5, "d": "x"}) == {
        "a": "inf",
        "b": "-inf",
        "c": 1.5,
        "d": "x",
    }
    assert json_parameters({"n": math.nan})["n"] == "nan"
