"""From a zone's aggregated counts to signal-plan events: read each detector's window, estimate
the demand (:mod:`demand`), call the planner, bound by the guardrails, wrap as an event.

Pure: the network, detector sites, state and period end come in; ``SignalPlan`` events go out.
The demand itself is :func:`demand.estimate_junction`'s, the estimator the twin's planner rows
use too; this module only reads the zone state into its inputs and its answer into the event.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import msgspec

from demand import (
    DemandSettings,
    DetectorWindow,
    JunctionEstimate,
    RunningTiming,
    Window,
    estimate_junction,
    running_timing,
)
from graph.model import Junction
from optimizer.guardrails import GuardrailConfig
from optimizer.model import ApproachEffect, JunctionDemand, Plan
from optimizer.strategy import Planner
from streams.events import (
    ActivePlan,
    ApproachInput,
    ExpectedEffect,
    LaneGroupInput,
    MovementInput,
    PhaseGreen,
    PlanExplanation,
    PlanTransition,
    SignalPlan,
)
from streams.guarding import active_delay, guard, timing
from streams.zone_state import ZoneState

MODEL_VERSION = "aiguilleur-0.2"
"""Version of the planning model (0.2: demand from the lane-level estimator, ``demand/``)."""


@dataclass(frozen=True, slots=True)
class PlanningConfig:
    """Planning parameters that the inputs digest covers (they change the plan)."""

    period_s: int
    window_s: int
    cycle_min_s: int = 40
    cycle_max_s: int = 120
    min_coverage: float = 0.5
    """Share of the window a detector must have reported for its count to be used."""
    pedestrian_flow_pph: float = 60.0
    """Pedestrians per hour assumed (not measured) on each phase with a signalised crossing."""
    guardrails: GuardrailConfig | None = None
    """Bounds on the change from the running plan per cycle; ``None``: publish plans as computed."""
    recent_window_s: int = 900
    """Longer window whose flows each lane group also carries (``LaneGroup.recent_flow_vph``): the
    optimiser keeps a phase the recent traffic needs when the latest window happened to be quiet
    (HCM's 15-minute analysis period). 0 (or not longer than ``window_s``): not used."""
    demand: DemandSettings = field(default_factory=DemandSettings)
    """The estimator's other parameters (turning prior, saturated occupancy, exit weight…);
    ``min_coverage`` and ``pedestrian_flow_pph`` above override theirs."""

    def demand_settings(self) -> DemandSettings:
        """The estimator's settings, with this configuration's coverage and pedestrian flow."""
        return msgspec.structs.replace(
            self.demand,
            min_coverage=self.min_coverage,
            pedestrian_flow_pph=self.pedestrian_flow_pph,
        )

    @property
    def history_s(self) -> int:
        """How far back from a period's end the zone state must keep readings."""
        return max(self.window_s, self.recent_window_s)


@dataclass(frozen=True, slots=True)
class SiteRef:
    """What planning needs of a detector site."""

    detector_id: str
    approach_id: str
    lanes: int
    lane_ids: tuple[str, ...] = ()
    """Model lanes the detector covers (empty: ``lanes`` lanes of the approach, unknown which)."""


def detector_windows(
    junction: Junction, sites: Sequence[SiteRef], state: ZoneState, start_ms: int, end_ms: int
) -> list[DetectorWindow]:
    """The windows of the detectors on ``junction``'s approaches and exits."""
    approaches = {a.id for a in junction.approaches}
    lanes = {ln.id for a in junction.approaches for ln in a.lane_detail}
    lanes |= {lid for x in junction.exits for lid in x.lane_ids}
    out = []
    for s in sites:
        on_lanes = bool(s.lane_ids) and set(s.lane_ids) <= lanes
        if not on_lanes and not (not s.lane_ids and s.approach_id in approaches):
            continue
        vehicles, seconds, n = state.window(s.detector_id, start_ms, end_ms)
        out.append(
            DetectorWindow(
                detector_id=s.detector_id,
                approach_id=s.approach_id if s.approach_id in approaches else "",
                lane_ids=s.lane_ids,
                lanes=s.lanes,
                vehicles=vehicles,
                seconds=float(seconds),
                readings=n,
                occupancy=state.window_occupancy(s.detector_id, start_ms, end_ms),
            )
        )
    return out


def with_expected_counts(
    windows: list[DetectorWindow], expected_vph: Mapping[str, float] | None
) -> list[DetectorWindow]:
    """``windows`` with the flow expected on top of the measured one (by approach id, veh/h)
    added to the counts of that approach's detectors, shared by their lanes over the seconds each
    covered. An approach no detector measures gets nothing (its flow is not known to add to)."""
    extra = {a: v for a, v in (expected_vph or {}).items() if v > 0}
    if not extra:
        return windows
    lanes: dict[str, int] = {}
    for w in windows:
        if w.approach_id in extra:
            lanes[w.approach_id] = lanes.get(w.approach_id, 0) + max(w.lanes, len(w.lane_ids), 1)
    out = []
    for w in windows:
        added = 0
        if w.approach_id in extra:
            share = max(w.lanes, len(w.lane_ids), 1) / lanes[w.approach_id]
            added = round(extra[w.approach_id] * share * w.seconds / 3600.0)
        out.append(msgspec.structs.replace(w, vehicles=w.vehicles + added) if added else w)
    return out


def active_timing(active: ActivePlan | None) -> RunningTiming | None:
    """The junction's active (approved) plan, as the estimator's running timing."""
    if active is None:
        return None
    return RunningTiming(
        greens_s=tuple((p.index, float(p.green_s)) for p in active.plan.phases),
        cycle_s=float(active.plan.cycle_s),
        source="active",
    )


def estimate(
    junction: Junction,
    sites: Sequence[SiteRef],
    state: ZoneState,
    period_end_ms: int,
    cfg: PlanningConfig,
    active: ActivePlan | None = None,
    expected_vph: Mapping[str, float] | None = None,
) -> JunctionEstimate:
    """The junction's demand for the period that starts at ``period_end_ms``, from the window
    (and the recent window) that ends there, judged against what it runs: its ``active``
    (approved) plan, else its own programme when the network model has it. ``expected_vph``
    (flow diverted onto an approach by reroute advice) is counted by that approach's detectors
    on top of what they measured (:func:`with_expected_counts`)."""
    start_ms = period_end_ms - cfg.window_s * 1000
    now = Window(
        with_expected_counts(
            detector_windows(junction, sites, state, start_ms, period_end_ms), expected_vph
        ),
        float(cfg.window_s),
    )
    recent = None
    if cfg.recent_window_s > cfg.window_s:
        recent_start = period_end_ms - cfg.recent_window_s * 1000
        recent = Window(
            detector_windows(junction, sites, state, recent_start, period_end_ms),
            float(cfg.recent_window_s),
            coverage_s=cfg.min_coverage * cfg.window_s,
        )
    return estimate_junction(
        junction,
        now,
        cfg.demand_settings(),
        cycle_bounds=(cfg.cycle_min_s, cfg.cycle_max_s),
        running=running_timing(junction, active_timing(active)),
        recent=recent,
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
                cfg.recent_window_s,
            ],
            "demand_settings": cfg.demand_settings(),
            "strategy": strategy,
            "model": MODEL_VERSION,
        },
        order="sorted",
    )
    return hashlib.sha256(payload).hexdigest()


