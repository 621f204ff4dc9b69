"""A zone planned together: estimate every junction's demand, build the zone's links, call a
zone planner (common cycle, offsets), and wrap its plans as ``SignalPlan`` events.

Pure, like :mod:`streams.planning`: the zone's junctions and links, detector sites, state and period
end come in; events go out.

Phase matching across a link (the road a :class:`graph.model.Link` follows is named at both ends),
from the estimator's lane groups (:mod:`demand`; over the recent window when there is one):

- **upstream**: every phase whose lane groups send traffic onto the link's exit releases a
  platoon: one optimiser link per such phase, weighted by that flow;
- **downstream**: the phase whose lane group on the arriving approach carries the most flow
  receives every platoon; the link carries that group's flow and saturation flow, so the
  optimiser costs a stop-line queue.

Junctions with nothing measured get no plan (as with a per-junction planner); the others are
coordinated together, and links touching a left-out junction are dropped.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import msgspec

from demand import GroupEstimate, JunctionEstimate
from graph.model import Junction
from graph.model import Link as RoadLink
from optimizer.coordination import Link, ZoneDemand, ZonePlan
from optimizer.strategy import ZonePlanner
from streams.events import ActivePlan, LinkArrival, SignalPlan, ZoneCoordination
from streams.planning import (
    PlanningConfig,
    SiteRef,
    digest_of,
    estimate,
    json_parameters,
    to_event,
)
from streams.zone_state import ZoneState


@dataclass(frozen=True, slots=True)
class ZoneResult:
    """The plans of a zone planned together, and the junctions left without one."""

    plans: tuple[SignalPlan, ...]
    unmeasured: tuple[str, ...]
    """Junctions with nothing measured in the window: no plan."""
    zone_plan: ZonePlan | None
    """The zone planner's answer (``None`` when no junction was measured)."""


def _groups(est: JunctionEstimate) -> tuple[GroupEstimate, ...]:
    """The lane groups whose flows weigh the links: the recent window's when there is one."""
    return est.recent_groups or est.groups


def releasing_phases(junction: Junction, exit_id: str, est: JunctionEstimate) -> dict[int, float]:
    """Phase index -> flow (veh/h) it sends onto ``exit_id`` (phases sending some)."""
    onto = {m.id for m in junction.movements if m.exit_id == exit_id}
    out: dict[int, float] = {}
    for g in _groups(est):
        flow = sum(m.flow_vph for m in g.movements if m.movement_id in onto)
        if flow > 0:
            out[g.phase] = out.get(g.phase, 0.0) + flow
    return out


def receiving_group(approach_id: str, est: JunctionEstimate) -> GroupEstimate | None:
    """The lane group of ``approach_id`` carrying the most flow (lowest phase on ties), or
    ``None`` when no phase serves it."""
    mine = [g for g in _groups(est) if g.approach_id == approach_id]
    if not mine:
        return None
    best = max(mine, key=lambda g: (g.flow_vph, -g.phase))
    current = {g.id: g for g in est.groups}
    return current.get(best.id, best)


def zone_links(
    junctions: Mapping[str, Junction],
    road_links: Sequence[RoadLink],
    estimates: Mapping[str, JunctionEstimate],
) -> tuple[Link, ...]:
    """The optimiser links between ``junctions`` (road links leaving the set are ignored, and so
    are links that do not name their exit and approach)."""
    out: list[Link] = []
    for rl in road_links:
        up, down = junctions.get(rl.from_junction), junctions.get(rl.to_junction)
        if up is None or down is None or not rl.exit_id or not rl.approach_id:
            continue
        group = receiving_group(rl.approach_id, estimates[down.id])
        if group is None:
            continue
        to_flow = group.recent_flow_vph if group.recent_flow_vph is not None else group.flow_vph
        released = releasing_phases(up, rl.exit_id, estimates[up.id])
        for from_phase, flow in sorted(released.items()):
            out.append(
                Link(
                    from_junction=up.id,
                    to_junction=down.id,
                    travel_time_s=rl.travel_time_s,
                    from_phase=from_phase,
                    to_phase=group.phase,
                    flow_vph=round(flow, 3),
                    to_flow_vph=round(to_flow, 3),
                    to_saturation_flow_vph=group.saturation_flow_vph,
                )
            )
    return tuple(out)


def running_common_cycle(
    active: Mapping[str, ActivePlan], junction_ids: Sequence[str]
) -> int | None:
    """The cycle the zone's junctions all run (their active plans), or ``None`` when one of them
    has no active plan, their cycles differ, or there is a single junction."""
    running = [active.get(jid) for jid in junction_ids]
    cycles = {r.plan.cycle_s for r in running if r is not None}
    if len(junction_ids) < 2 or None in running or len(cycles) != 1:
        return None
    return cycles.pop()


def zone_inputs_digest(
    network_sha256: str,
    zone: ZoneDemand,
    cfg: PlanningConfig,
    strategy: str,
    period_end_ms: int,
) -> str:
    """sha256 of everything a zone's plans depend on (every junction's demand and every link)."""
    return digest_of(network_sha256, {"zone": zone}, cfg, strategy, period_end_ms)


