"""Scenario loading: configurations, folders, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from twin.errors import ScenarioError, ScenarioFileMissing
from twin.scenario import DEFAULT_DURATION_S, load_scenario, sumo_time


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


def test_clock_times_are_read_as_sumo_reads_them(tmp_path: Path) -> None:
    # the wheel's own fokr_bs_demo states its window as 15:0:0 .. 16:0:0
    _cfg(
        tmp_path,
        '<input><net-file value="n.net.xml"/><route-files value="r.rou.xml"/></input>'
        '<time><begin value="15:0:0"/><end value="0:16:00:00"/><step-length value=".05"/></time>',
    )
    sc = load_scenario(tmp_path)
    assert (sc.begin_s, sc.end_s, sc.step_length_s) == (54000.0, 57600.0, 0.05)
    assert sumo_time("90.5", tmp_path) == 90.5
    with pytest.raises(ScenarioError, match="not a SUMO time"):
        sumo_time("1:30", tmp_path)
