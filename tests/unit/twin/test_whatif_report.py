"""What-if report: figures before/after and the headline an operator reads."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from twin.metrics import RunMetrics
from twin.options import RunResult
from twin.scenario import Scenario
from twin.whatif import Changes, WhatIfResult, read_plans, write_report


def _metrics(delay: float, co2: float) -> RunMetrics:
    return RunMetrics(
        vehicles_inserted=100,
        vehicles_arrived=90,
        vehicles_never_inserted=0,
        avg_delay_s=delay,
        avg_trip_time_s=80.0,
        avg_waiting_time_s=20.0,
        avg_time_loss_s=delay,
        avg_queue_veh=3.0,
        stops_per_veh=1.0,
        teleports=0,
        co2_kg=co2,
        co2_g_per_veh=co2 * 10,
        sim_s=600.0,
        wall_s=1.0,
    )


def test_report_states_the_change_and_each_figure(tmp_path: Path) -> None:
    sc = Scenario(name="town", net=tmp_path / "n.net.xml", routes=(), begin_s=0.0, end_s=600.0)
    res = WhatIfResult(
        scenario=sc,
        changes=Changes(closed_edges=("e1",), demand_factor=1.2),
        control="programme",
        before=RunResult(
            scenario="town", control="programme", metrics=_metrics(40.0, 10.0), detectors=[]
        ),
        after=RunResult(
            scenario="town", control="programme", metrics=_metrics(50.0, 12.0), detectors=[]
        ),
    )
    text = write_report(res, tmp_path / "out").read_text()
    assert "road closed: `e1`; demand × 1.2" in text
    assert "raises the average delay per vehicle: 40.0 s before, 50.0 s after (+25%)" in text
    assert "| CO2 emitted | 10 kg | 12 kg | +20% |" in text
    assert (tmp_path / "out" / "figures.png").stat().st_size > 1000


def test_read_plans_accepts_one_plan_or_a_list(tmp_path: Path) -> None:
    plan = {
        "junction_id": "J",
        "cycle_s": 60,
        "offset_s": 0,
        "phases": [
            {
                "index": 0,
                "green_s": 25,
                "intergreen_s": 5,
                "flow_ratio": 0.3,
                "degree_of_saturation": 0.7,
            }
        ],
        "effects": [],
        "expected_delay_s_per_veh": 20.0,
        "strategy": "manual",
        "explanation": {
            "method": "m",
            "objective": "o",
            "binding_constraints": [],
            "solver_status": "closed_form",
        },
    }
    one = tmp_path / "one.json"
    one.write_bytes(msgspec.json.encode(plan))
    many = tmp_path / "many.json"
    many.write_bytes(msgspec.json.encode([plan, {**plan, "junction_id": "K"}]))
    assert set(read_plans(one)) == {"J"}
    assert set(read_plans(many)) == {"J", "K"}
    bad = tmp_path / "bad.json"
    bad.write_text('{"junction_id": "J"}')
    with pytest.raises(ValueError, match="not a plan"):
        read_plans(bad)
