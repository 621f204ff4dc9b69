"""The ingest stage's logic with stand-in channels: regrouping by zone, dead letters, metrics."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest
from prometheus_client import CollectorRegistry

from optimizer.strategy import planner
from streams.agents import Ingest, Zones, event_time_bounds
from streams.app import Channels
from streams.context import DetectorIndex, PipelineContext, StreamsConfig
from streams.events import (
    DLQ_HEADER_CODE,
    DLQ_HEADER_INDEX,
    LateReadings,
    ZoneReading,
    ZoneReadings,
)
from streams.kafka import KafkaConnection
from streams.metrics import create_metrics
from streams.planning import PlanningConfig
from streams.topics import TopicNames
from tests.fixtures.networks import small_network


@dataclass
class Record:
    key: bytes | None
    value: bytes | None
    topic: str = "in"
    partition: int = 0
    offset: int = 0


@dataclass
class Sink:
    sent: list[dict[str, Any]] = field(default_factory=list)

    async def send(self, **kw: Any) -> asyncio.Future[None]:
        self.sent.append(kw)
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        fut.set_result(None)
        return fut


def _stage() -> tuple[Ingest, Sink, Sink, CollectorRegistry]:
    net = small_network()
    rows = [(f"D-{a.id}", j.id, a.id, a.lanes) for j in net.junctions for a in j.approaches]
    registry = CollectorRegistry()
    ctx = PipelineContext.create(
        net,
        DetectorIndex.build(net, rows),
        PlanningConfig(300, 300),
        planner("webster"),
        create_metrics(registry),
        TopicNames(),
    )
    zones, dlq = Sink(), Sink()
    ch = Channels(
        counts=None,
        dead_letters=dlq,
        zone_readings=zones,
        plans=None,
        zone_state=None,
        plan_inputs=None,
    )
    return Ingest(ch, ctx), zones, dlq, registry


def _reading(det: str, count: int = 5) -> Record:
    value = {
        "detector_id": det,
        "interval_end": "2026-03-10T08:00:00Z",
        "interval_s": 60,
        "count": count,
    }
    return Record(det.encode(), msgspec.json.encode(value))


def _bytes(record: Record) -> bytes:
    assert record.value is not None
    return record.value


def _reading_at(det: str, end: datetime) -> Record:
    value = {"detector_id": det, "interval_end": end.isoformat(), "interval_s": 60, "count": 2}
    return Record(det.encode(), msgspec.json.encode(value))


async def test_one_record_per_zone_and_bad_ones_to_dead_letters() -> None:
    stage, zones, dlq, registry = _stage()
    batch = [
        _reading("D-J1:N"),
        _reading("D-J2:E"),
        _reading("D-J3:S"),
        Record(b"x", b"oops", offset=7),
        _reading("D-nowhere"),
    ]
    await stage.handle(batch)
    by_zone = {s["key"]: msgspec.msgpack.decode(s["value"], type=ZoneReadings) for s in zones.sent}
    assert set(by_zone) == {b"Z1", b"Z2"}
    assert len(by_zone[b"Z1"].readings) == 2
    assert [dict(s["headers"])[DLQ_HEADER_CODE] for s in dlq.sent] == [
        b"malformed",
        b"unknown_detector",
    ]
    assert dlq.sent[0]["value"] == b"oops"
    sample = registry.get_sample_value
    assert sample("aiguilleur_readings_total", {"outcome": "accepted"}) == 3
    assert sample("aiguilleur_readings_total", {"outcome": "rejected"}) == 2
    assert sample("aiguilleur_dead_letters_total", {"reason": "unknown_detector"}) == 1


async def test_a_zone_with_more_readings_than_a_zone_record_holds_gets_several(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("streams.agents.ZONE_RECORD_READINGS", 2)
    stage, zones, _, _ = _stage()
    dets = ["D-J1:N", "D-J1:S", "D-J1:E", "D-J1:W", "D-J2:E"]
    await stage.handle([_reading(d) for d in dets])
    records = [
        (s["key"], msgspec.msgpack.decode(s["value"], type=ZoneReadings)) for s in zones.sent
    ]
    assert [(k, len(v.readings)) for k, v in records if k == b"Z1"] == [(b"Z1", 2)] * 2 + [
        (b"Z1", 1)
    ]
    got = [r.detector_id for _, v in records for r in v.readings]
    assert sorted(got) == sorted(dets), "every reading in exactly one record, in order by zone"


STAGE_CFG = StreamsConfig(
    app_id="a",
    kafka=KafkaConnection("b"),
    partitions=1,
    replication_factor=1,
    state_dir="s",
    ingest_batch=1,
    ingest_within_s=0.1,
    lateness_s=0,
    session_timeout_s=6,
)
"""A zone stage's settings for tests that call it directly: no lateness."""


def _zones_stage() -> tuple[Zones, Sink, CollectorRegistry]:
    stage, _, _, registry = _stage()
    plans = Sink()
    ch = Channels(
        counts=None,
        dead_letters=None,
        zone_readings=None,
        plans=plans,
        zone_state={},
        plan_inputs=Sink(),
    )
    return Zones(ch, STAGE_CFG, stage.ctx), plans, registry


def _zone_batch(zone: str, dets: list[str], minutes: range) -> bytes:
    readings = tuple(ZoneReading(d, (600 + m) * 60_000, 60, 10) for d in dets for m in minutes)
    return msgspec.msgpack.encode(ZoneReadings(zone_id=zone, readings=readings))


