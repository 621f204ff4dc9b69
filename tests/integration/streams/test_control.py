"""The control stage on the real broker, in a real worker process: approved envelope -> decisions
inside it; no envelope -> no decision, counted; bad state -> dead letter with its reason; a
restart rebuilds the approvals from the compacted topic."""

from __future__ import annotations

import asyncio
import random
import signal
import socket
import sys
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pytest
from prometheus_client.parser import text_string_to_metric_families

from aiguilleur.approval import approvals
from optimizer.strategy import Envelope, JunctionState, MovementState, PhaseState, controller
from streams.events import DLQ_HEADER_CODE, DLQ_HEADER_REASON, SignalDecision, SignalEnvelope
from streams.topics import TopicNames
from tests.fixtures.networks import small_network
from tests.integration.conftest import WorkerProcess, collect, produce, read_all, wait_consumed

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 10, 8, 0, tzinfo=UTC)
N_STATES = 24
ELAPSED = (0.0, 3.0, 6.9, 7.0, 12.0, 30.0, 60.0, 88.0, 90.0)


@pytest.fixture
def control_env(pipeline_env: dict[str, str]) -> dict[str, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return {
        **pipeline_env,
        "AIGUILLEUR_CONTROLLER": "adaptive",
        "AIGUILLEUR_METRICS_PORT": str(port),
    }


def _arrivals(rng: random.Random) -> tuple[float, ...]:
    return tuple(sorted(round(rng.uniform(0, 30), 1) for _ in range(rng.randint(0, 5))))


def _state(junction: str, k: int, rng: random.Random) -> JunctionState:
    j = small_network().junction(junction)
    return JunctionState(
        junction_id=junction,
        time_s=(T0 + timedelta(seconds=5 * k)).timestamp(),
        current_phase=k % 2,
        phase_elapsed_s=ELAPSED[k % len(ELAPSED)],
        cycle_elapsed_s=ELAPSED[k % len(ELAPSED)] + rng.choice((0.0, 20.0, 50.0)),
        phases=tuple(
            PhaseState(
                index=p.index,
                movements=tuple(
                    MovementState(
                        id=m,
                        queue_veh=float(rng.randint(0, 12)),
                        approaching_veh=_arrivals(rng),
                        saturation_flow_vph=1800.0,
                    )
                    for m in p.movement_ids
                ),
            )
            for p in j.phases
        ),
    )


def _report_json(state: JunctionState, zone: str, **override: object) -> bytes:
    from streams.control import to_report

    report = to_report(state, zone, datetime.fromtimestamp(state.time_s, UTC))
    return msgspec.json.encode({**msgspec.to_builtins(report), **override})


def _metrics(port: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
    }


def _approve(env: dict[str, str], *junctions: str) -> None:
    """What the operator API publishes once an operator approved these junctions' envelopes
    (the approval itself is tested in tests/integration/api/test_control_lifecycle.py)."""
    events = approvals(small_network(), list(junctions), approved_by="Ada Operator", approved_at=T0)
    asyncio.run(
        produce(
            env["AIGUILLEUR_KAFKA_BOOTSTRAP"],
            TopicNames(env["AIGUILLEUR_TOPIC_NAMESPACE"]).envelopes,
            [(ev.junction_id.encode(), msgspec.json.encode(ev)) for ev in events],
        )
    )


def _inside(env: Envelope, state: JunctionState, d: SignalDecision) -> None:
    """The envelope's bounds, read again here: order, minimum and maximum greens."""
    cur = state.current_phase
    assert d.phase_index in env.phase_order
    assert d.next_decision_in_s > 0
    if d.phase_index == cur:
        assert state.phase_elapsed_s + d.next_decision_in_s <= env.max_green_s[cur] + 1e-6
    else:
        assert state.phase_elapsed_s >= env.min_green_s[cur] - 1e-6
        assert d.phase_index != cur


async def _scenario(env: dict[str, str], w: WorkerProcess) -> None:
    boot = env["AIGUILLEUR_KAFKA_BOOTSTRAP"]
    topics = TopicNames(env["AIGUILLEUR_TOPIC_NAMESPACE"])
    group = f"{env['AIGUILLEUR_APP_ID']}-control"
    rng = random.Random(5)
    states = {j: [_state(j, k, rng) for k in range(N_STATES)] for j in ("J1", "J2", "J3")}
    zone = {"J1": "Z1", "J2": "Z1", "J3": "Z2"}
    good = [(zone[j].encode(), _report_json(s, zone[j])) for j in states for s in states[j]]
    j1 = states["J1"][0]
    bad = [
        (b"Z1", b"{not json"),
        (b"Z1", _report_json(j1, "Z1", phase_elapsed_s=-1.0)),
        (b"Z2", _report_json(j1, "Z1")),
        (b"Z1", _report_json(j1, "Z1", junction_id="J9")),
        (b"Z1", _report_json(j1, "Z1", current_phase=5)),
    ]
    await produce(boot, topics.junction_states, good + bad)
    await wait_consumed(boot, group, [topics.junction_states])

    # approved J1 and J3: one decision per state, inside the envelope, as the optimiser decides
    on_record = {
        r.key.decode(): msgspec.json.decode(r.value, type=SignalEnvelope)
        for r in await collect(boot, topics.envelopes, 2)
        if r.key and r.value
    }
    assert sorted(on_record) == ["J1", "J3"]
    assert {e.approved_by for e in on_record.values()} == {"Ada Operator"}
    expected = 2 * N_STATES
    recs = await collect(boot, topics.decisions, expected, timeout_s=30)
    decisions = [msgspec.json.decode(r.value or b"", type=SignalDecision) for r in recs]
    assert len(decisions) == expected
    by_key = {(d.junction_id, d.observed_at): d for d in decisions}
    assert len(by_key) == expected  # one per state
    kinds = set()
    for j in ("J1", "J3"):
        ev = on_record[j]
        env_ = Envelope(
            junction_id=j,
            phase_order=ev.phase_order,
            min_green_s=ev.min_green_s,
            max_green_s=ev.max_green_s,
            intergreen_s=ev.intergreen_s,
            cycle_min_s=ev.cycle_min_s,
            cycle_max_s=ev.cycle_max_s,
            may_skip_phases=ev.may_skip_phases,
        )
        ctrl = controller("adaptive", env_)
        for st in states[j]:
            d = by_key[(j, datetime.fromtimestamp(st.time_s, UTC))]
            _inside(env_, st, d)
            want = ctrl.decide(st)
            assert (d.phase_index, d.next_decision_in_s, d.reason) == (
                want.phase_index,
                want.next_decision_in_s,
                want.reason,
            )
            assert d.envelope_id == ev.envelope_id
            assert d.from_phase == st.current_phase
            kinds.add(d.phase_index == st.current_phase)
    assert kinds == {True, False}  # both keeps and switches were decided

    # no envelope for J2: no decision, counted; bad records dead-lettered with their reason
    dlq = await collect(boot, topics.state_dead_letters, len(bad), timeout_s=30)
    codes = sorted(r.headers[DLQ_HEADER_CODE].decode() for r in dlq)
    assert codes == sorted(
        ["malformed", "invalid", "key_mismatch", "unknown_junction", "phase_mismatch"]
    )
    assert all(r.headers[DLQ_HEADER_REASON] for r in dlq)
    assert {r.value for r in dlq} == {v for _, v in bad}
    m = _metrics(env["AIGUILLEUR_METRICS_PORT"])
    assert m[("aiguilleur_decisions_skipped_total", (("reason", "no_envelope"),))] == N_STATES
    assert m[("aiguilleur_decisions_published_total", ())] == expected
    assert m[("aiguilleur_junction_states_total", (("outcome", "rejected"),))] == len(bad)

    # restart (SIGKILL): the approvals come back from the topic; a withdrawal is honoured
    w.stop(signal.SIGKILL)
    await produce(boot, topics.envelopes, [(b"J3", None)])
    w.start()
    later = [_state(j, k, rng) for j in ("J1", "J3") for k in range(N_STATES, N_STATES + 4)]
    items = [(zone[s.junction_id].encode(), _report_json(s, zone[s.junction_id])) for s in later]
    await produce(boot, topics.junction_states, items)
    await wait_consumed(boot, group, [topics.junction_states])
    # committed means delivered: every decision of these states is on the topic by now
    recs = await read_all(boot, topics.decisions)
    after = {
        (d.junction_id, d.observed_at)
        for d in (msgspec.json.decode(r.value or b"", type=SignalDecision) for r in recs)
        if d.observed_at >= T0 + timedelta(seconds=5 * N_STATES)
    }
    assert after == {("J1", T0 + timedelta(seconds=5 * k)) for k in range(N_STATES, N_STATES + 4)}


def test_decisions_inside_approved_envelopes(
    control_env: dict[str, str], tmp_path: Path, kafka_bootstrap: str
) -> None:
    del kafka_bootstrap
    _approve(control_env, "J1", "J3")
    w = WorkerProcess(control_env, tmp_path / "worker")
    w.start()
    try:
        asyncio.run(_scenario(control_env, w))
    finally:
        if w.alive():
            w.stop(signal.SIGKILL)
        sys.stderr.write(w.log_text()[-4000:])