def json_parameters(params: Mapping[str, float | int | str]) -> dict[str, float | int | str]:
    """``params`` as JSON can carry them: a non-finite float (an infeasible common cycle's cost)
    becomes the string ``inf``, ``-inf`` or ``nan`` (JSON has no such number; msgspec would
    write ``null``, which no consumer of the schema accepts)."""
    return {
        k: str(v) if isinstance(v, float) and not math.isfinite(v) else v for k, v in params.items()
    }


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
    est = estimate(junction, sites, state, period_end_ms, cfg, active, expected_vph)
    demand = est.demand
    plan = planner.plan(demand)
    guarded = guard(active, plan, demand, cfg.guardrails)
    if guarded is None:
        digest = inputs_digest(network_sha256, demand, cfg, planner.name, period_end_ms)
        event = to_event(junction, plan, est, period_end_ms, cfg, digest)
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
            junction, guarded.plan, est, period_end_ms, cfg, digest, guarded.transition
        )
    if any(v > 0 for v in (expected_vph or {}).values()):
        # the approaches say what their detectors measured, the diverted flow beside it
        measured = estimate(junction, sites, state, period_end_ms, cfg, active)
        event = with_expected(
            event, expected_vph, {a.approach_id: a.flow_vph for a in measured.approaches}
        )
    return with_active_delay(event, active_delay(active, plan, demand))


