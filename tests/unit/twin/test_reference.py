"""RESCO's max-pressure reference: acyclic, unweighted, every 10 s."""

from __future__ import annotations

from optimizer.strategy import Envelope, JunctionState, MovementState, PhaseState
from twin.reference import RESCO_STEP_S, RescoMaxPressure

ENV = Envelope(
    junction_id="J",
    phase_order=(0, 1, 2),
    min_green_s=(5.0,) * 3,
    max_green_s=(60.0,) * 3,
    intergreen_s=(3.0,) * 3,
)


def _state(current: int, queues: list[tuple[float, float]]) -> JunctionState:
    return JunctionState(
        junction_id="J",
        time_s=100.0,
        current_phase=current,
        phase_elapsed_s=20.0,
        phases=tuple(
            PhaseState(
                index=i, movements=(MovementState(id=f"m{i}", queue_veh=q, downstream_queue_veh=d),)
            )
            for i, (q, d) in enumerate(queues)
        ),
    )


def test_serves_the_highest_pressure_in_any_order() -> None:
    d = RescoMaxPressure(ENV).decide(_state(0, [(2, 0), (3, 3), (6, 1)]))
    assert d.phase_index == 2  # skips phase 1: RESCO's phases have no order
    assert d.next_decision_in_s == RESCO_STEP_S


def test_keeps_the_current_phase_on_ties_and_counts_downstream() -> None:
    assert RescoMaxPressure(ENV).decide(_state(1, [(4, 0), (9, 5), (1, 0)])).phase_index == 1
    assert RescoMaxPressure(ENV).decide(_state(1, [(4, 0), (9, 6), (1, 0)])).phase_index == 0
