"""The agents: ``ingest`` (validate, regroup by zone), ``zones`` (state, plans), a lag timer."""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import faust
import msgspec

from graph.model import Junction
from streams.app import Channels
from streams.context import PipelineContext, StreamsConfig
from streams.errors import RejectedReading
from streams.events import LateReading, LateReadings, TrafficCount, ZoneReading, ZoneReadings
from streams.ingest import run_ingest
from streams.oversight import Oversight, follow_oversight
from streams.plan_inputs import Computed, capture_zone, compute
from streams.plan_pool import PlanPool, pool_spec
from streams.validation import (
    EventTimeBounds,
    check_event_time,
    dead_letter_headers,
    decode_gateway_batch,
    decode_reading,
    to_zone_reading,
)
from streams.zone_planning import ZoneResult
from streams.zone_state import ZoneClock, ZoneState, decode_state, encode_state

log = logging.getLogger("aiguilleur.streams")

_zone_encoder = msgspec.msgpack.Encoder()
_zone_decoder = msgspec.msgpack.Decoder(ZoneReadings)
_plan_encoder = msgspec.json.Encoder()
_reading_encoder = msgspec.json.Encoder()

YIELD_EVERY = 256
"""Records (or sends) between two turns given back to the event loop while a batch is handled."""

ZONE_RECORD_READINGS = 5000
"""Most readings in one zone record: a batch's readings of one zone beyond that go in several
records, so that a zone record stays far below Kafka's 1 MB message limit (a reading with a
20-character detector id takes about 35 bytes)."""

T = TypeVar("T")


async def _call(fn: Callable[..., T], *args: Any) -> T:
    return fn(*args)


def _ready_oversight(commune: str) -> Oversight:
    """An empty view that needs no topic (nothing approved, nothing suspended)."""
    o = Oversight(commune)
    o.ready.set()
    return o


@dataclass(slots=True)
class Outgoing:
    """A prepared batch: its sends (zone records, dead letters), not started yet, and its dead
    letters by code (for its summary line)."""

    sends: list[Awaitable[Any]]
    rejected: dict[str, int]

    def discard(self) -> None:
        """Drop sends that will not be made (their batch is read again)."""
        for send in self.sends:
            if inspect.iscoroutine(send):
                send.close()
        self.sends = []


