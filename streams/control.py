"""The control stage: live junction states in, decisions checked against the approved envelope out.

On a plain aiokafka consumer group (``<app id>-control``), like the ingest stage and for the same
reason: Faust's per-record cost (docs/streams.md). Its only state is the envelope table, which
every worker rebuilds from the compacted envelopes topic before it takes any junction state, and
the group's offsets, committed once a batch's decisions are delivered (at least once; a
redelivered state gives the same decision, with the same ``decision_id``). The controllers
registered today decide from the state alone, so nothing else needs restoring after a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import msgspec

from optimizer.fixed_time import FixedTimeController
from optimizer.strategy import (
    Controller,
    Decision,
    Envelope,
    JunctionState,
    MovementState,
    PhaseState,
)
from streams import kafka
from streams.context import PipelineContext, StreamsConfig
from streams.envelopes import Approved, EnvelopeTable
from streams.errors import RejectedReading
from streams.events import (
    ActivePlan,
    JunctionStateReport,
    MovementObservation,
    PhaseObservation,
    SignalDecision,
    Suspension,
)
from streams.ingest import consume_in_batches
from streams.oversight import Oversight, follow_compacted, oversight_consumer, suspension_key
from streams.planning import MODEL_VERSION
from streams.validation import dead_letter_headers

log = logging.getLogger("aiguilleur.streams")

_state_decoder = msgspec.json.Decoder(JunctionStateReport)
_encoder = msgspec.json.Encoder()
MAX_STATE_BYTES = 256 * 1024
EPS = 1e-6

Send = Callable[[str, bytes | None, bytes | None, list[tuple[str, bytes]]], Awaitable[Any]]
"""``send(topic, key, value, headers)``: returns once the record is queued; awaiting the result
waits for the broker's acknowledgement (aiokafka's ``send``)."""


# --- mapping between the events and the optimiser's types --------------------------------------


def to_report(state: JunctionState, zone_id: str, observed_at: datetime) -> JunctionStateReport:
    """A controller's input as the ``aiguilleur.junction-states.v1`` event."""
    return JunctionStateReport(
        junction_id=state.junction_id,
        zone_id=zone_id,
        observed_at=observed_at,
        current_phase=state.current_phase,
        phase_elapsed_s=state.phase_elapsed_s,
        cycle_elapsed_s=state.cycle_elapsed_s,
        phases=tuple(
            PhaseObservation(
                index=p.index,
                movements=tuple(
                    MovementObservation(
                        id=m.id,
                        queue_veh=m.queue_veh,
                        downstream_queue_veh=m.downstream_queue_veh,
                        arrivals_vph=m.arrivals_vph,
                        saturation_flow_vph=m.saturation_flow_vph,
                        approaching_s=m.approaching_veh,
                        downstream_capacity_veh=m.downstream_capacity_veh,
                        downstream_vehicles=m.downstream_vehicles,
                        waiting_s=m.waiting_s,
                        detector_gap_s=m.detector_gap_s,
                        queue_age_s=m.queue_age_s,
                    )
                    for m in p.movements
                ),
            )
            for p in state.phases
        ),
    )


def to_state(report: JunctionStateReport) -> JunctionState:
    """The controller's input from a junction-state event (time in Unix seconds)."""
    return JunctionState(
        junction_id=report.junction_id,
        time_s=report.observed_at.timestamp(),
        current_phase=report.current_phase,
        phase_elapsed_s=report.phase_elapsed_s,
        cycle_elapsed_s=report.cycle_elapsed_s,
        phases=tuple(
            PhaseState(
                index=p.index,
                movements=tuple(
                    MovementState(
                        id=m.id,
                        queue_veh=m.queue_veh,
                        downstream_queue_veh=m.downstream_queue_veh,
                        arrivals_vph=m.arrivals_vph,
                        saturation_flow_vph=m.saturation_flow_vph,
                        approaching_veh=m.approaching_s,
                        downstream_capacity_veh=m.downstream_capacity_veh,
                        downstream_vehicles=m.downstream_vehicles,
                        waiting_s=m.waiting_s,
                        detector_gap_s=m.detector_gap_s,
                        queue_age_s=m.queue_age_s,
                    )
                    for m in p.movements
                ),
            )
            for p in report.phases
        ),
    )


