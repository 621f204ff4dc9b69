"""One junction's demand from its detectors' counts: the estimator the worker and the twin share.

Steps (``docs/demand.md``):

1. **Lane flows** from the detectors over the window (:mod:`demand.lanes`).
2. **Turning split** of lanes serving several movements: measured turning counts if given, else
   fitted to the junction's exit-side counts where it has them and a stated turning prior
   (:mod:`demand.turning`).
3. **Charging** every (lane, movement) pair to the phase that must serve it, a permitted turn's
   overflow to its protected phase (:mod:`demand.charging`).
4. **Lane groups**: per phase and approach, the pairs charged there, with the saturation flow of
   the lanes they leave from; group id ``<phase index>:<approach id>``.
5. **Saturated loops**: a lane whose loops were occupied beyond the threshold over the window
   holds a standing queue: its groups' flows are raised to at least their capacity under the
   running timing (the count is what the green served, not the demand).
6. A longer **recent window**, when given, goes through the same steps; each group carries its
   flow there (``LaneGroup.recent_flow_vph``).

Pure: the junction, the windows, the running timing and the settings come in; a
:class:`~demand.model.JunctionEstimate` goes out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import get_args

import msgspec

from demand.charging import (
    Pair,
    Served,
    charged_flows,
    critical_pairs,
    idle_protected_phases,
    reference_greens,
    skippable_phases,
)
from demand.errors import InconsistentInputs
from demand.lanes import LaneFlow, LaneInfo, exit_flows, lane_flows, lanes_of
from demand.model import (
    ApproachEstimate,
    DemandSettings,
    DetectorWindow,
    FlowSource,
    GroupEstimate,
    JunctionEstimate,
    MovementFlow,
    RunningTiming,
)
from demand.turning import split_lanes
from graph.model import Junction
from optimizer.model import JunctionDemand, LaneGroup, PhaseDemand

_LANE_ORDER: tuple[FlowSource, ...] = get_args(FlowSource)
"""Sources in the order explanations list them."""


@dataclass(frozen=True, slots=True)
class Window:
    """What the junction's detectors counted over one window."""

    detectors: Sequence[DetectorWindow]
    seconds: float
    turning: Mapping[str, Mapping[str, float]] | None = None
    """Measured turning counts per lane (lane id -> movement id -> vehicles), when a source
    gives them (a camera; the twin's oracle); ``None``: none."""
    coverage_s: float | None = None
    """Seconds a detector must have reported over this window for its count to be used;
    ``None``: ``DemandSettings.min_coverage`` of the window. A recent window uses the current
    window's requirement, so that its first minutes, before it has filled, still count."""

    def required_s(self, settings: DemandSettings) -> float:
        """Seconds of readings a detector needs over this window."""
        return (
            self.coverage_s if self.coverage_s is not None else settings.min_coverage * self.seconds
        )


def running_timing(junction: Junction, active: RunningTiming | None) -> RunningTiming | None:
    """The timing to judge against: the junction's active (approved) plan, else the signal's own
    programme when the model has it, else ``None``."""
    if active is not None:
        return active
    greens = tuple(
        (p.index, p.programme_green_s) for p in junction.phases if p.programme_green_s is not None
    )
    if greens and junction.programme_cycle_s:
        cycle = junction.programme_cycle_s
        return RunningTiming(greens_s=greens, cycle_s=cycle, source="programme")
    return None


