"""Detector registry by approach id (``junction_id,approach_id``): the twin's loops use it."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from graph.errors import DetectorRegistryError
from graph.model import Exit, Lane, Network
from graph.registry import DetectorSite, load_registry


def test_approach_format_maps_by_ids(tmp_path: Path, cross_network: Network) -> None:
    p = tmp_path / "d.csv"
    p.write_text(
        "detector_id,junction_id,approach_id,lanes\n"
        "L1,osm-1,osm-1:101:11,2\n"
        "L2,osm-1,no-such-edge,1\n"
        "L3,osm-9,osm-1:101:11,1\n",
        encoding="utf-8",
    )
    reg = load_registry(p, cross_network)
    assert reg.get("L1") == DetectorSite("L1", "osm-1", "osm-1:101:11", "zone-osm-1", 2)
    assert [u.detector_id for u in reg.unmapped] == ["L2", "L3"]
    assert [u.line for u in reg.unmapped] == [3, 4]
    assert "has no approach 'no-such-edge'" in reg.unmapped[0].reason
    assert "junction 'osm-9'" in reg.unmapped[1].reason


def test_approach_without_junction_names_the_line(tmp_path: Path, cross_network: Network) -> None:
    p = tmp_path / "d.csv"
    p.write_text("detector_id,junction_id,approach_id\nL1,,osm-1:101:11\n", encoding="utf-8")
    with pytest.raises(DetectorRegistryError, match=r"d.csv:2: .*without junction_id"):
        load_registry(p, cross_network)


def _with_lanes(network: Network) -> Network:
    """``network`` with two lanes recorded on every approach and an exit with lane ids."""
    j = network.junctions[0]
    approaches = tuple(
        msgspec.structs.replace(
            a,
            lane_detail=tuple(
                Lane(index=i, id=f"{a.id}#{i}", movement_ids=()) for i in range(a.lanes)
            ),
        )
        for a in j.approaches
    )
    exits = (
        Exit(
            id="out",
            junction_id=j.id,
            from_node="1",
            to_node="99",
            bearing_deg=0.0,
            lane_ids=("out_0", "osm-1:101:11#0"),
        ),
    )
    return msgspec.structs.replace(
        network, junctions=(msgspec.structs.replace(j, approaches=approaches, exits=exits),)
    )


def test_lane_level_mapping(tmp_path: Path, cross_network: Network) -> None:
    net = _with_lanes(cross_network)
    p = tmp_path / "d.csv"
    p.write_text(
        "detector_id,junction_id,approach_id,lane_id,lane_index,lanes\n"
        "L1,osm-1,osm-1:101:11,osm-1:101:11#1,,\n"  # by lane id, approach agreeing
        "L2,,,out_0,,\n"  # a lane of an exit only: counts the junction's outflow
        "L3,osm-1,osm-1:102:12,,0,2\n"  # by approach and lane index: both lanes
        "L4,osm-1,osm-1:102:12,,1,2\n"  # past the approach's last lane
        "L5,osm-1,osm-1:102:12,osm-1:101:11#0,,\n"  # lane and approach disagree
        "L6,,,nowhere_0,,\n",
        encoding="utf-8",
    )
    reg = load_registry(p, net)
    assert reg.get("L1") == DetectorSite(
        "L1", "osm-1", "osm-1:101:11", "zone-osm-1", 1, ("osm-1:101:11#1",)
    )
    assert reg.get("L2") == DetectorSite(
        "L2", "osm-1", "", "zone-osm-1", 1, ("out_0",), exit_id="out"
    )
    site = reg.get("L3")
    assert site is not None
    assert site.lane_ids == ("osm-1:102:12#0", "osm-1:102:12#1")
    reasons = {u.detector_id: u.reason for u in reg.unmapped}
    assert set(reasons) == {"L4", "L5", "L6"}
    assert "reaches lane 2" in reasons["L4"]
    assert "not on 'osm-1:102:12'" in reasons["L5"]
    assert "no signalised approach or exit" in reasons["L6"]


def test_lane_index_needs_lanes_in_the_model(tmp_path: Path, cross_network: Network) -> None:
    p = tmp_path / "d.csv"
    p.write_text(
        "detector_id,junction_id,approach_id,lane_index\nL1,osm-1,osm-1:101:11,0\n",
        encoding="utf-8",
    )
    reg = load_registry(p, cross_network)
    assert "no lane detail" in reg.unmapped[0].reason


def test_lane_id_with_a_lane_count_names_the_line(tmp_path: Path, cross_network: Network) -> None:
    p = tmp_path / "d.csv"
    p.write_text("detector_id,lane_id,lanes\nL1,x_0,2\n", encoding="utf-8")
    with pytest.raises(DetectorRegistryError, match=r"d.csv:2: .*one row per lane"):
        load_registry(p, cross_network)
