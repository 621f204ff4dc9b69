"""The inputs of a zone period's plans, on record, and the plans computed from them.

The zone stage first captures what it holds for the period (:func:`capture`: the zone's readings
up to the period's end, its detector sites, the active plans of its junctions, the planning
configuration, the planner, the network's digest), publishes that record, and then computes the
plans *from the record* (:func:`compute`). ``aiguilleur audit replay`` calls the same
:func:`compute` on the logged record, so a plan the pipeline published is recomputed byte for byte
by construction, as long as the network file and the model version are the same.

Pure: records and the network model in, ``SignalPlan`` events out.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import msgspec

from graph.model import Junction
from graph.model import Link as RoadLink
from optimizer.guardrails import GuardrailConfig
from optimizer.strategy import Planner, ZonePlanner
from streams.errors import PlannerMismatch
from streams.events import (
    ActivePlan,
    ExpectedInput,
    PlanInputs,
    PlanningParameters,
    SignalPlan,
    SiteInput,
    ZoneReading,
)
from streams.planning import MODEL_VERSION, PlanningConfig, SiteRef, plan_junction
from streams.zone_planning import plan_zone
from streams.zone_state import ZoneState

if TYPE_CHECKING:  # the context imports this module's neighbours; only the type is needed
    from streams.context import PipelineContext


def parameters(cfg: PlanningConfig) -> PlanningParameters:
    """The planning configuration as it goes on record."""
    g = cfg.guardrails
    return PlanningParameters(
        period_s=cfg.period_s,
        window_s=cfg.window_s,
        cycle_min_s=cfg.cycle_min_s,
        cycle_max_s=cfg.cycle_max_s,
        min_coverage=cfg.min_coverage,
        pedestrian_flow_pph=cfg.pedestrian_flow_pph,
        guardrail_max_cycle_step_s=None if g is None else g.max_cycle_step_s,
        guardrail_max_green_step_s=None if g is None else g.max_green_step_s,
        recent_window_s=cfg.recent_window_s,
        demand=cfg.demand,
    )


def planning_config(p: PlanningParameters) -> PlanningConfig:
    """Inverse of :func:`parameters`."""
    guardrails = None
    if p.guardrail_max_cycle_step_s is not None and p.guardrail_max_green_step_s is not None:
        guardrails = GuardrailConfig(
            max_cycle_step_s=p.guardrail_max_cycle_step_s,
            max_green_step_s=p.guardrail_max_green_step_s,
        )
    return PlanningConfig(
        period_s=p.period_s,
        window_s=p.window_s,
        cycle_min_s=p.cycle_min_s,
        cycle_max_s=p.cycle_max_s,
        min_coverage=p.min_coverage,
        pedestrian_flow_pph=p.pedestrian_flow_pph,
        guardrails=guardrails,
        recent_window_s=p.recent_window_s,
        demand=p.demand,
    )


def inputs_id(inputs: PlanInputs) -> str:
    """sha256 prefix of the record without its id (canonically ordered)."""
    body = msgspec.json.encode(msgspec.structs.replace(inputs, inputs_id=""), order="sorted")
    return hashlib.sha256(body).hexdigest()[:24]


def capture(
    *,
    commune: str,
    zone_id: str,
    state: ZoneState,
    sites: Sequence[SiteRef],
    period_end_ms: int,
    cfg: PlanningConfig,
    planner: str,
    zone_planner: bool,
    network_sha256: str,
    active: Mapping[str, ActivePlan],
    expected: Mapping[str, float] | None = None,
) -> PlanInputs:
    """The record of what the zone stage holds for this period (``expected``: flow reroute advice
    sends onto approaches, by approach id)."""
    readings = tuple(
        ZoneReading(det, t, length, count, state.occupancy.get(det, {}).get(t))
        for det in sorted(state.counts)
        for t, (count, length) in sorted(state.counts[det].items())
        if t <= period_end_ms
    )
    record = PlanInputs(
        inputs_id="",
        commune=commune,
        zone_id=zone_id,
        period_end_ms=period_end_ms,
        network_sha256=network_sha256,
        planner=planner,
        zone_planner=zone_planner,
        config=parameters(cfg),
        sites=tuple(SiteInput(s.detector_id, s.approach_id, s.lanes, s.lane_ids) for s in sites),
        readings=readings,
        active=tuple(active[j] for j in sorted(active)),
        expected=tuple(ExpectedInput(a, v) for a, v in sorted((expected or {}).items())),
        model_version=MODEL_VERSION,
    )
    return msgspec.structs.replace(record, inputs_id=inputs_id(record))


def capture_zone(
    ctx: PipelineContext,
    state: ZoneState,
    end_ms: int,
    active: Mapping[str, ActivePlan],
    expected: Mapping[str, float] | None = None,
) -> PlanInputs:
    """:func:`capture` of a zone period with the pipeline's own settings: what the zone stage
    records (and the twin's in-process pipeline, which must record the same)."""
    zone_planner = ctx.zone_planner
    return capture(
        commune=ctx.commune,
        zone_id=state.zone_id,
        state=state,
        sites=ctx.detectors.sites_by_zone.get(state.zone_id, ()),
        period_end_ms=end_ms,
        cfg=ctx.planning,
        planner=zone_planner.name if zone_planner else ctx.planner.name,
        zone_planner=zone_planner is not None,
        network_sha256=ctx.network.source_sha256,
        active=active,
        expected=expected,
    )


def state_of(inputs: PlanInputs) -> ZoneState:
    """The zone state the record describes (its readings)."""
    state = ZoneState(zone_id=inputs.zone_id)
    state.upsert(inputs.readings)
    return state


@dataclass(frozen=True, slots=True)
class Computed:
    """The plans of a zone period and the junctions left without one (nothing measured)."""

    plans: tuple[SignalPlan, ...]
    unmeasured: tuple[str, ...]
    zone_result: object | None = None
    """The zone planner's :class:`streams.zone_planning.ZoneResult`, when one planned."""


def compute(
    inputs: PlanInputs,
    junctions: Sequence[Junction],
    road_links: Sequence[RoadLink],
    planner: Planner | None,
    zone_planner: ZonePlanner | None,
    timed: Callable[[float], None] = lambda _s: None,
) -> Computed:
    """The plans the record's inputs give: per junction with ``planner``, or together with
    ``zone_planner`` when the record names a zone planner. ``timed`` receives each junction's
    planning time (s), for the metrics."""
    import time

    cfg = planning_config(inputs.config)
    state = state_of(inputs)
    sites = [SiteRef(s.detector_id, s.approach_id, s.lanes, s.lane_ids) for s in inputs.sites]
    active = {a.junction_id: a for a in inputs.active}
    expected = {e.approach_id: e.vph for e in inputs.expected}
    plans: list[SignalPlan] = []
    unmeasured: list[str] = []
    zone_result = None
    if inputs.zone_planner:
        _same_planner(inputs, zone_planner)
        assert zone_planner is not None
        members = {j.id for j in junctions}
        links = [
            lk for lk in road_links if lk.from_junction in members and lk.to_junction in members
        ]
        t0 = time.perf_counter()
        zone_result = plan_zone(
            inputs.zone_id,
            junctions,
            links,
            sites,
            state,
            inputs.period_end_ms,
            cfg,
            zone_planner,
            inputs.network_sha256,
            active,
        )
        for _ in zone_result.plans:
            timed((time.perf_counter() - t0) / len(zone_result.plans))
        plans, unmeasured = list(zone_result.plans), list(zone_result.unmeasured)
    else:
        _same_planner(inputs, planner)
        assert planner is not None
        for junction in junctions:
            t0 = time.perf_counter()
            event = plan_junction(
                junction,
                sites,
                state,
                inputs.period_end_ms,
                cfg,
                planner,
                inputs.network_sha256,
                active.get(junction.id),
                expected_vph=expected,
            )
            timed(time.perf_counter() - t0)
            if not any(a.measured for a in event.explanation.approaches):
                # No approach has enough data in the window: no recommendation, not a guess.
                unmeasured.append(junction.id)
                continue
            plans.append(event)
    stamped = tuple(
        msgspec.structs.replace(p, commune=inputs.commune, inputs_id=inputs.inputs_id)
        for p in plans
    )
    return Computed(stamped, tuple(unmeasured), zone_result)


def _same_planner(inputs: PlanInputs, planner: Planner | ZonePlanner | None) -> None:
    if planner is None or planner.name != inputs.planner:
        raise PlannerMismatch(
            inputs.inputs_id,
            f"the record was planned with {inputs.planner!r}, not "
            f"{planner.name if planner else 'nothing'!r}: replay it with that planner",
        )
