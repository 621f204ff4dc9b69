"""The control stage's pure parts: event mapping, the independent envelope check, the envelope
table, and the stage with a stand-in producer."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest
from prometheus_client import CollectorRegistry

from optimizer.strategy import (
    Decision,
    Envelope,
    JunctionState,
    MovementState,
    PhaseState,
    controller,
    planner,
)
from streams.context import DetectorIndex, PipelineContext
from streams.control import Control, decode_state, envelope_violations, to_report, to_state
from streams.envelopes import EnvelopeTable, approve, envelope_from_junction
from streams.events import (
    DLQ_HEADER_CODE,
    ActivePlan,
    JunctionStateReport,
    SignalDecision,
    Suspension,
)
from streams.metrics import create_metrics
from streams.oversight import Oversight
from streams.planning import PlanningConfig
from streams.topics import TopicNames
from tests.fixtures.networks import small_network
from twin.live_policy import envelope_for

T0 = datetime(2026, 3, 10, 8, 0, tzinfo=UTC)
ENV = Envelope(
    junction_id="J1",
    phase_order=(0, 1, 2),
    min_green_s=(7.0, 7.0, 5.0),
    max_green_s=(60.0, 40.0, 20.0),
    intergreen_s=(4.0, 4.0, 3.0),
    cycle_min_s=40.0,
    cycle_max_s=120.0,
)


def _state(rng: random.Random, junction: str = "J1", n_phases: int = 3) -> JunctionState:
    return JunctionState(
        junction_id=junction,
        time_s=T0.timestamp() + rng.randint(0, 3600),
        current_phase=rng.randrange(n_phases),
        phase_elapsed_s=float(rng.choice((0, 3, 5, 7, 15, 20, 39, 40, 59, 60, 80))),
        cycle_elapsed_s=float(rng.choice((0, 30, 60, 100, 119))),
        phases=tuple(
            PhaseState(
                index=k,
                movements=(
                    MovementState(
                        id=f"m{k}",
                        queue_veh=float(rng.randint(0, 20)),
                        downstream_queue_veh=float(rng.randint(0, 5)),
                        approaching_veh=tuple(sorted(rng.uniform(0, 30) for _ in range(3))),
                        downstream_capacity_veh=float(rng.randint(0, 30)),
                        downstream_vehicles=rng.choice((None, float(rng.randint(0, 30)))),
                        waiting_s=float(rng.randint(0, 200)),
                        detector_gap_s=rng.choice((None, rng.uniform(0, 60))),
                        queue_age_s=rng.choice((None, 0.0, rng.uniform(0, 60))),
                    ),
                ),
            )
            for k in range(n_phases)
        ),
    )


def test_state_survives_the_topic() -> None:
    rng = random.Random(1)
    for _ in range(50):
        st = _state(rng)
        at = datetime.fromtimestamp(st.time_s, UTC)
        wire = msgspec.json.encode(to_report(st, "Z1", at))

        assert to_state(decode_state(b"Z1", wire)) == st


@pytest.mark.parametrize("name", ["adaptive", "max-pressure", "fixed-time"])
@pytest.mark.parametrize("skip", [False, True])
def test_registered_controllers_stay_inside_by_the_independent_check(name: str, skip: bool) -> None:
    env = msgspec.structs.replace(ENV, may_skip_phases=skip)
    ctrl = controller(name, env)
    rng = random.Random(7)
    for _ in range(400):
        st = _state(rng)
        assert envelope_violations(env, st, ctrl.decide(st)) == [], st


def _decision(phase: int, hold: float) -> Decision:
    return Decision(
        junction_id="J1", time_s=0.0, phase_index=phase, next_decision_in_s=hold, reason=""
    )


def test_check_catches_each_broken_bound() -> None:
    st = JunctionState(
        junction_id="J1", time_s=0.0, current_phase=0, phase_elapsed_s=5.0, phases=()
    )
    late = msgspec.structs.replace(st, phase_elapsed_s=58.0)
    assert envelope_violations(ENV, st, _decision(0, 10.0)) == []
    assert "maximum" in envelope_violations(ENV, late, _decision(0, 5.0))[0]
    assert "minimum" in envelope_violations(ENV, st, _decision(1, 4.0))[0]
    assert "not allowed" in envelope_violations(ENV, late, _decision(2, 4.0))[0]
    skip = msgspec.structs.replace(ENV, may_skip_phases=True)
    assert envelope_violations(skip, late, _decision(2, 4.0)) == []
    assert "order" in envelope_violations(ENV, late, _decision(5, 4.0))[0]
    assert "positive" in envelope_violations(ENV, late, _decision(1, 0.0))[0]
    # one phase only: nothing else to serve, so its maximum green cannot bind
    single = Envelope(
        junction_id="J1",
        phase_order=(0,),
        min_green_s=(7.0,),
        max_green_s=(60.0,),
        intergreen_s=(4.0,),
    )
    assert (
        envelope_violations(
            single, msgspec.structs.replace(late, phase_elapsed_s=100.0), _decision(0, 11.0)
        )
        == []
    )


def test_envelope_from_the_model_is_the_twins() -> None:
    for j in small_network().junctions:
        assert envelope_from_junction(j) == envelope_for(j)


def _approved(junction: str = "J1") -> bytes:
    j = small_network().junction(junction)
    ev = approve(
        j,
        envelope_from_junction(j),
        approved_by="Ada",
        approved_at=T0,
        network_sha256="0" * 64,
    )
    return msgspec.json.encode(ev)


def test_table_approves_withdraws_and_drops_what_it_cannot_use() -> None:
    table = EnvelopeTable("adaptive")
    assert table.apply(b"J1", _approved()) == "approved"
    held = table.get("J1")
    assert held is not None
    assert held.event.approved_by == "Ada"
    assert table.apply(b"J1", None) == "withdrawn"
    assert table.get("J1") is None
    assert table.apply(b"J2", _approved()) == "invalid"  # key is not the junction
    bad = msgspec.json.decode(_approved())
    bad["max_green_s"] = [1.0, 1.0]  # below the minimum greens
    assert table.apply(b"J1", _approved()) == "approved"
    assert table.apply(b"J1", msgspec.json.encode(bad)) == "invalid"
    assert table.get("J1") is None  # the last word on record cannot be used: no live control


@dataclass
class Record:
    key: bytes | None
    value: bytes | None
    topic: str = "states"
    partition: int = 0
    offset: int = 0


@dataclass
class Sink:
    sent: list[tuple[str, bytes | None, bytes | None, list[tuple[str, bytes]]]] = field(
        default_factory=list
    )

    async def __call__(
        self, topic: str, key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]]
    ) -> asyncio.Future[None]:
        self.sent.append((topic, key, value, headers))
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        fut.set_result(None)
        return fut


def _context(registry: CollectorRegistry) -> PipelineContext:
    """The small network's pipeline with the adaptive controller, metrics in ``registry``."""
    net = small_network()
    return PipelineContext.create(
        net,
        DetectorIndex.build(net, []),
        PlanningConfig(300, 300),
        planner("webster"),
        create_metrics(registry),
        TopicNames(),
        controller="adaptive",
    )