def to_decision(event: SignalDecision, time_s: float) -> Decision:
    """A decision event as the optimiser's ``Decision`` (``time_s`` on the caller's clock)."""
    return Decision(
        junction_id=event.junction_id,
        time_s=time_s,
        phase_index=event.phase_index,
        next_decision_in_s=event.next_decision_in_s,
        reason=event.reason,
    )


def decision_id(
    junction_id: str, observed_at: datetime, envelope_id: str, programme: str = ""
) -> str:
    """Same state, same envelope (and programme): same id (consumers may drop a redelivered
    decision)."""
    key = f"{junction_id}|{observed_at.isoformat()}|{envelope_id}"
    if programme:
        key += f"|programme:{programme}"
    return hashlib.sha256(key.encode()).hexdigest()[:20]


@dataclass(frozen=True, slots=True)
class Programme:
    """What plays instead of the live controller while an operator's stop holds."""

    suspension: Suspension
    plan: ActivePlan
    controller: Controller


def programme_on_record(envelope: Envelope, active: ActivePlan | None) -> Controller | None:
    """A fixed-time controller playing the junction's approved plan inside its envelope, or
    ``None`` when no approved plan times the envelope's phases (the junction then runs its own
    programme and gets no decision)."""
    if active is None:
        return None
    greens = {p.index: float(p.green_s) for p in active.plan.phases}
    if set(greens) != set(envelope.phase_order):
        return None
    n = len(envelope.min_green_s)
    return FixedTimeController(envelope, tuple(greens.get(i, 0.0) for i in range(n)))


def decision_event(
    report: JunctionStateReport,
    decision: Decision,
    approved: Approved,
    programme: Programme | None = None,
) -> SignalDecision:
    """Wrap a controller's decision as the public ``SignalDecision`` event (with ``programme``:
    the programme on record played during an operator's stop)."""
    env = approved.event
    plan_id = programme.plan.plan.plan_id if programme is not None else ""
    reason = decision.reason
    if programme is not None:
        stop = programme.suspension
        reason = (
            f"live control suspended ({suspension_key(stop.scope, stop.target)} by "
            f"{stop.suspended_by}): the programme on record, plan {plan_id} approved by "
            f"{programme.plan.approved_by}; {decision.reason}"
        )
    return SignalDecision(
        decision_id=decision_id(report.junction_id, report.observed_at, env.envelope_id, plan_id),
        junction_id=report.junction_id,
        zone_id=report.zone_id,
        observed_at=report.observed_at,
        from_phase=report.current_phase,
        phase_index=decision.phase_index,
        next_decision_in_s=decision.next_decision_in_s,
        next_decision_at=report.observed_at + timedelta(seconds=decision.next_decision_in_s),
        reason=reason,
        controller="programme" if programme is not None else approved.controller.name,
        envelope_id=env.envelope_id,
        envelope_approved_by=env.approved_by,
        model_version=MODEL_VERSION,
        suspension=""
        if programme is None
        else suspension_key(programme.suspension.scope, programme.suspension.target),
        programme_plan_id=plan_id,
    )


# --- checks ------------------------------------------------------------------------------------


def state_mismatch(report: JunctionStateReport, envelope: Envelope) -> str | None:
    """Why a state cannot be decided under ``envelope`` (phases it does not know), or None."""
    n = len(envelope.min_green_s)
    if report.current_phase >= n:
        return f"current_phase {report.current_phase} is not a phase of the envelope (0..{n - 1})"
    unknown = sorted({p.index for p in report.phases if p.index >= n})
    if unknown:
        return f"phases {unknown} are not phases of the envelope (0..{n - 1})"
    return None