def estimate_junction(
    junction: Junction,
    window: Window,
    settings: DemandSettings,
    *,
    cycle_bounds: tuple[int, int] = (40, 120),
    running: RunningTiming | None = None,
    recent: Window | None = None,
) -> JunctionEstimate:
    """The optimiser's demand for ``junction`` from ``window`` (see the module doc)."""
    if window.seconds <= 0:
        raise InconsistentInputs(junction.id, f"window of {window.seconds} s: give a positive one")
    for w in window.detectors:
        if w.vehicles < 0 or w.seconds < 0:
            raise InconsistentInputs(
                junction.id, f"detector {w.detector_id}: negative count or seconds"
            )
    lanes = lanes_of(junction)
    by_lane = {ln.id: ln for ls in lanes.values() for ln in ls}
    served = Served(junction, lanes)
    critical = critical_pairs(served, reference_greens(junction, running))
    skippable = skippable_phases(served, critical)
    now = _charge(junction, window, settings, by_lane, served, critical, running)
    if running is not None:
        skippable = idle_protected_phases(served, now.charged, skippable)
    groups = now.groups(junction, by_lane)
    recent_groups: list[GroupEstimate] = []
    if recent is not None:
        before = _charge(junction, recent, settings, by_lane, served, critical, running)
        recent_groups = before.groups(junction, by_lane)
        flows = {g.id: g.flow_vph for g in recent_groups}
        groups = [
            msgspec.structs.replace(g, recent_flow_vph=round(flows.get(g.id, 0.0), 3))
            for g in groups
        ]
    groups = _saturated(junction, groups, now.lanes, settings, running)
    kept = _unmeasured_floors(served, by_lane, now.approaches, settings, running)
    floors = {k: g for phases in kept.values() for k, g in phases.items()}
    skippable -= set(floors)
    phases = []
    for p in junction.phases:
        mine = [g for g in groups if g.phase == p.index]
        floor = floors.get(p.index, 0.0)
        phases.append(
            PhaseDemand(
                index=p.index,
                lane_groups=tuple(
                    LaneGroup(
                        id=g.id,
                        flow_vph=g.flow_vph,
                        saturation_flow_vph=g.saturation_flow_vph,
                        recent_flow_vph=g.recent_flow_vph,
                    )
                    for g in mine
                ),
                min_green_s=max(p.min_green_s, floor),
                max_green_s=max(p.max_green_s, floor),
                intergreen_s=p.intergreen_s,
                pedestrian_flow_pph=settings.pedestrian_flow_pph if p.pedestrian else 0.0,
                skippable=p.index in skippable,
            )
        )
    demand = JunctionDemand(
        junction_id=junction.id,
        phases=tuple(phases),
        cycle_min_s=cycle_bounds[0],
        cycle_max_s=_cycle_cap(cycle_bounds, phases, kept, running),
        # The flows are vehicles counted over the window, scaled to veh/h: the optimiser plans
        # for the rate such a count cannot rule out (Webster ignores it).
        count_period_s=float(window.seconds),
    )
    return JunctionEstimate(
        demand=demand,
        groups=tuple(groups),
        approaches=now.approaches,
        exits_used=now.exits_used,
        running=running,
        recent_groups=tuple(recent_groups),
        warnings=_warnings(now, settings, junction, kept, running),
    )


@dataclass(frozen=True, slots=True)
class _Charged:
    lanes: dict[str, LaneFlow]
    approaches: tuple[ApproachEstimate, ...]
    pairs: dict[Pair, tuple[float, FlowSource]]
    charged: dict[int, dict[Pair, float]]
    moved: set[Pair]
    exits_used: tuple[str, ...]

    def groups(self, junction: Junction, by_lane: Mapping[str, LaneInfo]) -> list[GroupEstimate]:
        out: list[GroupEstimate] = []
        for p in junction.phases:
            by_approach: dict[str, list[tuple[Pair, float]]] = {}
            for pair, flow in self.charged[p.index].items():
                by_approach.setdefault(by_lane[pair[0]].approach_id, []).append((pair, flow))
            for aid in sorted(by_approach):
                items = sorted(by_approach[aid])
                lane_ids = tuple(sorted({pr[0] for pr, _ in items}))
                sources: set[FlowSource] = set()
                moves = []
                for (lane, m), flow in items:
                    split = self.pairs.get((lane, m), (0.0, "prior"))[1]
                    sources |= {self.lanes[lane].source, split}
                    if (lane, m) in self.moved:
                        sources.add("permitted-overflow")
                    moves.append(
                        MovementFlow(
                            movement_id=m, lane_id=lane, flow_vph=round(flow, 3), source=split
                        )
                    )
                saturation = sum(by_lane[lid].saturation_flow_vph for lid in lane_ids)
                out.append(
                    GroupEstimate(
                        id=f"{p.index}:{aid}",
                        phase=p.index,
                        approach_id=aid,
                        lane_ids=lane_ids,
                        movements=tuple(moves),
                        flow_vph=round(sum(f for _, f in items), 3),
                        saturation_flow_vph=saturation,
                        sources=tuple(s for s in _LANE_ORDER if s in sources),
                    )
                )
        return out


def _charge(
    junction: Junction,
    window: Window,
    settings: DemandSettings,
    by_lane: Mapping[str, LaneInfo],
    served: Served,
    critical: Mapping[int, list[Pair]],
    running: RunningTiming | None,
) -> _Charged:
    required = window.required_s(settings)
    flows, approaches = lane_flows(junction, window.detectors, required)
    exits = exit_flows(junction, window.detectors, required)
    measured = {a.approach_id for a in approaches if a.measured}
    pairs, used = split_lanes(junction, flows, exits, settings, measured, window.turning)
    pair_flows = {pr: f for pr, (f, _) in pairs.items()}
    charged, moved = charged_flows(served, critical, pair_flows, by_lane, running, settings)
    return _Charged(flows, approaches, pairs, charged, moved, used)


