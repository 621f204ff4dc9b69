"""Max-pressure control (Varaiya 2013), in a cyclic form that respects an approved phase order.

The pressure of a phase is the sum over the movements it serves of the saturation flow times the
difference between the upstream queue and the downstream queue. Varaiya's controller serves the
phase of highest pressure; with an approved phase order (in the spirit of Le et al. 2015's cyclic
max-pressure) only the phases the order allows next can take over, so the current phase keeps the
green while none of them has a higher pressure. Decisions are re-taken every ``step_s`` seconds
and always pass through :class:`EnvelopeGuard`.
"""

from __future__ import annotations

from optimizer._envelope import SteppedController
from optimizer.strategy import Decision, Envelope, JunctionState, PhaseState, register_controller

DEFAULT_STEP_S = 5.0


def phase_pressure(phase: PhaseState) -> float:
    """Varaiya's pressure of a phase (veh/s): sum of s * (queue - downstream queue)."""
    return sum(
        m.saturation_flow_vph / 3600.0 * (m.queue_veh - m.downstream_queue_veh)
        for m in phase.movements
    )


class MaxPressureController(SteppedController):
    """Cyclic max-pressure inside an envelope."""

    name = "max-pressure"

    def __init__(self, envelope: Envelope, step_s: float = DEFAULT_STEP_S) -> None:
        super().__init__(envelope, step_s)

    def decide(self, state: JunctionState) -> Decision:
        """Keep the green while no phase the order allows next has a higher pressure."""
        pressures = {p.index: phase_pressure(p) for p in state.phases}
        cur = state.current_phase
        mine = pressures.get(cur, 0.0)
        targets = self._guard.allowed_targets(cur, state)
        # Among the phases the order allows, the one of highest pressure; ties go to the earliest.
        target = max(targets, key=lambda i: (pressures.get(i, 0.0), -targets.index(i)))
        theirs = pressures.get(target, 0.0)
        if target == cur or mine >= theirs:
            return self._guard.decide(
                state,
                want=cur,
                hold_s=self.step_s,
                reason=(
                    f"max-pressure: phase {cur} pressure {mine:.2f} veh/s >= {theirs:.2f} of "
                    f"phase {target}, the next the order allows: keep"
                ),
            )
        return self._guard.decide(
            state,
            want=target,
            hold_s=self.step_s,
            reason=(
                f"max-pressure: phase {target} pressure {theirs:.2f} veh/s exceeds phase {cur}'s "
                f"{mine:.2f}: switch"
            ),
        )


register_controller("max-pressure", MaxPressureController)
