"""Live controllers: every decision stays inside the approved envelope and carries a reason."""

from __future__ import annotations

from dataclasses import dataclass

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optimizer import (
    Controller,
    Decision,
    Envelope,
    InvalidEnvelope,
    JunctionState,
    MovementState,
    PhaseState,
    controller,
    controllers,
    envelope_from_demand,
    envelope_from_phases,
    planner,
    planners,
    shortest_cycle_s,
)
from tests.unit.optimizer._gen import (
    EPS,
    FluidJunction,
    assert_in_envelope,
    demands,
    envelopes,
    states,
)

LIVE = ("fixed-time", "max-pressure", "adaptive")


def test_every_strategy_is_registered_under_its_stable_name() -> None:
    assert set(LIVE) <= set(controllers())
    assert {"fixed-time", "webster", "optimizer"} <= set(planners())
    env = envelope_from_demand(demands(2, [[300.0], [200.0]]))
    for name in LIVE:
        assert controller(name, env).name == name
    for name in ("fixed-time", "webster", "optimizer"):
        assert planner(name).name == name


@pytest.mark.parametrize("name", LIVE)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_single_decisions_stay_in_the_envelope(name: str, data: st.DataObject) -> None:
    env = data.draw(envelopes())
    state = data.draw(states(env))
    assert_in_envelope(env, state, controller(name, env).decide(state))


@pytest.mark.parametrize("name", LIVE)
@settings(max_examples=20, deadline=None)
@given(env=envelopes(), flows=st.lists(st.floats(0, 900), min_size=4, max_size=4))
def test_played_greens_and_cycles_stay_in_the_envelope(
    name: str, env: Envelope, flows: list[float]
) -> None:
    junction = FluidJunction(env, flows[: len(env.min_green_s)])
    greens, cycles = junction.run(controller(name, env), duration_s=600.0)
    assert greens, "no phase change in 10 minutes"
    for phase, green in greens:
        assert env.min_green_s[phase] - EPS <= green <= env.max_green_s[phase] + EPS
    order = env.phase_order
    for length, served in cycles:
        assert length <= env.cycle_max_s + EPS
        positions = [order.index(p) for p in served]
        if env.may_skip_phases:
            assert positions == sorted(set(positions)), "phases served out of order"
        else:
            assert served == list(order)


def _two_phase_state(q0: float, q1: float, elapsed: float) -> JunctionState:
    phases = tuple(
        PhaseState(index=i, movements=(MovementState(id=f"m{i}", queue_veh=q),))
        for i, q in enumerate((q0, q1))
    )
    return JunctionState(
        junction_id="J",
        time_s=0.0,
        current_phase=0,
        phase_elapsed_s=elapsed,
        phases=phases,
        cycle_elapsed_s=elapsed,
    )


@pytest.mark.parametrize("name", ["max-pressure", "adaptive"])
def test_responsive_controllers_follow_the_queues(name: str) -> None:
    env = envelope_from_demand(demands(2, [[300.0], [300.0]], max_green=60.0))
    ctrl = controller(name, env)
    assert ctrl.decide(_two_phase_state(q0=0.0, q1=20.0, elapsed=10.0)).phase_index == 1
    assert ctrl.decide(_two_phase_state(q0=20.0, q1=0.0, elapsed=10.0)).phase_index == 0


def test_fixed_time_plays_its_greens_whatever_the_queues() -> None:
    env = envelope_from_demand(demands(2, [[300.0], [300.0]], max_green=60.0))
    ctrl = controller("fixed-time", env)
    # 90 s cycle, two 5 s intergreens: 40 s each.
    keep = ctrl.decide(_two_phase_state(q0=0.0, q1=50.0, elapsed=10.0))
    assert keep.phase_index == 0
    assert keep.next_decision_in_s == pytest.approx(30.0)
    assert ctrl.decide(_two_phase_state(q0=50.0, q1=0.0, elapsed=40.0)).phase_index == 1


def test_an_envelope_that_cannot_hold_is_refused() -> None:
    bad = Envelope(
        junction_id="J",
        phase_order=(0, 1),
        min_green_s=(50.0, 50.0),
        max_green_s=(60.0, 60.0),
        intergreen_s=(5.0, 5.0),
        cycle_max_s=100.0,
    )
    with pytest.raises(InvalidEnvelope, match="cycle_max_s"):
        controller("adaptive", bad)


@pytest.mark.parametrize("flows", [[600.0, 200.0], [700.0, 300.0, 200.0]])
def test_responsive_controllers_queue_less_than_fixed_time(flows: list[float]) -> None:
    """On a fluid-queue junction with unequal demand, both live strategies beat equal greens."""
    env = envelope_from_demand(demands(len(flows), [[f] for f in flows]))
    waits = {}
    for name in LIVE:
        junction = FluidJunction(env, flows)
        junction.run(controller(name, env), duration_s=1800.0)
        waits[name] = junction.queue_seconds
    assert waits["max-pressure"] < waits["fixed-time"]
    assert waits["adaptive"] < waits["fixed-time"]


