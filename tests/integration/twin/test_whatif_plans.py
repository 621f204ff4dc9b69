"""What-if with candidate plans, and a scenario with no signal at all."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from graph.sumo import network_from_sumo
from optimizer.model import JunctionDemand, LaneGroup, PhaseDemand
from optimizer.webster import webster_plan
from twin import RunOptions, load_scenario, run_twin
from twin.whatif import Changes, run_whatif

pytestmark = pytest.mark.integration


def test_candidate_plans_are_applied(grid_scenario: Path) -> None:
    sc = load_scenario(grid_scenario, end_s=400)
    net = network_from_sumo(sc.net).network
    plans = {}
    for j in net.junctions:
        # a deliberately lopsided plan: the first phase gets most of a long cycle
        phases = tuple(
            PhaseDemand(
                index=p.index,
                min_green_s=p.min_green_s,
                max_green_s=p.max_green_s,
                intergreen_s=p.intergreen_s,
                lane_groups=(
                    LaneGroup(
                        id=f"{p.index}",
                        flow_vph=900.0 if p.index == 0 else 60.0,
                        saturation_flow_vph=1800.0,
                    ),
                ),
            )
            for p in j.phases
        )
        plans[j.id] = webster_plan(JunctionDemand(junction_id=j.id, phases=phases))
    result = run_whatif(sc, Changes(plans=plans))
    assert result.after.control == "plan"
    assert set(result.after.plans) == set(plans)
    assert all(result.after.plans[j][0] == plans[j] for j in plans)
    assert result.after.metrics.avg_delay_s != result.before.metrics.avg_delay_s


def test_scenario_without_signals_runs_under_its_programme(tmp_path: Path) -> None:
    import sumo  # type: ignore[import-untyped]  # sets SUMO_HOME; no type information
    import sumolib

    net = tmp_path / "plain.net.xml"
    subprocess.run(
        [
            sumolib.checkBinary("netgenerate"),
            "--grid",
            "--grid.number",
            "2",
            "--grid.attach-length",
            "80",
            "--output-file",
            str(net),
            "--no-warnings",
        ],
        check=True,
        capture_output=True,
    )
    routes = tmp_path / "r.rou.xml"
    subprocess.run(
        [
            sys.executable,
            str(Path(sumo.SUMO_HOME) / "tools" / "randomTrips.py"),
            "-n",
            str(net),
            "-r",
            str(routes),
            "-o",
            str(tmp_path / "t.xml"),
            "-e",
            "120",
            "--seed",
            "1",
            "--validate",
        ],
        check=True,
        capture_output=True,
    )
    sc = load_scenario(net, routes=(routes,), end_s=200)
    res = run_twin(sc, "programme", RunOptions(progress=False))
    assert res.metrics.vehicles_inserted > 20
    assert res.detectors == []
