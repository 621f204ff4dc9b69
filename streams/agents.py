"""The agents: ``ingest`` (validate, regroup by zone), ``zones`` (state, plans), a lag timer."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import faust
import msgspec

from streams.app import Channels
from streams.context import PipelineContext, StreamsConfig
from streams.errors import RejectedReading
from streams.events import ZoneReading, ZoneReadings
from streams.ingest import run_ingest
from streams.oversight import Oversight, follow_oversight
from streams.plan_inputs import Computed, capture, compute
from streams.validation import dead_letter_headers, decode_reading, to_zone_reading
from streams.zone_planning import ZoneResult
from streams.zone_state import ZoneState, decode_state, encode_state

log = logging.getLogger("aiguilleur.streams")

_zone_encoder = msgspec.msgpack.Encoder()
_zone_decoder = msgspec.msgpack.Decoder(ZoneReadings)
_plan_encoder = msgspec.json.Encoder()

T = TypeVar("T")


async def _call(fn: Callable[..., T], *args: Any) -> T:
    return fn(*args)


def _ready_oversight(commune: str) -> Oversight:
    """An empty view that needs no topic (nothing approved, nothing suspended)."""
    o = Oversight(commune)
    o.ready.set()
    return o


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

    def __init__(
        self,
        ch: Channels,
        cfg: StreamsConfig,
        ctx: PipelineContext,
        oversight: Oversight | None = None,
    ) -> None:
        self.ch = ch
        self.ctx = ctx
        self.period_ms = ctx.planning.period_s * 1000
        self.window_ms = ctx.planning.window_s * 1000
        self.lateness_ms = cfg.lateness_s * 1000
        self.watermarks: dict[str, int] = {}
        self.oversight = oversight or _ready_oversight(ctx.commune)

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
        """Plan and publish every junction of the zone for the period starting at ``end_ms``:
        the inputs on record first, then the plans computed from that record."""
        ctx = self.ctx
        await self.oversight.wait_ready()
        junctions = ctx.junctions_by_zone.get(state.zone_id, ())
        zone_planner = ctx.zone_planner
        inputs = capture(
            commune=ctx.commune,
            zone_id=state.zone_id,
            state=state,
            sites=ctx.detectors.sites_by_zone.get(state.zone_id, ()),
            period_end_ms=end_ms,
            cfg=ctx.planning,
            planner=zone_planner.name if zone_planner else ctx.planner.name,
            zone_planner=zone_planner is not None,
            network_sha256=ctx.network.source_sha256,
            active=self.oversight.active_of(j.id for j in junctions),
        )
        await self.ch.plan_inputs.send(
            key=state.zone_id.encode(), value=_plan_encoder.encode(inputs)
        )
        t0 = time.perf_counter()
        # A zone's offset search takes seconds (docs/streams.md): in a thread, so that the event
        # loop keeps the consumers' heartbeats and the ingest stage going.
        run = asyncio.to_thread if zone_planner is not None else _call
        computed = await run(
            compute,
            inputs,
            junctions,
            ctx.network.links,
            ctx.planner,
            zone_planner,
            ctx.metrics.plan_seconds.observe,
        )
        if computed.unmeasured:
            ctx.metrics.plans_skipped.labels(reason="no_data").inc(len(computed.unmeasured))
        self._log_zone(state.zone_id, computed, time.perf_counter() - t0)
        published = 0
        for event in computed.plans:
            if self.oversight.suspended(event.junction_id, event.zone_id, "recommendations"):
                ctx.metrics.plans_skipped.labels(reason="suspended").inc()
                continue
            await self.ch.plans.send(
                key=event.junction_id.encode(), value=_plan_encoder.encode(event)
            )
            ctx.metrics.plans.inc()
            published += 1
        log.info(
            "event=zone_planned zone=%s period_end=%s junctions=%d published=%d inputs_id=%s",
            state.zone_id,
            datetime.fromtimestamp(end_ms / 1000, tz=UTC).isoformat(),
            len(junctions),
            published,
            inputs.inputs_id,
        )

    def _log_zone(self, zone_id: str, computed: Computed, elapsed: float) -> None:
        zr = computed.zone_result
        if isinstance(zr, ZoneResult) and zr.zone_plan is not None:
            log.info(
                "event=zone_coordination zone=%s coordinated=%s cycle_s=%d junctions=%d "
                "unmeasured=%d links=%d seconds=%.3f",
                zone_id,
                zr.zone_plan.coordinated,
                zr.zone_plan.cycle_s,
                len(zr.plans),
                len(zr.unmeasured),
                len(zr.zone_plan.links),
                elapsed,
            )

    def lag_s(self) -> float | None:
        """Wall clock minus the oldest zone watermark of this worker."""
        if not self.watermarks:
            return None
        return time.time() - min(self.watermarks.values()) / 1000


def register_agents(app: faust.App, ch: Channels, cfg: StreamsConfig, ctx: PipelineContext) -> None:
    """Attach the two agents and the lag timer to ``app``."""
    ingest_stage = Ingest(ch, ctx)
    oversight = Oversight(ctx.commune)
    zones_stage = Zones(ch, cfg, ctx, oversight)

    @app.task  # type: ignore[untyped-decorator]  # faust's decorator is untyped
    async def oversight_loop() -> None:
        await follow_oversight(cfg, ctx.topics, oversight)

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
            await run_control(cfg, ctx, oversight)

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
