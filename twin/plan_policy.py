"""Fixed-time plans from a Planner or ZonePlanner, re-planned every period and applied at cycle
boundaries."""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Sequence
from typing import Any

import msgspec

from graph.model import Junction
from graph.sumo import SumoSignal
from graph.sumo_links import SumoLink
from optimizer.coordination import ZonePlan
from optimizer.model import JunctionDemand, Plan
from optimizer.strategy import (
    Planner,
    ZonePlanner,
)
from twin.coordination import zone_demand, zones_of
from twin.demand import (
    RECENT_WINDOW_S,
    charged_links,
    critical_links,
    junction_demand,
    link_flows,
    running_capacity_vph,
    saturated_groups,
    with_recent,
    with_saturated,
)
from twin.driver import SignalDriver
from twin.policy import PolicyOutcome
from twin.programmes import programme_greens
from twin.schedule import green_ends, natural_cycle_s, transition_cycle

_EPS = 1e-6


class PlanPolicy:
    """Fixed-time plans from a Planner (or a ZonePlanner), re-planned every period and applied at
    cycle boundaries.

    Each junction runs cycles laid out by :mod:`twin.schedule`. A zone planner's plans carry
    offsets from the policy's start: the first cycle of such a plan is a transition cycle that
    brings the junction onto ``start + offset`` modulo the common cycle, so the zone's junctions
    run in step. Plans without a zone planner keep their cycle and start where the last one ended.
    """

    def __init__(
        self,
        name: str,
        planner: Planner | ZonePlanner | None,
        api: Any,
        junctions: list[Junction],
        signals: dict[str, SumoSignal],
        drivers: dict[str, SignalDriver],
        lane_counts: Callable[[], tuple[dict[str, int], dict[tuple[str, str], int]]],
        period_s: float,
        now: float,
        fixed_plans: dict[str, Plan] | None = None,
        links: Sequence[SumoLink] = (),
        occupancy: Callable[[], dict[str, float]] | None = None,
    ) -> None:
        self.name = name
        self._occupancy = occupancy
        self._planner = planner
        self._api = api
        self._junctions = junctions
        self._by_id = {j.id: j for j in junctions}
        self._signals = signals
        self._drivers = drivers
        self._lane_counts = lane_counts
        self._period_s = period_s
        self._next_plan = now + period_s
        self._reference = now
        self._links = tuple(links)
        self._zones = (
            zones_of(junctions, self._links)
            if isinstance(planner, ZonePlanner)
            else {j.id: [j.id] for j in junctions}
        )
        self._critical = {j.id: critical_links(signals[j.id]) for j in junctions}
        self._recent: deque[tuple[dict[str, int], dict[tuple[str, str], int]]] = deque(
            maxlen=max(1, round(RECENT_WINDOW_S / period_s))
        )
        self.plans: dict[str, list[Plan]] = {j.id: [] for j in junctions}
        self.zone_plans: list[ZonePlan] = []
        self._zone_cycle: dict[str, int] = {}
        self._pending: dict[str, tuple[list[tuple[int, float]], float, float | None]] = {}
        self._seq: dict[str, list[tuple[int, float]]] = {}
        self._cycle: dict[str, float] = {}
        self._ends: dict[str, list[tuple[int, float]]] = {}
        self._idx: dict[str, int] = {}
        self._next_start: dict[str, float] = {}
        for j in junctions:
            seq = programme_greens(signals[j.id])
            if fixed_plans and j.id in fixed_plans:
                seq = _plan_sequence(fixed_plans[j.id])
                self.plans[j.id].append(fixed_plans[j.id])
            self._seq[j.id] = seq
            self._cycle[j.id] = natural_cycle_s(seq, self._transition(j.id))
            # The first green starts after the change from the phase SUMO shows now, if any.
            start = drivers[j.id].switch(seq[0][0], now)
            self._start_cycle(
                j.id, green_ends(start, seq, self._cycle[j.id], self._transition(j.id))
            )

    def outcome(self) -> PolicyOutcome:
        """The plans adopted so far, per junction."""
        return PolicyOutcome(plans={j: list(ps) for j, ps in self.plans.items()})

    def _transition(self, jid: str) -> Callable[[int, int], float]:
        return self._drivers[jid].mapping.intergreen_s

    def _minimum(self, jid: str) -> Callable[[int], float]:
        mins = {p.index: p.min_green_s for p in self._by_id[jid].phases}
        return lambda k: mins.get(k, 0.0)

    def _start_cycle(self, jid: str, ends: list[tuple[int, float]]) -> None:
        self._ends[jid] = ends
        self._idx[jid] = 0
        last_phase, last_end = ends[-1]
        self._next_start[jid] = last_end + self._transition(jid)(last_phase, ends[0][0])

    def step(self, now: float) -> None:
        """Re-plan when a period ends; advance each junction's cycle."""
        if self._planner is not None and now >= self._next_plan - _EPS:
            self._replan(now)
            self._next_plan = now + self._period_s
        for j in self._junctions:
            drv = self._drivers[j.id]
            ends = self._ends[j.id]
            if drv.in_transition or now < ends[self._idx[j.id]][1] - _EPS:
                continue
            i = self._idx[j.id] + 1
            if i == len(ends):
                self._new_cycle(j.id)
                i = 0
                ends = self._ends[j.id]
            self._idx[j.id] = i
            phase = ends[i][0]
            if phase != drv.phase:
                drv.switch(phase, now)

    def _new_cycle(self, jid: str) -> None:
        start = self._next_start[jid]
        trans = self._transition(jid)
        pending = self._pending.pop(jid, None)
        if pending is None:
            self._start_cycle(jid, green_ends(start, self._seq[jid], self._cycle[jid], trans))
            return
        seq, cycle, offset = pending
        self._seq[jid], self._cycle[jid] = seq, cycle
        if offset is None:
            self._start_cycle(jid, green_ends(start, seq, cycle, trans))
            return
        ends, _ = transition_cycle(
            start, seq, cycle, self._reference + offset, trans, self._minimum(jid)
        )
        self._start_cycle(jid, ends)

    def _replan(self, now: float) -> None:
        assert self._planner is not None
        counts, turns = self._lane_counts()
        self._recent.append((counts, turns))
        all_counts: Counter[str] = Counter()
        all_turns: Counter[tuple[str, str]] = Counter()
        for c, t in self._recent:
            all_counts.update(c)
            all_turns.update(t)
        window_s = self._period_s * len(self._recent)
        occupied = self._occupancy() if self._occupancy is not None else {}
        demands: dict[str, JunctionDemand] = {}
        for j in self._junctions:
            sig = self._signals[j.id]
            plan = (self._seq[j.id], self._cycle[j.id])
            crit = self._critical[j.id]
            charged = charged_links(
                j, sig, link_flows(sig, counts, turns), self._period_s, plan, crit
            )
            demand = with_recent(
                junction_demand(
                    j,
                    sig,
                    counts,
                    self._period_s,
                    turns,
                    running=plan,
                    charged=charged,
                    critical=crit,
                ),
                junction_demand(
                    j,
                    sig,
                    dict(all_counts),
                    window_s,
                    dict(all_turns),
                    running=plan,
                    critical=crit,
                ),
            )
            running = running_capacity_vph(demand, self._seq[j.id], self._cycle[j.id])
            demands[j.id] = with_saturated(
                demand, saturated_groups(j, sig, occupied, charged=charged), running
            )
        self._adopt_all(demands, all_counts, all_turns, window_s)
        for jid in self._pending:
            self._cut_long_cycle(jid, now)

    def _cut_long_cycle(self, jid: str, now: float) -> None:
        """End a running cycle that would last far beyond the new plan's (a programme holding a
        green for hours): its current green ends now and the new plan starts after the yellow."""
        new_cycle = self._pending[jid][1]
        if self._next_start[jid] - now <= 2 * new_cycle:
            return
        ends, i = self._ends[jid], self._idx[jid]
        phase = ends[i][0]
        self._ends[jid] = [*ends[:i], (phase, now)]
        first = self._pending[jid][0][0][0]
        self._next_start[jid] = now + self._transition(jid)(phase, first)

    def _adopt_all(
        self,
        demands: dict[str, JunctionDemand],
        all_counts: Counter[str],
        all_turns: Counter[tuple[str, str]],
        window_s: float,
    ) -> None:
        assert self._planner is not None
        if isinstance(self._planner, ZonePlanner):
            recent_flows = {
                j.id: link_flows(self._signals[j.id], dict(all_counts), dict(all_turns))
                for j in self._junctions
            }
            self._replan_zones(demands, recent_flows, window_s)
        else:
            for j in self._junctions:
                self._adopt(self._planner.plan(demands[j.id]), coordinated=False)

    def _replan_zones(
        self,
        demands: dict[str, JunctionDemand],
        flows: dict[str, dict[int, float]],
        window_s: float,
    ) -> None:
        assert isinstance(self._planner, ZonePlanner)
        for zone_id, members in self._zones.items():
            zone = zone_demand(
                zone_id,
                {m: demands[m] for m in members},
                self._by_id,
                self._signals,
                self._critical,
                flows,
                self._links,
                window_s,
            )
            zone = msgspec.structs.replace(zone, running_cycle_s=self._zone_cycle.get(zone_id))
            zp = self._planner.plan_zone(zone)
            if zp.coordinated and len(members) > 1:
                self._zone_cycle[zone_id] = zp.cycle_s
            else:
                self._zone_cycle.pop(zone_id, None)
            self.zone_plans.append(zp)
            for plan in zp.plans:
                self._adopt(plan, coordinated=zp.coordinated and len(members) > 1)

    def _adopt(self, plan: Plan, *, coordinated: bool) -> None:
        self.plans[plan.junction_id].append(plan)
        seq = _plan_sequence(plan)
        cycle = (
            float(plan.cycle_s)
            if coordinated
            else natural_cycle_s(seq, self._transition(plan.junction_id))
        )
        offset = float(plan.offset_s) if coordinated else None
        self._pending[plan.junction_id] = (seq, cycle, offset)


def _plan_sequence(plan: Plan) -> list[tuple[int, float]]:
    seq = [(p.index, float(p.green_s)) for p in plan.phases if p.green_s > 0]
    return seq or [(plan.phases[0].index, 1.0)]
