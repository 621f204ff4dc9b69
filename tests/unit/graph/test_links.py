"""Coordination links say which road they follow: the upstream exit and the downstream approach."""

from __future__ import annotations

from pathlib import Path

import msgspec

from graph.model import Link, Network
from graph.osm import load_network

from .osm_builder import OsmBuilder


def two_crosses() -> OsmBuilder:
    """Signals at nodes 1 (west) and 2 (east), 200 m apart on a two-way main street (way 100)
    through a plain node 5; a two-way side street crosses at each (ways 101, 102)."""
    b = OsmBuilder()
    b.node(1, 0, 0, highway="traffic_signals")
    b.node(2, 200, 0, highway="traffic_signals")
    b.node(5, 100, 0)
    b.node(13, -100, 0)
    b.node(23, 300, 0)
    for nid, east, north in ((11, 0, 100), (12, 0, -100), (21, 200, 100), (22, 200, -100)):
        b.node(nid, east, north)
    b.way(100, [13, 1, 5, 2, 23], highway="secondary", name="Main Street")
    b.way(101, [11, 1, 12], highway="residential", name="West Side")
    b.way(102, [21, 2, 22], highway="residential", name="East Side")
    return b


def test_links_name_the_exit_and_the_approach_they_join(tmp_path: Path) -> None:
    net = load_network(two_crosses().write(tmp_path / "two.osm"))
    by_pair = {(lk.from_junction, lk.to_junction): lk for lk in net.links}
    east = by_pair[("osm-1", "osm-2")]
    west = by_pair[("osm-2", "osm-1")]
    assert (east.exit_id, east.approach_id) == ("osm-1:100:to:5", "osm-2:100:5")
    assert (west.exit_id, west.approach_id) == ("osm-2:100:to:5", "osm-1:100:5")
    assert 199 <= east.length_m <= 201
    for lk in (east, west):
        up, down = net.junction(lk.from_junction), net.junction(lk.to_junction)
        assert lk.exit_id in {e.id for e in up.exits}
        assert lk.approach_id in {a.id for a in down.approaches}
        # Movements of the upstream junction lead onto the link, and the approach is served.
        assert any(m.exit_id == lk.exit_id for m in up.movements)
        assert any(lk.approach_id in p.approach_ids for p in down.phases)


def test_models_written_before_links_named_roads_still_load() -> None:
    old = {
        "source": "x",
        "source_sha256": "0" * 64,
        "junctions": [],
        "links": [{"from_junction": "A", "to_junction": "B", "length_m": 80, "travel_time_s": 6}],
    }
    net = msgspec.json.decode(msgspec.json.encode(old), type=Network)
    assert net.links == (
        Link(from_junction="A", to_junction="B", length_m=80.0, travel_time_s=6.0),
    )
    assert (net.links[0].exit_id, net.links[0].approach_id) == ("", "")
