"""Adaptive mode: schedule-driven look-ahead control inside an approved envelope.

In the spirit of Surtrac (Xie, Smith and Barlow, 2012), each junction plans from the vehicles it
sees: at every decision it compares two schedules that cover the same full cycle,

- *extend*: keep the current phase ``step_s`` more, clear, then serve every other phase in the
  approved order for the green that clears its queue, and come back to the current phase;
- *switch*: clear now, serve the same phases, and come back to the current phase ``step_s`` longer;

with a fluid queue model fed by the live queues and the arrivals that detectors announce
(``approaching_veh`` times, else the ``arrivals_vph`` rate), a 2 s start-up loss per green and,
when the exit's storage is known, no more discharge than the exit has room for. The cost of a
schedule is the vehicle-seconds of waiting over it; the cheaper one wins.
:class:`EnvelopeGuard` keeps the decision inside the envelope, and the reason states both costs.
A one-decision rolling horizon, not Surtrac's forward dynamic programme over platoon clusters.

Three rules come before the look-ahead, in this order:

- **fall-back**: when a movement's queue is not measured (``queue_age_s`` None) or older than
  :data:`STALE_AFTER_S`, the junction runs actuated gap logic inside the envelope (extend while a
  vehicle crossed the current phase's detectors within :data:`MAX_GAP_S`, else go to the next phase
  with a call); the reason starts with ``fall-back``;
- **bounded wait**: a movement whose first vehicle has waited the envelope's maximum cycle is
  served next, whatever the queues elsewhere (unless its exit is full: green could not move it);
- **spill-back**: a movement whose exit is full is no reason to keep or give a green; a phase whose
  waiting movements all face full exits is passed over when skipping is allowed.
"""

from __future__ import annotations

import math

from optimizer._envelope import EPS, SteppedController
from optimizer.strategy import (
    Decision,
    Envelope,
    JunctionState,
    MovementState,
    PhaseState,
    register_controller,
)

DEFAULT_STEP_S = 3.0
STARTUP_LOST_S = 2
"""Seconds at the start of a green with no discharge (HCM start-up lost time)."""
STALE_AFTER_S = 10.0
"""Queues older than this are not trusted: the junction falls back to gap logic."""
MAX_GAP_S = 3.0
"""Gap logic: a green is extended while a vehicle crossed its detectors within this many seconds
(SUMO's actuated default ``max-gap``)."""
FULL_EXIT_ROOM_VEH = 1.0
"""An exit with less room than one vehicle is full (spill-back)."""

Segment = tuple[int | None, int]
"""(phase index that is green, or None for a clearance interval; duration in whole seconds)."""


def _arrivals_per_second(m: MovementState, horizon: int) -> list[float]:
    if m.approaching_veh:
        counts = [0.0] * horizon
        for t in m.approaching_veh:
            if 0 <= t < horizon:
                counts[int(t)] += 1.0
        return counts
    return [m.arrivals_vph / 3600.0] * horizon


def schedule_cost(
    phases: tuple[PhaseState, ...], schedule: list[Segment], *, current_green: int | None
) -> float:
    """Vehicle-seconds of waiting over ``schedule``.

    ``current_green`` is already green when the schedule starts (no start-up loss if it continues).
    """
    horizon = sum(d for _, d in schedule)
    green_at: list[int | None] = []
    startup: list[bool] = []
    prev = current_green
    for phase, duration in schedule:
        for k in range(duration):
            green_at.append(phase)
            startup.append(phase is not None and phase != prev and k < STARTUP_LOST_S)
        prev = phase
    cost = 0.0
    for p in phases:
        for m in p.movements:
            queue = max(0.0, m.queue_veh)
            rate = m.saturation_flow_vph / 3600.0
            # Spill-back: no more vehicles leave than the exit has room for.
            room = exit_room(m)
            arrivals = _arrivals_per_second(m, horizon)
            for t in range(horizon):
                queue += arrivals[t]
                if green_at[t] == p.index and not startup[t]:
                    out = min(queue, rate, room)
                    queue -= out
                    room -= out
                cost += queue
    return cost


def exit_room(m: MovementState) -> float:
    """Vehicles the movement's exit can still take (infinite when its storage is unknown)."""
    if m.downstream_capacity_veh <= 0:
        return math.inf
    on_exit = m.downstream_vehicles if m.downstream_vehicles is not None else m.downstream_queue_veh
    return max(0.0, m.downstream_capacity_veh - on_exit)


