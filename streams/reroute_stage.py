"""The rerouting stage: incidents in, reroute advice out, link state from the counts.

On plain aiokafka clients made by :mod:`streams.kafka`, like the ingest and control stages:

- **incidents** (``aiguilleur.incidents.v1``) are work: a consumer group ``<app id>-reroute``
  advises each incident once (offsets committed once its advice is delivered; a redelivered
  incident gives the same advice, with the same ``advice_id``). A record that cannot be accepted
  (not JSON, invalid, a location the road graph does not have) goes to
  ``aiguilleur.incidents.dlq.v1`` unchanged, with its reason in the headers.
- **what is active** is shared: every worker also reads the incidents topic from the beginning
  (no group), so the advice for one incident avoids the links other incidents close, wherever
  they were declared.
- **link state** is shared too: every worker reads the counts, single readings and gateway
  batches (no group), from ``lookback_s`` before its start, keeps the last readings of every
  detector that measures a link of the routable graph, and gives the advice the flows measured
  *before* the incident started.
  Congestion the detectors show (occupancy rising while flow falls) becomes an incident of its
  own (``source: detection``), published by the worker holding partition 0 of the group.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec
from aiokafka import AIOKafkaConsumer, TopicPartition

from graph.locate import EdgeLocator, LocationError
from graph.routing import EdgeKey
from optimizer.link_state import CongestionParams, LinkReading, LinkState, link_state
from streams import kafka
from streams.context import StreamsConfig
from streams.errors import RejectedReading
from streams.events import Incident, IncidentLocation, RerouteAdvice, TrafficCount
from streams.ingest import consume_in_batches
from streams.rerouting import RerouteConfig, RerouteContext, advise, cleared_advice
from streams.validation import dead_letter_headers, decode_batch

log = logging.getLogger("aiguilleur.streams")

_incident_decoder = msgspec.json.Decoder(Incident)
_count_decoder = msgspec.json.Decoder(TrafficCount)
_encoder = msgspec.json.Encoder()
MAX_INCIDENT_BYTES = 16 * 1024
KEEP_INTERVALS = 15
"""Readings kept per detector (15 one-minute intervals: the congestion signature's span)."""

Send = Callable[[str, bytes | None, bytes | None, list[tuple[str, bytes]]], Awaitable[Any]]


# --- incidents: decode, locate ------------------------------------------------------------------


def decode_incident(key: bytes | None, value: bytes | None) -> Incident:
    """Decode and check one incident record; ``RejectedReading`` says why not."""
    if value is None:
        raise RejectedReading("empty", "record has no value; send a JSON Incident")
    if len(value) > MAX_INCIDENT_BYTES:
        raise RejectedReading(
            "too_large", f"record is {len(value)} bytes, limit {MAX_INCIDENT_BYTES}"
        )
    try:
        incident = _incident_decoder.decode(value)
    except msgspec.ValidationError as e:
        raise RejectedReading("invalid", f"{e}; see schemas/aiguilleur.incidents.v1.json") from e
    except msgspec.DecodeError as e:
        raise RejectedReading("malformed", f"not JSON: {e}") from e
    if key is not None and key.decode("utf-8", "replace") != incident.incident_id:
        raise RejectedReading(
            "key_mismatch",
            f"record key {key.decode('utf-8', 'replace')!r} differs from incident_id "
            f"{incident.incident_id!r}; key incidents by their id",
        )
    if incident.ends_at is not None and incident.ends_at <= incident.starts_at:
        raise RejectedReading(
            "invalid", f"ends_at {incident.ends_at} is not after starts_at {incident.starts_at}"
        )
    if incident.kind == "congestion" and incident.capacity_factor <= 0:
        raise RejectedReading(
            "invalid",
            "a congestion keeps some capacity: give capacity_factor > 0 (a closure is kind "
            "'closure')",
        )
    return incident


def locate(
    location: IncidentLocation, ctx: RerouteContext, locator: EdgeLocator
) -> tuple[EdgeKey, ...]:
    """The stretch of the routable graph an incident location names; ``RejectedReading``
    (code ``location``) says what does not match and what to do."""
    rg = ctx.rg
    try:
        if location.osm_way_id is not None and location.from_node is not None:
            return _along_way(ctx, location.osm_way_id, location.from_node, location.to_node)
        if location.lat is not None and location.lon is not None:
            return (locator.nearest(location.lon, location.lat, location.bearing_deg),)
    except (KeyError, LocationError) as e:
        detail = e.reason if isinstance(e, LocationError) else _way_detail(ctx, location)
        raise RejectedReading("location", f"{detail} (routable graph of {rg.source})") from e
    raise RejectedReading(
        "location",
        "give osm_way_id and from_node (and to_node for a stretch), or lat, lon and bearing_deg",
    )


def _way_detail(ctx: RerouteContext, loc: IncidentLocation) -> str:
    if loc.osm_way_id not in ctx.rg.by_way:
        return f"way {loc.osm_way_id} is not a drivable way of the graph: check the id"
    end = f" towards node {loc.to_node}" if loc.to_node is not None else ""
    return (
        f"way {loc.osm_way_id} has no direction of travel leaving node {loc.from_node}{end}: "
        "check the nodes and the one-way direction"
    )


def _along_way(
    ctx: RerouteContext, way: int, from_node: int, to_node: int | None
) -> tuple[EdgeKey, ...]:
    """Edges of ``way`` from ``from_node`` to ``to_node`` (one edge when ``to_node`` is None or
    inside the first)."""
    rg = ctx.rg
    first = rg.edge_on_way(way, from_node, to_node)
    if to_node is None or to_node in rg.data(first)["nodes"]:
        return (first,)
    out = [first]
    while to_node not in rg.data(out[-1])["nodes"]:
        nxt = [
            (out[-1][1], v, k)
            for _, v, k in rg.graph.out_edges(out[-1][1], keys=True)
            if int(rg.data((out[-1][1], v, k))["osmid"]) == way and v != out[-1][0]
        ]
        if not nxt or len(out) > 200:
            raise KeyError((way, from_node, to_node))
        out.append(nxt[0])
    return tuple(out)


# --- shared state: active incidents, link readings ----------------------------------------------


@dataclass
class ActiveIncidents:
    """Every active incident and the stretch it affects (rebuilt from the incidents topic)."""

    by_id: dict[str, tuple[Incident, tuple[EdgeKey, ...]]] = field(default_factory=dict)

    def apply(self, incident: Incident, stretch: tuple[EdgeKey, ...]) -> None:
        """Record an incident, or forget it when cleared."""
        if incident.status == "cleared":
            self.by_id.pop(incident.incident_id, None)
        else:
            self.by_id[incident.incident_id] = (incident, stretch)

    def others(self, incident_id: str, at: datetime) -> dict[EdgeKey, float]:
        """Capacity factor of the links other incidents affect at ``at``."""
        out: dict[EdgeKey, float] = {}
        for iid, (inc, stretch) in self.by_id.items():
            if iid == incident_id or inc.starts_at > at or (inc.ends_at and inc.ends_at <= at):
                continue
            for e in stretch:
                out[e] = min(out.get(e, 1.0), inc.capacity_factor)
        return out


@dataclass(frozen=True, slots=True)
class _Interval:
    end_ms: int
    flow_vph: float
    occupancy: float | None
    speed_kmh: float | None


@dataclass
class LinkReadings:
    """The last readings of every detector on a link of the routable graph."""

    detector_edge: Mapping[str, EdgeKey]
    lengths: Mapping[EdgeKey, float]
    free_times: Mapping[EdgeKey, float]
    capacities: Mapping[EdgeKey, float]
    congestion: CongestionParams = field(default_factory=CongestionParams)
    readings: dict[str, deque[_Interval]] = field(default_factory=dict)

    def add(self, count: TrafficCount) -> bool:
        """Keep one reading; False when its detector measures no link of the graph."""
        if count.vehicle_class != "all" or count.detector_id not in self.detector_edge:
            return False
        q = self.readings.setdefault(count.detector_id, deque(maxlen=KEEP_INTERVALS))
        end_ms = int(count.interval_end.timestamp() * 1000)
        if q and end_ms <= q[-1].end_ms:
            return True  # a redelivered or late reading: the newest kept already covers it
        flow = count.count * 3600.0 / count.interval_s
        q.append(_Interval(end_ms, flow, count.occupancy, count.mean_speed_kmh))
        return True

    def add_record(self, value: bytes | None) -> int:
        """Keep the reading of a counts record; 0 when it is not a valid reading of a measured
        link (the ingest stage dead-letters what is invalid)."""
        try:
            return int(self.add(_count_decoder.decode(value or b"")))
        except (msgspec.DecodeError, msgspec.ValidationError):
            return 0

    def add_batch(self, key: bytes | None, value: bytes | None) -> int:
        """Keep the valid readings of a gateway batch record; how many were kept."""
        try:
            _, parts = decode_batch(key, value)
        except RejectedReading:
            return 0
        return sum(self.add(p.reading) for p in parts if p.reading is not None)

    def states(self, before: datetime | None = None) -> dict[EdgeKey, LinkState]:
        """Each measured link's state from readings ending at or before ``before`` (all when
        None): flows of a link's detectors added up per interval."""
        limit = int(before.timestamp() * 1000) if before is not None else None
        per_edge: dict[EdgeKey, dict[int, list[_Interval]]] = {}
        for det, q in self.readings.items():
            edge = self.detector_edge[det]
            for r in q:
                if limit is None or r.end_ms <= limit:
                    per_edge.setdefault(edge, {}).setdefault(r.end_ms, []).append(r)
        out = {}
        for edge, by_end in per_edge.items():
            series = [_merge(by_end[t]) for t in sorted(by_end)]
            out[edge] = link_state(
                self.free_times[edge],
                self.lengths[edge],
                self.capacities[edge],
                series,
                congestion=self.congestion,
            )
        return out


def _merge(intervals: Sequence[_Interval]) -> LinkReading:
    occ = [r.occupancy for r in intervals if r.occupancy is not None]
    speed = [r.speed_kmh for r in intervals if r.speed_kmh is not None and r.speed_kmh > 0]
    return LinkReading(
        flow_vph=sum(r.flow_vph for r in intervals),
        occupancy=sum(occ) / len(occ) if occ else None,
        speed_kmh=sum(speed) / len(speed) if speed else None,
    )


def detector_edges(
    ctx: RerouteContext, sites: Iterable[tuple[str, str, str, int]]
) -> dict[str, EdgeKey]:
    """Detector id -> the routable edge its approach ends with (detectors whose approach is not
    in the routable graph are left out)."""
    out = {}
    for det, _, approach_id, _ in sites:
        edge = ctx.approach_edge.get(approach_id)
        if edge is not None:
            out[det] = edge
    return out


def link_readings(ctx: RerouteContext, detector_edge: Mapping[str, EdgeKey]) -> LinkReadings:
    """An empty board for the links the detectors measure."""
    edges = set(detector_edge.values())
    rg = ctx.rg
    return LinkReadings(
        detector_edge=detector_edge,
        lengths={e: float(rg.data(e)["length"]) for e in edges},
        free_times={e: float(rg.data(e)["travel_time"]) for e in edges},
        capacities={e: float(rg.data(e)["capacity_vph"]) for e in edges},
    )


def detected_incidents(
    ctx: RerouteContext, states: Mapping[EdgeKey, LinkState], active: ActiveIncidents, now: datetime
) -> list[Incident]:
    """A congestion incident for every congested measured link no active incident covers."""
    covered = {e for _, stretch in active.by_id.values() for e in stretch}
    out = []
    for edge, state in sorted(states.items()):
        if not state.congested or edge in covered:
            continue
        d = ctx.rg.data(edge)
        factor = max(0.05, min(1.0, state.flow_vph / max(state.capacity_vph, 1.0)))
        out.append(
            Incident(
                incident_id=f"detected-{edge[0]}-{edge[1]}-{edge[2]}-{int(now.timestamp())}",
                kind="congestion",
                location=IncidentLocation(
                    osm_way_id=int(d["osmid"]), from_node=edge[0], to_node=edge[1]
                ),
                capacity_factor=round(factor, 3),
                flow_vph=round(state.flow_vph, 1),
                starts_at=now,
                reported_by="aiguilleur congestion detection",
                source="detection",
                note=state.reason,
            )
        )
    return out


# --- the stage ---------------------------------------------------------------------------------


class Reroute:
    """Advise every incident of a batch, dead-letter what cannot be accepted."""

    def __init__(
        self,
        ctx: RerouteContext,
        cfg: RerouteConfig,
        topics: Any,
        send: Send,
        active: ActiveIncidents,
        links: LinkReadings,
        metrics: Any,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.ctx = ctx
        self.cfg = cfg
        self.topics = topics
        self.send = send
        self.active = active
        self.links = links
        self.metrics = metrics
        self.clock = clock
        self.locator = EdgeLocator(ctx.rg)

    def accept(self, record: Any) -> tuple[Incident, tuple[EdgeKey, ...]]:
        """A valid incident and its stretch; ``RejectedReading`` otherwise."""
        incident = decode_incident(record.key, record.value)
        return incident, locate(incident.location, self.ctx, self.locator)

    def advise(self, incident: Incident, stretch: tuple[EdgeKey, ...]) -> list[RerouteAdvice]:
        """The advice for one accepted incident (a cleared one withdraws what was advised)."""
        now = self.clock()
        if incident.status == "cleared":
            return [cleared_advice(incident, stretch, self.ctx, self.cfg, now)]
        states = self.links.states(before=incident.starts_at)
        others = self.active.others(incident.incident_id, max(now, incident.starts_at))
        t0 = time.perf_counter()
        out = advise(incident, stretch, self.ctx, states, now, self.cfg, others=others)
        self.metrics.advice_seconds.observe(time.perf_counter() - t0)
        return out

    async def dead_letter(self, record: Any, err: RejectedReading) -> Any:
        """Queue the original record to the incidents dead-letter topic, reason in headers."""
        self.metrics.incidents.labels(outcome="rejected").inc()
        log.info(
            "event=incident_dead_letter code=%s partition=%s offset=%s reason=%r",
            err.code,
            record.partition,
            record.offset,
            err.reason,
        )
        headers = dead_letter_headers(record, err)
        return await self.send(self.topics.incident_dead_letters, record.key, record.value, headers)

    async def handle(self, records: Sequence[Any]) -> int:
        """Process a batch; return once what it sends is delivered. Returns advice published."""
        pending = []
        published = 0
        for record in records:
            try:
                incident, stretch = self.accept(record)
            except RejectedReading as err:
                pending.append(await self.dead_letter(record, err))
                continue
            self.metrics.incidents.labels(outcome="accepted").inc()
            self.active.apply(incident, stretch)
            for advice in self.advise(incident, stretch):
                value = _encoder.encode(advice)
                key = advice.incident_id.encode()
                pending.append(await self.send(self.topics.reroute_advice, key, value, []))
                self.metrics.advice.labels(kind=advice.kind).inc()
                published += 1
                log.info(
                    "event=reroute_advice incident=%s kind=%s advice_id=%s reason=%s",
                    advice.incident_id,
                    advice.kind,
                    advice.advice_id,
                    advice.reason,
                )
        for fut in pending:
            await fut
        return published


# --- the Kafka loops ---------------------------------------------------------------------------


async def _follow(
    cfg: StreamsConfig,
    name: str,
    topic: str,
    apply: Callable[[Any], object],
    ready: asyncio.Event,
    start_ms: int | None = None,
) -> None:
    """Read every partition of ``topic`` (from ``start_ms``, else the beginning) into ``apply``,
    outside any group; set ``ready`` once what was there at start is applied; then follow."""
    async with kafka.started_admin(cfg.kafka, client_id=f"{cfg.app_id}-{name}") as admin:
        tps = await kafka.topic_partitions(admin, topic, timeout_s=None)
    consumer = kafka.reader(cfg.kafka, client_id=f"{cfg.app_id}-{name}")
    await kafka.start(consumer, cfg.kafka)
    try:
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        if start_ms is not None:
            found = await consumer.offsets_for_times(dict.fromkeys(tps, start_ms))
            for tp, at in found.items():
                if at is not None:
                    consumer.seek(tp, at.offset)
                else:
                    await consumer.seek_to_end(tp)
        ends: dict[TopicPartition, int] = await consumer.end_offsets(tps)
        behind = {tp for tp in tps if ends[tp] > await consumer.position(tp)}
        while True:
            if not behind:
                ready.set()
            batch = await consumer.getmany(timeout_ms=500)
            for msgs in batch.values():
                for m in msgs:
                    apply(m)
            # by position, not by the last offset seen: compaction may have removed the last ones
            for tp in list(behind):
                if await consumer.position(tp) >= ends[tp]:
                    behind.discard(tp)
    finally:
        await kafka.stop(consumer, cfg.kafka)


async def run_reroute(
    cfg: StreamsConfig,
    ctx: RerouteContext,
    reroute_cfg: RerouteConfig,
    topics: Any,
    detector_edge: Mapping[str, EdgeKey],
    metrics: Any,
    lookback_s: float = 900.0,
    detect_every_s: float = 60.0,
) -> None:
    """The rerouting stage until cancelled."""
    active = ActiveIncidents()
    links = link_readings(ctx, detector_edge)
    producer = kafka.producer(cfg.kafka, acks="all", client_id=f"{cfg.app_id}-reroute")

    async def send(
        topic: str, key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]]
    ) -> Any:
        return await producer.send(topic, key=key, value=value, headers=headers or None)

    stage = Reroute(ctx, reroute_cfg, topics, send, active, links, metrics)

    def apply_incident(m: Any) -> None:
        try:
            incident, stretch = stage.accept(m)
        except RejectedReading:
            return  # the group consumer dead-letters it
        active.apply(incident, stretch)

    incidents_ready = asyncio.Event()
    since_ms = int((time.time() - lookback_s) * 1000)
    followers = [
        asyncio.create_task(
            _follow(cfg, "incidents", topics.incidents, apply_incident, incidents_ready)
        ),
        # single readings and gateway batches, both
        asyncio.create_task(
            _follow(
                cfg,
                "links",
                topics.counts,
                lambda m: links.add_record(m.value),
                asyncio.Event(),
                start_ms=since_ms,
            )
        ),
        asyncio.create_task(
            _follow(
                cfg,
                "link-batches",
                topics.count_batches,
                lambda m: links.add_batch(m.key, m.value),
                asyncio.Event(),
                start_ms=since_ms,
            )
        ),
    ]
    session_ms = int(cfg.session_timeout_s * 1000)
    consumer = kafka.consumer(
        cfg.kafka,
        topics.incidents,
        group_id=f"{cfg.app_id}-reroute",
        client_id=f"{cfg.app_id}-reroute",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=session_ms,
        heartbeat_interval_ms=max(1000, session_ms // 3),
    )
    await kafka.start(producer, cfg.kafka)
    consumer_started = False
    try:
        await incidents_ready.wait()
        await kafka.start(consumer, cfg.kafka)
        consumer_started = True
        log.info("event=reroute_started group=%s-reroute topic=%s", cfg.app_id, topics.incidents)
        followers.append(
            asyncio.create_task(_detect(stage, consumer, topics, send, detect_every_s))
        )

        def check() -> None:
            for f in followers:
                if f.done():
                    f.result()

        await consume_in_batches(
            consumer, stage.handle, max_records=100, timeout_ms=200, stage="reroute", check=check
        )
    finally:
        for f in followers:
            f.cancel()
        for f in followers:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await f
        if consumer_started:
            await kafka.stop(consumer, cfg.kafka)
        await kafka.stop(producer, cfg.kafka)


async def _detect(
    stage: Reroute, consumer: AIOKafkaConsumer, topics: Any, send: Send, every_s: float
) -> None:
    """Every ``every_s``, publish an incident for each newly congested measured link, from the
    worker that holds partition 0 of the incidents group (one publisher for the deployment)."""
    while True:
        await asyncio.sleep(every_s)
        if TopicPartition(topics.incidents, 0) not in consumer.assignment():
            continue
        now = stage.clock()
        found = detected_incidents(stage.ctx, stage.links.states(), stage.active, now)
        for incident in found:
            await send(
                topics.incidents, incident.incident_id.encode(), _encoder.encode(incident), []
            )
            stage.metrics.incidents.labels(outcome="detected").inc()
            log.info(
                "event=congestion_detected incident=%s reason=%r",
                incident.incident_id,
                incident.note,
            )


async def follow_advice(cfg: StreamsConfig, topic: str, board: Any) -> None:
    """Keep ``board`` (a :class:`~streams.diversion_board.DiversionBoard`) up to date with every
    advice published, from the beginning of the topic (every worker plans with all of it)."""
    await _follow(cfg, "advice", topic, lambda m: board.apply_record(m.value), asyncio.Event())
