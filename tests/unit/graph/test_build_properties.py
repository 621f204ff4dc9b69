"""Invariants of whole builds on random small street grids (hypothesis).

Random one-ways, lanes, signals at intersections or just ahead of them, and pedestrian lights;
whatever the map, every approach ends at its junction, no phase holds conflicting movements, and
phases cover the movements.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graph._geo import distance_m
from graph.conflicts import ConflictTable
from graph.errors import NetworkSourceError
from graph.osm import load_network

from .osm_builder import OsmBuilder

BLOCK_M = 90.0


@st.composite
def grids(draw: st.DrawFn) -> OsmBuilder:
    nx = draw(st.integers(min_value=2, max_value=4))
    ny = draw(st.integers(min_value=2, max_value=4))
    b = OsmBuilder()
    nid = 1
    ids: dict[tuple[int, int], int] = {}
    for i in range(nx):
        for j in range(ny):
            jitter = draw(st.floats(min_value=-12, max_value=12))
            tags = {}
            if draw(st.integers(0, 3)) == 0:
                tags["highway"] = "traffic_signals"
            b.node(nid, i * BLOCK_M + jitter, j * BLOCK_M - jitter, **tags)
            ids[i, j] = nid
            nid += 1
    wid = 1000
    for i in range(nx):
        for j in range(ny):
            for di, dj in ((1, 0), (0, 1)):
                if (i + di, j + dj) not in ids or not draw(st.integers(0, 5)):
                    continue
                a, c = ids[i, j], ids[i + di, j + dj]
                # A node 12 m from the start: a signal ahead of it, a crossing or nothing.
                mid = nid
                nid += 1
                kind = draw(st.sampled_from(["plain", "plain", "signal", "crossing"]))
                mtags = {
                    "plain": {},
                    "signal": {"highway": "traffic_signals"},
                    "crossing": {"highway": "crossing", "crossing": "traffic_signals"},
                }[kind]
                b.node(mid, i * BLOCK_M + di * 12, j * BLOCK_M + dj * 12, **mtags)
                tags = {"highway": draw(st.sampled_from(["primary", "secondary", "residential"]))}
                oneway = draw(st.sampled_from(["", "", "yes", "-1"]))
                if oneway:
                    tags["oneway"] = oneway
                lanes = draw(st.sampled_from(["", "1", "2", "3", "4"]))
                if lanes:
                    tags["lanes"] = lanes
                b.way(wid, [a, mid, c], **tags)
                wid += 1
    return b


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(grids())
def test_random_grids_hold_the_invariants(b: OsmBuilder) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = b.write(Path(d) / "grid.osm")
        refused = ""
        try:
            net = load_network(path)
        except NetworkSourceError as e:
            refused = str(e)
    if refused:
        # Grids without any road or any signal are legitimately refused, and only those.
        assert "no drivable road" in refused or "no signal-controlled junction" in refused
        return
    ids = [j.id for j in net.junctions]
    assert len(ids) == len(set(ids))
    owned = [s for j in net.junctions for s in j.signal_node_ids]
    assert len(owned) == len(set(owned))
    for j in net.junctions:
        for a in j.approaches:
            assert a.junction_id == j.id
            assert a.to_node in j.node_ids
            assert a.node_ids[-1] == a.to_node
            lon, lat = a.geometry[-1]
            assert distance_m(lon, lat, j.lon, j.lat) < 60.0
        served = sorted(m for p in j.phases for m in p.movement_ids)
        assert served == sorted(m.id for m in j.movements)
        table = ConflictTable.of(j)
        for p in j.phases:
            assert table.conflicting_pairs(p.movement_ids) == []
    assert {lk.from_junction for lk in net.links} <= set(ids)
    by_id = {j.id: j for j in net.junctions}
    for lk in net.links:
        assert lk.exit_id in {e.id for e in by_id[lk.from_junction].exits}
        assert lk.approach_id in {"", *(a.id for a in by_id[lk.to_junction].approaches)}