def test_stage_decides_skips_and_dead_letters() -> None:
    registry = CollectorRegistry()
    ctx = _context(registry)
    table = EnvelopeTable("adaptive")
    table.apply(b"J1", _approved("J1"))
    sink = Sink()
    stage = Control(ctx, table, sink)
    rng = random.Random(3)

    def rec(junction: str, zone: str, key: bytes | None = None) -> Record:
        st = _state(rng, junction, n_phases=2)
        at = T0 + timedelta(seconds=rng.randint(0, 600))
        return Record(key or zone.encode(), msgspec.json.encode(to_report(st, zone, at)))

    records: list[Any] = [
        rec("J1", "Z1"),
        rec("J1", "Z1"),
        rec("J2", "Z1"),  # no envelope
        rec("J3", "Z1"),  # J3 is in Z2
        rec("J1", "Z1", key=b"Z2"),
        Record(b"Z1", b"[]"),
    ]
    published = asyncio.run(stage.handle(records))
    assert published == 2
    decisions = [v for t, _, v, _ in sink.sent if t == ctx.topics.decisions]
    assert len(decisions) == 2
    for v in decisions:
        d = msgspec.json.decode(v or b"", type=SignalDecision)
        assert d.envelope_approved_by == "Ada"
    codes = [
        dict(h)[DLQ_HEADER_CODE] for t, _, _, h in sink.sent if t == ctx.topics.state_dead_letters
    ]
    assert sorted(codes) == [b"invalid", b"key_mismatch", b"zone_mismatch"]
    get = registry.get_sample_value
    assert get("aiguilleur_decisions_skipped_total", {"reason": "no_envelope"}) == 1
    assert get("aiguilleur_decisions_published_total") == 2
    assert get("aiguilleur_state_dead_letters_total", {"reason": "zone_mismatch"}) == 1


