"""What operators receive is what the twin measures: the same scenario planned by the worker
through Kafka (``aiguilleur twin live``) and by the same code in process (what ``twin bench``'s
planner rows run) publishes identical plans, and SUMO then measures the same run."""

from __future__ import annotations

import uuid
from datetime import datetime
from pathlib import Path

import pytest

from aiguilleur.settings import Settings
from aiguilleur.twin_live import LiveOptions, run_live
from aiguilleur.twin_product import run_product
from streams.events import SignalPlan
from twin import RunOptions, load_scenario

pytestmark = pytest.mark.integration

PERIOD_S = 120
INTERVAL_S = 60


def test_in_process_plans_are_the_plans_the_worker_publishes(
    kafka_bootstrap: str, grid_scenario: Path, tmp_path: Path
) -> None:
    sc = load_scenario(grid_scenario, end_s=480)  # 3x3 signalised grid, four periods
    tag = "t" + uuid.uuid4().hex[:10]
    settings = Settings(
        kafka_bootstrap=kafka_bootstrap,
        app_id=tag,
        topic_namespace=tag,
        lateness_s=60,
        metrics_port=0,
        planner="optimizer",
    )
    live = run_live(
        sc,
        settings,
        tmp_path / "live",
        LiveOptions(period_s=PERIOD_S, count_interval_s=INTERVAL_S, timeout_s=60.0, progress=False),
    )
    local = run_product(
        sc,
        "optimizer",
        RunOptions(count_interval_s=INTERVAL_S, plan_period_s=PERIOD_S, progress=False),
        settings=settings,
    )

    def key(sp: SignalPlan) -> tuple[datetime, str]:
        return (sp.valid_from, sp.junction_id)

    through_kafka = {key(sp): sp for sp in live.consumed}
    in_process = {key(sp): sp for sp in local.published}
    assert len(in_process) >= 9 * 3  # nine junctions, at least three periods
    assert set(in_process) == set(through_kafka)
    for k, sp in in_process.items():
        other = through_kafka[k]
        assert sp.inputs_digest == other.inputs_digest, k
        assert (sp.cycle_s, sp.offset_s) == (other.cycle_s, other.offset_s), k
        assert [(p.index, p.green_s) for p in sp.phases] == [
            (p.index, p.green_s) for p in other.phases
        ], k
        assert sp == other  # the whole event, explanation included
    # the runner applied the same plans at the same boundaries: SUMO measured the same run
    assert local.asked == live.asked
    assert local.run.plans == live.run.plans
    assert local.run.metrics.avg_delay_s == live.run.metrics.avg_delay_s
