"""The OSM builder on tiny hand-made maps whose answer is known."""

from __future__ import annotations

from pathlib import Path

import pytest

from graph.conflicts import ConflictTable
from graph.osm import load_network, load_network_with_report
from graph.settings import BuildSettings

from .osm_builder import OsmBuilder, plain_cross


def test_plain_cross_gives_one_junction_four_approaches_two_phases(tmp_path: Path) -> None:
    net = load_network(plain_cross().write(tmp_path / "cross.osm"))
    assert [j.id for j in net.junctions] == ["osm-1"]
    j = net.junctions[0]
    assert j.node_ids == ("1",)
    assert sorted(a.id for a in j.approaches) == [
        "osm-1:110:11",
        "osm-1:120:21",
        "osm-1:130:31",
        "osm-1:140:41",
    ]
    north = j.approach("osm-1:110:11")
    assert north.bearing_deg == pytest.approx(180.0, abs=1.0)
    assert north.length_m == pytest.approx(100.0, abs=1.0)
    assert north.node_ids == ("10", "11", "1")
    assert north.name == "North Street"
    assert north.lanes == 1
    assert set(north.guessed) == {"lanes", "free_speed_mps", "saturation_flow_vph"}
    # 4 approaches x 3 ways out (no U-turns by default).
    assert len(j.movements) == 12
    turns = {m.exit_id: m.turn for m in j.movements if m.approach_id == north.id}
    assert turns == {
        "osm-1:130:to:31": "through",
        "osm-1:140:to:41": "right",  # heading south, west is on the right
        "osm-1:120:to:21": "left",
    }
    assert len(j.phases) == 2
    ns = {"osm-1:110:11", "osm-1:130:31"}
    assert {frozenset(p.approach_ids) for p in j.phases} == {
        frozenset(ns),
        frozenset({"osm-1:120:21", "osm-1:140:41"}),
    }
    assert not any(p.pedestrian for p in j.phases)
    assert j.zone_id == "zone-osm-1"


def test_signals_ahead_of_an_intersection_control_it(tmp_path: Path) -> None:
    # No signal at the centre: one on each arm 15 m out (typical OSM mapping).
    b = plain_cross(centre_tags={})
    for base in (10, 20, 30, 40):
        b.nodes[base + 1][2]["highway"] = "traffic_signals"
    net, report = load_network_with_report(b.write(tmp_path / "ahead.osm"))
    assert [j.id for j in net.junctions] == ["osm-1"]
    assert net.junctions[0].signal_node_ids == ("11", "21", "31", "41")
    assert report.n_absorbed_signals == 4
    assert len(net.junctions[0].approaches) == 4


def test_signal_too_far_ahead_stays_its_own_point(tmp_path: Path) -> None:
    b = plain_cross(centre_tags={})
    b.nodes[11][2]["highway"] = "traffic_signals"
    # 15 m out is within 30 m; with a 10 m setting it is not, so it stays a separate point.
    net = load_network(
        b.write(tmp_path / "far.osm"), settings=BuildSettings(guess_signals_dist_m=10)
    )
    assert [j.id for j in net.junctions] == ["osm-11"]
    assert len(net.junctions[0].approaches) == 2


def test_partly_signalised_intersection_is_not_controlled(tmp_path: Path) -> None:
    b = plain_cross(centre_tags={})
    for base in (10, 30):
        b.nodes[base + 1][2]["highway"] = "traffic_signals"
    net = load_network(b.write(tmp_path / "half.osm"))
    # netconvert's rule: every entry needs a signal, so the two signals stay points of their own.
    assert sorted(j.id for j in net.junctions) == ["osm-11", "osm-31"]


def test_midblock_crossing_gets_an_exclusive_pedestrian_phase(tmp_path: Path) -> None:
    b = OsmBuilder()
    b.node(1, -200, 0)
    b.node(2, 0, 0, highway="crossing", crossing="traffic_signals")
    b.node(3, 200, 0)
    b.way(50, [1, 2, 3], highway="primary", lanes="4", maxspeed="50")
    net = load_network(b.write(tmp_path / "mid.osm"))
    (j,) = net.junctions
    assert j.id == "osm-2"
    assert {a.lanes for a in j.approaches} == {2}
    assert all("lanes" not in a.guessed for a in j.approaches)
    assert [a.free_speed_mps for a in j.approaches] == pytest.approx([50 / 3.6] * 2, abs=0.01)
    assert [m.turn for m in j.movements] == ["through", "through"]
    assert [(len(p.movement_ids), p.pedestrian) for p in j.phases] == [(2, False), (0, True)]
    # 4 lanes x 3.25 m at 1.2 m/s.
    assert j.pedestrian_clearance_s == pytest.approx(4 * 3.25 / 1.2, abs=0.1)
    assert "pedestrian_clearance_s" in j.guessed
    assert set(j.crossing_approach_ids) == {a.id for a in j.approaches}


