"""Guardrails between periods: published plans move at most the bounds from the active (approved)
plan."""

from __future__ import annotations

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from graph.model import Network
from graph.synthetic import crossroads
from optimizer.guardrails import GuardrailConfig
from optimizer.strategy import planner, zone_planner
from streams.agents import Zones
from streams.app import Channels
from streams.context import DetectorIndex, PipelineContext
from streams.events import ActivePlan, SignalPlan, ZoneReading, ZoneReadings
from streams.guarding import guardrail_config
from streams.metrics import create_metrics
from streams.oversight import Oversight
from streams.planning import PlanningConfig, SiteRef, plan_junction
from streams.topics import TopicNames
from streams.zone_planning import GUARDRAILS_SKIPPED, plan_zone
from streams.zone_state import ZoneState, decode_state, encode_state
from tests.unit.streams.test_ingest_stage import STAGE_CFG, Sink
from tests.unit.streams.test_zone_planning import NET as CORRIDOR
from tests.unit.streams.test_zone_planning import PER_MINUTE as CORRIDOR_PER_MINUTE
from tests.unit.streams.test_zone_planning import ROW, zone_state

MIN = 60_000
BOUNDS = GuardrailConfig(max_cycle_step_s=10, max_green_step_s=8)
CFG = PlanningConfig(period_s=300, window_s=300, guardrails=BOUNDS)
OFF = PlanningConfig(period_s=300, window_s=300)
J = crossroads("J", "Z", 1, 0.0, 0.0)
SITES = [SiteRef(f"d{arm}", f"J:{arm}", J.approach(f"J:{arm}").lanes) for arm in "NSEW"]
WEBSTER = planner("webster")


def approved(plan: SignalPlan) -> ActivePlan:
    """``plan`` as an operator's approval makes it active."""
    return ActivePlan(
        junction_id=plan.junction_id,
        zone_id=plan.zone_id,
        plan=plan,
        decision_id="d-" + plan.plan_id,
        approved_by="test",
        approved_at=plan.valid_from,
    )


def retimed(active: ActivePlan, cycle_s: int, greens: tuple[int, ...]) -> ActivePlan:
    """``active`` with another cycle and greens (an operator's modified plan)."""
    phases = tuple(
        msgspec.structs.replace(p, green_s=g)
        for p, g in zip(active.plan.phases, greens, strict=True)
    )
    plan = msgspec.structs.replace(active.plan, cycle_s=cycle_s, phases=phases, plan_id="edited")
    return msgspec.structs.replace(active, plan=plan)


def period(state: ZoneState, end_ms: int, per_minute: dict[str, int]) -> None:
    """Five one-minute readings per arm, ending at ``end_ms``."""
    for arm, count in per_minute.items():
        state.upsert([ZoneReading(f"d{arm}", end_ms - k * MIN, 60, count) for k in range(5)])


def assert_within(prev: SignalPlan, plan: SignalPlan, bounds: GuardrailConfig) -> None:
    assert abs(plan.cycle_s - prev.cycle_s) <= bounds.max_cycle_step_s
    for a, b in zip(prev.phases, plan.phases, strict=True):
        assert abs(a.green_s - b.green_s) <= bounds.max_green_step_s
    assert sum(p.green_s + p.intergreen_s for p in plan.phases) == plan.cycle_s


LOW = {"N": 2, "S": 2, "E": 1, "W": 1}
HIGH = {"N": 40, "S": 35, "E": 12, "W": 10}


def test_a_jump_in_demand_is_published_as_a_bounded_step_towards_the_recommendation() -> None:
    state = ZoneState(zone_id="Z")
    period(state, 5 * MIN, LOW)
    first = plan_junction(J, SITES, state, 5 * MIN, CFG, WEBSTER, "abc")
    assert first.explanation.transition is None  # nothing approved yet: published as computed
    assert first.expected_effect.active_plan_delay_s_per_veh is None
    active = approved(first)
    period(state, 10 * MIN, HIGH)
    second = plan_junction(J, SITES, state, 10 * MIN, CFG, WEBSTER, "abc", active)
    target = plan_junction(J, SITES, state, 10 * MIN, OFF, WEBSTER, "abc")
    assert target.cycle_s - first.cycle_s > BOUNDS.max_cycle_step_s  # a real jump
    assert_within(first, second, BOUNDS)
    t = second.explanation.transition
    assert t is not None
    assert t.clamped
    assert t.reached
    assert (t.running_cycle_s, t.running_greens_s) == (
        first.cycle_s,
        tuple(p.green_s for p in first.phases),
    )
    assert (t.target_cycle_s, t.target_greens_s) == (
        target.cycle_s,
        tuple(p.green_s for p in target.phases),
    )
    assert t.active_plan_id == first.plan_id
    assert t.cycles_to_target == len(t.steps) >= 2
    assert (t.steps[0].cycle_s, t.steps[0].greens_s) == (
        second.cycle_s,
        tuple(p.green_s for p in second.phases),
    )
    assert (t.steps[-1].cycle_s, t.steps[-1].greens_s) == (t.target_cycle_s, t.target_greens_s)
    assert (t.max_cycle_step_s, t.max_green_step_s) == (10, 8)
    assert "Carrefour J" in t.text_fr
    assert "Junction J" in t.text_en
    assert "guardrail" in second.explanation.binding_constraints
    assert second.strategy == "webster+guardrails"
    # The expected effect says what approving it changes against the active plan.
    assert second.expected_effect.active_plan_delay_s_per_veh is not None
    assert second.expected_effect.active_plan_delay_s_per_veh != (
        second.expected_effect.mean_delay_s_per_veh
    )
    # Reproducible from its inputs, and the active plan is one of them.
    again = plan_junction(J, SITES, state, 10 * MIN, CFG, WEBSTER, "abc", active)
    assert again == second
    edited = retimed(
        active, first.cycle_s + 4, (first.phases[0].green_s + 4, first.phases[1].green_s)
    )
    other = plan_junction(J, SITES, state, 10 * MIN, CFG, WEBSTER, "abc", edited)
    assert other.inputs_digest != second.inputs_digest
    assert other.cycle_s == first.cycle_s + 4 + BOUNDS.max_cycle_step_s


