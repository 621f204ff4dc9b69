"""Adaptive mode: schedule-driven look-ahead control inside an approved envelope.

In the spirit of Surtrac (Xie, Smith and Barlow, 2012), each junction plans from the vehicles it
sees: at every decision it compares two schedules that cover the same full cycle,

- *extend*: keep the current phase ``step_s`` more, clear, then serve every other phase in the
  approved order for the green that clears its queue, and come back to the current phase;
- *switch*: clear now, serve the same phases, and come back to the current phase ``step_s`` longer;

with a fluid queue model fed by the live queues and the arrivals that detectors announce
(``approaching_veh`` times, else the ``arrivals_vph`` rate), a 2 s start-up loss per green and,
when the exit's storage is known, discharge reduced as the exit fills. The cost of a schedule is
the vehicle-seconds of waiting over it; the cheaper one wins.
:class:`EnvelopeGuard` keeps the decision inside the envelope, and the reason states both costs.
A one-decision rolling horizon, not Surtrac's forward dynamic programme over platoon clusters.
"""

from __future__ import annotations

import math

from optimizer._envelope import SteppedController
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
            if m.downstream_capacity_veh > 0:
                # Spill-back: a filling exit admits proportionally less, a full one nothing.
                rate *= max(0.0, 1.0 - m.downstream_queue_veh / m.downstream_capacity_veh)
            arrivals = _arrivals_per_second(m, horizon)
            for t in range(horizon):
                queue += arrivals[t]
                if green_at[t] == p.index and not startup[t]:
                    queue -= min(queue, rate)
                cost += queue
    return cost


class AdaptiveController(SteppedController):
    """Schedule-driven look-ahead controller (the "adaptive" strategy)."""

    name = "adaptive"

    def __init__(self, envelope: Envelope, step_s: float = DEFAULT_STEP_S) -> None:
        super().__init__(envelope, step_s)

    def decide(self, state: JunctionState) -> Decision:
        """Extend the current green or switch, whichever schedule costs fewer vehicle-seconds."""
        env = self.envelope
        cur = state.current_phase
        if cur not in env.phase_order:
            return self._guard.decide(state, want=env.phase_order[0], hold_s=0.0, reason="adaptive")
        target = self._target(state)
        step = max(1, math.ceil(self.step_s))
        ig = round(env.intergreen_s[cur])
        rest = self._rest_of_cycle(state, target, cur)
        # Same length either way: the current phase is green again at the end of both.
        extend: list[Segment] = [(cur, step), (None, ig), *rest, (cur, 1)]
        switch: list[Segment] = [(None, ig), *rest, (cur, step + 1)]
        c_extend = schedule_cost(state.phases, extend, current_green=cur)
        c_switch = schedule_cost(state.phases, switch, current_green=cur)
        horizon = sum(d for _, d in extend)
        if c_extend < c_switch:
            reason = (
                f"adaptive look-ahead {horizon} s: extending phase {cur} by {step} s costs "
                f"{c_extend:.0f} veh·s against {c_switch:.0f} switching to {target}"
            )
            return self._guard.decide(state, want=cur, hold_s=self.step_s, reason=reason)
        reason = (
            f"adaptive look-ahead {horizon} s: switching to phase {target} costs {c_switch:.0f} "
            f"veh·s against {c_extend:.0f} extending phase {cur}"
        )
        return self._guard.decide(state, want=target, hold_s=self.step_s, reason=reason)

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
        """The next phase; with skipping allowed, the first allowed one that has traffic."""
        targets = self._guard.allowed_targets(state.current_phase, state)
        if len(targets) == 1:
            return targets[0]
        by_index = {p.index: p for p in state.phases}
        for t in targets:
            p = by_index.get(t)
            if p is not None and any(
                m.queue_veh > 0 or m.approaching_veh or m.arrivals_vph > 0 for m in p.movements
            ):
                return t
        return targets[0]

    def _green_needed(self, state: JunctionState, target: int) -> int:
        """Green that clears the target phase's current queues, within its bounds."""
        env = self.envelope
        need = 0.0
        for p in state.phases:
            if p.index == target:
                for m in p.movements:
                    if m.saturation_flow_vph > 0:
                        need = max(need, max(0.0, m.queue_veh) * 3600.0 / m.saturation_flow_vph)
        green = need + STARTUP_LOST_S
        return math.ceil(min(max(green, env.min_green_s[target]), env.max_green_s[target]))


register_controller("adaptive", AdaptiveController)
