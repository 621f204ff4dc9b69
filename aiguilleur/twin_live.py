"""``aiguilleur twin live``: the digital twin in closed loop through the real Kafka pipeline.

SUMO's loop counts go to the input topic, a worker aggregates and plans, and the plans it
publishes drive SUMO's signals. The twin knows nothing of Kafka: it offers ``RunOptions.on_counts``
and ``RunOptions.plan_source``, and this module plugs Kafka into both (``twin`` never imports
``streams`` or ``aiguilleur``).

**Lockstep.** The pipeline plans in event time: the period ``[E - P, E)`` is planned once a
reading ending at ``E + lateness`` arrives. Simulation time is mapped to event time so that the
runner's plan boundaries (``begin + kP``) fall exactly ``lateness`` after a pipeline period end:
the counts the runner produces at a boundary close the period, and the runner then waits (bounded)
for that period's plans before simulating on. A plan therefore reflects the counts of the
``period`` seconds that ended ``lateness`` seconds ago, as in a live deployment. Before producing
the counts that close a period, the bridge waits until the worker has consumed every count
produced so far, so no reading of the period can arrive after it closed (Kafka orders records
within a partition only). Each run is therefore reproducible: same counts, same plans.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Self, TypeVar, cast, get_args

import msgspec
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from aiguilleur.demo import start_worker, stop_process
from aiguilleur.follow import decode_plan, records
from aiguilleur.settings import Settings
from aiguilleur.wiring import kafka_env, streams_config
from aiguilleur.worker import ensure_topics
from optimizer.model import ApproachEffect, Explanation, PhaseTiming, Plan, SolverStatus
from streams import kafka
from streams.context import StreamsConfig
from streams.events import SignalPlan, TrafficCount
from streams.topics import TopicNames
from twin import CountRecord, RunOptions, RunResult, Scenario, run_twin

log = logging.getLogger("aiguilleur.twin_live")

LIVE_EPOCH = datetime(2026, 1, 5, tzinfo=UTC)
"""Event time of the first pipeline period's start (a Monday, midnight UTC)."""

_T = TypeVar("_T")


class PipelineNotAnswering(TimeoutError):
    """The worker did not consume the counts or publish the plans in time."""


def event_base(begin_s: float, lateness_s: int, period_s: int = 300) -> datetime:
    """Event time of simulation time 0, so that plan boundaries (``begin_s + k * period_s``) fall
    ``lateness_s`` after the pipeline's period ends, which are multiples of the period since the
    Unix epoch (the first one at or before ``LIVE_EPOCH``)."""
    epoch_s = LIVE_EPOCH.timestamp() // period_s * period_s
    return datetime.fromtimestamp(epoch_s, UTC) + timedelta(seconds=lateness_s - begin_s)


def to_plan(sp: SignalPlan) -> Plan:
    """A ``SignalPlan`` event as the optimiser's ``Plan`` the twin applies."""
    ex = sp.explanation
    status = ex.solver_status if ex.solver_status in get_args(SolverStatus) else "fallback"
    return Plan(
        junction_id=sp.junction_id,
        cycle_s=sp.cycle_s,
        offset_s=sp.offset_s,
        phases=tuple(
            PhaseTiming(
                index=p.index,
                green_s=p.green_s,
                intergreen_s=p.intergreen_s,
                flow_ratio=p.flow_ratio,
                degree_of_saturation=p.degree_of_saturation,
            )
            for p in sp.phases
        ),
        effects=tuple(
            ApproachEffect(
                lane_group_id=a.approach_id,
                flow_vph=a.flow_vph,
                degree_of_saturation=a.degree_of_saturation,
                delay_s_per_veh=a.delay_s_per_veh,
                saturation_flow_vph=a.saturation_flow_vph,
            )
            for a in ex.approaches
        ),
        expected_delay_s_per_veh=sp.expected_effect.mean_delay_s_per_veh,
        explanation=Explanation(
            method=ex.method,
            objective=ex.objective,
            binding_constraints=ex.binding_constraints,
            solver_status=cast(SolverStatus, status),
            parameters=dict(ex.parameters),
            text_en=ex.text_en,
            text_fr=ex.text_fr,
            oversaturated=sp.expected_effect.oversaturated,
            max_degree_of_saturation=sp.expected_effect.max_degree_of_saturation,
        ),
        strategy=sp.strategy,
    )


