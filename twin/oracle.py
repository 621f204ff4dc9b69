"""The ``oracle`` control: an upper bound for the product's plans, not the product.

Every period the optimiser plans each junction from what no detector gives: the turning counts of
every lane (each vehicle a stop-line loop counted, and the edge it took next: what a perfect
turning-movement camera would report), over the period that just ended, without the pipeline's
lateness or guardrails. The demand goes through the same estimator as the product's
(:func:`demand.estimate_junction`, with measured turning instead of the turning prior), and a
15-minute recent window as the product's default; the gap between ``oracle`` and ``optimizer``
rows is what better turning information and no reporting lag would be worth.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Mapping

from demand import DemandSettings, DetectorWindow, RunningTiming, Window, estimate_junction
from graph.model import Junction
from optimizer.isolated import OptimizerPlanner
from optimizer.model import Plan
from twin.loop_counter import LoopCounter

RECENT_WINDOW_S = 900.0
"""The recent window, as the product's default (HCM's 15-minute analysis period)."""

_Counts = tuple[dict[str, int], dict[tuple[str, str], int]]


class OraclePlans:
    """A plan source (:data:`twin.plan_policy.PlanSource`) planning on exact turning counts."""

    def __init__(self, junctions: list[Junction], counter: LoopCounter, period_s: float) -> None:
        self._junctions = junctions
        self._counter = counter
        self._period_s = period_s
        self._planner = OptimizerPlanner()
        self._settings = DemandSettings()
        self._recent: deque[_Counts] = deque(maxlen=max(1, round(RECENT_WINDOW_S / period_s)))

    def __call__(
        self, now: float, running: Mapping[str, tuple[list[tuple[int, float]], float]]
    ) -> dict[str, Plan]:
        """Every junction's plan for the next period."""
        del now
        counts, turns = self._counter.take()
        occupancy = self._counter.take_occupancy()
        self._recent.append((counts, turns))
        all_counts: Counter[str] = Counter()
        all_turns: Counter[tuple[str, str]] = Counter()
        for c, t in self._recent:
            all_counts.update(c)
            all_turns.update(t)
        window_s = self._period_s * len(self._recent)
        out = {}
        for j in self._junctions:
            seq, cycle = running[j.id]
            timing = RunningTiming(greens_s=tuple(seq), cycle_s=cycle)
            est = estimate_junction(
                j,
                _window(j, counts, turns, occupancy, self._period_s),
                self._settings,
                running=timing,
                recent=_window(j, dict(all_counts), dict(all_turns), {}, window_s),
            )
            out[j.id] = self._planner.plan(est.demand)
        return out


def _window(
    junction: Junction,
    counts: Mapping[str, int],
    turns: Mapping[tuple[str, str], int],
    occupancy: Mapping[str, float],
    seconds: float,
) -> Window:
    """The junction's lanes as one loop each, with their turning counts by movement."""
    detectors = []
    turning: dict[str, dict[str, float]] = {}
    for a in junction.approaches:
        for ln in a.lane_detail:
            detectors.append(
                DetectorWindow(
                    detector_id=f"oracle:{ln.id}",
                    approach_id=a.id,
                    lane_ids=(ln.id,),
                    vehicles=counts.get(ln.id, 0),
                    seconds=seconds,
                    readings=1,
                    occupancy=occupancy.get(ln.id),
                )
            )
            turning[ln.id] = {
                m: float(turns.get((ln.id, m.split(">", 1)[1]), 0)) for m in ln.movement_ids
            }
    return Window(detectors, seconds, turning=turning)
