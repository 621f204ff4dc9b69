"""``aiguilleur graph`` commands (build summary, GeoJSON, PNG, show) on a hand-made map."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
from typer.testing import CliRunner

from aiguilleur.cli_graph import app
from graph.model import Network

from .osm_builder import plain_cross

runner = CliRunner()


def test_build_writes_summary_geojson_and_png(tmp_path: Path) -> None:
    src = plain_cross().write(tmp_path / "cross.osm")
    reg = tmp_path / "det.csv"
    reg.write_text("detector_id,osm_way_id,from_node\nA,110,11\nB,999,1\n")
    out = runner.invoke(
        app,
        [
            "build",
            str(src),
            "--registry",
            str(reg),
            "--geojson",
            str(tmp_path / "n.geojson"),
            "--png",
            str(tmp_path / "n.png"),
            "--out",
            str(tmp_path / "n.json"),
            "--cache-dir",
            str(tmp_path / "cache"),
        ],
    )
    assert out.exit_code == 0, out.output
    assert "junctions   1" in out.output
    assert "approaches  4" in out.output
    assert "1 mapped, 1 unmapped" in out.output
    assert "unmapped B (line 3)" in out.output
    doc = json.loads((tmp_path / "n.geojson").read_text())
    kinds = [f["properties"]["kind"] for f in doc["features"]]
    assert kinds.count("junction") == 1
    assert kinds.count("approach") == 4
    assert (tmp_path / "n.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    model = msgspec.json.decode((tmp_path / "n.json").read_bytes(), type=Network)
    assert [j.id for j in model.junctions] == ["osm-1"]


def test_build_json_and_errors(tmp_path: Path) -> None:
    src = plain_cross().write(tmp_path / "cross.osm")
    out = runner.invoke(app, ["build", str(src), "--no-cache", "--json"])
    assert out.exit_code == 0, out.output
    info = json.loads(out.output)
    assert info["junctions"] == 1
    assert info["guesses"]["lanes"] == 4
    missing = runner.invoke(app, ["build", str(tmp_path / "none.osm"), "--no-cache"])
    assert missing.exit_code == 2
    assert "file not found" in missing.output


def test_show(tmp_path: Path) -> None:
    src = plain_cross().write(tmp_path / "cross.osm")
    out = runner.invoke(app, ["show", "osm-1", "--source", str(src), "--no-cache"])
    assert out.exit_code == 0, out.output
    assert "North Street" in out.output
    assert "phases:" in out.output
    bad = runner.invoke(app, ["show", "osm-9", "--source", str(src), "--no-cache"])
    assert bad.exit_code == 2
    assert "no junction 'osm-9'" in bad.output