def plan_zone(
    zone_id: str,
    junctions: Sequence[Junction],
    road_links: Sequence[RoadLink],
    sites: Sequence[SiteRef],
    state: ZoneState,
    period_end_ms: int,
    cfg: PlanningConfig,
    planner: ZonePlanner,
    network_sha256: str,
    active: Mapping[str, ActivePlan] | None = None,
) -> ZoneResult:
    """Plans for the zone's measured junctions, timed together by ``planner``; ``active`` holds
    the junctions' active (approved) plans."""
    active = active or {}
    estimates: dict[str, JunctionEstimate] = {}
    unmeasured: list[str] = []
    for j in junctions:
        est = estimate(j, sites, state, period_end_ms, cfg, active.get(j.id))
        if est.measured:
            estimates[j.id] = est
        else:
            unmeasured.append(j.id)
    if not estimates:
        return ZoneResult((), tuple(unmeasured), None)
    members = {j.id: j for j in junctions if j.id in estimates}
    zone = ZoneDemand(
        zone_id=zone_id,
        junctions=tuple(estimates[jid].demand for jid in sorted(members)),
        links=zone_links(members, road_links, estimates),
        running_cycle_s=running_common_cycle(active, sorted(members)),
    )
    zp = planner.plan_zone(zone)
    digest = zone_inputs_digest(network_sha256, zone, cfg, planner.name, period_end_ms)
    events = []
    for plan in zp.plans:
        j = members[plan.junction_id]
        event = to_event(j, plan, estimates[j.id], period_end_ms, cfg, digest)
        coordination = _coordination(zp, zone, j.id, planner.name, tuple(unmeasured))
        event = _with_zone(event, coordination)
        if cfg.guardrails is not None:
            event = _unguarded(event)
        events.append(event)
    return ZoneResult(tuple(events), tuple(unmeasured), zp)


def _coordination(
    zp: ZonePlan, zone: ZoneDemand, junction_id: str, planner: str, unplanned: tuple[str, ...]
) -> ZoneCoordination:
    ex = zp.explanation
    arrivals = tuple(
        LinkArrival(
            from_junction=link.from_junction,
            from_phase=link.from_phase,
            to_phase=link.to_phase,
            arrival_in_green_s=effect.arrival_in_green_s,
            wait_s_per_veh=effect.wait_s_per_veh,
            uncoordinated_wait_s_per_veh=effect.uncoordinated_wait_s_per_veh,
        )
        for link, effect in zip(zone.links, zp.links, strict=True)
        if zp.coordinated and link.to_junction == junction_id
    )
    return ZoneCoordination(
        planner=planner,
        coordinated=zp.coordinated,
        cycle_s=zp.cycle_s,
        junction_ids=tuple(j.junction_id for j in zone.junctions),
        unplanned_junction_ids=unplanned,
        links=len(zone.links),
        gain_veh_h_per_h=float(ex.parameters.get("coordination_gain_veh_h_per_h", 0.0)),
        common_cycle_cost_veh_h_per_h=_finite_or_none(
            float(ex.parameters.get("common_cycle_cost_veh_h_per_h", 0.0))
        ),
        solver_status=ex.solver_status,
        arrivals=arrivals,
        text_en=ex.text_en,
        text_fr=ex.text_fr,
    )


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


GUARDRAILS_SKIPPED = (
    "guardrails are not applied to zones planned together: bounding each junction on its own "
    "would break the common cycle; the plan is published as recommended"
)


def _unguarded(event: SignalPlan) -> SignalPlan:
    """``event`` with a warning that the guardrails were skipped (coordinated zones)."""
    ex = event.explanation
    explanation = msgspec.structs.replace(ex, warnings=(*ex.warnings, GUARDRAILS_SKIPPED))
    return msgspec.structs.replace(event, explanation=explanation)


def _with_zone(event: SignalPlan, zc: ZoneCoordination) -> SignalPlan:
    """``event`` as one plan of a zone: its own plan id, the zone's explanation appended, the
    zone planner as strategy."""
    ex = event.explanation
    cost = zc.common_cycle_cost_veh_h_per_h
    parameters = json_parameters(
        {
            **ex.parameters,
            "zone_cycle_s": zc.cycle_s,
            "zone_coordinated": int(zc.coordinated),
            "coordination_gain_veh_h_per_h": zc.gain_veh_h_per_h,
            "common_cycle_cost_veh_h_per_h": "inf" if cost is None else cost,
        }
    )
    binding = ex.binding_constraints
    if zc.coordinated and "common_cycle" not in binding:
        binding = (*binding, "common_cycle")
    explanation = msgspec.structs.replace(
        ex,
        binding_constraints=binding,
        parameters=parameters,
        text_en=f"{ex.text_en} {zc.text_en}".strip(),
        text_fr=f"{ex.text_fr} {zc.text_fr}".strip(),
        coordination=zc,
    )
    plan_id = hashlib.sha256(f"{event.inputs_digest}:{event.junction_id}".encode()).hexdigest()
    return msgspec.structs.replace(
        event, plan_id=plan_id[:20], explanation=explanation, strategy=zc.planner
    )
