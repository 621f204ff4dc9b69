"""The twin in closed loop through the real pipeline: real broker, real worker process, real SUMO.

Checks what the Kafka mode promises: every count the twin produces reaches the worker and none is
rejected, the runner waits for each period's plans, and the plans it applies are exactly the ones
the worker published, junction by junction and period by period.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from aiguilleur.settings import Settings
from aiguilleur.twin_live import LIVE_EPOCH, LiveOptions, run_live, to_plan
from optimizer.model import Plan
from twin import load_scenario

pytestmark = pytest.mark.integration

PERIOD_S = 120
INTERVAL_S = 60
LATENESS_S = 60


def test_worker_plans_drive_the_twin(
    kafka_bootstrap: str, grid_scenario: Path, tmp_path: Path
) -> None:
    sc = load_scenario(grid_scenario)  # 3x3 signalised grid, 600 s
    tag = "t" + uuid.uuid4().hex[:10]
    settings = Settings(
        kafka_bootstrap=kafka_bootstrap,
        app_id=tag,
        topic_namespace=tag,
        lateness_s=LATENESS_S,
        metrics_port=0,
    )
    res = run_live(
        sc,
        settings,
        tmp_path / "live",
        LiveOptions(period_s=PERIOD_S, count_interval_s=INTERVAL_S, timeout_s=60.0, progress=False),
    )
    registry_rows = (tmp_path / "live" / "detectors.csv").read_text().splitlines()[1:]
    n_detectors = len(registry_rows)
    junctions = sorted(res.run.plans)
    assert n_detectors == len(res.run.detectors)  # every twin loop is on a mapped approach
    assert len(junctions) == 9

    # every count produced was consumed by the worker's ingest group, and none was rejected
    intervals = int(sc.end_s - sc.begin_s) // INTERVAL_S
    assert res.produced == n_detectors * intervals
    assert res.dead_letters == 0

    # the runner asked at every boundary for the period that closed there
    boundaries = range(PERIOD_S, int(sc.end_s) + 1, PERIOD_S)
    assert res.asked == [LIVE_EPOCH + timedelta(seconds=t) for t in boundaries]

    # the plans applied are the plans the worker published, for the same junction and period
    consumed: dict[str, list[Plan]] = {}
    for sp in sorted(res.consumed, key=lambda p: (p.valid_from, p.junction_id)):
        if sp.valid_from in res.asked:
            consumed.setdefault(sp.junction_id, []).append(to_plan(sp))
    assert res.run.plans == consumed
    assert all(len(plans) == len(res.asked) for plans in consumed.values())

    # and they were planned from the twin's counts: every reading of each window reached them
    # (the first window starts before the simulation: one interval of it is simulated)
    for k, start in enumerate(res.asked):
        readings = sum(
            a.readings
            for sp in res.consumed
            if sp.valid_from == start
            for a in sp.explanation.approaches
        )
        expected = 1 if k == 0 else PERIOD_S // INTERVAL_S
        assert readings == n_detectors * expected, f"period from {start}"
    flows = [a.flow_vph for sp in res.consumed for a in sp.explanation.approaches]
    assert sum(flows) > 0