def to_event(rec: CountRecord) -> bytes:
    """A twin count as the JSON value of ``aiguilleur.traffic-counts.v1`` (validated)."""
    return msgspec.json.encode(msgspec.convert(msgspec.to_builtins(rec), TrafficCount))


class LoopThread:
    """An asyncio loop in a thread, for a synchronous caller (the SUMO runner) to use Kafka: a
    producer, and a follower handing every record of ``followed`` (from its beginning) to
    ``_on_value``.

    ``alive`` returns ``None`` while the worker runs, or why it does not (for error messages).
    """

    linger_ms = 5

    def __init__(
        self,
        cfg: StreamsConfig,
        topics: TopicNames,
        followed: str,
        *,
        timeout_s: float = 120.0,
        alive: Callable[[], str | None] = lambda: None,
    ) -> None:
        self.cfg = cfg
        self.topics = topics
        self.timeout_s = timeout_s
        self._followed = followed
        self._alive = alive
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="kafka", daemon=True)
        self._arrived: asyncio.Event | None = None
        self._producer: AIOKafkaProducer | None = None
        self._follower: asyncio.Task[None] | None = None

    def _call(self, coro: Coroutine[Any, Any, _T]) -> _T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def __enter__(self) -> Self:
        self._thread.start()
        self._call(self._start())
        return self

    def __exit__(self, *exc: object) -> None:
        self._call(self._stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _start(self) -> None:
        self._arrived = asyncio.Event()
        self._producer = kafka.producer(
            self.cfg.kafka, client_id="aiguilleur-twin", acks="all", linger_ms=self.linger_ms
        )
        await kafka.start(self._producer, self.cfg.kafka)
        self._follower = asyncio.create_task(self._follow())

    async def _stop(self) -> None:
        if self._follower is not None:
            self._follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._follower
        if self._producer is not None:
            await kafka.stop(self._producer, self.cfg.kafka)

    async def _follow(self) -> None:
        assert self._arrived is not None
        async for rec in records(self.cfg.kafka, self._followed, from_beginning=True):
            if rec.value is not None:
                self._on_value(rec.value)
                self._arrived.set()

    def _on_value(self, value: bytes) -> None:
        raise NotImplementedError

    async def _wait_for(self, missing: Callable[[], list[str]], waiting_for: str) -> None:
        """Wait until ``missing()`` is empty (re-checked as records arrive), at most the timeout;
        ``waiting_for`` and the first missing item name what is late in the error."""
        assert self._arrived is not None
        deadline = time.monotonic() + self.timeout_s
        while lacking := missing():
            self._check(deadline, f"{waiting_for} of {len(lacking)} junction(s) ({lacking[0]})")
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), 0.5)

    def _check(self, deadline: float, waiting_for: str) -> None:
        why = self._alive()
        if why is not None:
            raise PipelineNotAnswering(f"{why} while waiting for {waiting_for}")
        if time.monotonic() > deadline:
            raise PipelineNotAnswering(
                f"no answer from the worker after {self.timeout_s:g} s while waiting for "
                f"{waiting_for}: is a worker running on namespace {self.topics.namespace!r} with "
                "this run's network and detector registry? (see the worker's log)"
            )

    async def _records_in(self, topic: str) -> int:
        """How many records ``topic`` holds (its partitions' end offsets)."""
        async with kafka.started_admin(self.cfg.kafka, client_id="aiguilleur-twin") as admin:
            tps = await kafka.topic_partitions(admin, topic, timeout_s=0)
        if not tps:
            raise PipelineNotAnswering(f"the topic {topic} does not exist")
        consumer = kafka.consumer(
            self.cfg.kafka, client_id="aiguilleur-twin", group_id=None, enable_auto_commit=False
        )
        await kafka.start(consumer, self.cfg.kafka)
        try:
            consumer.assign(tps)
            ends: dict[TopicPartition, int] = await consumer.end_offsets(tps)
            return sum(ends.values())
        finally:
            await kafka.stop(consumer, self.cfg.kafka)


