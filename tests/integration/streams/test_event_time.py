"""Regression tests of the wrong-clock finding (issue 15), on the real broker: readings dated 9999
or 1970 silenced zones, and nothing said so."""

from __future__ import annotations

import contextlib
import signal
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pytest

from aiguilleur.follow import Record, decode_plan
from streams.events import DLQ_HEADER_CODE, DLQ_HEADER_REASON
from streams.topics import TopicNames
from tests.integration.conftest import WorkerProcess, collect, feed, produce
from tests.integration.streams.test_pipeline import (
    PER_MINUTE,
    T0,
    all_readings,
    close_period,
    expected_webster,
    flows_vph,
)

pytestmark = pytest.mark.integration

YEAR_9999 = datetime(9999, 6, 1, tzinfo=UTC)
YEAR_1970 = datetime(1970, 1, 1, 0, 5, tzinfo=UTC)


def at(det: str, end: datetime, count: int = 7) -> tuple[bytes, bytes]:
    value = {"detector_id": det, "interval_end": end.isoformat(), "interval_s": 60, "count": count}
    return det.encode(), msgspec.json.encode(value)


def wrong_clocks(dets: list[str], n: int) -> list[tuple[bytes | None, bytes | None]]:
    """``n`` readings from ``dets`` in turn, half dated in 9999, half in 1970, minute by minute."""
    return [
        at(
            dets[i % len(dets)],
            (YEAR_9999 if i % 2 else YEAR_1970) + timedelta(minutes=i // 2),
            count=99,
        )
        for i in range(n)
    ]


@contextlib.contextmanager
def running_worker(env: dict[str, str], tmp_path: Path) -> Iterator[WorkerProcess]:
    w = WorkerProcess(env, tmp_path / "worker")
    w.start()
    try:
        yield w
    finally:
        if w.alive():
            w.stop(signal.SIGKILL)
        sys.stderr.write(w.log_text()[-3000:])


def check_plans(recs: list[Record], period_end: datetime, worker: WorkerProcess) -> None:
    plans = {p.junction_id: p for p in (decode_plan(r.value) for r in recs if r.value)}
    assert set(plans) == {"J1", "J2", "J3"}, "a zone was left without a plan"
    expected = expected_webster(flows_vph())
    for jid, plan in plans.items():
        assert plan.valid_from == period_end
        assert (plan.cycle_s, [ph.green_s for ph in plan.phases]) == expected[jid]
        measured = {a.approach_id: a.flow_vph for a in plan.explanation.approaches}
        assert measured == {k: v for k, v in flows_vph().items() if k.startswith(jid)}, (
            "a wrong-clock reading was counted"
        )


async def test_live_worker_refuses_wrong_clocks_and_plans_every_zone(
    pipeline_env: dict[str, str], tmp_path: Path
) -> None:
    """Default bounds: 500 wrong-clock readings spread over every detector's key go to the dead
    letters with their code; every zone still gets its plan from the good readings."""
    del pipeline_env["AIGUILLEUR_EVENT_TIME_REPLAY"]  # the default, live bounds
    boot = pipeline_env["AIGUILLEUR_KAFKA_BOOTSTRAP"]
    topics = TopicNames(pipeline_env["AIGUILLEUR_TOPIC_NAMESPACE"])
    period = 300
    start = datetime.fromtimestamp(time.time() // period * period - 2 * period, tz=UTC)
    good = [
        at(det, start + timedelta(minutes=m), c)
        for m in range(1, 6)
        for det, c in PER_MINUTE.items()
    ]
    bad = wrong_clocks(list(PER_MINUTE), 500)
    closing = [at(d, start + timedelta(minutes=6), 0) for d in PER_MINUTE]
    with running_worker(pipeline_env, tmp_path) as worker:
        await feed(pipeline_env, bad[:250] + good[:30] + bad[250:] + good[30:])
        await produce(boot, topics.counts, closing)
        plans = await collect(boot, topics.plans, 3)
        check_plans(plans, start + timedelta(minutes=5), worker)
    dead = await collect(boot, topics.dead_letters, 500)
    assert len(dead) == 500
    codes = {r.headers[DLQ_HEADER_CODE].decode() for r in dead}
    assert codes == {"event_time_ahead", "event_time_behind"}
    assert all(b"AIGUILLEUR_EVENT_TIME_" in r.headers[DLQ_HEADER_REASON] for r in dead)


async def test_a_wrong_clock_replayed_moves_no_zone_time(
    pipeline_env: dict[str, str], tmp_path: Path
) -> None:
    """Replays accept any date: then the zone's quorum of clocks is what keeps one detector
    dated 9999 (or 1970) from closing its zone's periods ahead of the others."""
    boot = pipeline_env["AIGUILLEUR_KAFKA_BOOTSTRAP"]
    topics = TopicNames(pipeline_env["AIGUILLEUR_TOPIC_NAMESPACE"])
    with running_worker(pipeline_env, tmp_path) as worker:
        # The wrong clock speaks first, then the good readings, then the wrong clock again.
        await feed(pipeline_env, wrong_clocks(["D-J1-N"], 250))
        await feed(pipeline_env, all_readings(range(1, 4)))
        await feed(pipeline_env, wrong_clocks(["D-J1-N"], 250) + all_readings(range(4, 6)))
        await close_period(pipeline_env)
        plans = await collect(boot, topics.plans, 3)
        check_plans(plans, T0 + timedelta(minutes=5), worker)
