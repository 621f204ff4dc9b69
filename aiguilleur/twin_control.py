"""``aiguilleur twin live --controller NAME``: the twin's live controllers through Kafka.

Whenever junctions are due for a decision, the runner's ``decision_source`` (this module) sends
their states to ``aiguilleur.junction-states.v1`` (key = zone), waits (bounded) for the worker's
decisions on ``aiguilleur.signal-decisions.v1`` and hands them back, in lockstep: the simulation
does not advance before every due junction has its decision. The worker decides only under an
approved envelope: with a worker of its own, the run approves every junction's envelope (the
scenario's phases and the programme's greens, as the in-process run grants them) under the
approver's name before the worker starts; with ``--no-worker`` it uses the approvals on record
(and the signal audit checks those) and stops if one is missing. Event time is simulation time
from the run's start on the wall clock, so that a run never takes an earlier run's decisions on
the same topics for its own.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec

from aiguilleur.approval import on_record, publish
from aiguilleur.demo import start_worker, stop_process
from aiguilleur.settings import Settings
from aiguilleur.twin_live import (
    LiveOptions,
    LoopThread,
    PipelineNotAnswering,
    worker_env,
    write_pipeline_files,
)
from aiguilleur.wiring import load_network, streams_config
from aiguilleur.worker import ensure_topics
from graph.model import Network
from graph.sumo import network_from_sumo
from optimizer.strategy import Decision, JunctionState
from streams.context import StreamsConfig
from streams.control import to_decision, to_report
from streams.envelopes import approve, to_envelope
from streams.events import SignalDecision, SignalEnvelope
from streams.topics import TopicNames
from twin import RunOptions, RunResult, Scenario, run_twin
from twin.live_policy import live_envelopes

_decision_decoder = msgspec.json.Decoder(SignalDecision)


class ControlBridge(LoopThread):
    """Junction states out, the worker's decisions back, one simulation step at a time."""

    linger_ms = 0  # a step's states are all sent before waiting: nothing to gain from lingering

    def __init__(
        self,
        cfg: StreamsConfig,
        topics: TopicNames,
        zone_of: Mapping[str, str],
        base: datetime,
        *,
        timeout_s: float = 120.0,
        alive: Callable[[], str | None] = lambda: None,
    ) -> None:
        super().__init__(cfg, topics, topics.decisions, timeout_s=timeout_s, alive=alive)
        self.base = base
        self.sent = 0
        self.consumed: list[SignalDecision] = []
        self.round_trips_s: list[float] = []
        """Wall time from sending a step's states to holding all their decisions."""
        self._zone_of = zone_of
        self._decisions: dict[tuple[str, datetime], SignalDecision] = {}
        self._encoder = msgspec.json.Encoder()

    def _on_value(self, value: bytes) -> None:
        ev = _decision_decoder.decode(value)
        self.consumed.append(ev)
        self._decisions[(ev.junction_id, ev.observed_at)] = ev

    def dead_letters(self) -> int:
        """How many junction states the worker rejected (a per-run namespace starts empty)."""
        return self._call(self._records_in(self.topics.state_dead_letters))

    def observed_at(self, time_s: float) -> datetime:
        """Event time of simulation time ``time_s``."""
        return self.base + timedelta(seconds=time_s)

    def decide(self, states: Sequence[JunctionState]) -> dict[str, Decision]:
        """The worker's decision for each state (the runner's ``decision_source``)."""
        return self._call(self._decide(states))

    async def _decide(self, states: Sequence[JunctionState]) -> dict[str, Decision]:
        assert self._producer is not None
        t0 = time.perf_counter()
        keys = []
        futures = []
        for st in states:
            at = self.observed_at(st.time_s)
            zone = self._zone_of[st.junction_id]
            value = self._encoder.encode(to_report(st, zone, at))
            futures.append(
                await self._producer.send(
                    self.topics.junction_states, key=zone.encode(), value=value
                )
            )
            keys.append((st.junction_id, at))
        await asyncio.gather(*futures)
        self.sent += len(states)
        await self._wait_for(
            lambda: [j for j, at in keys if (j, at) not in self._decisions],
            f"the decisions at {keys[0][1].isoformat()}",
        )
        self.round_trips_s.append(time.perf_counter() - t0)
        return {
            st.junction_id: to_decision(self._decisions[k], st.time_s)
            for st, k in zip(states, keys, strict=True)
        }


