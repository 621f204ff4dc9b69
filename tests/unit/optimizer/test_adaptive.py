"""The adaptive mode's rules before its look-ahead: spill-back, the bound on waiting, fall-back."""

from __future__ import annotations

from optimizer import Envelope, JunctionState, MovementState, PhaseState, controller
from optimizer.adaptive import MAX_GAP_S, STALE_AFTER_S, Segment, exit_room, schedule_cost

ENV = Envelope(
    junction_id="J",
    phase_order=(0, 1, 2),
    min_green_s=(7.0, 7.0, 7.0),
    max_green_s=(60.0, 60.0, 60.0),
    intergreen_s=(3.0, 3.0, 3.0),
    cycle_min_s=20.0,
    cycle_max_s=120.0,
    may_skip_phases=True,
)


def _state(*movements: MovementState, elapsed: float = 10.0, current: int = 0) -> JunctionState:
    """Movement ``k`` is served by phase ``k``."""
    return JunctionState(
        junction_id="J",
        time_s=0.0,
        current_phase=current,
        phase_elapsed_s=elapsed,
        cycle_elapsed_s=elapsed,
        phases=tuple(PhaseState(index=k, movements=(m,)) for k, m in enumerate(movements)),
    )


def test_discharge_stops_when_the_exit_is_full() -> None:
    free = MovementState(id="a", queue_veh=10.0)
    full = MovementState(
        id="a", queue_veh=10.0, downstream_capacity_veh=8.0, downstream_vehicles=8.0
    )
    two_left = MovementState(
        id="a", queue_veh=10.0, downstream_capacity_veh=8.0, downstream_vehicles=6.0
    )
    assert exit_room(free) == float("inf")
    assert exit_room(full) == 0.0
    schedule: list[Segment] = [(0, 30)]
    costs = [
        schedule_cost((PhaseState(index=0, movements=(m,)),), schedule, current_green=0)
        for m in (free, two_left, full)
    ]
    assert costs[0] < costs[1] < costs[2]
    assert costs[2] == 10.0 * 30  # nobody leaves: ten vehicles wait the whole schedule


def test_a_green_facing_a_full_exit_goes_to_a_phase_that_can_move() -> None:
    # Phase 0 has the longest queue, but its exit is full; phase 1 has nothing, phase 2 a queue.
    blocked = MovementState(
        id="w>e", queue_veh=20.0, downstream_capacity_veh=8.0, downstream_vehicles=8.0
    )
    side = MovementState(id="n>s", queue_veh=4.0)
    d = controller("adaptive", ENV).decide(
        _state(blocked, MovementState(id="x", queue_veh=0), side)
    )
    assert d.phase_index == 2
    unblocked = MovementState(id="w>e", queue_veh=20.0, downstream_capacity_veh=8.0)
    d = controller("adaptive", ENV).decide(
        _state(unblocked, MovementState(id="x", queue_veh=0), side)
    )
    assert d.phase_index == 0  # with room, twenty vehicles are worth keeping the green for


def test_a_movement_that_waited_the_bound_is_served_next() -> None:
    busy = MovementState(id="main", queue_veh=25.0)
    quiet = MovementState(id="side", queue_veh=1.0, waiting_s=60.0)
    ctrl = controller("adaptive", ENV)
    # Below the bound the look-ahead keeps the busy road green ...
    assert ctrl.decide(_state(busy, MovementState(id="x", queue_veh=0), quiet)).phase_index == 0
    # ... at the bound (the maximum cycle) the side road is next, whatever the queues.
    late = MovementState(id="side", queue_veh=1.0, waiting_s=ENV.cycle_max_s)
    d = ctrl.decide(_state(busy, MovementState(id="x", queue_veh=0), late))
    assert d.phase_index == 2
    assert "bounded wait" in d.reason


def test_missing_or_stale_queues_fall_back_to_gap_logic() -> None:
    ctrl = controller("adaptive", ENV)
    flowing = MovementState(id="a", queue_veh=0.0, queue_age_s=None, detector_gap_s=1.0)
    other = MovementState(id="b", queue_veh=0.0, queue_age_s=None, detector_gap_s=30.0)
    d = ctrl.decide(_state(flowing, other, other))
    assert d.phase_index == 0
    assert d.reason.startswith("fall-back to gap logic")
    assert d.next_decision_in_s <= MAX_GAP_S
    gapped = MovementState(id="a", queue_veh=0.0, queue_age_s=None, detector_gap_s=MAX_GAP_S + 1)
    d = ctrl.decide(_state(gapped, other, other))
    assert d.phase_index == 1
    assert "gapped out" in d.reason
    # stale queues too, even when they say there is a queue
    stale = MovementState(
        id="a", queue_veh=30.0, queue_age_s=STALE_AFTER_S + 1, detector_gap_s=MAX_GAP_S + 1
    )
    fresh = MovementState(id="b", queue_veh=1.0, detector_gap_s=0.5)
    d = ctrl.decide(_state(stale, fresh, fresh))
    assert d.reason.startswith("fall-back to gap logic")
    assert d.phase_index == 1


def test_nobody_in_sight_keeps_the_green() -> None:
    # No queue, no arrival anywhere: both schedules cost nothing, and switching would only stop
    # the next arrivals for an intergreen and a minimum green.
    empty = [MovementState(id=m, queue_veh=0.0) for m in ("a", "b", "c")]
    d = controller("adaptive", ENV).decide(_state(*empty, elapsed=12.0, current=1))
    assert d.phase_index == 1
    assert "no gain in switching" in d.reason
    # One vehicle on the way to phase 2 is a reason to go there once phase 1 has nobody left.
    coming = MovementState(id="c", queue_veh=0.0, approaching_veh=(2.0,))
    d = controller("adaptive", ENV).decide(_state(empty[0], empty[1], coming, current=1))
    assert d.phase_index == 2