async def test_a_junction_without_data_gets_no_plan() -> None:
    zones, plans, registry = _zones_stage()
    # Only the last minute of the first period: nothing is measured, so nothing is recommended.
    await zones.handle(_zone_batch("Z2", ["D-J3:N", "D-J3:E"], range(5, 6)))
    assert plans.sent == []
    assert registry.get_sample_value("aiguilleur_plans_skipped_total", {"reason": "no_data"}) == 1
    # A full next period is planned, and the state survives in the table between batches.
    await zones.handle(_zone_batch("Z2", ["D-J3:N", "D-J3:E"], range(6, 11)))
    assert [s["key"] for s in plans.sent] == [b"J3"]
    assert registry.get_sample_value("aiguilleur_plans_published_total") == 1


async def test_readings_out_of_the_clock_bounds_go_to_dead_letters() -> None:
    stage, zones, dlq, registry = _stage()
    stage.bounds = event_time_bounds(STAGE_CFG)  # live: 15 min ahead, 7 days behind
    now = datetime.now(UTC)
    records = [
        _reading_at("D-J1:N", now),
        _reading_at("D-J1:S", now + timedelta(days=3000)),
        _reading_at("D-J1:E", datetime(1970, 1, 1, 0, 1, tzinfo=UTC)),
    ]
    await stage.handle(records)
    assert (
        sum(len(msgspec.msgpack.decode(s["value"], type=ZoneReadings).readings) for s in zones.sent)
        == 1
    )
    codes = [dict(s["headers"])[DLQ_HEADER_CODE] for s in dlq.sent]
    assert codes == [b"event_time_ahead", b"event_time_behind"]
    assert (
        registry.get_sample_value("aiguilleur_dead_letters_total", {"reason": "event_time_ahead"})
        == 1
    )


async def test_a_gateway_batch_is_regrouped_and_its_bad_readings_dead_lettered() -> None:
    stage, zones, dlq, registry = _stage()
    good = [_bytes(_reading("D-J1:N")), _bytes(_reading("D-J3:S"))]
    bad = _bytes(_reading("D-J1:S", count=-4))
    unknown = _bytes(_reading("D-nowhere"))
    value = b'{"gateway_id":"G7","readings":[%s]}' % b",".join([good[0], bad, good[1], unknown])
    await stage.handle([Record(b"G7", value, topic=stage.batch_topic, offset=3)])
    by_zone = {s["key"]: msgspec.msgpack.decode(s["value"], type=ZoneReadings) for s in zones.sent}
    assert {k: len(v.readings) for k, v in by_zone.items()} == {b"Z1": 1, b"Z2": 1}
    headers = [dict(s["headers"]) for s in dlq.sent]
    assert [(h[DLQ_HEADER_CODE], h[DLQ_HEADER_INDEX]) for h in headers] == [
        (b"invalid", b"1"),
        (b"unknown_detector", b"3"),
    ]
    assert [s["value"] for s in dlq.sent] == [bad, unknown], "each part's own bytes are kept"
    assert registry.get_sample_value("aiguilleur_readings_total", {"outcome": "accepted"}) == 2
    assert registry.get_sample_value("aiguilleur_readings_total", {"outcome": "rejected"}) == 2


async def test_a_valid_batch_with_an_unknown_detector_dead_letters_that_reading_alone() -> None:
    # Every reading passes the schema (the batch decodes in one go), one detector is unknown.
    stage, zones, dlq, registry = _stage()
    good = [_bytes(_reading("D-J1:N")), _bytes(_reading("D-J3:S"))]
    unknown = _bytes(_reading("D-nowhere"))
    value = b'{"gateway_id":"G7","readings":[%s]}' % b",".join([good[0], unknown, good[1]])
    await stage.handle([Record(b"G7", value, topic=stage.batch_topic, offset=3)])
    by_zone = {s["key"]: msgspec.msgpack.decode(s["value"], type=ZoneReadings) for s in zones.sent}
    assert {k: len(v.readings) for k, v in by_zone.items()} == {b"Z1": 1, b"Z2": 1}
    [letter] = dlq.sent
    headers = dict(letter["headers"])
    assert (headers[DLQ_HEADER_CODE], headers[DLQ_HEADER_INDEX]) == (b"unknown_detector", b"1")
    assert msgspec.json.decode(letter["value"])["detector_id"] == "D-nowhere"
    assert registry.get_sample_value("aiguilleur_readings_total", {"outcome": "accepted"}) == 2
    assert registry.get_sample_value("aiguilleur_readings_total", {"outcome": "rejected"}) == 1


async def test_readings_after_their_period_was_planned_are_counted_and_kept() -> None:
    stage, _, _, registry = _stage()
    plans, late = Sink(), Sink()
    ch = Channels(
        counts=None,
        dead_letters=None,
        zone_readings=None,
        plans=plans,
        zone_state={},
        plan_inputs=Sink(),
        late_readings=late,
    )
    zones = Zones(ch, STAGE_CFG, stage.ctx)
    dets = ["D-J3:N", "D-J3:E", "D-J3:S", "D-J3:W"]
    await zones.handle(_zone_batch("Z2", dets, range(6, 12)))  # closes the period ending at 10
    assert [s["key"] for s in plans.sent] == [b"J3"]
    await zones.handle(_zone_batch("Z2", ["D-J3:N"], range(9, 10)))  # minute 9: too late
    assert registry.get_sample_value("aiguilleur_readings_late_total") == 1
    kept = msgspec.json.decode(late.sent[0]["value"], type=LateReadings)
    assert [r.detector_id for r in kept.readings] == ["D-J3:N"]
    assert kept.planned_until == datetime.fromtimestamp(610 * 60, tz=UTC)