@dataclass(kw_only=True)
class LiveControlResult:
    """What a live-control run measured, and what went through Kafka."""

    run: RunResult
    namespace: str
    base: datetime
    """Event time of simulation time 0."""
    envelopes: dict[str, SignalEnvelope]
    sent: int
    dead_letters: int
    consumed: list[SignalDecision]
    round_trips_s: list[float] = field(default_factory=list)
    decide_wall_s: float = 0.0
    """Wall time spent waiting for the pipeline's decisions (sum of the round trips)."""


def _twin_approvals(
    scenario: Scenario, network: Network, *, approved_by: str, approved_at: datetime
) -> list[SignalEnvelope]:
    """The approvals a run with a worker of its own makes: the envelopes the in-process run
    grants (``twin.live_policy.live_envelopes``, the programme's greens), for the pipeline's
    network model."""
    sn = network_from_sumo(scenario.net, scenario.additionals)
    granted = live_envelopes(
        sn.network.junctions, sn.signals, RunOptions().live_envelope, may_skip=True
    )
    return [
        approve(
            j,
            granted[j.id],
            approved_by=approved_by,
            approved_at=approved_at,
            network_sha256=network.source_sha256,
        )
        for j in network.junctions
    ]


def run_live_control(
    scenario: Scenario,
    settings: Settings,
    workdir: Path,
    options: LiveOptions | None = None,
    *,
    approved_by: str = "",
    out: Callable[[str], None] = lambda _: None,
) -> LiveControlResult:
    """Run ``scenario`` with its signals decided by the worker's ``settings.controller`` through
    Kafka (see module doc). ``approved_by``: the approver named in the envelopes the run
    approves (a worker of its own only)."""
    opts = options or LiveOptions()
    if not settings.controller:
        raise ValueError("set the controller (AIGUILLEUR_CONTROLLER or --controller)")
    files = write_pipeline_files(scenario, workdir, opts.count_interval_s)
    network = load_network(files.network_file)
    zone_of = {j.id: j.zone_id for j in network.junctions}
    cfg = streams_config(settings)
    topics = TopicNames(settings.topic_namespace)
    asyncio.run(ensure_topics(cfg, topics, control=True))
    proc = None
    log_path = workdir / "worker.log"
    if opts.start_worker:
        events = _twin_approvals(
            scenario,
            network,
            approved_by=approved_by or f"twin live {settings.topic_namespace}",
            approved_at=datetime.now(UTC),
        )
        asyncio.run(publish(cfg, topics.envelopes, events))
        out(
            f"approved {len(events)} envelopes; starting a worker with controller "
            f"{settings.controller!r} (log: {log_path})"
        )
        proc = start_worker(worker_env(settings, files, workdir), log_path)
    envelopes = asyncio.run(on_record(cfg.kafka, topics.envelopes))
    missing = sorted(set(files.junctions) - set(envelopes))
    if missing:
        if proc is not None:
            stop_process(proc)
        raise PipelineNotAnswering(
            f"no approved envelope on {topics.envelopes} for {len(missing)} junction(s) "
            f"(first: {missing[0]}): approve them with `aiguilleur envelopes approve`"
        )

    def alive() -> str | None:
        if proc is None or proc.poll() is None:
            return None
        return f"the worker exited with code {proc.returncode} (log: {log_path})"

    # Event time starts at the run's start (whole seconds): keys (junction, observed_at) never
    # meet the decisions of an earlier run on the same topics.
    base = datetime.fromtimestamp(int(time.time()), UTC) - timedelta(seconds=scenario.begin_s)
    try:
        with ControlBridge(
            cfg, topics, zone_of, base, timeout_s=opts.timeout_s, alive=alive
        ) as bridge:
            t0 = time.monotonic()

            def source(states: Sequence[JunctionState]) -> Mapping[str, Decision]:
                if opts.speed > 0 and states:
                    elapsed = states[0].time_s - scenario.begin_s
                    time.sleep(max(0.0, t0 + elapsed / opts.speed - time.monotonic()))
                return bridge.decide(states)

            result = run_twin(
                scenario,
                f"live:{settings.controller}",
                RunOptions(
                    count_interval_s=opts.count_interval_s,
                    base_date=base,
                    decision_source=source,
                    progress=opts.progress,
                    envelopes={j: to_envelope(ev) for j, ev in envelopes.items()},
                ),
            )
            return LiveControlResult(
                run=result,
                namespace=settings.topic_namespace,
                base=base,
                envelopes=envelopes,
                sent=bridge.sent,
                dead_letters=bridge.dead_letters(),
                consumed=list(bridge.consumed),
                round_trips_s=list(bridge.round_trips_s),
                decide_wall_s=sum(bridge.round_trips_s),
            )
    finally:
        if proc is not None:
            stop_process(proc)
