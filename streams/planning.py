"""From a zone's aggregated counts to signal-plan events: measure flows, build demand, call the
planner.

Pure: the network, detector sites, state and period end come in; ``SignalPlan`` events go out.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import msgspec

from graph.model import Junction
from optimizer.guardrails import GuardrailConfig
from optimizer.model import JunctionDemand, LaneGroup, PhaseDemand, Plan
from optimizer.strategy import Planner
from streams.events import (
    ActivePlan,
    ApproachInput,
    ExpectedEffect,
    PhaseGreen,
    PlanExplanation,
    PlanTransition,
    SignalPlan,
)
from streams.guarding import active_delay, guard, timing
from streams.zone_state import ZoneState

MODEL_VERSION = "aiguilleur-0.1"


@dataclass(frozen=True, slots=True)
class PlanningConfig:
    """Planning parameters that the inputs digest covers (they change the plan)."""

    period_s: int
    window_s: int
    cycle_min_s: int = 40
    cycle_max_s: int = 120
    min_coverage: float = 0.5
    """Share of the window a detector must have reported for its approach to count as measured."""
    pedestrian_flow_pph: float = 60.0
    """Pedestrians per hour assumed (not measured) on each phase with a signalised crossing."""
    guardrails: GuardrailConfig | None = None
    """Bounds on the change from the running plan per cycle; ``None``: publish plans as computed."""


@dataclass(frozen=True, slots=True)
class SiteRef:
    """What planning needs of a detector site."""

    detector_id: str
    approach_id: str
    lanes: int


@dataclass(frozen=True, slots=True)
class MeasuredApproach:
    """Flow measured on one approach over the window."""

    approach_id: str
    flow_vph: float
    detectors: tuple[str, ...]
    readings: int
    measured: bool


def measure_approaches(
    junction: Junction,
    sites: Sequence[SiteRef],
    state: ZoneState,
    start_ms: int,
    end_ms: int,
    cfg: PlanningConfig,
) -> list[MeasuredApproach]:
    """Flow per approach (veh/h) from the detectors on it, scaled to the approach's lanes.

    A detector's flow is its vehicles over the seconds it actually reported (gaps do not read as
    zero
    traffic). If detectors cover only some lanes, the flow is scaled up by lanes / covered lanes.
    """
    by_approach: dict[str, list[SiteRef]] = {}
    for s in sites:
        by_approach.setdefault(s.approach_id, []).append(s)
    out = []
    window_s = (end_ms - start_ms) / 1000
    for a in junction.approaches:
        flow = 0.0
        lanes_covered = 0
        readings = 0
        dets = by_approach.get(a.id, [])
        for s in dets:
            vehicles, seconds, n = state.window(s.detector_id, start_ms, end_ms)
            readings += n
            if seconds >= cfg.min_coverage * window_s and seconds > 0:
                flow += vehicles * 3600.0 / seconds
                lanes_covered += s.lanes
        measured = lanes_covered > 0
        if measured and lanes_covered < a.lanes:
            flow *= a.lanes / lanes_covered
        out.append(
            MeasuredApproach(
                a.id, round(flow, 3), tuple(s.detector_id for s in dets), readings, measured
            )
        )
    return out


def junction_demand(
    junction: Junction, flows: Mapping[str, float], cfg: PlanningConfig
) -> JunctionDemand:
    """Demand per phase: each approach's flow shared among the phases that serve its movements."""
    movement_share: dict[tuple[int, str], float] = {}
    moves_per_approach: dict[str, int] = {}
    for m in junction.movements:
        moves_per_approach[m.approach_id] = moves_per_approach.get(m.approach_id, 0) + 1
    for p in junction.phases:
        served = set(p.movement_ids)
        for a_id in p.approach_ids:
            n_total = moves_per_approach.get(a_id, 0)
            n_here = sum(1 for m in junction.movements if m.approach_id == a_id and m.id in served)
            share = n_here / n_total if n_total else 1.0
            movement_share[(p.index, a_id)] = share
    phases = []
    for p in junction.phases:
        groups = []
        for a_id in p.approach_ids:
            a = junction.approach(a_id)
            share = movement_share.get((p.index, a_id), 1.0)
            groups.append(
                LaneGroup(
                    id=a_id,
                    flow_vph=flows.get(a_id, 0.0) * share,
                    saturation_flow_vph=a.saturation_flow_vph,
                )
            )
        phases.append(
            PhaseDemand(
                index=p.index,
                lane_groups=tuple(groups),
                min_green_s=p.min_green_s,
                max_green_s=p.max_green_s,
                intergreen_s=p.intergreen_s,
                pedestrian_flow_pph=cfg.pedestrian_flow_pph if p.pedestrian else 0.0,
            )
        )
    return JunctionDemand(
        junction_id=junction.id,
        phases=tuple(phases),
        cycle_min_s=cfg.cycle_min_s,
        cycle_max_s=cfg.cycle_max_s,
        # The flows are vehicles counted over the window, scaled to veh/h: the optimiser plans for
        # the rate such a count cannot rule out (Webster ignores it).
        count_period_s=float(cfg.window_s),
    )


