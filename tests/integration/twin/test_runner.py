"""The twin on a generated grid: every built-in control runs, counts and metrics hold up."""

from __future__ import annotations

import itertools
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from aiguilleur.twin_product import run_control
from optimizer.strategy import Decision, Envelope, JunctionState, register_controller
from twin import RunOptions, SumoStartError, load_scenario, run_twin
from twin.errors import ScenarioError, UnknownControl

pytestmark = pytest.mark.integration


class _PressureProbe:
    """A test controller: longest-queue-first every 5 s, respecting the minimum green."""

    name = "test-longest-queue"
    seen_approaching = 0
    seen_queued = 0

    def __init__(self, envelope: Envelope) -> None:
        self.envelope = envelope

    def decide(self, state: JunctionState) -> Decision:
        movements = [m for p in state.phases for m in p.movements]
        _PressureProbe.seen_approaching += sum(len(m.approaching_veh) for m in movements)
        _PressureProbe.seen_queued += int(sum(m.queue_veh for m in movements))
        assert all(t >= 0 for m in movements for t in m.approaching_veh)
        best = max(state.phases, key=lambda p: (sum(m.queue_veh for m in p.movements), -p.index))
        cur = state.current_phase
        keep = state.phase_elapsed_s < self.envelope.min_green_s[cur]
        return Decision(
            junction_id=state.junction_id,
            time_s=state.time_s,
            phase_index=cur if keep else best.index,
            next_decision_in_s=5.0,
            reason="test",
        )


register_controller(_PressureProbe.name, _PressureProbe)


def test_programme_matches_a_direct_sumo_run(grid_scenario: Path, tmp_path: Path) -> None:
    """RESCO delay computed by the twin equals the one computed from SUMO's own tripinfo."""
    import sumolib

    sc = load_scenario(grid_scenario, end_s=400)
    res = run_twin(sc, "programme", RunOptions(progress=False))
    out = tmp_path / "trip.xml"
    subprocess.run(
        [
            sumolib.checkBinary("sumo"),
            "-c",
            str(grid_scenario),
            "-e",
            "400",
            "--seed",
            "42",
            "--time-to-teleport",
            "-1",
            "--tripinfo-output",
            str(out),
            "--tripinfo-output.write-unfinished",
            "true",
            "--no-step-log",
            "true",
        ],
        check=True,
        capture_output=True,
    )
    trips = ET.parse(out).getroot().findall("tripinfo")
    assert res.metrics.vehicles_inserted == len(trips) > 50
    direct = sum(float(t.get("timeLoss", 0)) + float(t.get("departDelay", 0)) for t in trips)
    # the twin also charges vehicles never inserted; there are few at this demand
    n = len(trips) + res.metrics.vehicles_never_inserted
    assert res.metrics.avg_delay_s * n == pytest.approx(direct, rel=0.02, abs=n * 0.5)
    assert res.metrics.co2_kg > 0
    assert res.metrics.teleports == 0


def test_counts_have_the_topic_fields_and_add_up(grid_scenario: Path) -> None:
    sc = load_scenario(grid_scenario, end_s=300)
    got: list[dict[str, object]] = []
    res = run_twin(
        sc,
        "programme",
        RunOptions(
            progress=False,
            count_interval_s=60,
            keep_counts=True,
            on_counts=lambda rs: got.extend(r.to_dict() for r in rs),
        ),
    )
    assert len(res.counts) == len(got) == 5 * len(res.detectors)
    ends = sorted({r.interval_end for r in res.counts})
    assert [(b - a).total_seconds() for a, b in itertools.pairwise(ends)] == [60.0] * 4
    assert set(got[0]) >= {
        "detector_id",
        "interval_end",
        "interval_s",
        "count",
        "occupancy",
        "mean_speed_kmh",
    }
    assert sum(r.count for r in res.counts) > 0
    assert all(r.occupancy is None or 0.0 <= r.occupancy <= 1.0 for r in res.counts)


@pytest.mark.parametrize("control", ["actuated", "webster", "controller:test-longest-queue"])
def test_controls_run_in_closed_loop(grid_scenario: Path, control: str) -> None:
    sc = load_scenario(grid_scenario, end_s=600)
    res = run_control(sc, control, RunOptions(progress=False, plan_period_s=120))
    assert res.metrics.vehicles_inserted > 100
    assert res.metrics.avg_delay_s > 0
    if control == "webster":
        assert all(len(p) >= 3 for p in res.plans.values())  # re-planned every 120 s
    if control.startswith("controller:"):
        assert res.decisions > 0
        # the controller saw both queues and the vehicles on their way to the stop line
        assert _PressureProbe.seen_approaching > 0
        assert _PressureProbe.seen_queued > 0


def test_unknown_control_and_broken_net(grid_scenario: Path, tmp_path: Path) -> None:
    sc = load_scenario(grid_scenario, end_s=60)
    with pytest.raises(UnknownControl, match="known:"):
        run_twin(sc, "no-such-control")
    # a planner's plans are the product's: the twin alone does not make them up
    with pytest.raises(ScenarioError, match=r"'optimizer' is a planner.*oracle"):
        run_twin(sc, "optimizer", RunOptions(progress=False))
    bad = tmp_path / "bad.rou.xml"
    bad.write_text('<routes><vehicle id="v" depart="0" route="nowhere"/></routes>')
    with pytest.raises(SumoStartError, match="SUMO failed"):
        run_twin(
            load_scenario(grid_scenario, routes=(bad,), end_s=60),
            "programme",
            RunOptions(progress=False),
        )
