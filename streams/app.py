"""The Faust application: topics, the zone-state table and the two agents.

Stage 1, ``ingest`` (input partitions): validates readings in batches, sends rejects to the dead-letter topic, maps
each detector to its zone and forwards the zone's readings as ONE record per zone and batch. It holds no state.

Stage 2, ``zones`` (zone partitions): upserts readings into the zone's state (one table write per zone batch, not
per reading), and when a control period closes in event time, plans every junction of the zone and publishes the
plans. A zone lives on exactly one worker, so a coordinated group is always planned together; more zones and
partitions spread a bigger city over more workers.
"""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import faust
import msgspec

from streams.context import PipelineContext, StreamsConfig
from streams.errors import RejectedReading
from streams.events import (
    DLQ_HEADER_CODE,
    DLQ_HEADER_OFFSET,
    DLQ_HEADER_PARTITION,
    DLQ_HEADER_REASON,
    DLQ_HEADER_TIME,
    DLQ_HEADER_TOPIC,
    ZoneReading,
    ZoneReadings,
)
from streams.planning import plan_junction
from streams.validation import decode_reading, to_zone_reading
from streams.zone_state import ZoneState, decode_state, encode_state

log = logging.getLogger("aiguilleur.streams")

_zone_encoder = msgspec.msgpack.Encoder()
_zone_decoder = msgspec.msgpack.Decoder(ZoneReadings)
_plan_encoder = msgspec.json.Encoder()


def create_app(cfg: StreamsConfig, ctx: PipelineContext) -> faust.App:
    """A configured Faust app with its topics, table and agents registered."""
    credentials: Any = None
    if cfg.sasl_username:
        credentials = faust.SASLCredentials(username=cfg.sasl_username, password=cfg.sasl_password or "",
                                            mechanism=cfg.sasl_mechanism,
                                            ssl_context=ssl.create_default_context())
    app = faust.App(
        cfg.app_id,
        broker=[f"kafka://{b.strip()}" for b in cfg.bootstrap.split(",")],
        broker_credentials=credentials,
        store="memory://",  # state is rebuilt from the table's changelog topic on start
        datadir=cfg.state_dir,
        topic_partitions=cfg.partitions,
        topic_replication_factor=1,
        key_serializer="raw",
        value_serializer="raw",
        web_enabled=cfg.web_port > 0,
        web_port=cfg.web_port or 6066,
        broker_session_timeout=cfg.session_timeout_s,
        broker_heartbeat_interval=min(3.0, cfg.session_timeout_s / 3),
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        table_standby_replicas=0,
        autodiscover=False,
    )
    topics = ctx.topics
    counts = app.topic(topics.counts, key_type=bytes, value_type=bytes, partitions=cfg.partitions)
    dead_letters = app.topic(topics.dead_letters, key_type=bytes, value_type=bytes, partitions=cfg.partitions)
    zone_topic = app.topic(topics.zone_readings, key_type=bytes, value_type=bytes, partitions=cfg.partitions)
    plans = app.topic(topics.plans, key_type=bytes, value_type=bytes, partitions=cfg.partitions)
    table = app.Table("zone-state", key_type=bytes, value_type=bytes, partitions=cfg.partitions)
    m = ctx.metrics
    period_ms = ctx.planning.period_s * 1000
    window_ms = ctx.planning.window_s * 1000
    lateness_ms = cfg.lateness_s * 1000
    watermarks: dict[str, int] = {}

    async def dead_letter(message: Any, err: RejectedReading) -> None:
        headers = [
            (DLQ_HEADER_REASON, err.reason.encode()),
            (DLQ_HEADER_CODE, err.code.encode()),
            (DLQ_HEADER_TOPIC, str(message.topic).encode()),
            (DLQ_HEADER_PARTITION, str(message.partition).encode()),
            (DLQ_HEADER_OFFSET, str(message.offset).encode()),
            (DLQ_HEADER_TIME, datetime.now(UTC).isoformat().encode()),
        ]
        await dead_letters.send(key=message.key, value=message.value, headers=headers)
        m.readings.labels(outcome="rejected").inc()
        m.dead_letters.labels(reason=err.code).inc()
        log.info("event=dead_letter code=%s partition=%s offset=%s reason=%r",
                 err.code, message.partition, message.offset, err.reason)

    @app.agent(counts, name="ingest")
    async def ingest(stream: faust.StreamT[bytes]) -> AsyncIterator[None]:
        async for events in stream.take_events(cfg.ingest_batch, within=cfg.ingest_within_s):
            by_zone: dict[str, list[ZoneReading]] = {}
            for ev in events:
                msg = ev.message
                try:
                    reading = decode_reading(msg.key, msg.value)
                    zone = ctx.detectors.zone_of.get(reading.detector_id)
                    if zone is None:
                        raise RejectedReading(
                            "unknown_detector",
                            f"detector {reading.detector_id!r} is not in the detector registry "
                            f"{ctx.registry_source}; add it there or fix the id")
                except RejectedReading as err:
                    await dead_letter(msg, err)
                    continue
                by_zone.setdefault(zone, []).append(to_zone_reading(reading))
            sent = []
            for zone, readings in by_zone.items():
                value = _zone_encoder.encode(ZoneReadings(zone_id=zone, readings=tuple(readings)))
                sent.append(await zone_topic.send(key=zone.encode(), value=value))
                m.readings.labels(outcome="accepted").inc(len(readings))
            for fut in sent:
                await fut  # delivered before the batch's offsets are acknowledged
            yield None

    @app.agent(zone_topic, name="zones")
    async def zones(stream: faust.StreamT[bytes]) -> AsyncIterator[None]:
        async for value in stream:
            batch = _zone_decoder.decode(value)
            raw = table.get(batch.zone_id.encode())
            state = decode_state(raw) if raw else ZoneState(zone_id=batch.zone_id)
            state.upsert(batch.readings)
            m.zone_batches.inc()
            for end_ms in state.due_periods(period_ms, lateness_ms):
                await publish_zone_plans(state, end_ms)
                state.planned_until_ms = end_ms
            if state.planned_until_ms:
                state.prune(state.planned_until_ms + period_ms - window_ms)
            table[batch.zone_id.encode()] = encode_state(state)
            watermarks[batch.zone_id] = state.watermark_ms
            yield None

    async def publish_zone_plans(state: ZoneState, end_ms: int) -> None:
        sites = ctx.detectors.sites_by_zone.get(state.zone_id, ())
        for junction in ctx.junctions_by_zone.get(state.zone_id, ()):
            t0 = time.perf_counter()
            event = plan_junction(junction, sites, state, end_ms, ctx.planning, ctx.planner,
                                  ctx.network.source_sha256)
            m.plan_seconds.observe(time.perf_counter() - t0)
            await plans.send(key=junction.id.encode(), value=_plan_encoder.encode(event))
            m.plans.inc()
        log.info("event=zone_planned zone=%s period_end=%s junctions=%d", state.zone_id,
                 datetime.fromtimestamp(end_ms / 1000, tz=UTC).isoformat(),
                 len(ctx.junctions_by_zone.get(state.zone_id, ())))

    @app.timer(interval=10.0)
    async def report_lag() -> None:
        if watermarks:
            m.watermark_lag.set(time.time() - min(watermarks.values()) / 1000)

    return app