def inputs_digest(
    network_sha256: str,
    demand: JunctionDemand,
    cfg: PlanningConfig,
    strategy: str,
    period_end_ms: int,
) -> str:
    """sha256 of everything the plan depends on, canonically encoded."""
    return digest_of(network_sha256, {"demand": demand}, cfg, strategy, period_end_ms)


def digest_of(
    network_sha256: str,
    inputs: Mapping[str, object],
    cfg: PlanningConfig,
    strategy: str,
    period_end_ms: int,
) -> str:
    """sha256 of ``inputs`` (msgspec-encodable demand) with the network, period, configuration,
    strategy and model version, canonically encoded."""
    payload = msgspec.json.encode(
        {
            **inputs,
            "network": network_sha256,
            "period_end_ms": period_end_ms,
            "config": [
                cfg.period_s,
                cfg.window_s,
                cfg.cycle_min_s,
                cfg.cycle_max_s,
                cfg.min_coverage,
            ],
            "strategy": strategy,
            "model": MODEL_VERSION,
        },
        order="sorted",
    )
    return hashlib.sha256(payload).hexdigest()


def _ms_to_dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def plan_junction(
    junction: Junction,
    sites: Sequence[SiteRef],
    state: ZoneState,
    period_end_ms: int,
    cfg: PlanningConfig,
    planner: Planner,
    network_sha256: str,
    active: ActivePlan | None = None,
    expected_vph: Mapping[str, float] | None = None,
) -> SignalPlan:
    """The plan to publish for one junction for the period that starts at ``period_end_ms``: the
    planner's recommendation, bounded by the guardrails against the junction's ``active``
    (approved) plan when there is one. ``expected_vph`` is flow about to arrive on top of what was
    measured (diverted by reroute advice, ``streams.diversion_board``), by approach id."""
    start_ms = period_end_ms - cfg.window_s * 1000
    measured = measure_approaches(junction, sites, state, start_ms, period_end_ms, cfg)
    flows = {m.approach_id: m.flow_vph for m in measured}
    for approach_id, extra in (expected_vph or {}).items():
        if approach_id in flows:
            flows[approach_id] += extra
    demand = junction_demand(junction, flows, cfg)
    plan = planner.plan(demand)
    guarded = guard(active, plan, demand, cfg.guardrails)
    if guarded is None:
        digest = inputs_digest(network_sha256, demand, cfg, planner.name, period_end_ms)
        event = to_event(junction, plan, measured, period_end_ms, cfg, digest)
    else:
        assert active is not None
        # The active plan and the bounds are inputs too: the same demand from another active
        # plan publishes another step.
        digest = digest_of(
            network_sha256,
            {
                "demand": demand,
                "active": {"plan_id": active.plan.plan_id, "timing": timing(active)},
                "guardrails": cfg.guardrails,
            },
            cfg,
            planner.name,
            period_end_ms,
        )
        event = to_event(
            junction, guarded.plan, measured, period_end_ms, cfg, digest, guarded.transition
        )
    event = with_expected(event, expected_vph)
    return with_active_delay(event, active_delay(active, plan, demand))