def test_oneway_lanes_and_turn_lanes(tmp_path: Path) -> None:
    b = plain_cross()
    # North arm one-way southbound towards the centre, with a dedicated left lane.
    b.ways[0][2].update({"oneway": "yes", "lanes": "2", "turn:lanes": "left|through;right"})
    net = load_network(b.write(tmp_path / "oneway.osm"))
    (j,) = net.junctions
    north = j.approach("osm-1:110:11")
    assert north.lanes == 2
    assert north.turn_lanes == ("left", "through;right")
    assert "lanes" not in north.guessed
    # Nobody may drive north (out of the one-way arm).
    assert not any(m.exit_id == "osm-1:110:to:11" for m in j.movements)
    left = next(m for m in j.movements if m.approach_id == north.id and m.turn == "left")
    assert left.protected
    protected_phase = next(p for p in j.phases if left.id in p.movement_ids)
    assert protected_phase.movement_ids == (left.id,)


def test_lanes_forward_backward_and_speed_tags(tmp_path: Path) -> None:
    b = plain_cross()
    # Way 140 runs W(40) -> 41 -> centre: forward is towards the junction.
    b.ways[3][2].update({"lanes:forward": "3", "lanes:backward": "1", "maxspeed": "30 mph"})
    net = load_network(b.write(tmp_path / "lanes.osm"))
    j = net.junctions[0]
    west = j.approach("osm-1:140:41")
    assert west.lanes == 3
    assert west.free_speed_mps == pytest.approx(30 * 1.609344 / 3.6, abs=0.01)
    assert west.saturation_flow_vph == pytest.approx(3 * 1800.0)
    assert {e.lanes for e in j.exits if e.osm_way_id == 140} == {1}


def test_turn_restriction_removes_the_movement(tmp_path: Path) -> None:
    b = plain_cross()
    b.restriction(900, from_way=110, via=1, to_way=120, kind="no_left_turn")
    net = load_network(b.write(tmp_path / "restricted.osm"))
    j = net.junctions[0]
    assert not any(
        m.approach_id == "osm-1:110:11" and m.exit_id == "osm-1:120:to:21" for m in j.movements
    )
    assert len(j.movements) == 11


def test_divided_road_crossing_is_one_junction_without_conflicts(tmp_path: Path) -> None:
    # A two-way street (x axis) crosses a divided avenue whose carriageways are 12 m apart.
    b = OsmBuilder()
    b.node(1, -6, 0, highway="traffic_signals")
    b.node(2, 6, 0, highway="traffic_signals")
    b.node(10, -100, 0)
    b.node(20, 100, 0)
    b.way(100, [10, 1, 2, 20], highway="secondary", name="Street")
    b.node(30, -6, 100)
    b.node(31, -6, -100)
    b.way(200, [30, 1, 31], highway="primary", oneway="yes", name="Avenue")  # southbound (west)
    b.node(40, 6, -100)
    b.node(41, 6, 100)
    b.way(300, [40, 2, 41], highway="primary", oneway="yes", name="Avenue")  # northbound (east)
    net = load_network(b.write(tmp_path / "divided.osm"))
    (j,) = net.junctions
    assert j.id == "osm-1"
    assert j.node_ids == ("1", "2")
    assert len(j.approaches) == 4
    assert j.name == "Avenue / Street"
    table = ConflictTable.of(j)
    for p in j.phases:
        assert table.conflicting_pairs(p.movement_ids) == []
    assert len(j.phases) == 2


def test_ids_are_stable_across_builds(tmp_path: Path) -> None:
    path = plain_cross().write(tmp_path / "a.osm")
    assert load_network(path) == load_network(path)


def test_intergreen_grows_with_the_junction_extent() -> None:
    from graph._phases import intergreen_s

    s = BuildSettings()
    assert intergreen_s(0.0, s) == 5.0  # minimum
    assert intergreen_s(30.0, s) == 3.0 + 4.0  # (30 + 6) / 10 -> 4 s all-red
    assert intergreen_s(200.0, s) == 3.0 + 5.0  # all-red capped


def test_single_node_junction_keeps_the_minimum_intergreen(tmp_path: Path) -> None:
    cross = load_network(plain_cross().write(tmp_path / "single.osm")).junctions[0]
    assert {p.intergreen_s for p in cross.phases} == {5.0}
