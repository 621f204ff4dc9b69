"""Zone planning: phases matched across links, zone demand, plans timed together."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from demand import JunctionEstimate
from graph.model import Link as RoadLink
from graph.osm import load_network
from optimizer.coordination import Link
from optimizer.strategy import planner, zone_planner
from streams.agents import Zones
from streams.app import Channels
from streams.context import DetectorIndex, PipelineContext
from streams.events import SignalPlan, ZoneReading, ZoneReadings
from streams.metrics import create_metrics
from streams.planning import PlanningConfig, SiteRef, estimate
from streams.topics import TopicNames
from streams.zone_planning import (
    plan_zone,
    receiving_group,
    releasing_phases,
    zone_links,
)
from streams.zone_state import ZoneState
from tests.fixtures.networks import corridor_network
from tests.unit.graph.test_links import two_crosses
from tests.unit.streams.test_ingest_stage import STAGE_CFG, Sink

MIN = 60_000
CFG = PlanningConfig(period_s=300, window_s=300)
NET = corridor_network()
ROW = NET.junctions[:3]
ARMS = "NSEW"


def zone_state(per_minute: dict[str, int]) -> tuple[ZoneState, list[SiteRef]]:
    """Five minutes of readings, one detector per approach (``{"K1:N": 4, ...}`` vehicles/min)."""
    state = ZoneState(zone_id="C1")
    sites = []
    for approach, count in per_minute.items():
        det = "D-" + approach.replace(":", "-")
        lanes = next(a.lanes for j in ROW for a in j.approaches if a.id == approach)
        sites.append(SiteRef(det, approach, lanes))
        state.upsert([ZoneReading(det, k * MIN, 60, count) for k in range(1, 6)])
    return state, sites


def _estimates(per_minute: dict[str, int], ids: tuple[str, ...]) -> dict[str, JunctionEstimate]:
    state, sites = zone_state(per_minute)
    return {j.id: estimate(j, sites, state, 5 * MIN, CFG) for j in ROW if j.id in ids}


def test_phases_releasing_onto_an_exit_share_its_flow_by_movement() -> None:
    k1 = ROW[0]
    est = _estimates({"K1:N": 5, "K1:S": 3, "K1:E": 15, "K1:W": 10}, ("K1",))["K1"]
    # East exit: N turns left and S turns right into it (phase 0), W goes straight (phase 1).
    # Each approach is one wide lane: the turning prior splits it (through 70 %, turns 15 %).
    released = releasing_phases(k1, "K1:E", est)
    assert released == pytest.approx({0: 300 * 0.15 + 180 * 0.15, 1: 600 * 0.70})
    assert releasing_phases(k1, "K1:nowhere", est) == {}
    west = receiving_group("K1:W", est)
    assert west is not None
    assert (west.id, west.flow_vph, west.saturation_flow_vph) == ("1:K1:W", 600.0, 3600.0)
    north = receiving_group("K1:N", est)
    assert north is not None
    assert north.phase == 0
    assert receiving_group("K1:nowhere", est) is None


def _link(up: str, down: str, from_phase: int, flow: float, to_flow: float) -> Link:
    """A corridor link: 14.4 s of road, received by phase 1 (E and W) on a 2-lane approach."""
    return Link(
        from_junction=up,
        to_junction=down,
        travel_time_s=14.4,
        from_phase=from_phase,
        to_phase=1,
        flow_vph=flow,
        to_flow_vph=to_flow,
        to_saturation_flow_vph=3600.0,
    )


def test_zone_links_follow_the_road_and_carry_the_receiving_approach() -> None:
    members = {j.id: j for j in ROW[:2]}
    per_minute = {"K1:N": 5, "K1:S": 3, "K1:E": 15, "K1:W": 10}
    per_minute |= {"K2:N": 1, "K2:S": 0, "K2:E": 8, "K2:W": 12}
    estimates = _estimates(per_minute, ("K1", "K2"))
    links = zone_links(members, NET.links, estimates)
    east = [lk for lk in links if lk.from_junction == "K1"]
    west = [lk for lk in links if lk.from_junction == "K2"]
    assert east == [_link("K1", "K2", 0, 72.0, 720.0), _link("K1", "K2", 1, 420.0, 720.0)]
    # K2's south approach has no traffic: only the north one turns into the west exit.
    assert west == [_link("K2", "K1", 0, 9.0, 900.0), _link("K2", "K1", 1, 336.0, 900.0)]
    # K3 is not among the junctions: its links are left out; so are links that name no road.
    unnamed = [msgspec.structs.replace(lk, exit_id="", approach_id="") for lk in NET.links]
    assert zone_links(members, unnamed, estimates) == ()


def test_links_of_a_network_built_from_osm_are_matched(tmp_path: Path) -> None:
    net = load_network(two_crosses().write(tmp_path / "two.osm"))
    members = {j.id: j for j in net.junctions}
    state = ZoneState(zone_id="z")
    sites = []
    for j in net.junctions:
        for a in j.approaches:
            sites.append(SiteRef(f"d-{a.id}", a.id, a.lanes))
            state.upsert([ZoneReading(f"d-{a.id}", k * MIN, 60, 20) for k in range(1, 6)])
    estimates = {j.id: estimate(j, sites, state, 5 * MIN, CFG) for j in net.junctions}
    links = zone_links(members, net.links, estimates)
    assert {(lk.from_junction, lk.to_junction) for lk in links} == {
        ("osm-1", "osm-2"),
        ("osm-2", "osm-1"),
    }
    for lk in links:
        road = next(
            r
            for r in net.links
            if (r.from_junction, r.to_junction) == (lk.from_junction, lk.to_junction)
        )
        down = members[lk.to_junction]
        served = next(p for p in down.phases if p.index == lk.to_phase)
        assert road.approach_id in served.approach_ids
        up = members[lk.from_junction]
        released = next(p for p in up.phases if p.index == lk.from_phase)
        onto = {m.id for m in up.movements if m.exit_id == road.exit_id}
        assert onto & set(released.movement_ids)
        assert lk.flow_vph > 0
        assert lk.to_flow_vph > 0


PER_MINUTE = {
    f"K{k}:{arm}": c for k in (1, 2, 3) for arm, c in zip(ARMS, (4, 3, 6, 18), strict=True)
}


def test_zone_plans_share_the_cycle_and_are_reproducible() -> None:
    state, sites = zone_state(PER_MINUTE)
    planner = zone_planner("coordinated")
    a = plan_zone("C1", ROW, NET.links, sites, state, 5 * MIN, CFG, planner, "abc")
    b = plan_zone("C1", ROW, NET.links, sites, state, 5 * MIN, CFG, planner, "abc")
    assert a.plans == b.plans
    assert a.zone_plan is not None
    assert a.zone_plan.coordinated
    assert [p.junction_id for p in a.plans] == ["K1", "K2", "K3"]
    assert {p.cycle_s for p in a.plans} == {a.zone_plan.cycle_s}
    assert [p.offset_s for p in a.plans] == [p.offset_s for p in a.zone_plan.plans]
    assert any(p.offset_s for p in a.plans)
    assert len({p.plan_id for p in a.plans}) == 3
    assert len({p.inputs_digest for p in a.plans}) == 1  # the zone's inputs, shared
    for p in a.plans:
        zc = p.explanation.coordination
        assert zc is not None
        assert zc.coordinated
        assert zc.cycle_s == p.cycle_s
        assert zc.links == 8  # 4 road links, each fed by both phases
        assert p.strategy == "coordinated"
        assert "common_cycle" in p.explanation.binding_constraints
        assert zc.text_en in p.explanation.text_en
        assert zc.text_fr in p.explanation.text_fr
        assert p.explanation.parameters["zone_cycle_s"] == p.cycle_s
    # The digest covers the links: a slower road changes it (and may change the offsets).
    slower = [msgspec.structs.replace(lk, travel_time_s=30.0) for lk in NET.links]
    c = plan_zone("C1", ROW, slower, sites, state, 5 * MIN, CFG, planner, "abc")
    assert c.plans[0].inputs_digest != a.plans[0].inputs_digest


def test_unmeasured_junctions_get_no_plan_and_the_rest_is_coordinated() -> None:
    state, sites = zone_state({k: v for k, v in PER_MINUTE.items() if not k.startswith("K3")})
    result = plan_zone(
        "C1", ROW, NET.links, sites, state, 5 * MIN, CFG, zone_planner("coordinated"), "abc"
    )
    assert result.unmeasured == ("K3",)
    assert [p.junction_id for p in result.plans] == ["K1", "K2"]
    zc = result.plans[0].explanation.coordination
    assert zc is not None
    assert zc.junction_ids == ("K1", "K2")
    assert zc.unplanned_junction_ids == ("K3",)
    assert zc.links == 4  # K1 <-> K2 only
    empty = plan_zone(
        "C1", ROW, NET.links, [], ZoneState(zone_id="C1"), 5 * MIN, CFG,
        zone_planner("coordinated"), "abc",
    )  # fmt: skip
    assert empty.plans == ()
    assert empty.unmeasured == ("K1", "K2", "K3")
    assert empty.zone_plan is None


def test_links_without_road_names_plan_each_junction_alone() -> None:
    state, sites = zone_state(PER_MINUTE)
    unnamed = [RoadLink(**{**msgspec.structs.asdict(lk), "exit_id": ""}) for lk in NET.links]
    result = plan_zone(
        "C1", ROW, unnamed, sites, state, 5 * MIN, CFG, zone_planner("coordinated"), "abc"
    )
    assert all(p.offset_s == 0 for p in result.plans)
    zc = result.plans[0].explanation.coordination
    assert zc is not None
    assert zc.links == 0


@settings(max_examples=12)
@given(
    counts=st.lists(st.integers(0, 30), min_size=12, max_size=12),
    travel_s=st.floats(3.0, 90.0),
)
def test_offsets_lie_in_the_cycle_and_a_coordinated_zone_shares_it(
    counts: list[int], travel_s: float
) -> None:
    per_minute = {
        f"K{k}:{arm}": counts[4 * (k - 1) + i] for k in (1, 2, 3) for i, arm in enumerate(ARMS)
    }
    state, sites = zone_state(per_minute)
    links = [msgspec.structs.replace(lk, travel_time_s=round(travel_s, 1)) for lk in NET.links]
    result = plan_zone(
        "C1", ROW, links, sites, state, 5 * MIN, CFG, zone_planner("coordinated"), "abc"
    )
    assert result.zone_plan is not None  # every approach has a detector reporting
    for p in result.plans:
        assert 0 <= p.offset_s < p.cycle_s
        assert sum(ph.green_s + ph.intergreen_s for ph in p.phases) == p.cycle_s
    if result.zone_plan.coordinated:
        assert {p.cycle_s for p in result.plans} == {result.zone_plan.cycle_s}
    else:
        assert all(p.offset_s == 0 for p in result.plans)
        zc = result.plans[0].explanation.coordination
        assert zc is not None
        cost = zc.common_cycle_cost_veh_h_per_h
        assert cost is None or zc.gain_veh_h_per_h <= cost


@pytest.mark.parametrize("arm", ["N", "E"])
def test_a_measured_zero_is_still_a_measurement(arm: str) -> None:
    state, sites = zone_state({f"K{k}:{arm}": 0 for k in (1, 2, 3)})
    result = plan_zone(
        "C1", ROW, NET.links, sites, state, 5 * MIN, CFG, zone_planner("coordinated"), "abc"
    )
    assert [p.junction_id for p in result.plans] == ["K1", "K2", "K3"]
    assert result.unmeasured == ()


async def test_the_zone_stage_publishes_the_zone_plans_and_counts_unmeasured_junctions() -> None:
    rows = [(f"D-{a.id}", j.id, a.id, a.lanes) for j in NET.junctions for a in j.approaches]
    registry = CollectorRegistry()
    ctx = PipelineContext.create(
        NET,
        DetectorIndex.build(NET, rows),
        CFG,
        planner("optimizer"),
        create_metrics(registry),
        TopicNames(),
        zone_planner=zone_planner("coordinated"),
    )
    sink = Sink()
    ch = Channels(
        counts=None,
        dead_letters=None,
        zone_readings=None,
        plans=sink,
        zone_state={},
        plan_inputs=Sink(),
    )
    stage = Zones(ch, STAGE_CFG, ctx)
    # K1 and K2 report five minutes and one more (closing the period); K3 stays silent.
    readings = tuple(
        ZoneReading(f"D-{approach}", m * MIN, 60, count)
        for approach, count in PER_MINUTE.items()
        if not approach.startswith("K3")
        for m in range(1, 7)
    )
    await stage.handle(msgspec.msgpack.encode(ZoneReadings(zone_id="C1", readings=readings)))
    assert [s["key"] for s in sink.sent] == [b"K1", b"K2"]
    plans = [msgspec.json.decode(s["value"], type=SignalPlan) for s in sink.sent]
    assert plans[0].cycle_s == plans[1].cycle_s
    assert all(p.explanation.coordination is not None for p in plans)
    sample = registry.get_sample_value
    assert sample("aiguilleur_plans_skipped_total", {"reason": "no_data"}) == 1
    assert sample("aiguilleur_plans_published_total") == 2
    assert sample("aiguilleur_plan_compute_seconds_count") == 2