def test_adaptive_does_not_hold_a_green_into_a_full_exit() -> None:
    env = envelope_from_demand(demands(2, [[300.0], [300.0]], max_green=60.0))
    ctrl = controller("adaptive", env)

    def state(down: float, capacity: float) -> JunctionState:
        phases = (
            PhaseState(
                index=0,
                movements=(
                    MovementState(
                        id="m0",
                        queue_veh=12.0,
                        downstream_queue_veh=down,
                        downstream_capacity_veh=capacity,
                    ),
                ),
            ),
            PhaseState(index=1, movements=(MovementState(id="m1", queue_veh=6.0),)),
        )
        return JunctionState(
            junction_id="J",
            time_s=0.0,
            current_phase=0,
            phase_elapsed_s=10.0,
            phases=phases,
            cycle_elapsed_s=10.0,
        )

    assert ctrl.decide(state(down=30.0, capacity=0.0)).phase_index == 0
    assert ctrl.decide(state(down=5.0, capacity=40.0)).phase_index == 0
    assert ctrl.decide(state(down=40.0, capacity=40.0)).phase_index == 1


@pytest.mark.parametrize("name", LIVE)
def test_a_single_phase_junction_keeps_its_phase_past_max_green(name: str) -> None:
    env = Envelope(
        junction_id="J",
        phase_order=(0,),
        min_green_s=(5.0,),
        max_green_s=(30.0,),
        intergreen_s=(3.0,),
        cycle_min_s=10.0,
        cycle_max_s=60.0,
    )
    state = JunctionState(
        junction_id="J",
        time_s=100.0,
        current_phase=0,
        phase_elapsed_s=45.0,
        cycle_elapsed_s=45.0,
        phases=(PhaseState(index=0, movements=(MovementState(id="a>b", queue_veh=3.0),)),),
    )
    decision = controller(name, env).decide(state)
    # Kept, and logged as a keep of the only phase, not as a "switch" to the phase it shows.
    assert decision.phase_index == 0
    assert "only phase in the approved order" in decision.reason
    assert "switch to 0" not in decision.reason


@dataclass(frozen=True)
class _Bounds:
    index: int
    min_green_s: float
    max_green_s: float
    intergreen_s: float


class _Recording:
    """A controller whose decisions' reasons are kept."""

    def __init__(self, inner: Controller) -> None:
        self.inner = inner
        self.name = inner.name
        self.envelope = inner.envelope
        self.reasons: list[str] = []

    def decide(self, state: JunctionState) -> Decision:
        d = self.inner.decide(state)
        self.reasons.append(d.reason)
        return d


@pytest.mark.parametrize("name", ["max-pressure", "adaptive"])
@settings(max_examples=25, deadline=None)
@given(env=envelopes(), flows=st.lists(st.floats(0, 900), min_size=4, max_size=4))
def test_without_a_minimum_cycle_no_green_is_held_for_the_cycle(
    name: str, env: Envelope, flows: list[float]
) -> None:
    n = len(env.min_green_s)
    phases = [
        _Bounds(i, env.min_green_s[i], env.max_green_s[i], env.intergreen_s[i]) for i in range(n)
    ]
    free = envelope_from_phases(
        "J", phases, None, env.cycle_max_s, may_skip_phases=env.may_skip_phases
    )
    shortest = shortest_cycle_s(
        range(n), env.min_green_s, env.intergreen_s, may_skip_phases=env.may_skip_phases
    )
    assert free.cycle_min_s == max(1.0, shortest)
    played = _Recording(controller(name, free))
    FluidJunction(free, flows[:n]).run(played, duration_s=600.0)
    assert not [r for r in played.reasons if "before its minimum" in r]


@pytest.mark.parametrize("name", ["max-pressure", "adaptive"])
def test_an_approved_minimum_cycle_still_holds(name: str) -> None:
    phases = [_Bounds(i, 5.0, 60.0, 3.0) for i in range(2)]
    free = envelope_from_phases("J", phases, None, 120.0, may_skip_phases=True)
    assert free.cycle_min_s == 16.0  # 5 s green and 3 s intergreen, twice
    # Phase 1 is served and has nobody left; phase 0 has a queue: switch back at once ...
    state = JunctionState(
        junction_id="J",
        time_s=0.0,
        current_phase=1,
        phase_elapsed_s=5.0,
        cycle_elapsed_s=16.0,
        phases=(
            PhaseState(index=0, movements=(MovementState(id="m0", queue_veh=10.0),)),
            PhaseState(index=1, movements=(MovementState(id="m1", queue_veh=0.0),)),
        ),
    )
    assert controller(name, free).decide(state).phase_index == 0
    # ... unless the operator approved a minimum cycle: then phase 1 is held until it is reached.
    strict = msgspec.structs.replace(free, cycle_min_s=40.0)
    d = controller(name, strict).decide(state)
    assert d.phase_index == 1
    assert "before its minimum of 40 s" in d.reason
    assert d.next_decision_in_s == pytest.approx(40.0 - 16.0 - 3.0)