class PipelineBridge(LoopThread):
    """Producing counts and collecting the plans topic, for the runner's plan source."""

    def __init__(
        self,
        cfg: StreamsConfig,
        topics: TopicNames,
        ingest_group: str,
        *,
        timeout_s: float = 120.0,
        alive: Callable[[], str | None] = lambda: None,
    ) -> None:
        super().__init__(cfg, topics, topics.plans, timeout_s=timeout_s, alive=alive)
        self.produced = 0
        self.consumed: list[SignalPlan] = []
        self._group = ingest_group
        self._plans: dict[tuple[datetime, str], SignalPlan] = {}
        self._last: dict[TopicPartition, int] = {}
        self._admin: AIOKafkaAdminClient | None = None

    async def _start(self) -> None:
        await ensure_topics(self.cfg, self.topics)
        self._admin = kafka.admin(self.cfg.kafka, client_id="aiguilleur-twin")
        await kafka.start(self._admin, self.cfg.kafka)
        await super()._start()

    async def _stop(self) -> None:
        await super()._stop()
        if self._admin is not None:
            await kafka.stop(self._admin, self.cfg.kafka)

    def _on_value(self, value: bytes) -> None:
        sp = decode_plan(value)
        self.consumed.append(sp)
        self._plans[(sp.valid_from, sp.junction_id)] = sp

    def send(self, recs: list[CountRecord], *, settle_first: bool) -> None:
        """Produce counts keyed by detector id and wait for the broker's acknowledgement;
        ``settle_first``: first wait until the worker has consumed everything sent before."""
        self._call(self._send(recs, settle_first))

    async def _send(self, recs: list[CountRecord], settle_first: bool) -> None:
        assert self._producer is not None
        if settle_first:
            await self._settled()
        futures = [
            await self._producer.send(
                self.topics.counts, key=r.detector_id.encode(), value=to_event(r)
            )
            for r in recs
        ]
        for meta in await asyncio.gather(*futures):
            tp = TopicPartition(meta.topic, meta.partition)
            self._last[tp] = max(self._last.get(tp, -1), meta.offset)
        self.produced += len(recs)

    async def _settled(self) -> None:
        """Wait until the ingest group has committed every offset produced so far."""
        assert self._admin is not None
        deadline = time.monotonic() + self.timeout_s
        while True:
            # A broker that has just started may not have elected the group's coordinator yet
            # (GroupCoordinatorNotAvailable): committed_offsets asks again until the deadline.
            committed = await kafka.committed_offsets(
                self._admin,
                self._group,
                deadline=deadline,
                check=lambda: self._check(deadline, f"the group coordinator of {self._group}"),
            )
            behind = [
                tp
                for tp, last in self._last.items()
                if tp not in committed or committed[tp] <= last
            ]
            if not behind:
                return
            self._check(deadline, f"the worker to consume {self.produced} counts")
            await asyncio.sleep(0.05)

    def settle(self) -> None:
        """Wait until the worker has consumed every count produced."""
        self._call(self._settled())

    def plans(self, valid_from: datetime, junctions: list[str]) -> dict[str, SignalPlan]:
        """The plans of every junction for the period starting at ``valid_from`` (waits)."""
        return self._call(self._wait_plans(valid_from, junctions))

    async def _wait_plans(
        self, valid_from: datetime, junctions: list[str]
    ) -> dict[str, SignalPlan]:
        await self._wait_for(
            lambda: [j for j in junctions if (valid_from, j) not in self._plans],
            f"the plans from {valid_from.isoformat()}",
        )
        return {j: self._plans[(valid_from, j)] for j in junctions}

    def dead_letters(self) -> int:
        """How many records the dead-letter topic holds (a per-run namespace starts empty)."""
        return self._call(self._records_in(self.topics.dead_letters))