def envelope_violations(envelope: Envelope, state: JunctionState, decision: Decision) -> list[str]:
    """What a decision breaks in the envelope (empty when it stays inside).

    Written apart from the optimiser's guard on purpose: a second, independent reading of the
    bounds: the phase must be in the approved order, a kept phase must not pass its maximum
    green (unless it is the only phase of the order), a phase may only end after its minimum
    green, and a switch must go to the next phase in the order (any later phase, or the first,
    when the envelope allows skipping).
    """
    out: list[str] = []
    order = envelope.phase_order
    cur, to = state.current_phase, decision.phase_index
    hold = decision.next_decision_in_s
    if decision.junction_id != envelope.junction_id:
        out.append(f"decision for {decision.junction_id}, envelope of {envelope.junction_id}")
    if to not in order:
        out.append(f"phase {to} is not in the approved order {order}")
    if not math.isfinite(hold) or hold <= 0:
        out.append(f"next decision in {hold} s: must be a positive number of seconds")
    if out:
        return out
    if to == cur:
        # A maximum green makes room for the other phases: with one phase in the order there is
        # none, and showing that phase is the only decision there is.
        if len(order) > 1 and state.phase_elapsed_s + hold > envelope.max_green_s[cur] + EPS:
            out.append(
                f"keeps phase {cur} to {state.phase_elapsed_s + hold:.1f} s of green, maximum "
                f"{envelope.max_green_s[cur]:g} s"
            )
        return out
    if cur not in order:
        if to != order[0]:
            out.append(f"phase {cur} is outside the order: the next phase must be {order[0]}")
        return out
    if state.phase_elapsed_s + EPS < envelope.min_green_s[cur]:
        out.append(
            f"ends phase {cur} after {state.phase_elapsed_s:.1f} s of green, minimum "
            f"{envelope.min_green_s[cur]:g} s"
        )
    i = order.index(cur)
    successor = order[(i + 1) % len(order)]
    allowed = {successor}
    if envelope.may_skip_phases:
        allowed |= set(order[i + 1 :]) | {order[0]}
    allowed.discard(cur)
    if to not in allowed:
        out.append(f"switches from {cur} to {to}: not allowed by the order {order}")
    return out


def decode_state(key: bytes | None, value: bytes | None) -> JunctionStateReport:
    """Decode and check one junction-state record; ``RejectedReading`` says why not."""
    if value is None:
        raise RejectedReading("empty", "record has no value; send a JSON JunctionStateReport")
    if len(value) > MAX_STATE_BYTES:
        raise RejectedReading("too_large", f"record is {len(value)} bytes, limit {MAX_STATE_BYTES}")
    try:
        report = _state_decoder.decode(value)
    except msgspec.ValidationError as e:
        raise RejectedReading("invalid", f"{e}; see schemas/{_schema_file()}") from e
    except msgspec.DecodeError as e:
        raise RejectedReading("malformed", f"not JSON: {e}") from e
    if key is not None and key.decode("utf-8", "replace") != report.zone_id:
        raise RejectedReading(
            "key_mismatch",
            f"record key {key.decode('utf-8', 'replace')!r} differs from zone_id "
            f"{report.zone_id!r}; key junction states by zone",
        )
    return report


def _schema_file() -> str:
    from streams.topics import JUNCTION_STATES

    return f"{JUNCTION_STATES}.json"


# --- the stage ---------------------------------------------------------------------------------