def test_no_guardrails_when_off_or_when_the_running_plan_times_other_phases() -> None:
    state = ZoneState(zone_id="Z")
    period(state, 5 * MIN, LOW)
    first = plan_junction(J, SITES, state, 5 * MIN, CFG, WEBSTER, "abc")
    period(state, 10 * MIN, HIGH)
    unguarded = plan_junction(J, SITES, state, 10 * MIN, OFF, WEBSTER, "abc")
    active = approved(first)
    off = plan_junction(J, SITES, state, 10 * MIN, OFF, WEBSTER, "abc", active)
    # the estimator judged against the active plan (nothing here depends on it), nothing else
    assert off.explanation.running_timing == "active"
    assert msgspec.structs.replace(off.explanation, running_timing="") == unguarded.explanation
    assert off.cycle_s == unguarded.cycle_s
    extra = msgspec.structs.replace(first.phases[-1], index=7)
    other_phases = msgspec.structs.replace(
        active, plan=msgspec.structs.replace(first, phases=(*first.phases, extra))
    )
    other = plan_junction(J, SITES, state, 10 * MIN, CFG, WEBSTER, "abc", other_phases)
    assert other.explanation.transition is None
    assert (other.cycle_s, other.phases, other.inputs_digest) == (
        unguarded.cycle_s,
        unguarded.phases,
        unguarded.inputs_digest,
    )


def test_a_zero_bound_is_unbounded_and_two_zeros_turn_guardrails_off() -> None:
    assert guardrail_config(0, 0) is None
    assert guardrail_config(10, 8) == BOUNDS
    cfg = guardrail_config(0, 8)
    assert cfg is not None
    state = ZoneState(zone_id="Z")
    period(state, 5 * MIN, LOW)
    first = plan_junction(J, SITES, state, 5 * MIN, CFG, WEBSTER, "abc")
    period(state, 10 * MIN, HIGH)
    loose = PlanningConfig(period_s=300, window_s=300, guardrails=cfg)
    plan = plan_junction(J, SITES, state, 10 * MIN, loose, WEBSTER, "abc", approved(first))
    t = plan.explanation.transition
    assert t is not None
    assert (t.max_cycle_step_s, t.max_green_step_s) == (0, 8)
    for a, b in zip(first.phases, plan.phases, strict=True):
        assert abs(a.green_s - b.green_s) <= 8


def test_state_written_when_it_held_the_published_plans_still_decodes() -> None:
    class Published(msgspec.Struct, kw_only=True):
        cycle_s: int
        phase_indices: tuple[int, ...]
        greens_s: tuple[int, ...]
        offset_s: int = 0
        valid_from_ms: int = 0

    class OldZoneState(msgspec.Struct, kw_only=True):
        zone_id: str
        counts: dict[str, dict[int, tuple[int, int]]]
        watermark_ms: int = 0
        planned_until_ms: int = 0
        running: dict[str, Published] = msgspec.field(default_factory=dict)

    old = msgspec.msgpack.encode(
        OldZoneState(
            zone_id="Z",
            counts={"d": {60_000: (3, 60)}},
            watermark_ms=60_000,
            running={"J": Published(cycle_s=60, phase_indices=(0, 1), greens_s=(30, 20))},
        )
    )
    state = decode_state(old)
    assert state.total_vehicles() == 3
    assert decode_state(encode_state(state)) == state