@dataclass(kw_only=True)
class LiveResult:
    """What a live run measured, and what went through Kafka."""

    run: RunResult
    namespace: str
    produced: int
    dead_letters: int
    consumed: list[SignalPlan]
    asked: list[datetime] = field(default_factory=list)
    """Start of every period whose plans the runner waited for, in order."""


@dataclass(frozen=True, kw_only=True)
class LiveOptions:
    """How to run the live loop."""

    period_s: int = 300
    count_interval_s: int = 60
    speed: float = 0.0
    """Simulated seconds per wall-clock second at most (0: as fast as the pipeline answers)."""
    timeout_s: float = 120.0
    progress: bool = True
    start_worker: bool = True
    seed: int = RunOptions.seed
    """SUMO's random seed (the twin's default unless given)."""


@dataclass(frozen=True, kw_only=True)
class PipelineFiles:
    """What the worker reads for a twin scenario, and what the run sends and expects."""

    network_file: Path
    registry: Path
    junctions: list[str]
    detectors: frozenset[str]
    """Detector ids the registry maps (only their counts are sent)."""
    skipped: list[str]


def write_pipeline_files(
    scenario: Scenario, workdir: Path, count_interval_s: int, *, every_junction: bool = True
) -> PipelineFiles:
    """The scenario's network model (``network.json``, with the programmes its additional files
    load) and a lane-level detector registry (``detectors.csv``) for the twin's detectors.

    ``every_junction``: refuse a scenario with a junction no detector covers (the Kafka loop
    waits for every junction's plan; in process, such a junction keeps its programme)."""
    from graph.registry import load_registry
    from graph.sumo import network_from_sumo
    from twin.export import write_approach_registry_csv
    from twin.runner import emitted_detectors

    workdir.mkdir(parents=True, exist_ok=True)
    sn = network_from_sumo(scenario.net, scenario.additionals)
    network_file = workdir / "network.json"
    network_file.write_bytes(msgspec.json.encode(sn.network))
    registry = workdir / "detectors.csv"
    specs = emitted_detectors(scenario, sn, count_interval_s)
    _, skipped = write_approach_registry_csv(specs, sn.network, registry)
    sites = load_registry(registry, sn.network).sites()  # as the worker will read it
    junctions = [j.id for j in sn.network.junctions]
    bare = sorted(set(junctions) - {s.junction_id for s in sites})
    if bare and every_junction:
        raise ValueError(
            f"{scenario.name}: junctions without any detector, the worker cannot plan them: {bare}"
        )
    return PipelineFiles(
        network_file=network_file,
        registry=registry,
        junctions=junctions,
        detectors=frozenset(s.detector_id for s in sites),
        skipped=skipped,
    )


