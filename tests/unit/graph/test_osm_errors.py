"""A missing, corrupt or empty file, or an area without drivable road or signals: clear errors."""

from __future__ import annotations

import bz2
import gzip
from pathlib import Path

import pytest

from graph.errors import NetworkSourceError
from graph.osm import load_network

from .osm_builder import OsmBuilder, plain_cross


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(NetworkSourceError, match="file not found") as info:
        load_network(tmp_path / "nowhere.osm.pbf")
    assert info.value.path.endswith("nowhere.osm.pbf")


def test_directory_is_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(NetworkSourceError, match="not a file"):
        load_network(tmp_path)


def test_empty_file(tmp_path: Path) -> None:
    p = tmp_path / "empty.osm"
    p.write_bytes(b"")
    with pytest.raises(NetworkSourceError, match="empty file"):
        load_network(p)


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("garbage.osm.pbf", b"\x00\x01 this is not protobuf" * 50),
        ("garbage.osm", b"<osm><node id='1' lat='x'"),
        ("truncated.osm.gz", gzip.compress(plain_cross().xml().encode())[:200]),
        ("notbz2.osm.bz2", b"plain text, not bzip2"),
    ],
)
def test_corrupt_file(tmp_path: Path, name: str, data: bytes) -> None:
    p = tmp_path / name
    p.write_bytes(data)
    with pytest.raises(NetworkSourceError, match="not a readable OSM") as info:
        load_network(p)
    assert "download the extract again" in str(info.value)


def test_unknown_suffix(tmp_path: Path) -> None:
    p = tmp_path / "city.shp"
    p.write_bytes(b"x")
    with pytest.raises(NetworkSourceError, match=r"unknown OSM file type '\.shp'"):
        load_network(p)


def test_area_without_drivable_road(tmp_path: Path) -> None:
    b = OsmBuilder()
    b.node(1, 0, 0, highway="traffic_signals")
    b.node(2, 50, 0)
    b.node(3, 0, 50)
    b.way(10, [1, 2], highway="footway")
    b.way(11, [1, 3], highway="primary", access="no")
    with pytest.raises(NetworkSourceError, match="no drivable road among its 2 ways"):
        load_network(b.write(tmp_path / "park.osm"))


def test_osm_file_with_no_data(tmp_path: Path) -> None:
    p = tmp_path / "blank.osm"
    p.write_text('<?xml version="1.0"?><osm version="0.6"></osm>')
    with pytest.raises(NetworkSourceError, match="no OSM data"):
        load_network(p)


def test_roads_without_signals(tmp_path: Path) -> None:
    b = plain_cross(centre_tags={})
    with pytest.raises(NetworkSourceError, match="no signal-controlled junction"):
        load_network(b.write(tmp_path / "quiet.osm"))


def test_compressed_xml_reads_like_plain(tmp_path: Path) -> None:
    xml = plain_cross().xml().encode()
    (tmp_path / "a.osm").write_bytes(xml)
    (tmp_path / "a.osm.gz").write_bytes(gzip.compress(xml))
    (tmp_path / "a.osm.bz2").write_bytes(bz2.compress(xml))
    nets = [load_network(tmp_path / n) for n in ("a.osm", "a.osm.gz", "a.osm.bz2")]
    assert nets[0].junctions == nets[1].junctions == nets[2].junctions