class Control:
    """Decide for every junction state a batch holds, publish decisions, dead-letter the rest."""

    def __init__(
        self,
        ctx: PipelineContext,
        table: EnvelopeTable,
        send: Send,
        oversight: Oversight | None = None,
    ) -> None:
        self.ctx = ctx
        self.table = table
        self.send = send
        self.oversight = oversight
        self._zone_of = {j.id: j.zone_id for j in ctx.network.junctions}

    async def dead_letter(self, record: Any, err: RejectedReading) -> Any:
        """Queue the original record to the state dead-letter topic, the reason in headers."""
        headers = dead_letter_headers(record, err)
        self.ctx.metrics.junction_states.labels(outcome="rejected").inc()
        self.ctx.metrics.state_dead_letters.labels(reason=err.code).inc()
        log.info(
            "event=state_dead_letter code=%s partition=%s offset=%s reason=%r",
            err.code,
            record.partition,
            record.offset,
            err.reason,
        )
        return await self.send(
            self.ctx.topics.state_dead_letters, record.key, record.value, headers
        )

    def accept(self, record: Any) -> JunctionStateReport:
        """A valid state of a junction of this network; ``RejectedReading`` otherwise."""
        report = decode_state(record.key, record.value)
        zone = self._zone_of.get(report.junction_id)
        if zone is None:
            raise RejectedReading(
                "unknown_junction",
                f"junction {report.junction_id!r} is not in the network model "
                f"{self.ctx.network.source or '(unnamed)'}; fix the id or the network file",
            )
        if zone != report.zone_id:
            raise RejectedReading(
                "zone_mismatch",
                f"junction {report.junction_id!r} is in zone {zone!r}, the record says "
                f"{report.zone_id!r}",
            )
        return report

    def decide(self, report: JunctionStateReport) -> SignalDecision | None:
        """The checked decision for one state, or None (counted and logged) when there is none.

        While an operator's stop of live control holds, the live controller is not asked: the
        junction falls back to the programme on record (its approved plan, played inside the
        envelope), or, with no approved plan, gets no decision and runs its own programme."""
        metrics = self.ctx.metrics
        stop = (
            None
            if self.oversight is None
            else self.oversight.suspended(report.junction_id, report.zone_id, "control")
        )
        approved = self.table.get(report.junction_id)
        if approved is None:
            metrics.decisions_skipped.labels(
                reason="suspended" if stop is not None else "no_envelope"
            ).inc()
            log.info(
                "event=no_decision reason=%s junction=%s observed_at=%s",
                "suspended" if stop is not None else "no_envelope",
                report.junction_id,
                report.observed_at.isoformat(),
            )
            return None
        mismatch = state_mismatch(report, approved.envelope)
        if mismatch is not None:
            raise RejectedReading(
                "phase_mismatch", f"{mismatch} (envelope {approved.event.envelope_id})"
            )
        programme = None
        controller = approved.controller
        if stop is not None:
            programme = self._programme(report, approved, stop)
            if programme is None:
                return None
            controller = programme.controller
        state = to_state(report)
        t0 = time.perf_counter()
        decision = controller.decide(state)
        metrics.decision_seconds.observe(time.perf_counter() - t0)
        broken = envelope_violations(approved.envelope, state, decision)
        if broken:
            metrics.decisions_skipped.labels(reason="outside_envelope").inc()
            log.error(
                "event=no_decision reason=outside_envelope junction=%s envelope_id=%s "
                "observed_at=%s violations=%r decision=%r",
                report.junction_id,
                approved.event.envelope_id,
                report.observed_at.isoformat(),
                broken,
                decision.reason,
            )
            return None
        return decision_event(report, decision, approved, programme)

    def _programme(
        self, report: JunctionStateReport, approved: Approved, stop: Suspension
    ) -> Programme | None:
        """The programme on record for a junction whose live control an operator stopped."""
        active = None if self.oversight is None else self.oversight.active.get(report.junction_id)
        ctrl = programme_on_record(approved.envelope, active)
        if ctrl is None or active is None:
            # No approved plan to play: the junction runs its own programme on the street.
            self.ctx.metrics.decisions_skipped.labels(reason="suspended").inc()
            log.info(
                "event=no_decision reason=suspended junction=%s scope=%s:%s by=%r programme=none",
                report.junction_id,
                stop.scope,
                stop.target,
                stop.suspended_by,
            )
            return None
        log.info(
            "event=programme_decision junction=%s scope=%s:%s by=%r plan_id=%s",
            report.junction_id,
            stop.scope,
            stop.target,
            stop.suspended_by,
            active.plan.plan_id,
        )
        return Programme(stop, active, ctrl)

    async def handle(self, records: Sequence[Any]) -> int:
        """Process a batch; return once every record it sends is delivered (the caller may then
        commit). Returns the number of decisions published."""
        pending = []
        published = 0
        for record in records:
            try:
                report = self.accept(record)
                event = self.decide(report)
            except RejectedReading as err:
                pending.append(await self.dead_letter(record, err))
                continue
            self.ctx.metrics.junction_states.labels(outcome="accepted").inc()
            if event is None:
                continue
            value = _encoder.encode(event)
            pending.append(
                await self.send(self.ctx.topics.decisions, event.junction_id.encode(), value, [])
            )
            published += 1
            log.debug(
                "event=decision junction=%s observed_at=%s from=%d to=%d next_in_s=%.1f "
                "envelope_id=%s reason=%r",
                event.junction_id,
                event.observed_at.isoformat(),
                event.from_phase,
                event.phase_index,
                event.next_decision_in_s,
                event.envelope_id,
                event.reason,
            )
        for fut in pending:
            await fut
        self.ctx.metrics.decisions.inc(published)
        return published


