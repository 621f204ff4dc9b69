"""Detector registry: both placement formats, GeoJSON, unmapped reasons and malformed files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from graph.errors import DetectorRegistryError
from graph.model import Network
from graph.registry import DetectorSite, load_registry

from .conftest import LAT0, LON0


def _write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_way_format_maps_by_any_upstream_node(tmp_path: Path, cross_network: Network) -> None:
    p = _write(
        tmp_path,
        "d.csv",
        "detector_id,osm_way_id,from_node,lanes\nA,101,11,2\nB,103,135,\nC,104,1,1\n",
    )
    reg = load_registry(p, cross_network)
    assert reg.get("A") == DetectorSite("A", "osm-1", "osm-1:101:11", "zone-osm-1", 2)
    site_b = reg.get("B")
    assert site_b is not None
    assert site_b.approach_id == "osm-1:103:13"
    assert site_b.lanes == 1
    # Node 1 is the junction itself: traffic does not come from there on way 104.
    assert reg.get("C") is None
    assert [u.detector_id for u in reg.unmapped] == ["C"]
    assert reg.unmapped[0].line == 4
    assert "no approach coming from node 1" in reg.unmapped[0].reason


def test_unknown_way_is_unmapped_with_reason(tmp_path: Path, cross_network: Network) -> None:
    p = _write(tmp_path, "d.csv", "detector_id,osm_way_id,from_node\nX,999,5\n")
    reg = load_registry(p, cross_network)
    assert len(reg) == 0
    assert "999 is not an approach" in reg.unmapped[0].reason


def test_position_format_snaps_with_bearing_check(tmp_path: Path, cross_network: Network) -> None:
    # 40 m north of the junction, on the north arm, vehicles travelling south (180°).
    lat = LAT0 + 0.00036
    p = _write(
        tmp_path,
        "d.csv",
        "detector_id,lat,lon,bearing\n"
        f"S1,{lat},{LON0 + 0.00005},175\n"
        f"WRONG,{lat},{LON0},0\n"
        f"FAR,{LAT0 + 0.01},{LON0},180\n",
    )
    reg = load_registry(p, cross_network)
    site = reg.get("S1")
    assert site is not None
    assert site.approach_id == "osm-1:101:11"
    reasons = {u.detector_id: u.reason for u in reg.unmapped}
    assert set(reasons) == {"WRONG", "FAR"}
    assert "bearing" in reasons["WRONG"]
    assert "within 30 m" in reasons["FAR"]


def test_geojson_points(tmp_path: Path, cross_network: Network) -> None:
    doc = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [LON0 - 0.0005, LAT0]},
                "properties": {"detector_id": "G1", "bearing": 92, "lanes": 2},
            },
            {
                "type": "Feature",
                "geometry": None,
                "properties": {"detector_id": "G2", "osm_way_id": 102, "from_node": "12"},
            },
        ],
    }
    p = _write(tmp_path, "d.geojson", json.dumps(doc))
    reg = load_registry(p, cross_network)
    assert [s.approach_id for s in reg.sites()] == ["osm-1:104:14", "osm-1:102:12"]
    assert reg.sites()[0].lanes == 2


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("", 1, "empty file"),
        ("id,lat,lon\n", 1, "no detector_id"),
        ("detector_id,lat,lon\n", 1, "lat,lon,bearing"),
        ("detector_id,lat,lon,bearing\nA,x,4.8,0\n", 2, "lat is not a number"),
        ("detector_id,lat,lon,bearing\nA,45.7,4.8\n", 2, "expected 4 fields"),
        (
            "detector_id,lat,lon,bearing\nA,45.7,4.8,0\nA,45.7,4.8,0\n",
            3,
            "already defined on line 2",
        ),
        ("detector_id,osm_way_id,from_node\nA,12,\n", 2, "without from_node"),
        ("detector_id,osm_way_id,from_node,lanes\nA,12,3,0\n", 2, "positive integer"),
        ("detector_id,lat,lon,bearing\nA,95,4.8,0\n", 2, "out of range"),
    ],
)
def test_malformed_csv_raises_with_line(
    tmp_path: Path, cross_network: Network, text: str, line: int, fragment: str
) -> None:
    p = _write(tmp_path, "bad.csv", text)
    with pytest.raises(DetectorRegistryError) as info:
        load_registry(p, cross_network)
    assert info.value.line == line
    assert fragment in str(info.value)
    assert str(p) in str(info.value)


def test_missing_and_corrupt_geojson(tmp_path: Path, cross_network: Network) -> None:
    with pytest.raises(DetectorRegistryError, match="file not found"):
        load_registry(tmp_path / "nope.csv", cross_network)
    p = _write(tmp_path, "bad.geojson", "{not json")
    with pytest.raises(DetectorRegistryError, match="cannot read the file as GeoJSON"):
        load_registry(p, cross_network)
    p2 = _write(
        tmp_path,
        "line.geojson",
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "geometry": {"type": "LineString", "coordinates": []},
                        "properties": {"detector_id": "L"},
                    }
                ],
            }
        ),
    )
    with pytest.raises(DetectorRegistryError, match="must be a Point") as info:
        load_registry(p2, cross_network)
    assert info.value.line == 1


def test_way_format_ambiguity_needs_to_node(tmp_path: Path, cross_network: Network) -> None:
    # Way 101 continues through node 11 to a second junction north of it.
    from graph.model import Approach, Junction

    from .conftest import cross_junction

    j1 = cross_junction()
    north = Approach(
        id="osm-2:101:11",
        junction_id="osm-2",
        osm_way_id=101,
        from_node="11",
        to_node="2",
        bearing_deg=0.0,
        lanes=1,
        saturation_flow_vph=1800.0,
        free_speed_mps=13.9,
        length_m=100.0,
        road_class="secondary",
        node_ids=("11", "2"),
        geometry=((LON0, LAT0 + 0.0009), (LON0, LAT0 + 0.0018)),
    )
    j2 = Junction(
        id="osm-2",
        lat=LAT0 + 0.0018,
        lon=LON0,
        zone_id="zone-osm-1",
        node_ids=("2",),
        approaches=(north,),
        movements=(),
        phases=(),
    )
    net = Network(source="t", source_sha256="0" * 64, junctions=(j1, j2))
    p = _write(
        tmp_path,
        "d.csv",
        "detector_id,osm_way_id,from_node,to_node\nAMB,101,11,\nUP,101,11,2\nDOWN,101,11,1\n",
    )
    reg = load_registry(p, net)
    assert [u.detector_id for u in reg.unmapped] == ["AMB"]
    assert "ambiguous" in reg.unmapped[0].reason
    assert "to_node" in reg.unmapped[0].reason
    assert reg.get("UP") is not None
    assert reg.get("UP").approach_id == "osm-2:101:11"  # type: ignore[union-attr]
    assert reg.get("DOWN").approach_id == "osm-1:101:11"  # type: ignore[union-attr]