def worker_env(settings: Settings, files: PipelineFiles, workdir: Path) -> dict[str, str]:
    """Environment of a worker on this run's namespace, network and registry."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("AIGUILLEUR_KAFKA_")}
    return {
        **inherited,
        **kafka_env(settings),
        "AIGUILLEUR_APP_ID": settings.app_id,
        "AIGUILLEUR_TOPIC_NAMESPACE": settings.topic_namespace,
        "AIGUILLEUR_NETWORK_FILE": str(files.network_file),
        "AIGUILLEUR_DETECTOR_REGISTRY": str(files.registry),
        "AIGUILLEUR_CONTROL_PERIOD_S": str(settings.control_period_s),
        "AIGUILLEUR_LATENESS_S": str(settings.lateness_s),
        "AIGUILLEUR_STATE_DIR": str(workdir / "state"),
        "AIGUILLEUR_METRICS_PORT": "0",
        "AIGUILLEUR_CONTROLLER": settings.controller,
        # Simulated time maps to fixed past dates (LIVE_EPOCH), so that runs are reproducible.
        "AIGUILLEUR_EVENT_TIME_REPLAY": "true",
    }


def run_live(
    scenario: Scenario,
    settings: Settings,
    workdir: Path,
    options: LiveOptions | None = None,
    out: Callable[[str], None] = lambda _: None,
) -> LiveResult:
    """Run ``scenario`` with its signals planned by a worker through Kafka (see module doc).

    ``settings`` give the broker, namespace, app id, lateness and planner. A worker is started on
    the files :func:`write_pipeline_files` writes into ``workdir`` (unless
    ``options.start_worker`` is false: then one must already run on ``settings``' namespace with
    the scenario's network and a registry mapping the twin's detectors).
    """
    opts = options or LiveOptions()
    lateness = settings.lateness_s
    if lateness % opts.count_interval_s or not 0 < lateness < opts.period_s:
        raise ValueError(
            f"AIGUILLEUR_LATENESS_S={lateness} must be a positive multiple of the count interval "
            f"({opts.count_interval_s} s) and shorter than the period ({opts.period_s} s)"
        )
    files = write_pipeline_files(scenario, workdir, opts.count_interval_s)
    if files.skipped:
        out(f"{len(files.skipped)} detector(s) on no signalised approach are not sent")
    settings = settings.model_copy(update={"control_period_s": opts.period_s})
    proc = None
    log_path = workdir / "worker.log"
    if opts.start_worker:
        out(
            f"starting a worker on {len(files.junctions)} junctions, {len(files.detectors)} "
            f"detectors (log: {log_path})"
        )
        proc = start_worker(worker_env(settings, files, workdir), log_path)

    def alive() -> str | None:
        if proc is None or proc.poll() is None:
            return None
        return f"the worker exited with code {proc.returncode} (log: {log_path})"

    group = f"{settings.app_id}-ingest"
    base = event_base(scenario.begin_s, lateness, opts.period_s)
    asked: list[datetime] = []
    t0 = time.monotonic()
    try:
        with PipelineBridge(
            streams_config(settings),
            TopicNames(settings.topic_namespace),
            group,
            timeout_s=opts.timeout_s,
            alive=alive,
        ) as bridge:

            def on_counts(recs: list[CountRecord]) -> None:
                recs = [r for r in recs if r.detector_id in files.detectors]
                if not recs:
                    return
                elapsed = (recs[0].interval_end - base).total_seconds() - scenario.begin_s
                if opts.speed > 0:
                    time.sleep(max(0.0, t0 + elapsed / opts.speed - time.monotonic()))
                # these counts close a period: the period's own must all be consumed first
                bridge.send(recs, settle_first=elapsed % opts.period_s == 0)

            def plan_source(now: float) -> Mapping[str, Plan]:
                valid_from = base + timedelta(seconds=now - lateness)
                asked.append(valid_from)
                return {
                    j: to_plan(sp) for j, sp in bridge.plans(valid_from, files.junctions).items()
                }

            result = run_twin(
                scenario,
                f"live:{settings.planner}",
                RunOptions(
                    count_interval_s=opts.count_interval_s,
                    plan_period_s=float(opts.period_s),
                    base_date=base,
                    on_counts=on_counts,
                    plan_source=plan_source,
                    progress=opts.progress,
                    seed=opts.seed,
                ),
            )
            bridge.settle()
            return LiveResult(
                run=result,
                namespace=settings.topic_namespace,
                produced=bridge.produced,
                dead_letters=bridge.dead_letters(),
                consumed=list(bridge.consumed),
                asked=asked,
            )
    finally:
        if proc is not None:
            stop_process(proc)
