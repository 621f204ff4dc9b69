"""Fixed-time plans applied at cycle boundaries: the product's (from a plan source), the oracle's,
or the caller's fixed plans."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from graph.model import Junction
from graph.sumo import SumoSignal
from optimizer.model import Plan
from twin.driver import SignalDriver
from twin.policy import PolicyOutcome
from twin.programmes import programme_greens
from twin.schedule import green_ends, natural_cycle_s, transition_cycle

_EPS = 1e-6

Timing = tuple[list[tuple[int, float]], float]
"""A junction's running timing: its green sequence ``(phase, green s)`` and its cycle."""
PlanSource = Callable[[float, Mapping[str, Timing]], Mapping[str, Plan]]
"""Called at every plan period with the simulation time and each junction's running timing
(green sequence, cycle); returns the plan of every junction to apply from its next cycle."""


def coordinated(plan: Plan) -> bool:
    """True for a plan of a zone timed together (its offset counts): the zone planner says so in
    the plan's parameters (``zone_coordinated``)."""
    return plan.explanation.parameters.get("zone_coordinated") == 1


class PlanPolicy:
    """Fixed-time plans re-planned every period and applied at cycle boundaries.

    Each junction runs cycles laid out by :mod:`twin.schedule`. A coordinated plan's offset counts
    from the policy's start: the first cycle of such a plan is a transition cycle that brings the
    junction onto ``start + offset`` modulo the common cycle, so the zone's junctions run in step.
    Other plans keep their cycle (their greens and the transitions the twin shows) and start where
    the last one ended.
    """

    def __init__(
        self,
        name: str,
        api: Any,
        junctions: list[Junction],
        signals: dict[str, SumoSignal],
        drivers: dict[str, SignalDriver],
        period_s: float,
        now: float,
        *,
        source: PlanSource | None = None,
        fixed_plans: dict[str, Plan] | None = None,
    ) -> None:
        self.name = name
        self._source = source
        self._api = api
        self._junctions = junctions
        self._by_id = {j.id: j for j in junctions}
        self._signals = signals
        self._drivers = drivers
        self._period_s = period_s
        self._next_plan = now + period_s
        self._reference = now
        self.plans: dict[str, list[Plan]] = {j.id: [] for j in junctions}
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

    def running(self) -> dict[str, Timing]:
        """Each junction's running timing: its green sequence and cycle."""
        return {j.id: (list(self._seq[j.id]), self._cycle[j.id]) for j in self._junctions}

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
        if self._source is not None and now >= self._next_plan - _EPS:
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
        assert self._source is not None
        plans = self._source(now, self.running())
        for j in self._junctions:
            plan = plans.get(j.id)
            if plan is not None:
                self._adopt(plan)
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

    def _adopt(self, plan: Plan) -> None:
        self.plans[plan.junction_id].append(plan)
        seq = _plan_sequence(plan)
        together = coordinated(plan)
        cycle = (
            float(plan.cycle_s)
            if together
            else natural_cycle_s(seq, self._transition(plan.junction_id))
        )
        offset = float(plan.offset_s) if together else None
        self._pending[plan.junction_id] = (seq, cycle, offset)


def _plan_sequence(plan: Plan) -> list[tuple[int, float]]:
    seq = [(p.index, float(p.green_s)) for p in plan.phases if p.green_s > 0]
    return seq or [(plan.phases[0].index, 1.0)]
