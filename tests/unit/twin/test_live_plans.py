"""The Kafka closed loop's pure parts: plan events back to plans, event-time alignment, and the
runner's planner over a plan source."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from aiguilleur.cli_twin import app
from aiguilleur.twin_live import LIVE_EPOCH, event_base, to_plan
from graph.synthetic import crossroads
from optimizer.model import Plan
from optimizer.strategy import planner
from streams.events import ZoneReading
from streams.planning import PlanningConfig, SiteRef, estimate, plan_junction
from streams.zone_state import ZoneState

REPO = Path(__file__).resolve().parents[3]
MIN = 60_000
CFG = PlanningConfig(period_s=300, window_s=300)


def _planned() -> tuple[Plan, Plan]:
    """The same demand planned directly and through the pipeline's event, decoded back."""
    j = crossroads("J", "Z", 1, 0.0, 0.0)
    state = ZoneState(zone_id="Z")
    state.upsert([ZoneReading("dN", k * MIN, 60, 12) for k in range(1, 6)])
    state.upsert([ZoneReading("dE", k * MIN, 60, 4) for k in range(1, 6)])
    sites = [SiteRef("dN", "J:N", 2), SiteRef("dE", "J:E", 1)]
    event = plan_junction(j, sites, state, 5 * MIN, CFG, planner("webster"), "0" * 64)
    direct = planner("webster").plan(estimate(j, sites, state, 5 * MIN, CFG).demand)
    return direct, to_plan(event)


def test_event_round_trip_keeps_what_the_twin_applies() -> None:
    direct, back = _planned()
    assert back.junction_id == direct.junction_id
    assert (back.cycle_s, back.offset_s) == (direct.cycle_s, direct.offset_s)
    assert back.phases == direct.phases
    assert back.strategy == direct.strategy
    assert back.expected_delay_s_per_veh == direct.expected_delay_s_per_veh
    assert back.explanation.solver_status == direct.explanation.solver_status


@pytest.mark.parametrize(
    ("begin_s", "lateness_s", "period_s"),
    [(0.0, 60, 300), (3600.0, 120, 300), (150.0, 60, 300), (0.0, 60, 420), (30.0, 180, 900)],
)
def test_plan_boundaries_fall_one_lateness_after_period_ends(
    begin_s: float, lateness_s: int, period_s: int
) -> None:
    base = event_base(begin_s, lateness_s, period_s)
    for k in (1, 2, 7):
        boundary = base + timedelta(seconds=begin_s + k * period_s)
        period_end = boundary - timedelta(seconds=lateness_s)
        assert period_end.timestamp() % period_s == 0  # the worker's periods: epoch multiples
    assert abs((base - LIVE_EPOCH).total_seconds()) < period_s + lateness_s + begin_s


def test_live_refuses_a_lateness_the_lockstep_cannot_align(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIGUILLEUR_LATENESS_S", "90")
    res = CliRunner().invoke(
        app, ["live", str(REPO / "data" / "demo" / "twin"), "--workdir", str(tmp_path)]
    )
    assert res.exit_code == 2
    assert "AIGUILLEUR_LATENESS_S=90 must be a positive multiple of the count interval" in (
        res.output
    )
    assert not (tmp_path / "worker.log").exists()  # nothing was started