class Ingest:
    """Stage 1: validation, dead letters, regrouping by zone."""

    def __init__(
        self, ch: Channels, ctx: PipelineContext, cfg: StreamsConfig | None = None
    ) -> None:
        self.ch = ch
        self.ctx = ctx
        self.bounds = event_time_bounds(cfg)
        self.zone_of = ctx.detectors.zone_of
        self.batch_topic = ctx.topics.count_batches
        self.rejected: dict[str, int] = {}
        """Dead letters of the batch being handled, by code (for its summary line)."""

    def dead_letter(
        self,
        message: Any,
        err: RejectedReading,
        value: bytes | None = None,
        index: int | None = None,
    ) -> Awaitable[Any]:
        """Send the original record (or a batch's rejected reading, with its index) to the
        dead-letter topic, the reason in its headers; return the send (awaited before commit)."""
        headers = dead_letter_headers(message, err, index)
        self.ctx.metrics.readings.labels(outcome="rejected").inc()
        self.ctx.metrics.dead_letters.labels(reason=err.code).inc()
        self.rejected[err.code] = self.rejected.get(err.code, 0) + 1
        # One line per record at debug; a summary per batch at info (a flood of bad records
        # must not cost a log line each on the event loop).
        log.debug(
            "event=dead_letter code=%s topic=%s partition=%s offset=%s index=%s reason=%r",
            err.code,
            message.topic,
            message.partition,
            message.offset,
            "" if index is None else index,
            err.reason,
        )
        send: Awaitable[Any] = self.ch.dead_letters.send(
            key=message.key, value=message.value if index is None else value, headers=headers
        )
        return send

    def accept(self, message: Any, now_ms: int = 0) -> tuple[str, ZoneReading]:
        """The zone and compact reading of a valid record; ``RejectedReading`` otherwise."""
        return self.accept_reading(decode_reading(message.key, message.value), now_ms)

    def accept_reading(self, reading: TrafficCount, now_ms: int) -> tuple[str, ZoneReading]:
        """The zone and compact form of a decoded reading; ``RejectedReading`` if its detector is
        unknown or its time out of bounds."""
        zone = self.zone_of.get(reading.detector_id)
        if zone is None:
            raise RejectedReading(
                "unknown_detector",
                f"detector {reading.detector_id!r} is not in the detector registry "
                f"{self.ctx.registry_source}; add it there or fix the id",
            )
        compact = to_zone_reading(reading)
        if self.bounds is not None:
            check_event_time(compact, now_ms or int(time.time() * 1000), self.bounds)
        return zone, compact

    async def handle(self, records: list[Any]) -> None:
        """Process a batch of Kafka records (key, value, topic, partition, offset); return once the
        zone records and dead letters are delivered, so that the caller may then commit the
        batch's offsets."""
        await self.deliver(await self.prepare(records))

    async def prepare(self, records: list[Any]) -> Outgoing:
        """Validate and regroup a batch of Kafka records: its zone records and dead letters,
        counted in the metrics, not sent yet (:meth:`deliver` sends them)."""
        now_ms = int(time.time() * 1000)
        by_zone: dict[str, list[ZoneReading]] = {}
        sends: list[Awaitable[Any]] = []
        self.rejected = {}
        batch_topic, accept = self.batch_topic, self.accept_reading  # per record: no lookups
        for k, record in enumerate(records):
            if k % YIELD_EVERY == YIELD_EVERY - 1:
                # Let the consumers' heartbeats run: a long batch of bad records on a loaded
                # machine held the loop past the session timeout (a rebalance, then the same
                # batch again, and again).
                await asyncio.sleep(0)
            if record.topic == batch_topic:
                self._accept_batch(record, now_ms, by_zone, sends)
                continue
            try:
                zone, reading = accept(decode_reading(record.key, record.value), now_ms)
            except RejectedReading as err:
                sends.append(self.dead_letter(record, err))
                continue
            if zone in by_zone:
                by_zone[zone].append(reading)
            else:
                by_zone[zone] = [reading]
        accepted = self.ctx.metrics.readings.labels(outcome="accepted")
        for zone, readings in by_zone.items():
            key = zone.encode()
            for i in range(0, len(readings), ZONE_RECORD_READINGS):
                part = tuple(readings[i : i + ZONE_RECORD_READINGS])
                value = _zone_encoder.encode(ZoneReadings(zone_id=zone, readings=part))
                sends.append(self.ch.zone_readings.send(key=key, value=value))
            accepted.inc(len(readings))
        return Outgoing(sends, self.rejected)

    async def deliver(self, out: Outgoing) -> None:
        """Send a prepared batch's records; return once the broker has them all."""
        # Every send is queued first, then awaited: the producer batches them.
        delivered = []
        for k, send in enumerate(out.sends):
            delivered.append(await send)
            if k % YIELD_EVERY == YIELD_EVERY - 1:
                await asyncio.sleep(0)
        for fut in delivered:
            await fut
        if out.rejected:
            log.info(
                "event=dead_letters records=%d %s",
                sum(out.rejected.values()),
                " ".join(f"{code}={n}" for code, n in sorted(out.rejected.items())),
            )

    def _accept_batch(
        self,
        record: Any,
        now_ms: int,
        by_zone: dict[str, list[ZoneReading]],
        sends: list[Awaitable[Any]],
    ) -> None:
        """Accept a gateway batch's good readings; dead-letter the bad ones (or the whole record
        when the batch itself is unusable)."""
        try:
            _, readings, parts = decode_gateway_batch(record.key, record.value)
        except RejectedReading as err:
            sends.append(self.dead_letter(record, err))
            return
        for index, good in enumerate(readings):  # every reading valid: no object per reading
            try:
                zone, reading = self.accept_reading(good, now_ms)
            except RejectedReading as err:
                sends.append(self.dead_letter(record, err, _reading_encoder.encode(good), index))
                continue
            by_zone.setdefault(zone, []).append(reading)
        for part in parts:
            if part.reading is None:
                assert part.error is not None
                sends.append(self.dead_letter(record, part.error, part.raw, part.index))
                continue
            try:
                zone, reading = self.accept_reading(part.reading, now_ms)
            except RejectedReading as err:
                raw = part.raw or _reading_encoder.encode(part.reading)
                sends.append(self.dead_letter(record, err, raw, part.index))
                continue
            by_zone.setdefault(zone, []).append(reading)


