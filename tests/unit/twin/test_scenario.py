"""Scenario loading: configurations, folders, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from twin.errors import ScenarioError, ScenarioFileMissing
from twin.scenario import DEFAULT_DURATION_S, load_scenario


def _cfg(d: Path, body: str) -> Path:
    (d / "n.net.xml").write_text("<net/>")
    (d / "r.rou.xml").write_text('<routes><vehicle id="v" depart="0"/></routes>')
    cfg = d / "s.sumocfg"
    cfg.write_text(f"<configuration>{body}</configuration>")
    return cfg


def test_reads_inputs_and_window(tmp_path: Path) -> None:
    cfg = _cfg(
        tmp_path,
        '<input><net-file value="n.net.xml"/><route-files value="r.rou.xml"/></input>'
        '<time><begin value="100"/><end value="400"/></time>',
    )
    sc = load_scenario(tmp_path)
    assert sc.net == (tmp_path / "n.net.xml").resolve()
    assert sc.routes == ((tmp_path / "r.rou.xml").resolve(),)
    assert (sc.begin_s, sc.end_s) == (100.0, 400.0)
    assert sc.config == cfg.resolve()
    assert load_scenario(cfg, end_s=200).end_s == 200.0


def test_missing_end_defaults_to_one_hour(tmp_path: Path) -> None:
    _cfg(tmp_path, '<input><net-file value="n.net.xml"/><route-files value="r.rou.xml"/></input>')
    assert load_scenario(tmp_path).end_s == DEFAULT_DURATION_S


def test_missing_route_file_names_it(tmp_path: Path) -> None:
    _cfg(
        tmp_path, '<input><net-file value="n.net.xml"/><route-files value="gone.rou.xml"/></input>'
    )
    with pytest.raises(ScenarioFileMissing, match=r"gone\.rou\.xml.*referenced from .*s\.sumocfg"):
        load_scenario(tmp_path)


def test_bad_window_and_ambiguous_folder(tmp_path: Path) -> None:
    _cfg(tmp_path, '<input><net-file value="n.net.xml"/><route-files value="r.rou.xml"/></input>')
    with pytest.raises(ScenarioError, match="not after begin"):
        load_scenario(tmp_path, begin_s=50, end_s=10)
    (tmp_path / "other.sumocfg").write_text("<configuration/>")
    with pytest.raises(ScenarioError, match="exactly one"):
        load_scenario(tmp_path)


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(ScenarioFileMissing):
        load_scenario(tmp_path / "nothing.sumocfg")