def _saturated(
    junction: Junction,
    groups: list[GroupEstimate],
    lanes: Mapping[str, LaneFlow],
    settings: DemandSettings,
    running: RunningTiming | None,
) -> list[GroupEstimate]:
    """Groups with a lane occupied beyond the threshold, raised to their running capacity."""
    if running is None or running.cycle_s <= 0:
        return groups
    full = {
        lid
        for lid, lf in lanes.items()
        if lf.occupancy is not None and lf.occupancy >= settings.saturated_occupancy
    }
    if not full:
        return groups
    greens = running.green_of()
    lost = {p.index: 2.0 for p in junction.phases}  # PhaseDemand.lost_time_s
    out = []
    for g in groups:
        if not full & set(g.lane_ids):
            out.append(g)
            continue
        share = max(0.0, greens.get(g.phase, 0.0) - lost[g.phase]) / max(running.cycle_s, 1.0)
        floor = round(g.saturation_flow_vph * share, 3)
        recent = g.recent_flow_vph
        out.append(
            msgspec.structs.replace(
                g,
                flow_vph=max(g.flow_vph, floor),
                recent_flow_vph=None if recent is None else max(recent, floor),
                sources=(*g.sources, "occupancy-saturated"),
            )
        )
    return out


def _cycle_cap(
    bounds: tuple[int, int],
    phases: Sequence[PhaseDemand],
    kept: Mapping[str, Mapping[int, float]],
    running: RunningTiming | None,
) -> int:
    """The longest cycle a plan may take: the bound, or, at a junction with approaches nobody
    measures, the running cycle (a longer one would shrink their share of the cycle even with
    their green kept), unless the phases' minimum greens need more."""
    if not kept or running is None:
        return bounds[1]
    need = sum(p.min_green_s + p.intergreen_s for p in phases if not p.skippable)
    return max(bounds[0], min(bounds[1], max(math.ceil(running.cycle_s), math.ceil(need))))


def _unmeasured_floors(
    served: Served,
    by_lane: Mapping[str, LaneInfo],
    approaches: Sequence[ApproachEstimate],
    settings: DemandSettings,
    running: RunningTiming | None,
) -> dict[str, dict[int, float]]:
    """Approach nobody measured -> the phases showing it green and the green each keeps.

    A count of nothing is no evidence of no traffic: what such an approach gets from the running
    timing (every phase that shows any of its lanes green, at that phase's running green) is not
    taken away. Without a running timing there is nothing to keep."""
    if not settings.keep_unmeasured_green or running is None:
        return {}
    unmeasured = {a.approach_id for a in approaches if not a.measured}
    greens = running.green_of()
    out: dict[str, dict[int, float]] = {}
    for k in served.phases:
        if greens.get(k, 0.0) <= 0:
            continue
        for lane, _ in served.pairs[k]:
            aid = by_lane[lane].approach_id
            if aid in unmeasured:
                out.setdefault(aid, {})[k] = greens[k]
    return out


def _warnings(
    now: _Charged,
    settings: DemandSettings,
    junction: Junction,
    kept: Mapping[str, Mapping[int, float]],
    running: RunningTiming | None,
) -> tuple[str, ...]:
    out = []
    for a in now.approaches:
        if a.measured:
            continue
        text = (
            f"approach {a.approach_id} has no detector data in the window: its flow is taken as 0"
        )
        mine = kept.get(a.approach_id)
        if mine and running is not None:
            which = "its approved plan" if running.source == "active" else "its programme"
            text += (
                f"; the phases showing it green keep the green {which} gives them "
                f"({_greens_text(mine)}) and the cycle is at most {which}'s "
                f"({running.cycle_s:g} s)"
            )
        out.append(text)
    phases_of: dict[str, set[int]] = {}
    for k, pairs in now.charged.items():
        for lane, _ in pairs:
            phases_of.setdefault(lane, set()).add(k)
    for lane, phases in sorted(phases_of.items()):
        split = {now.pairs[pr][1] for pr in now.pairs if pr[0] == lane}
        if len(phases) > 1 and split == {"prior"} and now.lanes[lane].flow_vph > 0:
            shown = " and ".join(str(k) for k in sorted(phases))
            out.append(
                f"lane {lane} serves movements of phases {shown}: its count was split between "
                "them by the turning prior (no exit-side count constrains it)"
            )
    if settings.pedestrian_flow_pph > 0 and any(p.pedestrian for p in junction.phases):
        out.append(
            f"pedestrian demand is assumed, not measured: {settings.pedestrian_flow_pph:g} "
            "pedestrians/h on each phase with a signalised crossing"
        )
    return tuple(out)


def _greens_text(floors: Mapping[int, float]) -> str:
    return ", ".join(f"phase {k} {g:g} s" for k, g in sorted(floors.items()))
