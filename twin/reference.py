"""RESCO's max-pressure baseline, as a reference to validate the harness against published numbers.

RESCO (Ault & Sharon 2021) re-decides every 10 s: the phase whose movements have the largest sum
of (halting vehicles upstream - halting vehicles downstream) gets the green, any phase may follow
any other, and a change costs the scenario's yellow out of those 10 s. This is not aiguilleur's
max-pressure (``optimizer.max_pressure``, weighted by saturation flow, with an approved order);
it exists so that the twin itself can be compared with RESCO's MAXPRESSURE column.
"""

from __future__ import annotations

from optimizer.strategy import Decision, Envelope, JunctionState, register_controller

RESCO_STEP_S = 10.0


class RescoMaxPressure:
    """Acyclic, unweighted max-pressure deciding every 10 s."""

    name = "resco-max-pressure"

    def __init__(self, envelope: Envelope) -> None:
        self.envelope = envelope

    def decide(self, state: JunctionState) -> Decision:
        """The phase of highest pressure (the current one on ties)."""
        pressure = {
            p.index: sum(m.queue_veh - m.downstream_queue_veh for m in p.movements)
            for p in state.phases
            if p.movements
        }
        if not pressure:  # no phase serves a vehicle movement (a crossing-only signal)
            return Decision(
                junction_id=state.junction_id,
                time_s=state.time_s,
                phase_index=state.current_phase,
                next_decision_in_s=RESCO_STEP_S,
                reason="RESCO max-pressure: no vehicle movement; phase kept",
            )
        best = max(pressure, key=lambda i: (pressure[i], i == state.current_phase, -i))
        if pressure.get(state.current_phase, float("-inf")) >= pressure[best]:
            best = state.current_phase
        return Decision(
            junction_id=state.junction_id,
            time_s=state.time_s,
            phase_index=best,
            next_decision_in_s=RESCO_STEP_S,
            reason=f"RESCO max-pressure: phase {best} pressure {pressure[best]:.1f}",
        )


register_controller(RescoMaxPressure.name, RescoMaxPressure)
