"""The routable graph and the diversions on real OSM extracts: the demo city, and the shared ones
when present. Closures are sampled over the busiest classes of every city; for each, the advised
paths are connected and drivable under the ways' own tags (read again from the file, not from the
graph), the allocation respects capacities and conserves flow, and a closure with no way around
gets a clear no-diversion advice."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import osmium
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graph._reader import is_drivable
from graph._tags import oneway
from graph.routing import EdgeKey, RoutableGraph, build_routable_graph
from optimizer.diversion import allocate
from streams.events import Incident, IncidentLocation
from streams.rerouting import RerouteConfig, RerouteContext, advise, diversion_model
from tests.fixtures.flows import check_allocation

from .conftest import DEMO_OSM, shared_osm

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 10, 17, 0, tzinfo=UTC)
SHARED = ["helsinki.osm.pbf", "monaco.osm.pbf", "west-oakland.osm.bz2"]
CFG = RerouteConfig()


@cache
def _graph(path: Path) -> RoutableGraph:
    return build_routable_graph(path)


@cache
def _way_tags(path: Path) -> dict[int, dict[str, str]]:
    """Every way's tags, read straight from the file."""
    return {
        obj.id: dict(obj.tags)
        for obj in osmium.FileProcessor(str(path), osmium.osm.WAY)
        if isinstance(obj, osmium.osm.Way)
    }


def _check_drivable(path: Path, rg: RoutableGraph, edges: list[EdgeKey]) -> None:
    tags = _way_tags(path)
    for e in edges:
        d = rg.data(e)
        way = tags[int(d["osmid"])]
        assert is_drivable(way), (e, way)
        ow = oneway(way)
        assert not (ow > 0 and d["reversed"]), f"{e} runs against one-way way {d['osmid']}"
        assert not (ow < 0 and not d["reversed"]), f"{e} runs against one-way way {d['osmid']}"


def _incident(rg: RoutableGraph, e: EdgeKey) -> Incident:
    return Incident(
        incident_id=f"t-{e[0]}-{e[1]}",
        kind="closure",
        location=IncidentLocation(osm_way_id=int(rg.data(e)["osmid"]), from_node=e[0]),
        starts_at=T0,
        reported_by="test",
    )


def _main_roads(rg: RoutableGraph) -> list[EdgeKey]:
    main = {"primary", "secondary", "tertiary", "trunk", "unclassified", "residential"}
    return sorted(e for e in rg.graph.edges(keys=True) if rg.data(e)["highway"] in main)


def _closure_properties(path: Path, index: int) -> None:
    rg = _graph(path)
    edges = _main_roads(rg)
    e = edges[index % len(edges)]
    incident = _incident(rg, e)
    model = diversion_model(incident, e, RerouteContext.build(rg), {}, CFG)
    if model.request is None:
        assert model.candidates.reason is not None
        assert model.candidates.detail
        return
    alloc = allocate(model.request)
    assert alloc.status == "optimal"
    check_allocation(model.request, alloc)
    # every path: connected graph edges, drivable under the file's tags, around the closure
    by_id = {a.id: k for k, a in model.flows.arcs.items()} if model.flows else {}
    for p in alloc.paths:
        path_edges = [by_id[a] for a in p.arc_ids]
        for a, b in itertools.pairwise(path_edges):
            assert a[1] == b[0]
        assert e not in path_edges
        _check_drivable(path, rg, path_edges)
    # the published advice walks along the graph from its decision point
    for advice in advise(incident, e, RerouteContext.build(rg), {}, T0, CFG):
        for alt in advice.alternatives:
            assert advice.decision_point is not None
            assert alt.node_ids[0] == advice.decision_point.node
            along = rg.edges_along(alt.node_ids)
            assert e not in along
            _check_drivable(path, rg, list(along))
            assert 0 < alt.share <= 1


def test_demo_graph_is_osmnx_valid_and_drivable() -> None:
    import osmnx as ox

    rg = _graph(DEMO_OSM)
    ox.convert.validate_graph(rg.graph)
    assert all(rg.data(e)["travel_time"] > 0 for e in rg.graph.edges(keys=True))
    assert all(rg.data(e)["capacity_vph"] > 0 for e in rg.graph.edges(keys=True))
    _check_drivable(DEMO_OSM, rg, list(rg.graph.edges(keys=True)))
    # the streets keep their OSM names, for the advice's text
    assert "Cours Émile Zola" in {rg.data(e).get("name") for e in rg.graph.edges(keys=True)}


@settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 10_000))
def test_demo_closures(index: int) -> None:
    _closure_properties(DEMO_OSM, index)


@pytest.mark.shared_data
@pytest.mark.parametrize("name", SHARED)
def test_shared_city_closures(name: str) -> None:
    path = shared_osm(name)
    rg = _graph(path)
    _check_drivable(path, rg, list(rg.graph.edges(keys=True)))
    for index in range(0, 400, 17):
        _closure_properties(path, index)


def test_closure_with_no_way_around_says_so() -> None:
    rg = _graph(DEMO_OSM)
    ctx = RerouteContext.build(rg)
    for e in _main_roads(rg):
        out = advise(_incident(rg, e), e, ctx, {}, T0, CFG)
        if out[0].reason == "no_alternative":
            (only,) = out
            assert only.kind == "no_diversion"
            assert not only.alternatives
            assert "No diversion" in only.explanation.text_en
            assert "no way around" in only.explanation.text_en
            assert "aucun itinéraire de contournement" in only.explanation.text_fr
            assert only.affected_link.name in only.explanation.text_en
            return
    pytest.fail("the demo city has dead-end stretches: one closure should have no way around")
