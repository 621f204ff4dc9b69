"""Max-pressure control (Varaiya 2013), in a cyclic form that respects an approved phase order.

The pressure of a phase is the sum over the movements it serves of the saturation flow times the
difference between the upstream queue and the downstream queue. Varaiya's controller serves the
phase of highest pressure; with a fixed phase order (Le et al. 2015, "cyclic max-pressure") the
current phase keeps the green while its pressure is the highest, and otherwise the next phase the
order allows takes over. Decisions are re-taken every ``step_s`` seconds and always pass through
:class:`EnvelopeGuard`.
"""

from __future__ import annotations

from optimizer._envelope import EnvelopeGuard
from optimizer.strategy import Decision, Envelope, JunctionState, PhaseState, register_controller

DEFAULT_STEP_S = 5.0


def phase_pressure(phase: PhaseState) -> float:
    """Varaiya's pressure of a phase (veh/s): sum of s * (queue - downstream queue)."""
    return sum(
        m.saturation_flow_vph / 3600.0 * (m.queue_veh - m.downstream_queue_veh)
        for m in phase.movements
    )


class MaxPressureController:
    """Cyclic max-pressure inside an envelope."""

    name = "max-pressure"

    def __init__(self, envelope: Envelope, step_s: float = DEFAULT_STEP_S) -> None:
        if step_s <= 0:
            raise ValueError(f"step_s must be > 0, got {step_s}")
        self.envelope = envelope
        self.step_s = step_s
        self._guard = EnvelopeGuard(envelope)

    def decide(self, state: JunctionState) -> Decision:
        """Keep the green while the current phase has the highest pressure, else move on."""
        pressures = {p.index: phase_pressure(p) for p in state.phases}
        cur = state.current_phase
        mine = pressures.get(cur, 0.0)
        others = {i: w for i, w in pressures.items() if i != cur and i in self.envelope.phase_order}
        if not others or mine >= max(others.values()):
            return self._guard.decide(
                state,
                want=cur,
                hold_s=self.step_s,
                reason=f"max-pressure: phase {cur} has the highest pressure ({mine:.2f} veh/s)",
            )
        targets = self._guard.allowed_targets(cur, state)
        # Among the phases the order allows, the one of highest pressure; ties go to the earliest.
        target = max(targets, key=lambda i: (pressures.get(i, 0.0), -targets.index(i)))
        top = max(others, key=lambda i: (others[i], -i))
        return self._guard.decide(
            state,
            want=target,
            hold_s=self.step_s,
            reason=(
                f"max-pressure: phase {top} pressure {others[top]:.2f} veh/s exceeds phase {cur}'s "
                f"{mine:.2f}; switch to {target}"
            ),
        )


register_controller("max-pressure", MaxPressureController)