# --- the Kafka loops ---------------------------------------------------------------------------


async def follow_envelopes(
    cfg: StreamsConfig, topic: str, table: EnvelopeTable, ready: asyncio.Event, metrics: Any
) -> None:
    """Read the envelopes topic from the beginning into ``table`` (no group: every worker holds
    every envelope), set ``ready`` once the records present at start are applied, then follow."""

    def loaded() -> None:
        metrics.envelopes_held.set(len(table))

    await follow_compacted(
        cfg.kafka,
        oversight_consumer(cfg, "envelopes"),
        {topic: table.apply},
        ready,
        on_batch=loaded,
        on_outcome=lambda _t, outcome: metrics.envelopes.labels(outcome=outcome).inc(),
    )


async def run_control(
    cfg: StreamsConfig, ctx: PipelineContext, oversight: Oversight | None = None
) -> None:
    """The control stage until cancelled: envelopes first, then junction states. ``oversight``
    holds the operators' suspensions: a suspended junction gets no live decision."""
    table = EnvelopeTable(ctx.controller)
    ready = asyncio.Event()
    follower = asyncio.create_task(
        follow_envelopes(cfg, ctx.topics.envelopes, table, ready, ctx.metrics)
    )
    producer = kafka.producer(cfg.kafka, acks="all", client_id=f"{cfg.app_id}-control")
    session_ms = int(cfg.session_timeout_s * 1000)
    consumer = kafka.consumer(
        cfg.kafka,
        ctx.topics.junction_states,
        group_id=f"{cfg.app_id}-control",
        client_id=f"{cfg.app_id}-control",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=session_ms,
        heartbeat_interval_ms=max(1000, session_ms // 3),
    )

    async def send(
        topic: str, key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]]
    ) -> Any:
        return await producer.send(topic, key=key, value=value, headers=headers or None)

    stage = Control(ctx, table, send, oversight)
    await kafka.start(producer, cfg.kafka)
    try:
        # no state is decided before the approvals on record are known
        waiter = asyncio.create_task(ready.wait())
        await asyncio.wait({waiter, follower}, return_when=asyncio.FIRST_COMPLETED)
        if not ready.is_set():
            waiter.cancel()
            follower.result()
        await kafka.start(consumer, cfg.kafka)
        log.info(
            "event=control_started group=%s-control topic=%s controller=%s envelopes=%d",
            cfg.app_id,
            ctx.topics.junction_states,
            ctx.controller,
            len(table),
        )

        def check() -> None:
            if follower.done():
                follower.result()  # surfaces the follower's error instead of deciding blind

        await consume_in_batches(
            consumer,
            stage.handle,
            max_records=cfg.ingest_batch,
            timeout_ms=200,
            stage="control",
            check=check,
        )
    finally:
        follower.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await follower
        await kafka.stop(consumer, cfg.kafka)
        await kafka.stop(producer, cfg.kafka)
