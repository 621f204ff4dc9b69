"""The product's plans in the twin, in process: what ``aiguilleur twin run`` and ``twin bench`` run
for every planner control (``webster``, ``optimizer``, ``coordinated``…).

The twin's counts are handled exactly as a worker handles them, by the worker's own code, without
the broker: each record is encoded as the JSON value of ``aiguilleur.traffic-counts.v1`` and
validated (:func:`streams.validation.decode_reading`), kept in its zone's state
(:class:`streams.zone_state.ZoneState`), and every control period the zone stage's planning gives
the plans: the period's inputs on record (:func:`streams.plan_inputs.capture`) and the plans
computed from them (:func:`streams.plan_inputs.compute`: the demand estimator, the planner, the
guardrails), encoded and decoded as the plans topic carries them.

Nobody approves a plan in the twin: the active-plans topic stays empty, as in a deployment before
any approval. So the guardrails (which bound from the approved plan) do not apply, and the
estimator judges permitted turns and saturated loops against the signal's own programme; the
twin applies every recommendation as proposed. The worker reads the network model and
detector registry :func:`aiguilleur.twin_live.write_pipeline_files` writes, with the same
settings; event time follows the same lockstep as ``aiguilleur twin live`` (a plan reflects the
counts of the period that ended ``lateness`` seconds before it applies). So the plans applied here
are the ones a worker publishes through Kafka for the same run, identical inputs digests and
greens (``tests/integration/twin/test_product_equivalence.py``).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path

import msgspec
from prometheus_client import CollectorRegistry

from aiguilleur.follow import decode_plan
from aiguilleur.settings import Settings
from aiguilleur.twin_live import PipelineFiles, event_base, to_event, to_plan, write_pipeline_files
from aiguilleur.wiring import pipeline_context, streams_config
from optimizer.model import Plan
from streams.agents import event_time_bounds
from streams.context import PipelineContext
from streams.events import SignalPlan, ZoneReading
from streams.metrics import create_metrics
from streams.oversight import Oversight
from streams.plan_inputs import capture_zone, compute
from streams.validation import (
    EventTimeBounds,
    check_event_time,
    decode_reading,
    to_zone_reading,
)
from streams.zone_state import ZoneClock, ZoneState
from twin import CountRecord, RunOptions, RunResult, Scenario, resolve_control, run_twin

_plan_encoder = msgspec.json.Encoder()


class ProductPipeline:
    """The worker's ingest and zone stages in process, for one twin run.

    ``on_counts`` takes the twin's records as the input topic would; ``plans`` answers the
    runner's plan source with the plans published for the period starting then.
    """

    def __init__(
        self,
        ctx: PipelineContext,
        files: PipelineFiles,
        lateness_s: int,
        bounds: EventTimeBounds | None = None,
    ) -> None:
        self.ctx = ctx
        self.files = files
        self.clock = ZoneClock(
            period_ms=ctx.planning.period_s * 1000,
            lateness_ms=lateness_s * 1000,
            window_ms=ctx.planning.history_s * 1000,
        )
        self.quorum = {
            zone: ZoneClock.quorum(len({s.detector_id for s in sites}))
            for zone, sites in ctx.detectors.sites_by_zone.items()
        }
        self.bounds = bounds
        """The ingest's event-time bounds: none in the twin (``twin live`` sets
        ``AIGUILLEUR_EVENT_TIME_REPLAY`` for its worker: simulated time maps to past dates)."""
        self.states: dict[str, ZoneState] = {}
        self.published: list[SignalPlan] = []
        self.oversight = Oversight(ctx.commune)
        """Nothing approved, nothing suspended: the twin records no decision."""
        self._by_start: dict[tuple[datetime, str], SignalPlan] = {}

    def on_counts(self, records: list[CountRecord]) -> None:
        """Ingest (validation, event-time bounds, regrouping by zone) and the zone stage (zone
        clocks, periods closed, planning), as the worker does."""
        by_zone: dict[str, list[ZoneReading]] = {}
        for rec in records:
            if rec.detector_id not in self.files.detectors:
                continue
            reading = to_zone_reading(decode_reading(rec.detector_id.encode(), to_event(rec)))
            check_event_time(reading, int(time.time() * 1000), self.bounds)
            zone = self.ctx.detectors.zone_of[reading.detector_id]
            by_zone.setdefault(zone, []).append(reading)
        for zone, readings in by_zone.items():
            state = self.states.setdefault(zone, ZoneState(zone_id=zone))
            step = self.clock.receive(state, readings, self.quorum.get(zone, 1))
            for end_ms in step.due:
                self._publish_plans(state, end_ms)
                state.planned_until_ms = end_ms
            self.clock.planned(state, step)

    def _publish_plans(self, state: ZoneState, end_ms: int) -> None:
        """As the zone stage's ``publish_plans``: the inputs on record, the plans from them."""
        ctx = self.ctx
        junctions = ctx.junctions_by_zone.get(state.zone_id, ())
        zone_planner = ctx.zone_planner
        inputs = capture_zone(ctx, state, end_ms, self.oversight.active_of(j.id for j in junctions))
        computed = compute(
            inputs, junctions, ctx.network.links, ctx.planner, zone_planner, lambda _s: None
        )
        for event in computed.plans:
            if self.oversight.suspended(event.junction_id, event.zone_id, "recommendations"):
                continue
            # what the plans topic carries, and what a consumer decodes
            sp = decode_plan(_plan_encoder.encode(event))
            self.published.append(sp)
            self._by_start[(sp.valid_from, sp.junction_id)] = sp

    def plans(self, valid_from: datetime) -> dict[str, SignalPlan]:
        """The plans published for the period starting at ``valid_from``, by junction."""
        return {jid: sp for (start, jid), sp in self._by_start.items() if start == valid_from}


