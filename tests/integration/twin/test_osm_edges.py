"""OSM routes onto the demo city's SUMO twin (netconvert on the same extract): edges map onto the
SUMO edges of the same way and direction, and a route maps to a connected SUMO route."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import sumolib

from graph.routing import build_routable_graph
from twin.osm_edges import OsmToSumo

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]


def test_demo_edges_and_routes_map_onto_the_twin() -> None:
    rg = build_routable_graph(REPO / "data" / "demo" / "lyon-villeurbanne.osm.gz")
    net = sumolib.net.readNet(str(REPO / "data" / "demo" / "twin" / "lyon-villeurbanne.net.xml.gz"))
    m = OsmToSumo(rg, net)
    mains = [
        e for e in rg.graph.edges(keys=True) if rg.data(e)["road_class"] in {"primary", "tertiary"}
    ]
    mapped = [e for e in mains if m.edge(e)]
    # the short pieces inside the junctions netconvert joined have no edge of their own
    long = [e for e in mains if rg.data(e)["length"] > 30]
    assert len([e for e in long if m.edge(e)]) >= 0.9 * len(long)
    for e in mapped:
        way = str(rg.data(e)["osmid"])
        for sid in m.edge(e):
            assert sid.lstrip("-").split("#")[0] == way
            assert sid.startswith("-") == bool(rg.data(e)["reversed"])
    # a two-block route along Cours Émile Zola maps to SUMO edges that follow each other
    for e in mapped:
        nxt = [(e[1], v, k) for _, v, k in rg.graph.out_edges(e[1], keys=True)]
        same = [
            x
            for x in nxt
            if x[1] != e[0] and rg.data(x)["osmid"] == rg.data(e)["osmid"] and m.edge(x)
        ]
        if not same:
            continue
        route = m.path([e, same[0]])
        for a, b in itertools.pairwise(route):
            assert net.getEdge(b) in net.getEdge(a).getOutgoing()