def exit_full(m: MovementState) -> bool:
    """True when the movement's exit cannot take one more vehicle."""
    return exit_room(m) < FULL_EXIT_ROOM_VEH


def degraded(state: JunctionState) -> str | None:
    """Why the state's queues cannot be trusted (missing or stale), or None."""
    missing: list[str] = []
    stale: list[str] = []
    for p in state.phases:
        for m in p.movements:
            if m.queue_age_s is None:
                missing.append(m.id)
            elif m.queue_age_s > STALE_AFTER_S:
                stale.append(m.id)
    if not missing and not stale:
        return None
    parts = []
    if missing:
        parts.append(f"queues of {len(set(missing))} movement(s) not measured ({missing[0]}…)")
    if stale:
        parts.append(
            f"queues of {len(set(stale))} movement(s) older than {STALE_AFTER_S:.0f} s "
            f"({stale[0]}…)"
        )
    return "; ".join(parts)


class AdaptiveController(SteppedController):
    """Schedule-driven look-ahead controller (the "adaptive" strategy)."""

    name = "adaptive"

    def __init__(self, envelope: Envelope, step_s: float = DEFAULT_STEP_S) -> None:
        super().__init__(envelope, step_s)

    def decide(self, state: JunctionState) -> Decision:
        """Fall back to gap logic on unmeasured queues; serve an over-waiting movement next;
        otherwise extend the current green or switch, whichever schedule costs fewer
        vehicle-seconds."""
        env = self.envelope
        cur = state.current_phase
        if cur not in env.phase_order:
            return self._guard.decide(state, want=env.phase_order[0], hold_s=0.0, reason="adaptive")
        why = degraded(state)
        if why is not None:
            return self._gap_logic(state, why)
        overdue = self._overdue(state)
        if overdue is not None:
            return overdue
        target = self._target(state)
        if self._guard.keep_limit_s(state) <= EPS:
            # The envelope ends this green now: go where the traffic is, not merely next in order.
            reason = f"adaptive: maximum green or cycle reached, phase {target} has traffic"
            return self._guard.decide(state, want=target, hold_s=self.step_s, reason=reason)
        step = max(1, math.ceil(self.step_s))
        ig = round(env.intergreen_s[cur])
        rest = self._rest_of_cycle(state, target, cur)
        # Same length either way: the current phase is green again at the end of both.
        extend: list[Segment] = [(cur, step), (None, ig), *rest, (cur, 1)]
        switch: list[Segment] = [(None, ig), *rest, (cur, step + 1)]
        c_extend = schedule_cost(state.phases, extend, current_green=cur)
        c_switch = schedule_cost(state.phases, switch, current_green=cur)
        horizon = sum(d for _, d in extend)
        if c_extend <= c_switch + EPS:
            # A tie keeps the green: a switch that gains nothing still costs an intergreen and a
            # minimum green (with nobody in sight, it would stop the next arrivals for nothing).
            reason = (
                f"adaptive look-ahead {horizon} s: extending phase {cur} by {step} s costs "
                f"{c_extend:.0f} veh·s against {c_switch:.0f} switching to {target}"
            )
            if c_extend >= c_switch - EPS:
                reason += ": no gain in switching, kept"
            return self._guard.decide(state, want=cur, hold_s=self.step_s, reason=reason)
        reason = (
            f"adaptive look-ahead {horizon} s: switching to phase {target} costs {c_switch:.0f} "
            f"veh·s against {c_extend:.0f} extending phase {cur}"
        )
        if self._full_exits_only(state, cur):
            reason += f" (phase {cur}'s waiting movements face full exits)"
        return self._guard.decide(state, want=target, hold_s=self.step_s, reason=reason)

    def _overdue(self, state: JunctionState) -> Decision | None:
        """Serve next the movement that waited longest past the bound (the maximum cycle)."""
        env = self.envelope
        cur = state.current_phase
        bound = env.cycle_max_s
        served = {m.id for p in state.phases if p.index == cur for m in p.movements}
        worst: tuple[float, int, str] | None = None
        for p in state.phases:
            if p.index == cur or p.index not in env.phase_order:
                continue
            for m in p.movements:
                if m.id in served or m.waiting_s < bound or exit_full(m):
                    continue
                if worst is None or m.waiting_s > worst[0]:
                    worst = (m.waiting_s, p.index, m.id)
        if worst is None:
            return None
        waited, phase, mid = worst
        targets = self._guard.allowed_targets(cur, state)
        # Not reachable in this cycle: close it (the first phase is always a target).
        want = phase if phase in targets else targets[0]
        reason = (
            f"adaptive bounded wait: movement {mid} of phase {phase} has waited {waited:.0f} s "
            f"(bound {bound:.0f} s, the maximum cycle): serve it next"
        )
        return self._guard.decide(state, want=want, hold_s=self.step_s, reason=reason)

    def _gap_logic(self, state: JunctionState, why: str) -> Decision:
        """Actuated control inside the envelope, for when the queues cannot be trusted."""
        cur = state.current_phase
        mine = [m for p in state.phases if p.index == cur for m in p.movements]
        gaps = [m.detector_gap_s for m in mine]
        if mine and any(g is None for g in gaps):
            reason = (
                f"fall-back to gap logic ({why}): phase {cur} has a movement without a "
                "detector: kept (recall) within its maximum green"
            )
            return self._guard.decide(state, want=cur, hold_s=self.step_s, reason=reason)
        known = [g for g in gaps if g is not None]
        if known and min(known) < MAX_GAP_S:
            gap = min(known)
            reason = (
                f"fall-back to gap logic ({why}): last vehicle on phase {cur}'s detectors "
                f"{gap:.1f} s ago < {MAX_GAP_S:.0f} s: extend"
            )
            return self._guard.decide(
                state, want=cur, hold_s=max(0.5, MAX_GAP_S - gap), reason=reason
            )
        targets = self._guard.allowed_targets(cur, state)
        by_index = {p.index: p for p in state.phases}
        called = [
            t
            for t in targets
            if t in by_index
            and any(_calls(m, self.envelope.cycle_max_s) for m in by_index[t].movements)
        ]
        want = called[0] if called else targets[0]
        reason = f"fall-back to gap logic ({why}): phase {cur} gapped out, " + (
            f"phase {want} has a call" if called else f"no call: next phase {want}"
        )
        return self._guard.decide(state, want=want, hold_s=self.step_s, reason=reason)

    def _full_exits_only(self, state: JunctionState, phase: int) -> bool:
        """True when every movement of ``phase`` with a queue faces a full exit."""
        queued = [
            m for p in state.phases if p.index == phase for m in p.movements if m.queue_veh > 0
        ]
        return bool(queued) and all(exit_full(m) for m in queued)

    def _rest_of_cycle(self, state: JunctionState, target: int, cur: int) -> list[Segment]:
        """From ``target`` round the order back to ``cur``: each phase's clearing green, then its
        intergreen."""
        env = self.envelope
        order = env.phase_order
        start = order.index(target)
        out: list[Segment] = []
        for k in range(len(order)):
            p = order[(start + k) % len(order)]
            if p == cur:
                break
            out += [(p, self._green_needed(state, p)), (None, round(env.intergreen_s[p]))]
        return out

    def _target(self, state: JunctionState) -> int:
        """The next phase; with skipping allowed, the first allowed one with traffic that can
        move (a queue facing a full exit cannot)."""
        targets = self._guard.allowed_targets(state.current_phase, state)
        if len(targets) == 1:
            return targets[0]
        by_index = {p.index: p for p in state.phases}
        for t in targets:
            p = by_index.get(t)
            if p is not None and any(
                not exit_full(m) and (m.queue_veh > 0 or m.approaching_veh or m.arrivals_vph > 0)
                for m in p.movements
            ):
                return t
        return targets[0]

    def _green_needed(self, state: JunctionState, target: int) -> int:
        """Green that clears the target phase's current queues (as far as their exits take
        them), within its bounds."""
        env = self.envelope
        need = 0.0
        for p in state.phases:
            if p.index == target:
                for m in p.movements:
                    if m.saturation_flow_vph > 0:
                        queue = min(max(0.0, m.queue_veh), exit_room(m))
                        need = max(need, queue * 3600.0 / m.saturation_flow_vph)
        green = need + STARTUP_LOST_S
        return math.ceil(min(max(green, env.min_green_s[target]), env.max_green_s[target]))


def _calls(m: MovementState, within_s: float) -> bool:
    """Gap logic: a vehicle waits, or was seen on the movement's detector within ``within_s`` (a
    movement without a detector always calls)."""
    return m.detector_gap_s is None or m.waiting_s > 0 or m.detector_gap_s < within_s


register_controller("adaptive", AdaptiveController)
