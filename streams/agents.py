"""The agents: ``ingest`` (validate, regroup by zone), ``zones`` (state, plans), a lag timer."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import faust
import msgspec

from graph.model import Link
from streams.app import Channels
from streams.context import PipelineContext, StreamsConfig
from streams.errors import RejectedReading
from streams.events import (
    SignalPlan,
    ZoneReading,
    ZoneReadings,
)
from streams.guarding import RunningPlan
from streams.ingest import run_ingest
from streams.planning import plan_junction
from streams.validation import dead_letter_headers, decode_reading, to_zone_reading
from streams.zone_planning import plan_zone
from streams.zone_state import ZoneState, decode_state, encode_state

log = logging.getLogger("aiguilleur.streams")

_zone_encoder = msgspec.msgpack.Encoder()
_zone_decoder = msgspec.msgpack.Decoder(ZoneReadings)
_plan_encoder = msgspec.json.Encoder()


class Ingest:
    """Stage 1: validation, dead letters, regrouping by zone."""

    def __init__(self, ch: Channels, ctx: PipelineContext) -> None:
        self.ch = ch
        self.ctx = ctx

    async def dead_letter(self, message: Any, err: RejectedReading) -> None:
        """Send the original record to the dead-letter topic, the reason in its headers."""
        headers = dead_letter_headers(message, err)
        await self.ch.dead_letters.send(key=message.key, value=message.value, headers=headers)
        self.ctx.metrics.readings.labels(outcome="rejected").inc()
        self.ctx.metrics.dead_letters.labels(reason=err.code).inc()
        log.info(
            "event=dead_letter code=%s partition=%s offset=%s reason=%r",
            err.code,
            message.partition,
            message.offset,
            err.reason,
        )

    def accept(self, message: Any) -> tuple[str, ZoneReading]:
        """The zone and compact reading of a valid record; ``RejectedReading`` otherwise."""
        reading = decode_reading(message.key, message.value)
        zone = self.ctx.detectors.zone_of.get(reading.detector_id)
        if zone is None:
            raise RejectedReading(
                "unknown_detector",
                f"detector {reading.detector_id!r} is not in the detector registry "
                f"{self.ctx.registry_source}; add it there or fix the id",
            )
        return zone, to_zone_reading(reading)

    async def handle(self, records: list[Any]) -> None:
        """Process a batch of Kafka records (key, value, topic, partition, offset); return once the
        zone records are delivered, so that the caller may then commit the batch's offsets."""
        by_zone: dict[str, list[ZoneReading]] = {}
        for record in records:
            try:
                zone, reading = self.accept(record)
            except RejectedReading as err:
                await self.dead_letter(record, err)
                continue
            by_zone.setdefault(zone, []).append(reading)
        sent = []
        for zone, readings in by_zone.items():
            value = _zone_encoder.encode(ZoneReadings(zone_id=zone, readings=tuple(readings)))
            sent.append(await self.ch.zone_readings.send(key=zone.encode(), value=value))
            self.ctx.metrics.readings.labels(outcome="accepted").inc(len(readings))
        for fut in sent:
            await fut


