"""Live control: a Controller asked for a decision whenever its last one said to ask again."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import msgspec

from graph.model import Junction
from graph.sumo import SumoSignal
from optimizer import envelope_from_phases
from optimizer.strategy import (
    Controller,
    Decision,
    Envelope,
    JunctionState,
    MovementState,
    PhaseState,
)
from optimizer.strategy import controller as make_controller
from twin.driver import SignalDriver
from twin.loop_states import VEH_SPACING_M, LiveInputs, LoopStates, travel_time
from twin.policy import PolicyOutcome
from twin.programmes import programme_green_bounds

_EPS = 1e-6
HALTING_SPEED_MPS = 0.1
"""SUMO's own threshold for a halting vehicle."""
JAM_SPEED_MPS = 5.0
"""An exit lane moving slower than this on average is jammed: every vehicle on it takes room."""

DecisionSource = Callable[[Sequence[JunctionState]], Mapping[str, Decision]]
"""Decisions from outside the process (the Kafka closed loop): the states of the junctions due at
one simulation step in, a decision for each of them out. It may block."""


@dataclass(frozen=True)
class _Movement:
    """One movement of one phase: its approach and exit lanes."""

    id: str
    ins: list[str]
    outs: list[str]
    n_lanes: int


_LaneView = dict[str, tuple[int, list[float], float]]
"""Per next edge: (halting vehicles, arrival times in s of the moving ones, longest wait in s of
the halting ones)."""


LiveBounds = Literal["programme", "model"]
"""Which greens the twin grants live controllers: the scenario programme's, as SUMO's actuated
copy runs them (``programme``: ``twin.programmes.green_bounds``, the two compared at equal
bounds), or the network model's (``model``: what ``aiguilleur envelopes approve`` proposes)."""


def envelope_for(
    junction: Junction,
    cycle_min_s: float | None = None,
    cycle_max_s: float = 120.0,
    *,
    may_skip: bool = True,
    greens: Mapping[int, tuple[float, float]] | None = None,
) -> Envelope:
    """The operator envelope the twin grants a live controller: the scenario's phases, the
    network model's greens and intergreens (``greens``: phase index -> minimum, maximum green
    replaces them), no minimum cycle unless ``cycle_min_s`` sets one."""
    phases = list(junction.phases)
    if greens is not None:
        phases = [
            msgspec.structs.replace(
                p,
                min_green_s=greens.get(p.index, (p.min_green_s, p.max_green_s))[0],
                max_green_s=greens.get(p.index, (p.min_green_s, p.max_green_s))[1],
            )
            for p in phases
        ]
    return envelope_from_phases(
        junction.id, phases, cycle_min_s, cycle_max_s, may_skip_phases=may_skip
    )


def live_envelopes(
    junctions: Sequence[Junction],
    signals: Mapping[str, SumoSignal],
    bounds: LiveBounds,
    *,
    may_skip: bool = True,
) -> dict[str, Envelope]:
    """The envelope the twin grants each junction's live controller (see :data:`LiveBounds`)."""
    return {
        j.id: envelope_for(
            j,
            may_skip=may_skip,
            greens=programme_green_bounds(signals[j.id]) if bounds == "programme" else None,
        )
        for j in junctions
    }


