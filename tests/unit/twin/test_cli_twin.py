"""`aiguilleur twin`: commands list controls and fail with a clear message."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from aiguilleur.cli_twin import app

runner = CliRunner()


def test_controls_lists_builtins_and_registry() -> None:
    res = runner.invoke(app, ["controls"])
    assert res.exit_code == 0
    names = res.output.split()
    assert {"programme", "actuated", "webster"} <= set(names)


def test_run_names_the_missing_scenario(tmp_path: Path) -> None:
    res = runner.invoke(app, ["run", str(tmp_path / "nowhere.sumocfg")])
    assert res.exit_code == 2
    assert "nowhere.sumocfg: no such file" in res.output


def test_whatif_rejects_an_unreadable_plan(tmp_path: Path) -> None:
    (tmp_path / "n.net.xml").write_text("<net/>")
    (tmp_path / "r.rou.xml").write_text('<routes><vehicle id="v" depart="0"/></routes>')
    (tmp_path / "s.sumocfg").write_text(
        '<configuration><input><net-file value="n.net.xml"/><route-files value="r.rou.xml"/>'
        "</input></configuration>"
    )
    (tmp_path / "plan.json").write_text("{not json")
    res = runner.invoke(app, ["whatif", str(tmp_path), "--plan", str(tmp_path / "plan.json")])
    assert res.exit_code == 2
    assert "cannot read plans" in res.output