class Zones:
    """Stage 2: zone state and planning in event time."""

    def __init__(self, ch: Channels, cfg: StreamsConfig, ctx: PipelineContext) -> None:
        self.ch = ch
        self.ctx = ctx
        self.period_ms = ctx.planning.period_s * 1000
        self.window_ms = ctx.planning.window_s * 1000
        self.lateness_ms = cfg.lateness_s * 1000
        self.watermarks: dict[str, int] = {}
        self.zone_links: dict[str, tuple[Link, ...]] = {}
        """Road links inside each zone, found once per zone."""

    async def handle(self, value: bytes) -> None:
        """Apply one zone batch; plan every control period it closes."""
        batch = _zone_decoder.decode(value)
        key = batch.zone_id.encode()
        raw = self.ch.zone_state.get(key)
        state = decode_state(raw) if raw else ZoneState(zone_id=batch.zone_id)
        state.upsert(batch.readings)
        self.ctx.metrics.zone_batches.inc()
        for end_ms in state.due_periods(self.period_ms, self.lateness_ms):
            await self.publish_plans(state, end_ms)
            state.planned_until_ms = end_ms
        if state.planned_until_ms:
            state.prune(state.planned_until_ms + self.period_ms - self.window_ms)
        self.ch.zone_state[key] = encode_state(state)
        self.watermarks[batch.zone_id] = state.watermark_ms

    async def publish_plans(self, state: ZoneState, end_ms: int) -> None:
        """Plan and publish every junction of the zone for the period starting at ``end_ms``."""
        ctx = self.ctx
        sites = ctx.detectors.sites_by_zone.get(state.zone_id, ())
        junctions = ctx.junctions_by_zone.get(state.zone_id, ())
        published = 0
        if ctx.zone_planner is not None:
            events = await self.zone_plans(state, end_ms)
        else:
            events = []
            for junction in junctions:
                t0 = time.perf_counter()
                event = plan_junction(
                    junction,
                    sites,
                    state,
                    end_ms,
                    ctx.planning,
                    ctx.planner,
                    ctx.network.source_sha256,
                )
                ctx.metrics.plan_seconds.observe(time.perf_counter() - t0)
                if not any(a.measured for a in event.explanation.approaches):
                    # No approach has enough data in the window: no recommendation, not a guess.
                    ctx.metrics.plans_skipped.labels(reason="no_data").inc()
                    continue
                events.append(event)
        for event in events:
            await self.ch.plans.send(
                key=event.junction_id.encode(), value=_plan_encoder.encode(event)
            )
            ctx.metrics.plans.inc()
            published += 1
            # The next period's guardrails bound against what was published (saved with the state).
            state.running[event.junction_id] = RunningPlan.of(event)
        log.info(
            "event=zone_planned zone=%s period_end=%s junctions=%d published=%d",
            state.zone_id,
            datetime.fromtimestamp(end_ms / 1000, tz=UTC).isoformat(),
            len(junctions),
            published,
        )

    async def zone_plans(self, state: ZoneState, end_ms: int) -> list[SignalPlan]:
        """The zone's junctions planned together by the zone planner (measured ones only).

        Runs in a thread: a zone's offset search takes seconds (docs/streams.md), during which the
        event loop must keep the consumers' heartbeats and the ingest stage going.
        """
        ctx = self.ctx
        assert ctx.zone_planner is not None
        junctions = ctx.junctions_by_zone.get(state.zone_id, ())
        members = {j.id for j in junctions}
        links = self.zone_links.get(state.zone_id)
        if links is None:
            links = tuple(
                lk
                for lk in ctx.network.links
                if lk.from_junction in members and lk.to_junction in members
            )
            self.zone_links[state.zone_id] = links
        t0 = time.perf_counter()
        result = await asyncio.to_thread(
            plan_zone,
            state.zone_id,
            junctions,
            links,
            ctx.detectors.sites_by_zone.get(state.zone_id, ()),
            state,
            end_ms,
            ctx.planning,
            ctx.zone_planner,
            ctx.network.source_sha256,
        )
        elapsed = time.perf_counter() - t0
        # The histogram is per junction: the zone's time shared among the junctions it planned.
        for _ in result.plans:
            ctx.metrics.plan_seconds.observe(elapsed / len(result.plans))
        if result.unmeasured:
            ctx.metrics.plans_skipped.labels(reason="no_data").inc(len(result.unmeasured))
        if result.zone_plan is not None:
            log.info(
                "event=zone_coordination zone=%s coordinated=%s cycle_s=%d junctions=%d "
                "unmeasured=%d links=%d seconds=%.3f",
                state.zone_id,
                result.zone_plan.coordinated,
                result.zone_plan.cycle_s,
                len(result.plans),
                len(result.unmeasured),
                len(result.zone_plan.links),
                elapsed,
            )
        return list(result.plans)

    def lag_s(self) -> float | None:
        """Wall clock minus the oldest zone watermark of this worker."""
        if not self.watermarks:
            return None
        return time.time() - min(self.watermarks.values()) / 1000


def register_agents(app: faust.App, ch: Channels, cfg: StreamsConfig, ctx: PipelineContext) -> None:
    """Attach the two agents and the lag timer to ``app``."""
    ingest_stage = Ingest(ch, ctx)
    zones_stage = Zones(ch, cfg, ctx)

    if cfg.ingest_engine == "faust":

        @app.agent(ch.counts, name="ingest")
        async def ingest(stream: faust.StreamT[bytes]) -> AsyncIterator[None]:
            batches = stream.take_events(  # type: ignore[attr-defined]  # faust-streaming API
                cfg.ingest_batch, within=cfg.ingest_within_s
            )
            async for events in batches:
                await ingest_stage.handle([ev.message for ev in events])
                yield None

    else:

        @app.task  # type: ignore[untyped-decorator]  # faust's decorator is untyped
        async def ingest_loop() -> None:
            await run_ingest(cfg, ctx, ingest_stage)

    if ctx.controller:
        from streams.control import run_control

        @app.task  # type: ignore[untyped-decorator]  # faust's decorator is untyped
        async def control_loop() -> None:
            await run_control(cfg, ctx)

    @app.agent(ch.zone_readings, name="zones")
    async def zones(stream: faust.StreamT[bytes]) -> AsyncIterator[None]:
        async for value in stream:
            await zones_stage.handle(value)
            yield None

    @app.timer(interval=10.0)  # type: ignore[untyped-decorator]  # faust's decorator is untyped
    async def report_lag() -> None:
        lag = zones_stage.lag_s()
        if lag is not None:
            ctx.metrics.watermark_lag.set(lag)
