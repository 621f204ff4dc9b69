"""Invariants every built network must hold, checked on real extracts."""

from __future__ import annotations

import re

from graph._geo import distance_m
from graph.conflicts import ConflictTable
from graph.model import Network


def check_network(net: Network) -> None:
    ids = [j.id for j in net.junctions]
    assert len(ids) == len(set(ids)), "junction ids are unique"
    approach_ids = [a.id for j in net.junctions for a in j.approaches]
    assert len(approach_ids) == len(set(approach_ids)), "approach ids are unique"
    known = set(ids)
    for link in net.links:
        assert link.from_junction in known
        assert link.to_junction in known
        assert link.from_junction != link.to_junction
        assert link.length_m > 0
        assert link.travel_time_s > 0
    for j in net.junctions:
        m = re.fullmatch(r"osm-(\d+)", j.id)
        assert m is not None, j.id
        assert m.group(1) in j.node_ids, j.id
        assert j.zone_id.startswith("zone-osm-")
        assert j.approaches, j.id
        for a in j.approaches:
            # Every approach ends at its junction.
            assert a.junction_id == j.id
            assert a.to_node in j.node_ids, a.id
            assert a.node_ids[-1] == a.to_node
            assert a.node_ids[-2] == a.from_node
            assert a.id == f"{j.id}:{a.osm_way_id}:{a.from_node}"
            end = a.geometry[-1]
            assert distance_m(end[0], end[1], j.lon, j.lat) < 80.0, a.id
            assert a.lanes >= 1
            assert a.saturation_flow_vph > 0
            assert a.free_speed_mps > 0
            assert a.length_m > 0
            # Lanes: one per lane, indexed from the right, together serving every movement.
            assert [ln.index for ln in a.lane_detail] == list(range(a.lanes)), a.id
            mine = {mv.id for mv in j.movements if mv.approach_id == a.id}
            assert all(ln.movement_ids and set(ln.movement_ids) <= mine for ln in a.lane_detail)
            assert {m for ln in a.lane_detail for m in ln.movement_ids} == mine, a.id
        exits = {e.id for e in j.exits}
        a_ids = {a.id for a in j.approaches}
        for mv in j.movements:
            assert mv.approach_id in a_ids
            assert mv.exit_id in exits
        # Phases cover every movement, each once, and no phase holds conflicting movements.
        served = sorted(mid for p in j.phases for mid in p.movement_ids)
        assert served == sorted(mv.id for mv in j.movements), j.id
        table = ConflictTable.of(j)
        for p in j.phases:
            assert table.conflicting_pairs(p.movement_ids) == [], (j.id, p.index)
            # A permitted movement gives way to a movement the same phase shows.
            assert set(p.permitted_movement_ids) <= set(p.movement_ids)
            by_id = {mv.id: mv for mv in j.movements}
            for mid in p.permitted_movement_ids:
                assert set(by_id[mid].yields_to) & set(p.movement_ids), (j.id, mid)
        if j.crossing_approach_ids:
            assert any(p.pedestrian for p in j.phases), j.id
            assert j.pedestrian_clearance_s > 0
