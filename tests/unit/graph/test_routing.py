"""The routable graph on drawn OSM: osmnx's conventions, edges cut where they should be, one-way
and access tags honoured, capacities, placing points, the sign registry."""

from __future__ import annotations

from pathlib import Path

import pytest

from graph.locate import EdgeLocator, LocationError
from graph.routing import RoutableGraph, build_routable_graph
from graph.signs import SignRegistryError, load_signs

from .osm_builder import LAT0, LON0, OsmBuilder, plain_cross


def _graph(b: OsmBuilder, tmp_path: Path) -> RoutableGraph:
    return build_routable_graph(b.write(tmp_path / "t.osm"))


def test_a_signalled_cross(tmp_path: Path) -> None:
    rg = _graph(plain_cross(), tmp_path)
    g = rg.graph
    # arms are two-way: one edge per direction, from each arm end to the centre and back
    assert g.number_of_edges() == 8
    assert g.nodes[1]["street_count"] == 4
    assert g.nodes[1]["highway"] == "traffic_signals"
    into = rg.edge_on_way(110, 10)
    out = rg.edge_on_way(110, 1)
    assert into[1] == 1
    assert out[0] == 1
    assert rg.data(into)["nodes"] == (10, 11, 1)  # the middle node stays inside the edge
    assert rg.data(into)["length"] == pytest.approx(100, abs=0.5)
    assert rg.data(into)["name"] == "North Street"
    assert rg.data(into)["travel_time"] == pytest.approx(100 / (50 / 3.6), rel=0.01)
    # a signal at the end cuts the link's capacity to its green share
    assert rg.data(into)["capacity_vph"] == pytest.approx(1800 * 0.45)
    assert rg.data(out)["capacity_vph"] == pytest.approx(1800)
    assert g.graph["crs"] == "EPSG:4326"


def test_one_way_access_and_way_changes(tmp_path: Path) -> None:
    b = OsmBuilder()
    for i in range(5):
        b.node(i + 1, 100 * i, 0)
    b.node(9, 200, 100)
    b.way(1, [1, 2, 3], highway="secondary", oneway="yes", maxspeed="30", name="Rue A")
    b.way(2, [3, 4, 5], highway="secondary", oneway="-1", name="Rue B")
    b.way(3, [3, 9], highway="service", access="private", name="Private")
    rg = _graph(b, tmp_path)
    g = rg.graph
    assert {(u, v) for u, v, _ in g.edges(keys=True)} == {(1, 3), (5, 3)}
    assert rg.data(rg.edge_on_way(1, 1))["speed_kph"] == 30
    assert rg.data(rg.edge_on_way(2, 5))["reversed"]
    assert 9 not in g  # closed to cars
    with pytest.raises(KeyError):
        rg.edge_on_way(1, 3)  # against the one-way


def test_locator_honours_the_direction_of_travel(tmp_path: Path) -> None:
    rg = _graph(plain_cross(), tmp_path)
    loc = EdgeLocator(rg)
    # 50 m north of the centre, 3 m east of the axis: on North Street
    lat = LAT0 + 50 / 111_195.0
    lon = LON0 + 3 / (111_195.0 * 0.7071)
    southbound = loc.nearest(lon, lat, 180.0)
    northbound = loc.nearest(lon, lat, 0.0)
    assert southbound[1] == 1
    assert northbound[0] == 1
    with pytest.raises(LocationError, match="none within"):
        loc.nearest(lon, lat, 90.0)
    with pytest.raises(LocationError, match="no drivable road"):
        loc.nearest(lon + 0.01, lat, None)


def test_sign_registry(tmp_path: Path) -> None:
    rg = _graph(plain_cross(), tmp_path)
    lat = LAT0 + 60 / 111_195.0
    good = tmp_path / "signs.csv"
    good.write_text(
        "sign_id,osm_node,lat,lon,bearing\n"
        "VMS-1,1,,,\n"
        f"VMS-2,,{lat},{LON0},180\n"
        "VMS-3,999,,,\n"
        f"VMS-4,,{lat + 0.01},{LON0},180\n",
        encoding="utf-8",
    )
    reg = load_signs(good, rg)
    assert reg.by_node == {1: "VMS-2"}  # both serve node 1; the placed one is read last
    assert [u[0] for u in reg.unmapped] == ["VMS-3", "VMS-4"]
    assert "not an intersection" in reg.unmapped[0][2]
    dup = tmp_path / "dup.csv"
    dup.write_text("sign_id,osm_node\nA,1\nA,1\n", encoding="utf-8")
    with pytest.raises(SignRegistryError, match="duplicate sign_id"):
        load_signs(dup, rg)
    bad = tmp_path / "bad.csv"
    bad.write_text("id,node\nA,1\n", encoding="utf-8")
    with pytest.raises(SignRegistryError, match="header"):
        load_signs(bad, rg)
