"""Hypothesis strategies and a tiny fluid-queue junction used by the optimiser tests."""

from __future__ import annotations

from hypothesis import strategies as st

from optimizer import (
    Controller,
    Decision,
    Envelope,
    EnvelopeGuard,
    JunctionDemand,
    JunctionState,
    LaneGroup,
    MovementState,
    PhaseDemand,
    PhaseState,
)

EPS = 1e-6


@st.composite
def envelopes(draw: st.DrawFn, max_phases: int = 4) -> Envelope:
    """Consistent envelopes: minimum greens and intergreens always fit in the maximum cycle."""
    n = draw(st.integers(2, max_phases))
    mins = [float(draw(st.integers(3, 15))) for _ in range(n)]
    maxs = [m + draw(st.integers(0, 60)) for m in mins]
    igs = [float(draw(st.integers(0, 6))) for _ in range(n)]
    order = tuple(draw(st.permutations(range(n))))
    shortest = int(sum(mins) + sum(igs))
    cycle_max = draw(st.integers(shortest, shortest + 100))
    cycle_min = draw(st.integers(min(30, cycle_max), cycle_max))
    return Envelope(
        junction_id="J",
        phase_order=order,
        min_green_s=tuple(mins),
        max_green_s=tuple(maxs),
        intergreen_s=tuple(igs),
        cycle_min_s=float(cycle_min),
        cycle_max_s=float(cycle_max),
        may_skip_phases=draw(st.booleans()),
    )


movements = st.builds(
    MovementState,
    id=st.text("abc", min_size=1, max_size=3),
    queue_veh=st.floats(0, 40),
    downstream_queue_veh=st.floats(0, 40),
    arrivals_vph=st.floats(0, 1200),
    saturation_flow_vph=st.floats(1500, 2000),
    approaching_veh=st.lists(st.floats(0, 60), max_size=5).map(tuple),
    downstream_capacity_veh=st.sampled_from([0.0, 20.0, 60.0]),
)


@st.composite
def states(draw: st.DrawFn, envelope: Envelope) -> JunctionState:
    """Any live state for the envelope's phases, including ones that already broke a bound."""
    n = len(envelope.min_green_s)
    phases = tuple(
        PhaseState(index=i, movements=tuple(draw(st.lists(movements, min_size=1, max_size=3))))
        for i in range(n)
    )
    elapsed = draw(st.floats(0, 150))
    return JunctionState(
        junction_id="J",
        time_s=draw(st.floats(0, 1e5)),
        current_phase=draw(st.integers(0, n - 1)),
        phase_elapsed_s=elapsed,
        phases=phases,
        cycle_elapsed_s=elapsed + draw(st.floats(0, 200)),
    )


def assert_in_envelope(envelope: Envelope, state: JunctionState, d: Decision) -> None:
    """Every rule an envelope sets on one decision."""
    guard = EnvelopeGuard(envelope)
    cur = state.current_phase
    assert d.junction_id == state.junction_id
    assert d.time_s == state.time_s
    assert d.next_decision_in_s > 0
    assert d.reason
    short_of_min = state.phase_elapsed_s + EPS < envelope.min_green_s[cur]
    if short_of_min:
        assert d.phase_index == cur, "switched before the minimum green"
        assert abs(state.phase_elapsed_s + d.next_decision_in_s - envelope.min_green_s[cur]) < 1e-6
    elif d.phase_index == cur:
        assert state.phase_elapsed_s + d.next_decision_in_s <= envelope.max_green_s[cur] + EPS
        assert d.next_decision_in_s <= guard.keep_limit_s(state) + EPS
    else:
        assert d.phase_index in guard.allowed_targets(cur, state)


def demands(
    n_phases: int,
    flows: list[list[float]],
    *,
    sat: float = 1800.0,
    min_green: float = 7.0,
    max_green: float = 60.0,
    intergreen: float = 5.0,
    cycle: tuple[int, int] = (40, 120),
    jid: str = "J",
) -> JunctionDemand:
    """A junction demand from per-phase lists of lane-group flows."""
    phases = tuple(
        PhaseDemand(
            index=i,
            lane_groups=tuple(
                LaneGroup(id=f"{jid}-{i}-{k}", flow_vph=q, saturation_flow_vph=sat)
                for k, q in enumerate(flows[i])
            ),
            min_green_s=min_green,
            max_green_s=max_green,
            intergreen_s=intergreen,
        )
        for i in range(n_phases)
    )
    return JunctionDemand(
        junction_id=jid, phases=phases, cycle_min_s=cycle[0], cycle_max_s=cycle[1]
    )