@dataclass(kw_only=True)
class ProductResult:
    """A twin run under the product's plans, and the plans the pipeline published."""

    run: RunResult
    published: list[SignalPlan] = field(default_factory=list)
    asked: list[datetime] = field(default_factory=list)
    """Start of every period whose plans the runner applied, in order."""


def product_settings(planner: str, period_s: int, base: Settings | None = None) -> Settings:
    """The worker settings of a product run: the environment's (as a worker started by
    ``aiguilleur twin live`` reads them), the planner and the control period."""
    settings = base or Settings()
    # as ``twin live`` sets for its worker: simulated time maps to fixed past dates
    return settings.model_copy(
        update={"planner": planner, "control_period_s": period_s, "event_time_replay": True}
    )


def run_product(
    scenario: Scenario,
    planner: str,
    options: RunOptions | None = None,
    *,
    settings: Settings | None = None,
    workdir: Path | None = None,
) -> ProductResult:
    """Run ``scenario`` with its signals timed by the product's plans for ``planner``, the
    worker's code in process (see the module doc); ``settings``: the worker's (default: the
    environment's)."""
    opts = options or RunOptions()
    period_s = int(opts.plan_period_s)
    cfg = product_settings(planner, period_s, settings)
    lateness = cfg.lateness_s
    if lateness % opts.count_interval_s or not 0 < lateness < period_s:
        raise ValueError(
            f"AIGUILLEUR_LATENESS_S={lateness} must be a positive multiple of the count interval "
            f"({opts.count_interval_s} s) and shorter than the period ({period_s} s)"
        )
    with tempfile.TemporaryDirectory(prefix="aiguilleur-product-") as tmp:
        folder = workdir or Path(tmp)
        files = write_pipeline_files(scenario, folder, opts.count_interval_s, every_junction=False)
        cfg = cfg.model_copy(
            update={"network_file": files.network_file, "detector_registry": files.registry}
        )
        # a registry of its own: a process may run many product runs (a benchmark)
        metrics = create_metrics(CollectorRegistry())
        pipeline = ProductPipeline(
            pipeline_context(cfg, metrics),
            files,
            lateness,
            event_time_bounds(streams_config(cfg)),
        )
        base = event_base(scenario.begin_s, lateness, period_s)
        asked: list[datetime] = []
        outside = opts.on_counts

        def on_counts(records: list[CountRecord]) -> None:
            if outside is not None:
                outside(records)
            pipeline.on_counts(records)

        def plan_source(now: float) -> Mapping[str, Plan]:
            valid_from = base + timedelta(seconds=now - lateness)
            asked.append(valid_from)
            return {jid: to_plan(sp) for jid, sp in pipeline.plans(valid_from).items()}

        run = run_twin(
            scenario,
            planner,
            replace(opts, base_date=base, on_counts=on_counts, plan_source=plan_source),
        )
        return ProductResult(run=run, published=pipeline.published, asked=asked)


def run_control(scenario: Scenario, control: str, options: RunOptions | None = None) -> RunResult:
    """Run ``scenario`` under ``control`` as the twin's commands do: a planner control through the
    product's pipeline (:func:`run_product`), anything else as the twin runs it."""
    if resolve_control(control).kind == "planner":
        return run_product(scenario, control, options).run
    return run_twin(scenario, control, options)
