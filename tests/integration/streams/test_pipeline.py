"""The pipeline on the real broker: readings in, Webster plans out; bad input to the DLQ; restarts
lose nothing."""

from __future__ import annotations

import signal
from datetime import UTC, datetime, timedelta

import msgspec
import pytest

from aiguilleur.follow import decode_plan
from streams.events import DLQ_HEADER_CODE, DLQ_HEADER_OFFSET, DLQ_HEADER_REASON
from streams.topics import TopicNames
from tests.fixtures.networks import small_network
from tests.integration.conftest import WorkerProcess, collect, feed, produce

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 10, 7, 55, tzinfo=UTC)  # a period boundary (multiple of 300 s)
PERIOD_END = T0 + timedelta(minutes=5)


def reading(det: str, minute: int, count: int) -> tuple[bytes, bytes]:
    end = T0 + timedelta(minutes=minute)
    value = {"detector_id": det, "interval_end": end.isoformat(), "interval_s": 60, "count": count}
    return det.encode(), msgspec.json.encode(value)


def expected_webster(flows: dict[str, float]) -> dict[str, tuple[int, list[int]]]:
    """Webster computed here, independently of optimizer/: C0 = (1.5 L + 5) / (1 - Y), greens by
    y."""
    out = {}
    for j in small_network().junctions:
        ys = []
        for p in j.phases:
            ys.append(
                max(flows.get(a, 0.0) / j.approach(a).saturation_flow_vph for a in p.approach_ids)
            )
        lost = sum(
            p.intergreen_s + 2.0 for p in j.phases
        )  # intergreen + 2 s start-up loss per phase
        y = sum(ys)
        cycle = round(min(120, max(40, (1.5 * lost + 5) / (1 - y))))
        green_total = cycle - sum(p.intergreen_s for p in j.phases)
        eff = green_total - 2.0 * len(j.phases)
        ideal = [eff * yi / y + 2.0 for yi in ys]
        mins = [p.min_green_s for p in j.phases]
        short = [i for i, g in enumerate(ideal) if g < mins[i]]
        if (
            short
        ):  # a phase below its minimum green gets the minimum; the others share what is left by y
            rest = green_total - sum(mins[i] for i in short)
            y_rest = sum(ys[i] for i in range(len(ys)) if i not in short)
            ideal = [mins[i] if i in short else rest * ys[i] / y_rest for i in range(len(ys))]
        greens = [int(g) for g in ideal]
        for i in sorted(range(len(ideal)), key=lambda i: -(ideal[i] - int(ideal[i])))[
            : green_total - sum(greens)
        ]:
            greens[i] += 1
        out[j.id] = (cycle, greens)
    return out


# vehicles per minute on each detector (each approach has one detector covering all its lanes)
PER_MINUTE = {
    "D-J1-N": 14,
    "D-J1-S": 9,
    "D-J1-E": 8,
    "D-J1-W": 5,
    "D-J2-N": 20,
    "D-J2-S": 18,
    "D-J2-E": 4,
    "D-J2-W": 6,
    "D-J3-N": 3,
    "D-J3-S": 2,
    "D-J3-E": 10,
    "D-J3-W": 12,
}


def all_readings(minutes: range) -> list[tuple[bytes | None, bytes | None]]:
    return [reading(det, m, c) for m in minutes for det, c in PER_MINUTE.items()]


async def close_period(env: dict[str, str]) -> None:
    """Every detector's reading one minute into the next period: with the allowed lateness (60 s),
    it closes the period once every earlier reading is in, whatever partition it came by. (A zone's
    time moves with a quorum of its detectors' clocks, not with one detector's.)"""
    topics = TopicNames(env["AIGUILLEUR_TOPIC_NAMESPACE"])
    await produce(
        env["AIGUILLEUR_KAFKA_BOOTSTRAP"],
        topics.counts,
        [reading(det, 6, 0) for det in PER_MINUTE],
    )


def flows_vph() -> dict[str, float]:
    return {f"{det[2:4]}:{det[-1]}": c * 60.0 for det, c in PER_MINUTE.items()}


