"""The committed demo city end to end: real OSM extract, registry and counts through a worker."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest

from aiguilleur.follow import decode_plan
from aiguilleur.replay import BadRow, read_counts, replay
from aiguilleur.settings import DEMO_DIR, Settings
from aiguilleur.wiring import load_network
from streams.kafka import KafkaConnection
from streams.topics import TopicNames
from tests.integration.conftest import WorkerProcess, collect

pytestmark = pytest.mark.integration


async def test_every_demo_junction_gets_a_plan(
    pipeline_env: dict[str, str], tmp_path: Path
) -> None:
    env = {
        k: v
        for k, v in pipeline_env.items()
        if k not in ("AIGUILLEUR_NETWORK_FILE", "AIGUILLEUR_DETECTOR_REGISTRY")
    }
    env["AIGUILLEUR_CACHE_DIR"] = str(tmp_path / "networks")  # built from the OSM file, not a cache
    settings = Settings(**{"cache_dir": tmp_path / "networks"})  # type: ignore[arg-type]
    network = load_network(settings.network_file, settings.cache_dir)
    worker = WorkerProcess(env, tmp_path / "worker")
    worker.start()
    try:
        bad: list[BadRow] = []
        readings = read_counts(DEMO_DIR / "counts.csv.gz", bad)
        assert not bad
        first_minutes = [
            r
            for r in readings
            if r.interval_end
            <= readings[0].interval_end.replace(minute=readings[0].interval_end.minute + 9)
        ]
        topics = TopicNames(env["AIGUILLEUR_TOPIC_NAMESPACE"])
        await replay(
            first_minutes,
            KafkaConnection(env["AIGUILLEUR_KAFKA_BOOTSTRAP"]),
            topics.counts,
            speed=0,
        )
        recs = await collect(
            env["AIGUILLEUR_KAFKA_BOOTSTRAP"], topics.plans, len(network.junctions)
        )
        plans = [decode_plan(r.value) for r in recs if r.value]
        assert {p.junction_id for p in plans} == {j.id for j in network.junctions}, (
            worker.log_text()[-3000:]
        )
        for p in plans:
            assert sum(ph.green_s + ph.intergreen_s for ph in p.phases) == p.cycle_s
            assert any(a.measured for a in p.explanation.approaches), p.junction_id
    finally:
        worker.stop()
    assert os.path.getsize(DEMO_DIR / "counts.csv.gz") < 200_000
    with gzip.open(DEMO_DIR / "counts.csv.gz") as f:
        assert f.readline().startswith(b"detector_id,")