def _active_plan(junction: str, greens: tuple[int, int]) -> ActivePlan:
    """An approved plan for a junction of the small network (its two phases)."""
    from streams.planning import plan_junction
    from streams.zone_state import ZoneState
    from tests.unit.streams.test_guarding import CFG, LOW, SITES, WEBSTER, J, approved, period

    state = ZoneState(zone_id="Z")
    period(state, 300_000, LOW)
    plan = plan_junction(J, SITES, state, 300_000, CFG, WEBSTER, "abc")
    phases = tuple(
        msgspec.structs.replace(p, green_s=g) for p, g in zip(plan.phases, greens, strict=True)
    )
    cycle = sum(greens) + sum(p.intergreen_s for p in phases)
    return approved(
        msgspec.structs.replace(
            plan, junction_id=junction, zone_id="Z1", phases=phases, cycle_s=cycle
        )
    )


def _suspension(scope: str, target: str) -> bytes:
    return msgspec.json.encode(
        Suspension(scope=scope, target=target, suspended_by="ada", suspended_at=T0, reason="works")
    )


def _report(
    junction: str, phase: int, elapsed: float, t: float, cycle_elapsed: float = 0.0
) -> JunctionStateReport:
    st = JunctionState(
        junction_id=junction,
        time_s=T0.timestamp() + t,
        current_phase=phase,
        phase_elapsed_s=elapsed,
        cycle_elapsed_s=cycle_elapsed,
        phases=tuple(
            PhaseState(index=k, movements=(MovementState(id=f"m{k}", queue_veh=30.0),))
            for k in (0, 1)
        ),
    )
    return to_report(st, "Z1", T0 + timedelta(seconds=t))


def _play(
    stage: Control, junction: str, seconds: float
) -> tuple[list[SignalDecision], dict[int, list[float]]]:
    """Run the junction under the stage's decisions: each hold advances the clock, each switch
    ends a green and runs its intergreen (5 s). Returns the decisions and each phase's greens."""
    phase, elapsed, t, cycle_start = 0, 0.0, 0.0, 0.0
    decisions: list[SignalDecision] = []
    greens: dict[int, list[float]] = {0: [], 1: []}
    while t < seconds:
        d = stage.decide(_report(junction, phase, elapsed, t, t - cycle_start))
        assert d is not None
        decisions.append(d)
        if d.phase_index != phase:
            greens[phase].append(elapsed)
            phase, elapsed = d.phase_index, 0.0
            t += 5.0
            if phase == 0:
                cycle_start = t
            continue
        elapsed += d.next_decision_in_s
        t += d.next_decision_in_s
    return decisions, greens


def test_a_stop_of_live_control_falls_back_to_the_programme_on_record() -> None:
    registry = CollectorRegistry()
    ctx = _context(registry)
    table = EnvelopeTable("adaptive")
    for j in ("J1", "J2"):
        table.apply(j.encode(), _approved(j))
    oversight = Oversight("lyon")
    active = _active_plan("J1", (31, 17))
    oversight.apply_active(b"J1", msgspec.json.encode(active))
    stage = Control(ctx, table, Sink(), oversight)
    # live: the adaptive controller decides, nothing about a stop
    live, _ = _play(stage, "J1", 300)
    assert {d.controller for d in live} == {"adaptive"}
    assert {d.suspension for d in live} == {""}
    # an operator stops live control for the zone: J1 plays its approved plan, second for second
    assert oversight.apply_suspension(b"zone:Z1", _suspension("zone", "Z1")) == "suspended"
    stopped, greens = _play(stage, "J1", 600)
    assert {d.controller for d in stopped} == {"programme"}
    assert {(d.suspension, d.programme_plan_id) for d in stopped} == {
        ("zone:Z1", active.plan.plan_id)
    }
    assert greens[0]
    assert greens[1]
    assert set(greens[0]) == {31.0}
    assert set(greens[1]) == {17.0}
    assert "live control suspended (zone:Z1 by ada)" in stopped[0].reason
    # the same state decided live and under the stop: two decisions, two ids
    state = _report("J1", 0, 10.0, 5.0)
    under_stop = stage.decide(state)
    # J2 has no approved plan: under the stop it gets no decision (its own programme runs)
    assert stage.decide(_report("J2", 0, 10.0, 5.0)) is None
    get = registry.get_sample_value
    assert get("aiguilleur_decisions_skipped_total", {"reason": "suspended"}) == 1
    # resumed: the live controller again
    assert oversight.apply_suspension(b"zone:Z1", None) == "resumed"
    live_again = stage.decide(state)
    assert under_stop is not None
    assert live_again is not None
    assert live_again.controller == "adaptive"
    assert live_again.decision_id != under_stop.decision_id
    # a stop of recommendations only leaves live control alone
    rec_only = Suspension(
        scope="commune",
        target="lyon",
        recommendations=True,
        control=False,
        suspended_by="ada",
        suspended_at=T0,
    )
    oversight.apply_suspension(b"commune:lyon", msgspec.json.encode(rec_only))
    after = stage.decide(state)
    assert after is not None
    assert after.controller == "adaptive"