async def test_plans_match_webster(worker: WorkerProcess, pipeline_env: dict[str, str]) -> None:
    boot = pipeline_env["AIGUILLEUR_KAFKA_BOOTSTRAP"]
    topics = TopicNames(pipeline_env["AIGUILLEUR_TOPIC_NAMESPACE"])
    await feed(pipeline_env, all_readings(range(1, 6)))
    await close_period(pipeline_env)
    recs = await collect(boot, topics.plans, 3)
    plans = {p.junction_id: p for p in (decode_plan(r.value) for r in recs if r.value)}
    assert set(plans) == {"J1", "J2", "J3"}, worker.log_text()[-3000:]
    expected = expected_webster(flows_vph())
    for jid, plan in plans.items():
        cycle, greens = expected[jid]
        assert plan.cycle_s == cycle
        assert [ph.green_s for ph in plan.phases] == greens
        assert plan.valid_from == PERIOD_END
        assert sum(ph.green_s + ph.intergreen_s for ph in plan.phases) == plan.cycle_s
        measured = {a.approach_id: a.flow_vph for a in plan.explanation.approaches}
        assert measured == {k: v for k, v in flows_vph().items() if k.startswith(jid)}
        assert len(plan.inputs_digest) == 64


async def test_bad_input_goes_to_dead_letters_and_worker_keeps_going(
    worker: WorkerProcess, pipeline_env: dict[str, str]
) -> None:
    boot = pipeline_env["AIGUILLEUR_KAFKA_BOOTSTRAP"]
    topics = TopicNames(pipeline_env["AIGUILLEUR_TOPIC_NAMESPACE"])
    bad = [
        (b"D-J1-N", b"{not json"),
        (
            b"D-J1-N",
            msgspec.json.encode(
                {
                    "detector_id": "D-J1-N",
                    "interval_end": "2026-03-10T08:00:00+00:00",
                    "interval_s": 60,
                    "count": -3,
                }
            ),
        ),
        (
            b"X9",
            msgspec.json.encode(
                {
                    "detector_id": "X9",
                    "interval_end": "2026-03-10T08:00:00+00:00",
                    "interval_s": 60,
                    "count": 3,
                }
            ),
        ),
        (b"D-J1-S", None),
    ]
    good = all_readings(range(1, 6))
    await feed(pipeline_env, bad[:2] + good[:20] + bad[2:] + good[20:])
    await close_period(pipeline_env)
    dead = await collect(boot, topics.dead_letters, 4)
    by_value = {r.value: r for r in dead}
    assert len(dead) == 4
    assert set(by_value) == {v for _, v in bad}, "the original bytes are kept unchanged"
    codes = sorted(r.headers[DLQ_HEADER_CODE].decode() for r in dead)
    assert codes == ["empty", "invalid", "malformed", "unknown_detector"]
    invalid = next(r for r in dead if r.headers[DLQ_HEADER_CODE] == b"invalid")
    assert b"$.count" in invalid.headers[DLQ_HEADER_REASON], (
        "the reason says where the value is wrong"
    )
    assert all(DLQ_HEADER_OFFSET in r.headers for r in dead)
    # The good readings around the bad ones still make their plans, and the worker is still running.
    plans = await collect(boot, topics.plans, 3)
    assert {r.key for r in plans} == {b"J1", b"J2", b"J3"}
    assert worker.alive()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["clean-stop", "crash"])
async def test_restart_loses_no_count(
    worker: WorkerProcess, pipeline_env: dict[str, str], sig: int
) -> None:
    boot = pipeline_env["AIGUILLEUR_KAFKA_BOOTSTRAP"]
    topics = TopicNames(pipeline_env["AIGUILLEUR_TOPIC_NAMESPACE"])
    # First three minutes of the period, then a restart, then the last two minutes.
    await feed(pipeline_env, all_readings(range(1, 4)))
    worker.stop(sig)
    worker.start()
    await feed(pipeline_env, all_readings(range(4, 6)))
    await close_period(pipeline_env)
    recs = await collect(boot, topics.plans, 3)
    plans = {p.junction_id: p for p in (decode_plan(r.value) for r in recs if r.value)}
    assert set(plans) == {"J1", "J2", "J3"}, worker.log_text()[-3000:]
    for plan in plans.values():
        for a in plan.explanation.approaches:
            assert a.readings == 5, f"{a.approach_id}: a reading was lost or counted twice"
            assert a.flow_vph == flows_vph()[a.approach_id]