def with_expected(event: SignalPlan, expected_vph: Mapping[str, float] | None) -> SignalPlan:
    """The plan's explanation with the diverted flow it was computed for (the demand, hence the
    digest, already holds it)."""
    extra = {a: v for a, v in (expected_vph or {}).items() if v > 0}
    if not extra:
        return event
    ex = event.explanation
    approaches = tuple(
        msgspec.structs.replace(a, expected_diverted_vph=round(extra.get(a.approach_id, 0.0), 1))
        for a in ex.approaches
    )
    warnings = ex.warnings + tuple(
        f"approach {a}: {v:.0f} veh/h expected from reroute advice (a diversion around an "
        "incident) added to the measured flow"
        for a, v in sorted(extra.items())
    )
    return msgspec.structs.replace(
        event,
        explanation=msgspec.structs.replace(ex, approaches=approaches, warnings=warnings),
    )


def with_active_delay(event: SignalPlan, delay: float | None) -> SignalPlan:
    """``event`` with the active plan's expected delay under the same demand (when known)."""
    if delay is None:
        return event
    effect = msgspec.structs.replace(event.expected_effect, active_plan_delay_s_per_veh=delay)
    return msgspec.structs.replace(event, expected_effect=effect)


def to_event(
    junction: Junction,
    plan: Plan,
    measured: Sequence[MeasuredApproach],
    period_end_ms: int,
    cfg: PlanningConfig,
    digest: str,
    transition: PlanTransition | None = None,
) -> SignalPlan:
    """Wrap an optimiser plan as the public ``SignalPlan`` event."""
    effects = {e.lane_group_id: e for e in plan.effects}
    sat = {a.id: a.saturation_flow_vph for a in junction.approaches}
    approaches = tuple(
        ApproachInput(
            approach_id=m.approach_id,
            flow_vph=m.flow_vph,
            saturation_flow_vph=sat[m.approach_id],
            detectors=m.detectors,
            readings=m.readings,
            measured=m.measured,
            degree_of_saturation=effects[m.approach_id].degree_of_saturation
            if m.approach_id in effects
            else 0.0,
            delay_s_per_veh=effects[m.approach_id].delay_s_per_veh
            if m.approach_id in effects
            else 0.0,
        )
        for m in measured
    )
    phase_approaches = {p.index: p.approach_ids for p in junction.phases}
    phases = tuple(
        PhaseGreen(
            index=t.index,
            green_s=t.green_s,
            intergreen_s=t.intergreen_s,
            approach_ids=phase_approaches.get(t.index, ()),
            flow_ratio=t.flow_ratio,
            degree_of_saturation=t.degree_of_saturation,
        )
        for t in plan.phases
    )
    unmeasured = [m.approach_id for m in measured if not m.measured]
    warnings: tuple[str, ...] = tuple(
        f"approach {a} has no detector data in the window: its flow is taken as 0"
        for a in unmeasured
    )
    if cfg.pedestrian_flow_pph > 0 and any(p.pedestrian for p in junction.phases):
        warnings += (
            f"pedestrian demand is assumed, not measured: {cfg.pedestrian_flow_pph:g} "
            "pedestrians/h on each phase with a signalised crossing",
        )

    ex = plan.explanation
    explanation = PlanExplanation(
        method=ex.method,
        objective=ex.objective,
        binding_constraints=ex.binding_constraints,
        solver_status=ex.solver_status,
        parameters=dict(ex.parameters),
        approaches=approaches,
        window_start=_ms_to_dt(period_end_ms - cfg.window_s * 1000),
        window_end=_ms_to_dt(period_end_ms),
        text_en=ex.text_en,
        text_fr=ex.text_fr,
        warnings=warnings,
        transition=transition,
    )
    max_x = max((t.degree_of_saturation for t in plan.phases), default=0.0)
    return SignalPlan(
        plan_id=digest[:20],
        junction_id=junction.id,
        zone_id=junction.zone_id,
        cycle_s=plan.cycle_s,
        offset_s=plan.offset_s,
        phases=phases,
        valid_from=_ms_to_dt(period_end_ms),
        valid_until=_ms_to_dt(period_end_ms + cfg.period_s * 1000),
        expected_effect=ExpectedEffect(
            mean_delay_s_per_veh=plan.expected_delay_s_per_veh,
            max_degree_of_saturation=max_x,
            oversaturated=ex.oversaturated,
        ),
        explanation=explanation,
        inputs_digest=digest,
        model_version=MODEL_VERSION,
        strategy=plan.strategy,
    )
