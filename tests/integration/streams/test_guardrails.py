"""Guardrails on the real broker: a jump in demand between two periods is published as a bounded
step from the plan an operator approved (the active-plans topic), a worker restart between the
periods keeps that plan, and a junction with nothing approved is not bounded."""

from __future__ import annotations

import msgspec
import pytest

from aiguilleur.follow import decode_plan
from streams.events import ActivePlan, SignalPlan
from streams.topics import TopicNames
from tests.integration.conftest import WorkerProcess, collect, feed, produce
from tests.integration.streams.test_pipeline import PER_MINUTE, expected_webster, reading

pytestmark = pytest.mark.integration

LOW = dict.fromkeys(PER_MINUTE, 1)
HIGH = {det: round(c * 7 / 5) for det, c in PER_MINUTE.items()}
MAX_CYCLE_STEP_S = 10
MAX_GREEN_STEP_S = 8


def readings(per_minute: dict[str, int], minutes: range) -> list[tuple[bytes | None, bytes | None]]:
    return [reading(det, m, c) for m in minutes for det, c in per_minute.items()]


def flows(per_minute: dict[str, int]) -> dict[str, float]:
    return {f"{det[2:4]}:{det[-1]}": c * 60.0 for det, c in per_minute.items()}


def greens(plan: SignalPlan) -> list[int]:
    return [p.green_s for p in plan.phases]


async def test_a_jump_in_demand_moves_the_plan_by_the_bounds_across_a_restart(
    worker: WorkerProcess, pipeline_env: dict[str, str]
) -> None:
    env = pipeline_env
    boot = env["AIGUILLEUR_KAFKA_BOOTSTRAP"]
    topics = TopicNames(env["AIGUILLEUR_TOPIC_NAMESPACE"])
    # First period: light traffic. A minute of the second period (heavy) closes it.
    await feed(env, readings(LOW, range(1, 6)))
    await feed(env, readings(HIGH, range(6, 7)))
    first_recs = await collect(boot, topics.plans, 3)
    first = {p.junction_id: p for p in (decode_plan(r.value) for r in first_recs if r.value)}
    assert set(first) == {"J1", "J2", "J3"}, worker.log_text()[-3000:]
    low_target = expected_webster(flows(LOW))
    for jid, plan in first.items():
        assert plan.explanation.transition is None  # nothing ran before
        assert (plan.cycle_s, greens(plan)) == low_target[jid]
    # An operator approves J1's and J2's plans (what the operator API publishes); J3's stays a
    # proposal. A restart between the periods: the approvals must come back from their topic.
    approvals = [
        ActivePlan(
            junction_id=jid,
            zone_id=first[jid].zone_id,
            plan=first[jid],
            decision_id=f"d-{jid}",
            approved_by="operator@test",
            approved_at=first[jid].valid_from,
        )
        for jid in ("J1", "J2")
    ]
    await produce(
        boot,
        topics.active_plans,
        [(a.junction_id.encode(), msgspec.json.encode(a)) for a in approvals],
    )
    worker.stop()
    worker.start()
    await feed(env, readings(HIGH, range(7, 11)))
    await feed(env, readings(HIGH, range(11, 12)))
    recs = await collect(boot, topics.plans, 6)
    plans = [decode_plan(r.value) for r in recs if r.value]
    second = {p.junction_id: p for p in plans if p.valid_from > first["J1"].valid_from}
    assert set(second) == {"J1", "J2", "J3"}, worker.log_text()[-3000:]
    high_target = expected_webster(flows(HIGH))
    # Nothing approved for J3: its recommendation is published as computed.
    assert second["J3"].explanation.transition is None
    assert (second["J3"].cycle_s, greens(second["J3"])) == high_target["J3"]
    clamped = 0
    for jid, plan in second.items():
        if jid == "J3":
            continue
        prev = first[jid]
        assert abs(plan.cycle_s - prev.cycle_s) <= MAX_CYCLE_STEP_S
        for a, b in zip(greens(prev), greens(plan), strict=True):
            assert abs(a - b) <= MAX_GREEN_STEP_S
        assert sum(p.green_s + p.intergreen_s for p in plan.phases) == plan.cycle_s
        t = plan.explanation.transition
        assert t is not None, f"{jid}: no transition (approved plan lost in the restart?)"
        assert t.active_plan_id == prev.plan_id
        assert (t.running_cycle_s, list(t.running_greens_s)) == (prev.cycle_s, greens(prev))
        assert (t.target_cycle_s, list(t.target_greens_s)) == high_target[jid]
        assert (t.steps[0].cycle_s, list(t.steps[0].greens_s)) == (plan.cycle_s, greens(plan))
        assert (t.steps[-1].cycle_s, list(t.steps[-1].greens_s)) == high_target[jid]
        assert t.reached
        assert t.text_fr
        assert t.text_en
        clamped += t.clamped
    assert clamped == 2  # every approved junction's cycle jumps by more than 10 s here