class FluidJunction:
    """Queues fill at a constant rate and empty at saturation flow while their phase is green."""

    def __init__(
        self, envelope: Envelope, arrivals_vph: list[float], sat_vph: float = 1800.0
    ) -> None:
        self.envelope = envelope
        self.arrivals = arrivals_vph
        self.sat = sat_vph
        self.queues = [0.0] * len(arrivals_vph)
        self.queue_seconds = 0.0

    def state(self, t: float, cur: int, elapsed: float, cycle_elapsed: float) -> JunctionState:
        phases = tuple(
            PhaseState(
                index=i,
                movements=(
                    MovementState(
                        id=f"m{i}",
                        queue_veh=q,
                        arrivals_vph=self.arrivals[i],
                        saturation_flow_vph=self.sat,
                    ),
                ),
            )
            for i, q in enumerate(self.queues)
        )
        return JunctionState(
            junction_id=self.envelope.junction_id,
            time_s=t,
            current_phase=cur,
            phase_elapsed_s=elapsed,
            phases=phases,
            cycle_elapsed_s=cycle_elapsed,
        )

    def advance(self, dt: float, green: int | None) -> None:
        """Move time on by ``dt`` in half-second steps, adding up vehicle-seconds of queueing."""
        steps = max(1, round(dt / 0.5))
        h = dt / steps
        for _ in range(steps):
            for i, rate in enumerate(self.arrivals):
                self.queues[i] += rate / 3600 * h
                if i == green:
                    self.queues[i] = max(0.0, self.queues[i] - self.sat / 3600 * h)
            self.queue_seconds += sum(self.queues) * h

    def run(
        self, ctrl: Controller, duration_s: float
    ) -> tuple[list[tuple[int, float]], list[tuple[float, list[int]]]]:
        """Greens served (phase, seconds) and completed cycles (length, phases served in order)."""
        env = self.envelope
        t, cur, elapsed, cycle_el = 0.0, env.phase_order[0], 0.0, 0.0
        greens: list[tuple[int, float]] = []
        cycles: list[tuple[float, list[int]]] = []
        served: list[int] = [cur]
        while t < duration_s:
            state = self.state(t, cur, elapsed, cycle_el)
            d = ctrl.decide(state)
            assert_in_envelope(env, state, d)
            if d.phase_index == cur:
                self.advance(d.next_decision_in_s, cur)
                t += d.next_decision_in_s
                elapsed += d.next_decision_in_s
                cycle_el += d.next_decision_in_s
                continue
            greens.append((cur, elapsed))
            ig = env.intergreen_s[cur]
            self.advance(ig, None)
            t += ig
            cycle_el += ig
            if d.phase_index == env.phase_order[0]:
                cycles.append((cycle_el, served))
                cycle_el, served = 0.0, []
            cur, elapsed = d.phase_index, 0.0
            served.append(cur)
        return greens, cycles


@st.composite
def junction_demands(
    draw: st.DrawFn, max_phases: int = 4, max_lane_groups: int = 3, max_flow: float = 900.0
) -> JunctionDemand:
    """Junctions with 2..max_phases phases whose bounds leave at least one feasible cycle."""
    n = draw(st.integers(2, max_phases))
    phases = []
    for i in range(n):
        k = draw(st.integers(1, max_lane_groups))
        lgs = tuple(
            LaneGroup(
                id=f"p{i}l{j}",
                flow_vph=draw(st.floats(0, max_flow)),
                saturation_flow_vph=draw(st.sampled_from([1600.0, 1800.0, 1900.0])),
            )
            for j in range(k)
        )
        mn = draw(st.integers(5, 10))
        phases.append(
            PhaseDemand(
                index=i,
                lane_groups=lgs,
                min_green_s=float(mn),
                max_green_s=float(mn + draw(st.integers(10, 60))),
                intergreen_s=float(draw(st.integers(3, 6))),
                pedestrian_min_green_s=float(draw(st.sampled_from([0, 0, 12]))),
            )
        )
    d = JunctionDemand(junction_id="J", phases=tuple(phases), cycle_min_s=30, cycle_max_s=30)
    need = sum(max(p.min_green_s, p.pedestrian_min_green_s) + p.intergreen_s for p in phases)
    room = sum(p.max_green_s + p.intergreen_s for p in phases)
    lo = draw(st.integers(30, 70))
    hi = draw(st.integers(max(lo, int(need)), max(lo, int(need)) + 80))
    if lo > room:
        lo = int(room)
    return JunctionDemand(
        junction_id=d.junction_id, phases=d.phases, cycle_min_s=lo, cycle_max_s=max(hi, lo)
    )
