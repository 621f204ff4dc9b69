"""The inputs of a zone period on record, and the plans recomputed from them byte for byte; the
operators' stops in the zone and control stages."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
from prometheus_client import CollectorRegistry

from graph.model import Network
from optimizer.strategy import planner, zone_planner
from streams.agents import Zones
from streams.app import Channels
from streams.context import DetectorIndex, PipelineContext
from streams.control import Control, to_report
from streams.envelopes import EnvelopeTable
from streams.events import PlanInputs, SignalPlan, Suspension, ZoneReading, ZoneReadings
from streams.metrics import create_metrics
from streams.oversight import Oversight
from streams.plan_inputs import capture, compute, inputs_id, planning_config
from streams.planning import PlanningConfig
from streams.topics import TopicNames
from tests.fixtures.networks import small_network
from tests.unit.streams.test_control import Record, _approved, _state
from tests.unit.streams.test_control import Sink as ControlSink
from tests.unit.streams.test_guarding import BOUNDS, HIGH, LOW, SITES, J, approved
from tests.unit.streams.test_ingest_stage import STAGE_CFG, Sink
from tests.unit.streams.test_zone_planning import NET as CORRIDOR
from tests.unit.streams.test_zone_planning import PER_MINUTE as CORRIDOR_PER_MINUTE
from tests.unit.streams.test_zone_planning import ROW, zone_state

MIN = 60_000
CFG = PlanningConfig(period_s=300, window_s=300, guardrails=BOUNDS)
T0 = datetime(2026, 3, 10, 17, 0, tzinfo=UTC)


def _stage(oversight: Oversight) -> tuple[Zones, Sink, Sink, CollectorRegistry]:
    net = Network(source="test", source_sha256="abc", junctions=(J,))
    rows = [(s.detector_id, "J", s.approach_id, s.lanes) for s in SITES]
    registry = CollectorRegistry()
    ctx = PipelineContext.create(
        net,
        DetectorIndex.build(net, rows),
        CFG,
        planner("optimizer"),
        create_metrics(registry),
        TopicNames(),
        commune="villeurbanne",
    )
    plans, inputs = Sink(), Sink()
    ch = Channels(
        counts=None,
        dead_letters=None,
        zone_readings=None,
        plans=plans,
        zone_state={},
        plan_inputs=inputs,
    )
    return Zones(ch, STAGE_CFG, ctx, oversight), plans, inputs, registry


async def _minutes(stage: Zones, first: int, last: int, per_minute: dict[str, int]) -> None:
    readings = tuple(
        ZoneReading(f"d{arm}", m * MIN, 60, c)
        for m in range(first, last + 1)
        for arm, c in per_minute.items()
    )
    await stage.handle(msgspec.msgpack.encode(ZoneReadings(zone_id="Z", readings=readings)))


async def test_the_published_plans_are_recomputed_byte_for_byte_from_their_inputs() -> None:
    oversight = Oversight("villeurbanne")
    oversight.ready.set()
    stage, plans, inputs, _ = _stage(oversight)
    await _minutes(stage, 1, 5, LOW)
    first = msgspec.json.decode(plans.sent[0]["value"], type=SignalPlan)
    oversight.apply_active(b"J", msgspec.json.encode(approved(first)))
    await _minutes(stage, 6, 10, HIGH)
    assert len(plans.sent) == len(inputs.sent) == 2
    for plan_rec, inputs_rec in zip(plans.sent, inputs.sent, strict=True):
        record = msgspec.json.decode(inputs_rec["value"], type=PlanInputs)
        assert record.inputs_id == inputs_id(record)
        assert record.commune == "villeurbanne"
        assert planning_config(record.config) == CFG
        replayed = compute(record, (J,), (), planner("optimizer"), None)
        assert len(replayed.plans) == 1
        assert msgspec.json.encode(replayed.plans[0]) == plan_rec["value"]
        plan = replayed.plans[0]
        assert (plan.inputs_id, plan.commune) == (record.inputs_id, "villeurbanne")
    second = msgspec.json.decode(inputs.sent[1]["value"], type=PlanInputs)
    assert [a.plan.plan_id for a in second.active] == [first.plan_id]
    assert msgspec.json.decode(plans.sent[1]["value"], type=SignalPlan).explanation.transition


def test_a_zone_planned_together_is_recomputed_from_its_inputs() -> None:
    state, sites = zone_state(CORRIDOR_PER_MINUTE)
    zp = zone_planner("coordinated")
    record = capture(
        commune="c",
        zone_id="C1",
        state=state,
        sites=sites,
        period_end_ms=5 * MIN,
        cfg=CFG,
        planner=zp.name,
        zone_planner=True,
        network_sha256="abc",
        active={},
    )
    decoded = msgspec.json.decode(msgspec.json.encode(record), type=PlanInputs)
    once = compute(record, ROW, CORRIDOR.links, None, zp)
    again = compute(decoded, ROW, CORRIDOR.links, None, zone_planner("coordinated"))
    assert once.plans
    assert [msgspec.json.encode(p) for p in once.plans] == [
        msgspec.json.encode(p) for p in again.plans
    ]


def _stop(scope: str, target: str, *, recommendations: bool = True, control: bool = True) -> bytes:
    return msgspec.json.encode(
        Suspension(
            scope=scope,  # type: ignore[arg-type]  # the tests name valid scopes
            target=target,
            recommendations=recommendations,
            control=control,
            suspended_by="Ada",
            suspended_at=T0,
            reason="works on the road",
        )
    )


async def test_a_suspended_junction_gets_no_recommendation_until_resumed() -> None:
    oversight = Oversight("villeurbanne")
    oversight.ready.set()
    stage, plans, inputs, registry = _stage(oversight)
    assert oversight.apply_suspension(b"zone:Z", _stop("zone", "Z")) == "suspended"
    await _minutes(stage, 1, 5, LOW)
    assert plans.sent == []
    assert len(inputs.sent) == 1  # what planning saw is still on record
    get = registry.get_sample_value
    assert get("aiguilleur_plans_skipped_total", {"reason": "suspended"}) == 1
    assert oversight.apply_suspension(b"zone:Z", None) == "resumed"
    # a stop of live control only does not stop recommendations
    oversight.apply_suspension(
        b"commune:villeurbanne", _stop("commune", "villeurbanne", recommendations=False)
    )
    await _minutes(stage, 6, 10, LOW)
    assert len(plans.sent) == 1
    oversight.apply_suspension(b"junction:J", _stop("junction", "J"))
    await _minutes(stage, 11, 15, LOW)
    assert len(plans.sent) == 1


def test_live_control_suspended_for_a_commune_falls_back_to_the_programme() -> None:
    net = small_network()
    registry = CollectorRegistry()
    ctx = PipelineContext.create(
        net,
        DetectorIndex.build(net, []),
        PlanningConfig(300, 300),
        planner("webster"),
        create_metrics(registry),
        TopicNames(),
        controller="adaptive",
        commune="villeurbanne",
    )
    table = EnvelopeTable("adaptive")
    table.apply(b"J1", _approved("J1"))
    oversight = Oversight("villeurbanne")
    sink = ControlSink()
    stage = Control(ctx, table, sink, oversight)
    rng = random.Random(5)

    def rec() -> Any:
        st = _state(rng, "J1", n_phases=2)
        at = T0 + timedelta(seconds=rng.randint(0, 600))
        return Record(b"Z1", msgspec.json.encode(to_report(st, "Z1", at)))

    assert asyncio.run(stage.handle([rec()])) == 1
    oversight.apply_suspension(
        b"commune:villeurbanne", _stop("commune", "villeurbanne", recommendations=False)
    )
    assert asyncio.run(stage.handle([rec(), rec()])) == 0
    get = registry.get_sample_value
    assert get("aiguilleur_decisions_skipped_total", {"reason": "suspended"}) == 2
    oversight.apply_suspension(b"commune:villeurbanne", None)
    assert asyncio.run(stage.handle([rec()])) == 1
