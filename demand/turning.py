"""How each lane's flow splits over the movements it serves: classic junction O-D estimation.

A lane serving one movement needs no estimate. For lanes serving several, the unknowns are the
flows ``x[lane, movement] >= 0`` with ``sum over movements = lane flow``; they are fitted, by
bounded linear least squares (``scipy.optimize.lsq_linear``), to

- the **turning prior**: each approach's movement totals close to the approach's flow times the
  stated share of their turn type (``DemandSettings.turn_prior``, renormalised over the turns the
  approach offers);
- the **exit-side counts**, where the junction has them: the flow into each measured exit equals
  its count, weighted ``exit_weight`` times the prior (only exits whose every feeding approach is
  measured: an unmeasured approach's share of the exit is unknown);
- a small pull of each lane towards its own prior split, so that the answer is unique.

The fitted flows are then rescaled lane by lane so that every lane's movements add up to its
measured flow exactly (flow is conserved). Measured turning counts (a camera's), when given, set
a lane's split directly.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from scipy.optimize import lsq_linear

from demand.lanes import LaneFlow
from demand.model import DemandSettings, FlowSource
from graph.model import Junction

Pair = tuple[str, str]
"""(lane id, movement id)"""

LANE_SUM_WEIGHT = 100.0
"""Weight of each lane's conservation row in the fit (the rescaling makes it exact after)."""
UNIQUENESS_WEIGHT = 0.05
"""Weight of the pull of each lane towards its own prior split."""


def split_lanes(
    junction: Junction,
    lanes: Mapping[str, LaneFlow],
    exits: Mapping[str, float],
    settings: DemandSettings,
    measured: set[str],
    turning: Mapping[str, Mapping[str, float]] | None = None,
) -> tuple[dict[Pair, tuple[float, FlowSource]], tuple[str, ...]]:
    """Flow of every (lane, movement) pair and how its split was obtained; and the exits whose
    counts were used. ``measured``: the approaches measured over the window."""
    turn_of = {m.id: m.turn for m in junction.movements}
    out: dict[Pair, tuple[float, FlowSource]] = {}
    shared: list[LaneFlow] = []
    for lf in lanes.values():
        mids = lf.lane.movement_ids
        counted = (turning or {}).get(lf.lane.id, {})
        seen = sum(counted.get(m, 0.0) for m in mids)
        if len(mids) == 1:
            out[(lf.lane.id, mids[0])] = (lf.flow_vph, "single-movement")
        elif seen > 0:
            for m in mids:
                flow = lf.flow_vph * counted.get(m, 0.0) / seen
                out[(lf.lane.id, m)] = (flow, "measured-turning")
        elif lf.flow_vph <= 0:
            for m in mids:
                out[(lf.lane.id, m)] = (0.0, "prior")
        else:
            shared.append(lf)
    if not shared:
        return out, ()
    fitted, used = _fit(junction, lanes, shared, out, exits, settings, turn_of, measured)
    with_exits = {m.approach_id for m in junction.movements if m.exit_id in used}
    for lf in shared:
        source: FlowSource = "exit-counts" if lf.lane.approach_id in with_exits else "prior"
        for m in lf.lane.movement_ids:
            out[(lf.lane.id, m)] = (fitted[(lf.lane.id, m)], source)
    return out, used


def _fit(
    junction: Junction,
    lanes: Mapping[str, LaneFlow],
    shared: list[LaneFlow],
    fixed: Mapping[Pair, tuple[float, FlowSource]],
    exits: Mapping[str, float],
    settings: DemandSettings,
    turn_of: Mapping[str, str],
    measured: set[str],
) -> tuple[dict[Pair, float], tuple[str, ...]]:
    fit = _Fit(shared, fixed)
    total = {a.id: 0.0 for a in junction.approaches}
    for lf in lanes.values():
        total[lf.lane.approach_id] = total.get(lf.lane.approach_id, 0.0) + lf.flow_vph
    by_approach: dict[str, list[str]] = {}
    for m in junction.movements:
        by_approach.setdefault(m.approach_id, []).append(m.id)
    share: dict[str, float] = {}
    for mids in by_approach.values():
        weights = {m: settings.prior_of(turn_of[m]) for m in mids}
        norm = sum(weights.values()) or 1.0
        share.update({m: w / norm for m, w in weights.items()})
    # the turning prior, movement by movement
    for aid, ids in by_approach.items():
        if total.get(aid, 0.0) > 0:
            for mid in ids:
                fit.movements({mid}, share[mid] * total[aid], 1.0)
    # the exit-side counts
    used: list[str] = []
    for x in junction.exits:
        feeding = [m for m in junction.movements if m.exit_id == x.id]
        if x.id not in exits or not feeding or any(m.approach_id not in measured for m in feeding):
            continue
        if fit.movements({m.id for m in feeding}, exits[x.id], settings.exit_weight):
            used.append(x.id)
    # each lane adds up to its flow, and leans towards its own prior split
    for lf in shared:
        served = lf.lane.movement_ids
        fit.row({fit.col[(lf.lane.id, m)]: 1.0 for m in served}, lf.flow_vph, LANE_SUM_WEIGHT)
        norm = sum(share[m] for m in served) or 1.0
        for mid in served:
            target = lf.flow_vph * share[mid] / norm
            fit.row({fit.col[(lf.lane.id, mid)]: 1.0}, target, UNIQUENESS_WEIGHT)
    return fit.solve(lanes), tuple(used)


class _Fit:
    """The weighted least-squares rows over the shared lanes' (lane, movement) flows."""

    def __init__(self, shared: list[LaneFlow], fixed: Mapping[Pair, tuple[float, FlowSource]]):
        self.shared = shared
        self.fixed = fixed
        self.variables = [(lf.lane.id, m) for lf in shared for m in lf.lane.movement_ids]
        self.col = {p: i for i, p in enumerate(self.variables)}
        self.rows: list[tuple[dict[int, float], float]] = []

    def row(self, coeffs: dict[int, float], target: float, weight: float) -> None:
        """Add ``weight * (sum coeffs * x - target)`` to the residuals."""
        self.rows.append(({i: c * weight for i, c in coeffs.items()}, target * weight))

    def movements(self, mids: set[str], target: float, weight: float) -> bool:
        """Add a row for the total flow of ``mids`` (the fixed pairs' part taken off the target);
        ``False`` when no free variable takes part (no row)."""
        coeffs = {i: 1.0 for (_, m), i in self.col.items() if m in mids}
        if not coeffs:
            return False
        constant = sum(flow for (_, m), (flow, _) in self.fixed.items() if m in mids)
        self.row(coeffs, target - constant, weight)
        return True

    def solve(self, lanes: Mapping[str, LaneFlow]) -> dict[Pair, float]:
        """The fitted flows, each lane rescaled to add up to its flow exactly."""
        a = np.zeros((len(self.rows), len(self.variables)))
        b = np.zeros(len(self.rows))
        for r, (coeffs, target) in enumerate(self.rows):
            for i, c in coeffs.items():
                a[r, i] = c
            b[r] = target
        upper = np.array([lanes[lane].flow_vph for lane, _ in self.variables])
        x = lsq_linear(a, b, bounds=(np.zeros(len(self.variables)), upper), method="bvls").x
        out: dict[Pair, float] = {}
        for lf in self.shared:
            mids = lf.lane.movement_ids
            got = [max(0.0, float(x[self.col[(lf.lane.id, m)]])) for m in mids]
            s = sum(got)
            for m, g in zip(mids, got, strict=True):
                out[(lf.lane.id, m)] = lf.flow_vph * (g / s if s > 0 else 1.0 / len(mids))
        return out