def with_expected(
    event: SignalPlan,
    expected_vph: Mapping[str, float] | None,
    measured_vph: Mapping[str, float] | None = None,
) -> SignalPlan:
    """The plan's explanation with the diverted flow it was computed for (the demand, the lane
    groups, hence the digest, already hold it); each approach's flow is the one its detectors
    measured (``measured_vph``, by approach id), the diverted flow beside it."""
    extra = {a: v for a, v in (expected_vph or {}).items() if v > 0}
    if not extra:
        return event
    ex = event.explanation
    measured = measured_vph or {}
    approaches = tuple(
        msgspec.structs.replace(
            a,
            flow_vph=measured.get(a.approach_id, a.flow_vph),
            expected_diverted_vph=round(extra.get(a.approach_id, 0.0), 1),
        )
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


def _lane_groups(
    est: JunctionEstimate, effects: Mapping[str, ApproachEffect]
) -> tuple[LaneGroupInput, ...]:
    out = []
    for g in est.groups:
        effect = effects.get(g.id)
        out.append(
            LaneGroupInput(
                id=g.id,
                phase=g.phase,
                approach_id=g.approach_id,
                lane_ids=g.lane_ids,
                movements=tuple(
                    MovementInput(
                        movement_id=m.movement_id,
                        lane_id=m.lane_id,
                        flow_vph=m.flow_vph,
                        source=m.source,
                    )
                    for m in g.movements
                ),
                flow_vph=g.flow_vph,
                recent_flow_vph=g.recent_flow_vph,
                saturation_flow_vph=g.saturation_flow_vph,
                sources=g.sources,
                degree_of_saturation=effect.degree_of_saturation if effect else 0.0,
                delay_s_per_veh=effect.delay_s_per_veh if effect else 0.0,
            )
        )
    return tuple(out)


def _approach_inputs(
    junction: Junction, est: JunctionEstimate, groups: Sequence[LaneGroupInput]
) -> tuple[ApproachInput, ...]:
    sat = {a.id: a.saturation_flow_vph for a in junction.approaches}
    out = []
    for a in est.approaches:
        mine = [g for g in groups if g.approach_id == a.approach_id]
        flow = sum(g.flow_vph for g in mine)
        out.append(
            ApproachInput(
                approach_id=a.approach_id,
                flow_vph=a.flow_vph,
                saturation_flow_vph=sat[a.approach_id],
                detectors=a.detectors,
                readings=a.readings,
                measured=a.measured,
                degree_of_saturation=max((g.degree_of_saturation for g in mine), default=0.0),
                delay_s_per_veh=round(sum(g.delay_s_per_veh * g.flow_vph for g in mine) / flow, 2)
                if flow > 0
                else 0.0,
            )
        )
    return tuple(out)


def to_event(
    junction: Junction,
    plan: Plan,
    est: JunctionEstimate,
    period_end_ms: int,
    cfg: PlanningConfig,
    digest: str,
    transition: PlanTransition | None = None,
) -> SignalPlan:
    """Wrap an optimiser plan as the public ``SignalPlan`` event."""
    groups = _lane_groups(est, {e.lane_group_id: e for e in plan.effects})
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
    ex = plan.explanation
    explanation = PlanExplanation(
        method=ex.method,
        objective=ex.objective,
        binding_constraints=ex.binding_constraints,
        solver_status=ex.solver_status,
        parameters=json_parameters(ex.parameters),
        approaches=_approach_inputs(junction, est, groups),
        window_start=_ms_to_dt(period_end_ms - cfg.window_s * 1000),
        window_end=_ms_to_dt(period_end_ms),
        text_en=ex.text_en,
        text_fr=ex.text_fr,
        warnings=est.warnings,
        transition=transition,
        lane_groups=groups,
        running_timing=est.running.source if est.running is not None else "",
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
