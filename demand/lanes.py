"""Lane flows of a junction from its detectors' windows, and its exits' measured outflows.

Each approach is seen lane by lane (``graph.model.Approach.lane_detail``); an approach of a model
without lane detail is one wide lane serving all its movements. A detector on given lanes shares
its rate equally among them; a detector on an approach without a lane (registries by approach)
gives the approach's total, shared equally over its lanes. Lanes left without a detector on an
approach whose other lanes have one get those lanes' mean (or what the approach's own count
leaves). Nothing measured: 0, and the approach is reported unmeasured.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from demand.model import ApproachEstimate, DetectorWindow, FlowSource
from graph.model import Approach, Junction


@dataclass(frozen=True, slots=True)
class LaneInfo:
    """One lane as the estimator sees it."""

    id: str
    approach_id: str
    movement_ids: tuple[str, ...]
    width: int
    """Physical lanes it stands for (an approach without lane detail: all of them)."""
    saturation_flow_vph: float


@dataclass(frozen=True, slots=True)
class LaneFlow:
    """A lane's flow over the window, how it was obtained, and its loops' occupancy."""

    lane: LaneInfo
    flow_vph: float
    source: FlowSource
    occupancy: float | None = None


def lanes_of(junction: Junction) -> dict[str, list[LaneInfo]]:
    """Approach id -> its lanes, index 0 first."""
    moves: dict[str, list[str]] = {}
    for m in junction.movements:
        moves.setdefault(m.approach_id, []).append(m.id)
    out: dict[str, list[LaneInfo]] = {}
    for a in junction.approaches:
        per_lane = a.saturation_flow_vph / max(1, a.lanes)
        if a.lane_detail:
            out[a.id] = [
                LaneInfo(ln.id, a.id, ln.movement_ids, 1, per_lane) for ln in a.lane_detail
            ]
        else:
            out[a.id] = [
                LaneInfo(a.id, a.id, tuple(moves.get(a.id, ())), a.lanes, a.saturation_flow_vph)
            ]
    return out


def _usable(w: DetectorWindow, required_s: float) -> bool:
    return w.seconds > 0 and w.seconds >= required_s


def _rate(w: DetectorWindow) -> float:
    return w.vehicles * 3600.0 / w.seconds


def lane_flows(
    junction: Junction, windows: Sequence[DetectorWindow], required_s: float
) -> tuple[dict[str, LaneFlow], tuple[ApproachEstimate, ...]]:
    """Flow (veh/h) of every lane of the junction, and what was measured per approach
    (``required_s``: the seconds of readings a detector needs for its count to be used)."""
    lanes = lanes_of(junction)
    out: dict[str, LaneFlow] = {}
    approaches: list[ApproachEstimate] = []
    for a in junction.approaches:
        mine = lanes[a.id]
        ids = {ln.id for ln in mine}
        dets = [
            w
            for w in windows
            if (w.lane_ids and set(w.lane_ids) <= ids) or (not w.lane_ids and w.approach_id == a.id)
        ]
        flows = _approach_lanes(a, mine, dets, required_s)
        out.update(flows)
        approaches.append(
            ApproachEstimate(
                approach_id=a.id,
                flow_vph=round(sum(f.flow_vph for f in flows.values()), 3),
                detectors=tuple(w.detector_id for w in dets),
                readings=sum(w.readings for w in dets),
                measured=any(_usable(w, required_s) for w in dets),
            )
        )
    return out, tuple(approaches)


def _approach_lanes(
    a: Approach,
    lanes: list[LaneInfo],
    dets: list[DetectorWindow],
    required_s: float,
) -> dict[str, LaneFlow]:
    rate: dict[str, list[float]] = {}
    occ: dict[str, list[float]] = {}
    total = 0.0
    covered = 0
    total_occ: list[float] = []
    for w in dets:
        if not _usable(w, required_s):
            continue
        if w.lane_ids:
            for lid in w.lane_ids:
                rate.setdefault(lid, []).append(_rate(w) / len(w.lane_ids))
                if w.occupancy is not None:
                    occ.setdefault(lid, []).append(w.occupancy)
        else:
            total += _rate(w)
            covered += w.lanes
            if w.occupancy is not None:
                total_occ.append(w.occupancy)
    approach_total = total * max(a.lanes, covered) / covered if covered else None
    measured = {lid: sum(v) / len(v) for lid, v in rate.items()}
    rest = [ln for ln in lanes if ln.id not in measured]
    out: dict[str, LaneFlow] = {}
    for ln in lanes:
        lane_occ = occ.get(ln.id) or total_occ
        o = sum(lane_occ) / len(lane_occ) if lane_occ else None
        if ln.id in measured:
            out[ln.id] = LaneFlow(ln, measured[ln.id], "measured-lane", o)
        elif approach_total is not None:
            left = max(0.0, approach_total - sum(measured.values()))
            width = sum(r.width for r in rest)
            out[ln.id] = LaneFlow(ln, left * ln.width / width, "approach-count", o)
        elif measured:
            mean = sum(measured.values()) / len(measured)
            out[ln.id] = LaneFlow(ln, mean * ln.width, "other-lanes", o)
        else:
            out[ln.id] = LaneFlow(ln, 0.0, "unmeasured", None)
    return out


def exit_flows(
    junction: Junction, windows: Sequence[DetectorWindow], required_s: float
) -> dict[str, float]:
    """Exit id -> measured outflow (veh/h), for exits whose every lane a usable detector covers."""
    out: dict[str, float] = {}
    for x in junction.exits:
        if not x.lane_ids:
            continue
        lanes = set(x.lane_ids)
        dets = [
            w for w in windows if w.lane_ids and set(w.lane_ids) <= lanes and _usable(w, required_s)
        ]
        if {lid for w in dets for lid in w.lane_ids} != lanes:
            continue
        per_lane: dict[str, list[float]] = {}
        for w in dets:
            for lid in w.lane_ids:
                per_lane.setdefault(lid, []).append(_rate(w) / len(w.lane_ids))
        out[x.id] = sum(sum(v) / len(v) for v in per_lane.values())
    return out