@settings(max_examples=40, deadline=None)
@given(
    demands=st.lists(
        st.fixed_dictionaries({arm: st.integers(0, 45) for arm in "NSEW"}),
        min_size=2,
        max_size=6,
    ),
    cycle_step=st.integers(1, 20),
    green_step=st.integers(1, 15),
)
def test_every_published_plan_is_within_the_bounds_of_the_previous_one(
    demands: list[dict[str, int]], cycle_step: int, green_step: int
) -> None:
    bounds = GuardrailConfig(max_cycle_step_s=cycle_step, max_green_step_s=green_step)
    cfg = PlanningConfig(period_s=300, window_s=300, guardrails=bounds)
    state = ZoneState(zone_id="Z")
    prev: SignalPlan | None = None
    for k, per_minute in enumerate(demands, start=1):
        period(state, 5 * k * MIN, per_minute)
        active = None if prev is None else approved(prev)
        plan = plan_junction(J, SITES, state, 5 * k * MIN, cfg, WEBSTER, "abc", active)
        assert sum(p.green_s + p.intergreen_s for p in plan.phases) == plan.cycle_s
        if prev is not None:
            assert_within(prev, plan, bounds)
            assert plan.explanation.transition is not None
        prev = plan  # every plan approved as published


async def test_the_zone_stage_bounds_from_the_approved_plan_not_from_the_last_published() -> None:
    net = Network(source="test", source_sha256="abc", junctions=(J,))
    rows = [(s.detector_id, "J", s.approach_id, s.lanes) for s in SITES]
    ctx = PipelineContext.create(
        net,
        DetectorIndex.build(net, rows),
        CFG,
        WEBSTER,
        create_metrics(CollectorRegistry()),
        TopicNames(),
    )
    sink, inputs = Sink(), Sink()
    table: dict[bytes, bytes] = {}
    ch = Channels(
        counts=None,
        dead_letters=None,
        zone_readings=None,
        plans=sink,
        zone_state=table,
        plan_inputs=inputs,
    )
    oversight = Oversight()
    oversight.ready.set()
    stage = Zones(ch, STAGE_CFG, ctx, oversight)

    async def minutes(first: int, last: int, per_minute: dict[str, int]) -> None:
        readings = tuple(
            ZoneReading(f"d{arm}", m * MIN, 60, c)
            for m in range(first, last + 1)
            for arm, c in per_minute.items()
        )
        await stage.handle(msgspec.msgpack.encode(ZoneReadings(zone_id="Z", readings=readings)))

    await minutes(1, 5, LOW)  # closes the first period (no lateness)
    await minutes(6, 10, HIGH)  # the second: nothing approved, so nothing to bound from
    plans = [msgspec.json.decode(s["value"], type=SignalPlan) for s in sink.sent]
    assert len(plans) == 2
    assert plans[0].explanation.transition is None
    assert plans[1].explanation.transition is None
    # An operator approves the first plan: the third period is bounded from it.
    oversight.apply_active(b"J", msgspec.json.encode(approved(plans[0])))
    await minutes(11, 15, HIGH)
    third = msgspec.json.decode(sink.sent[-1]["value"], type=SignalPlan)
    t = third.explanation.transition
    assert t is not None
    assert t.active_plan_id == plans[0].plan_id
    assert t.clamped
    assert_within(plans[0], third, BOUNDS)
    assert len(inputs.sent) == 3  # one inputs record per zone period


def test_coordinated_zones_keep_their_common_cycle_and_say_guardrails_were_skipped() -> None:
    state, sites = zone_state(CORRIDOR_PER_MINUTE)
    zp = zone_planner("coordinated")
    guarded_cfg = PlanningConfig(period_s=300, window_s=300, guardrails=BOUNDS)
    result = plan_zone("C1", ROW, CORRIDOR.links, sites, state, 5 * MIN, guarded_cfg, zp, "abc")
    assert result.zone_plan is not None
    assert {p.cycle_s for p in result.plans} == {result.zone_plan.cycle_s}
    for p in result.plans:
        assert p.explanation.transition is None
        assert GUARDRAILS_SKIPPED in p.explanation.warnings


def test_a_zone_keeps_the_common_cycle_it_runs_when_it_costs_little_more() -> None:
    state, sites = zone_state(CORRIDOR_PER_MINUTE)
    zp = zone_planner("coordinated")
    fresh = plan_zone("C1", ROW, CORRIDOR.links, sites, state, 5 * MIN, CFG, zp, "abc")
    assert fresh.zone_plan is not None
    assert fresh.zone_plan.coordinated
    near = fresh.zone_plan.cycle_s + 2
    active = {
        p.junction_id: approved(msgspec.structs.replace(p, cycle_s=near)) for p in fresh.plans
    }
    kept = plan_zone("C1", ROW, CORRIDOR.links, sites, state, 5 * MIN, CFG, zp, "abc", active)
    assert {p.cycle_s for p in kept.plans} == {near}
    assert (
        kept.plans[0].inputs_digest != fresh.plans[0].inputs_digest
    )  # the running cycle is an input
    # Junctions running different cycles have no common cycle to keep.
    first = kept.plans[0].junction_id
    active[first] = approved(msgspec.structs.replace(active[first].plan, cycle_s=near + 1))
    again = plan_zone("C1", ROW, CORRIDOR.links, sites, state, 5 * MIN, CFG, zp, "abc", active)
    # the same plans; only the explanation says they were judged against the active ones
    assert [(p.cycle_s, p.offset_s, p.phases, p.inputs_digest) for p in again.plans] == [
        (p.cycle_s, p.offset_s, p.phases, p.inputs_digest) for p in fresh.plans
    ]