def event_time_bounds(cfg: StreamsConfig | None) -> EventTimeBounds | None:
    """The bounds of the configuration (``None`` when replays are allowed or no config)."""
    if cfg is None or cfg.event_time_replay:
        return None
    return EventTimeBounds(cfg.event_time_max_ahead_s * 1000, cfg.event_time_max_behind_s * 1000)


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
        self.clock = ZoneClock(
            period_ms=ctx.planning.period_s * 1000,
            lateness_ms=cfg.lateness_s * 1000,
            window_ms=ctx.planning.history_s * 1000,
        )
        self.watermarks: dict[str, int] = {}
        self.oversight = oversight or _ready_oversight(ctx.commune)
        self.quorum = {
            zone: ZoneClock.quorum(len({s.detector_id for s in sites}))
            for zone, sites in ctx.detectors.sites_by_zone.items()
        }
        self.pool: PlanPool | None = None
        if cfg.planning_processes > 0:
            self.pool = PlanPool(
                pool_spec(
                    ctx.network,
                    ctx.planner.name,
                    ctx.zone_planner.name if ctx.zone_planner else "",
                ),
                cfg.planning_processes,
            )

    async def handle(self, value: bytes) -> None:
        """Apply one zone batch; plan every control period it closes."""
        batch = _zone_decoder.decode(value)
        key = batch.zone_id.encode()
        raw = self.ch.zone_state.get(key)
        state = decode_state(raw) if raw else ZoneState(zone_id=batch.zone_id)
        step = self.clock.receive(state, list(batch.readings), self.quorum.get(batch.zone_id, 1))
        if step.late:
            await self.keep_late(state, step.late)
        self.ctx.metrics.zone_batches.inc()
        if step.closable > len(step.due):
            # Periods with no reading at all in their window (a feed that stopped): no plan.
            junctions = len(self.ctx.junctions_by_zone.get(batch.zone_id, ()))
            self.ctx.metrics.plans_skipped.labels(reason="no_data").inc(
                (step.closable - len(step.due)) * junctions
            )
            log.info(
                "event=zone_periods_empty zone=%s periods=%d",
                batch.zone_id,
                step.closable - len(step.due),
            )
        for end_ms in step.due:
            await self.publish_plans(state, end_ms)
            state.planned_until_ms = end_ms
        self.clock.planned(state, step)
        self.ch.zone_state[key] = encode_state(state)
        self.watermarks[batch.zone_id] = state.watermark_ms

    async def keep_late(self, state: ZoneState, late: list[ZoneReading]) -> None:
        """Count readings that came after their period was planned and keep them on the
        late-readings topic (a longer window may still use them: they are stored too)."""
        self.ctx.metrics.late_readings.inc(len(late))
        log.info(
            "event=late_readings zone=%s readings=%d planned_until=%s",
            state.zone_id,
            len(late),
            _ms_to_iso(state.planned_until_ms),
        )
        event = LateReadings(
            zone_id=state.zone_id,
            planned_until=datetime.fromtimestamp(state.planned_until_ms / 1000, tz=UTC),
            readings=tuple(
                LateReading(
                    detector_id=r.detector_id,
                    interval_end=_ms_to_dt(r.interval_end_ms),
                    interval_s=r.interval_s,
                    count=r.count,
                )
                for r in late
            ),
        )
        await self.ch.late_readings.send(
            key=state.zone_id.encode(), value=_plan_encoder.encode(event)
        )

    def expected_vph(self, junctions: Iterable[Junction], at_ms: int) -> dict[str, float]:
        """Flow the reroute advice in force sends onto the junctions' approaches (empty without
        the rerouting stage)."""
        board = self.ctx.diversions
        if board is None:
            return {}
        approaches = (a.id for j in junctions for a in j.approaches)
        return {a: e.vph for a, e in board.expected(approaches, at_ms).items()}

    async def publish_plans(self, state: ZoneState, end_ms: int) -> None:
        """Plan and publish every junction of the zone for the period starting at ``end_ms``:
        the inputs on record first, then the plans computed from that record."""
        ctx = self.ctx
        await self.oversight.wait_ready()
        junctions = ctx.junctions_by_zone.get(state.zone_id, ())
        inputs = capture_zone(
            ctx,
            state,
            end_ms,
            self.oversight.active_of(j.id for j in junctions),
            self.expected_vph(junctions, end_ms),
        )
        await self.ch.plan_inputs.send(
            key=state.zone_id.encode(), value=_plan_encoder.encode(inputs)
        )
        t0 = time.perf_counter()
        if self.pool is not None:
            # In a planning process: planning cannot hold the event loop, and so ingest, back.
            computed, seconds = await self.pool.compute(inputs)
            for s in seconds:
                ctx.metrics.plan_seconds.observe(s)
        else:
            # A zone's offset search takes seconds (docs/streams.md): in a thread, so that the
            # event loop keeps the consumers' heartbeats and the ingest stage going.
            run = asyncio.to_thread if ctx.zone_planner is not None else _call
            computed = await run(
                compute,
                inputs,
                junctions,
                ctx.network.links,
                ctx.planner,
                ctx.zone_planner,
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


def _ms_to_dt(ms: int) -> datetime:
    """A UTC datetime, clamped to what ``datetime`` can hold (a wrong clock may say year 9999)."""
    try:
        return datetime.fromtimestamp(ms / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return datetime.max.replace(tzinfo=UTC) if ms > 0 else datetime.min.replace(tzinfo=UTC)


def _ms_to_iso(ms: int) -> str:
    return _ms_to_dt(ms).isoformat()


def register_agents(app: faust.App, ch: Channels, cfg: StreamsConfig, ctx: PipelineContext) -> None:
    """Attach the two agents and the lag timer to ``app``."""
    ingest_stage = Ingest(ch, ctx, cfg)
    oversight = Oversight(ctx.commune)
    zones_stage = Zones(ch, cfg, ctx, oversight)

    async def forget_zones(_app: Any, *_args: Any, **_kw: Any) -> None:
        # Zones moved to another worker must not show here as lagging forever: the watermarks
        # come back with the zones' next batches.
        zones_stage.watermarks.clear()

    app.on_partitions_revoked.connect(forget_zones)  # type: ignore[arg-type]  # mode types its receivers with a keyword-only signal argument it passes in **kwargs

    @app.task  # type: ignore[untyped-decorator]  # faust's decorator is untyped
    async def oversight_loop() -> None:
        await follow_oversight(cfg, ctx.topics, oversight)

    # Stage 1 on a plain consumer group, not a Faust agent: see docs/streams.md.
    @app.task  # type: ignore[untyped-decorator]  # faust's decorator is untyped
    async def ingest_loop() -> None:
        await run_ingest(cfg, ctx, ingest_stage)

    if ctx.reroute is not None:
        _register_reroute(app, cfg, ctx)

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


def _register_reroute(app: faust.App, cfg: StreamsConfig, ctx: PipelineContext) -> None:
    """The rerouting stage and the advice follower feeding the zone stage's diversion board."""
    from streams.reroute_stage import follow_advice, run_reroute

    setup = ctx.reroute
    board = ctx.diversions
    assert setup is not None
    assert board is not None

    @app.task  # type: ignore[untyped-decorator]  # faust's decorator is untyped
    async def reroute_loop() -> None:
        await run_reroute(
            cfg, setup.context, setup.config, ctx.topics, setup.detector_edge, ctx.metrics
        )

    @app.task  # type: ignore[untyped-decorator]  # faust's decorator is untyped
    async def advice_loop() -> None:
        await follow_advice(cfg, ctx.topics.reroute_advice, board)