class LivePolicy:
    """A Controller asked for a decision whenever its last one said to ask again."""

    def __init__(
        self,
        name: str,
        api: Any,
        junctions: list[Junction],
        signals: dict[str, SumoSignal],
        drivers: dict[str, SignalDriver],
        now: float,
        *,
        may_skip: bool = True,
        decision_source: DecisionSource | None = None,
        inputs: LiveInputs = "full",
        loops: LoopStates | None = None,
        envelopes: Mapping[str, Envelope] | None = None,
    ) -> None:
        if inputs != "full" and loops is None:
            raise ValueError(f"live inputs {inputs!r} need the run's control loops")
        self.name = name
        self._api = api
        self._inputs = inputs
        self._loops = loops
        self._last_tick: float | None = None
        self._storage: dict[str, float] = {}
        self._junctions = junctions
        self._drivers = drivers
        self.applied: list[Decision] = []
        """Every decision applied, in order (with a decision source: exactly what it returned)."""
        self._source = decision_source
        self._ctrl: dict[str, Controller] = (
            {}
            if decision_source is not None
            else {
                j.id: make_controller(
                    name,
                    envelopes[j.id]
                    if envelopes is not None
                    else envelope_for(j, may_skip=may_skip),
                )
                for j in junctions
            }
        )
        self._next: dict[str, float] = {j.id: now for j in junctions}
        self._cycle_start: dict[str, float] = {j.id: now for j in junctions}
        self._last_phase: dict[str, int] = {}
        self._movements: dict[str, list[list[_Movement]]] = {}
        for j in junctions:
            sig = signals[j.id]
            per_phase = []
            for state in sig.green_states:
                mv: dict[str, tuple[set[str], set[str]]] = {}
                for i, c in enumerate(state):
                    mid = sig.link_movements[i] if i < len(sig.link_movements) else ""
                    if c in "Gg" and mid:
                        ins, outs = mv.setdefault(mid, (set(), set()))
                        ins.add(sig.link_lanes[i][0])
                        outs.add(sig.link_lanes[i][1])
                per_phase.append(
                    [_Movement(m, sorted(a), sorted(b), len(a)) for m, (a, b) in sorted(mv.items())]
                )
            self._movements[j.id] = per_phase
        # Loops see lanes, not movements: a lane's queue is shared by the movements using it.
        self._lane_users: dict[str, int] = {}
        for per_phase in self._movements.values():
            uses = {mv.id: mv.ins for mvs in per_phase for mv in mvs}
            for lanes in uses.values():
                for ln in lanes:
                    self._lane_users[ln] = self._lane_users.get(ln, 0) + 1

    def _on_lanes(self, lanes: list[str], cache: dict[str, int]) -> int:
        """Vehicles standing or creeping on ``lanes``: all of a lane's when it moves slower than
        :data:`JAM_SPEED_MPS` on average, its halted ones otherwise (free-flowing traffic on a
        short exit takes no room for long)."""
        total = 0
        for ln in lanes:
            key = f"n:{ln}"
            if key not in cache:
                n = int(self._api.lane.getLastStepVehicleNumber(ln))
                if n and float(self._api.lane.getLastStepMeanSpeed(ln)) >= JAM_SPEED_MPS:
                    n = int(self._api.lane.getLastStepHaltingNumber(ln))
                cache[key] = n
            total += cache[key]
        return total

    def _exit_storage(self, lanes: list[str]) -> float:
        """Vehicles the exit lanes hold (their length over the road a queued car takes)."""
        total = 0.0
        for ln in lanes:
            if ln not in self._storage:
                self._storage[ln] = float(self._api.lane.getLength(ln)) / VEH_SPACING_M
            total += self._storage[ln]
        return total

    def _halting(self, lanes: list[str], cache: dict[str, int]) -> int:
        total = 0
        for ln in lanes:
            if ln not in cache:
                cache[ln] = int(self._api.lane.getLastStepHaltingNumber(ln))
            total += cache[ln]
        return total

    def _lane_view(self, lane: str, cache: dict[str, _LaneView]) -> _LaneView:
        """Per next edge: halting vehicles, and arrival times (s) of the moving ones at the stop
        line (what a turning-movement camera sees): a shared lane is split between its movements."""
        if lane not in cache:
            view: _LaneView = {}
            veh = self._api.vehicle
            length = float(self._api.lane.getLength(lane))
            vmax = float(self._api.lane.getMaxSpeed(lane))
            for v in self._api.lane.getLastStepVehicleIDs(lane):
                route, idx = veh.getRoute(v), veh.getRouteIndex(v)
                nxt = route[idx + 1] if 0 <= idx < len(route) - 1 else ""
                halting, etas, waited = view.setdefault(nxt, (0, [], 0.0))
                speed = float(veh.getSpeed(v))
                if speed < HALTING_SPEED_MPS:
                    view[nxt] = (halting + 1, etas, max(waited, float(veh.getWaitingTime(v))))
                else:
                    dist = max(0.0, length - float(veh.getLanePosition(v)))
                    etas.append(travel_time(dist, speed, vmax))
            cache[lane] = view
        return cache[lane]

    def _movement(
        self, mv: _Movement, cache: dict[str, int], views: dict[str, _LaneView]
    ) -> MovementState:
        if self._loops is not None:
            return self._loop_movement(mv)
        mid, ins, outs = mv.id, mv.ins, mv.outs
        exit_edge = mid.split(">", 1)[1]
        queue = 0
        waited = 0.0
        etas: list[float] = []
        for ln in ins:
            halting, arriving, wait = self._lane_view(ln, views).get(exit_edge, (0, [], 0.0))
            queue += halting
            etas += arriving
            waited = max(waited, wait)
        return MovementState(
            id=mid,
            queue_veh=float(queue),
            downstream_queue_veh=float(self._halting(outs, cache)),
            saturation_flow_vph=1800.0 * mv.n_lanes,
            approaching_veh=tuple(sorted(round(t, 1) for t in etas)),
            downstream_capacity_veh=round(self._exit_storage(outs), 1),
            downstream_vehicles=float(self._on_lanes(outs, cache)),
            waiting_s=round(waited, 1),
        )

    def _loop_movement(self, mv: _Movement) -> MovementState:
        """A movement as stop-line, advance and exit loops see it (``twin.loop_states``)."""
        mid, ins, outs = mv.id, mv.ins, mv.outs
        loops = self._loops
        assert loops is not None
        gap = min(loops.gap_s(ln) for ln in ins)
        waited = max(loops.waiting_s(ln) for ln in ins)
        if self._inputs == "gaps":
            return MovementState(
                id=mid,
                queue_veh=0.0,
                saturation_flow_vph=1800.0 * mv.n_lanes,
                waiting_s=round(waited, 1),
                detector_gap_s=round(gap, 1),
                queue_age_s=None,
            )
        queue = 0.0
        etas: list[float] = []
        for ln in ins:
            share = self._lane_users.get(ln, 1)
            queue += loops.queue(ln) / share
            etas += loops.arrivals(ln)[::share]
        return MovementState(
            id=mid,
            queue_veh=round(queue, 2),
            downstream_queue_veh=round(sum(loops.on_exit(o) for o in outs), 2),
            downstream_vehicles=round(sum(loops.on_exit(o) for o in outs), 2),
            saturation_flow_vph=1800.0 * mv.n_lanes,
            approaching_veh=tuple(sorted(round(t, 1) for t in etas)),
            downstream_capacity_veh=round(sum(loops.exit_storage(o) for o in outs), 1),
            waiting_s=round(waited, 1),
            detector_gap_s=round(gap, 1),
        )

    def step(self, now: float) -> None:
        """Ask each junction's controller when its decision is due; switch phases accordingly.

        With a decision source, the states of every junction due at this step go to it at once
        and its decisions are applied instead of asking the controllers in process."""
        if self._loops is not None:
            step = now - self._last_tick if self._last_tick is not None else 1.0
            self._loops.tick(now, step)
            self._last_tick = now
        cache: dict[str, int] = {}
        views: dict[str, _LaneView] = {}
        due: list[JunctionState] = []
        for j in self._junctions:
            drv = self._drivers[j.id]
            if now < self._next[j.id] - _EPS or drv.in_transition:
                continue
            phases = tuple(
                PhaseState(
                    index=k,
                    movements=tuple(self._movement(mv, cache, views) for mv in mvs),
                )
                for k, mvs in enumerate(self._movements[j.id])
            )
            if drv.phase == j.phases[0].index and self._last_phase.get(j.id) != drv.phase:
                self._cycle_start[j.id] = drv.green_since
            self._last_phase[j.id] = drv.phase
            due.append(
                JunctionState(
                    junction_id=j.id,
                    time_s=now,
                    current_phase=drv.phase,
                    phase_elapsed_s=drv.green_elapsed(now),
                    phases=phases,
                    cycle_elapsed_s=now - self._cycle_start[j.id],
                )
            )
        if not due:
            return
        if self._source is not None:
            answers = self._source(due)
            decisions = [answers[st.junction_id] for st in due]
        else:
            decisions = [self._ctrl[st.junction_id].decide(st) for st in due]
        for decision in decisions:
            self._apply(decision, now)

    def outcome(self) -> PolicyOutcome:
        """Every decision applied so far."""
        return PolicyOutcome(applied=list(self.applied))

    def _apply(self, decision: Decision, now: float) -> None:
        drv = self._drivers[decision.junction_id]
        self.applied.append(decision)
        wait = max(1.0, float(decision.next_decision_in_s))
        if decision.phase_index != drv.phase:
            green_start = drv.switch(decision.phase_index, now)
            self._next[decision.junction_id] = max(now + wait, green_start + 1.0)
        else:
            self._next[decision.junction_id] = now + wait
