"""Detector registry by approach id (``junction_id,approach_id``): the twin's loops use it."""

from __future__ import annotations

from pathlib import Path

import pytest

from graph.errors import DetectorRegistryError
from graph.model import Network
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
