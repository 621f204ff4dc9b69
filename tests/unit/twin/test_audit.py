"""The signal audit: shown sequences rebuilt from state changes, and checked against the control."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from graph.sumo import ProgramPhase, SumoSignal
from optimizer.model import Explanation, Plan
from optimizer.model import PhaseTiming as Timing
from twin.audit import (
    Regime,
    SignalAudit,
    check_envelope,
    check_plans,
    check_programme,
    cyclic_sequence,
    greens_of,
    shown_states,
)
from twin.mapping import TlsMapping

G0, G1 = "GGrr", "rrGG"
Y0, Y1 = "yyrr", "rryy"
RED = "rrrr"
TOL = 1.0 + 1e-6


def _signal() -> SumoSignal:
    """Two phases, 3 s yellow and 1 s all-red after each (a 48 s cycle with 20 s + 20 s greens)."""
    program = (
        ProgramPhase(state=G0, duration_s=20.0),
        ProgramPhase(state=Y0, duration_s=3.0),
        ProgramPhase(state=RED, duration_s=1.0),
        ProgramPhase(state=G1, duration_s=20.0),
        ProgramPhase(state=Y1, duration_s=3.0),
        ProgramPhase(state=RED, duration_s=1.0),
    )
    return SumoSignal(
        tls_id="J",
        program_id="0",
        program_type="static",
        offset_s=0.0,
        program=program,
        green_states=(G0, G1),
        program_indices=((0,), (3,)),
        yellow_s=(3.0, 3.0),
        red_s=(1.0, 1.0),
        link_movements=("a>b", "a>c", "d>e", "d>f"),
        link_lanes=(("a_0", "b_0"), ("a_0", "c_0"), ("d_0", "e_0"), ("d_0", "f_0")),
    )


def _changes(
    greens: Sequence[tuple[int, float]],
    t0: float = 0.0,
    intergreen: tuple[float, float] = (3.0, 1.0),
) -> tuple[list[tuple[float, str]], float]:
    """State changes of a driver showing ``greens`` in order, each followed by yellow and red."""
    states, yellows = (G0, G1), (Y0, Y1)
    out: list[tuple[float, str]] = []
    t = t0
    for phase, green in greens:
        out.append((t, states[phase]))
        t += green
        out.append((t, yellows[phase]))
        t += intergreen[0]
        out.append((t, RED))
        t += intergreen[1]
    return out, t


def _plan(greens: tuple[int, int], cycle: int) -> Plan:
    return Plan(
        junction_id="J",
        cycle_s=cycle,
        offset_s=0,
        phases=tuple(
            Timing(index=k, green_s=g, intergreen_s=4, flow_ratio=0.1, degree_of_saturation=0.5)
            for k, g in enumerate(greens)
        ),
        effects=(),
        expected_delay_s_per_veh=10.0,
        explanation=Explanation(
            method="test", objective="delay", binding_constraints=(), solver_status="optimal"
        ),
        strategy="test",
    )


def _check(greens: Sequence[tuple[int, float]], regimes: list[Regime]) -> Any:
    sig = _signal()
    changes, end = _changes(greens)
    shown = greens_of(shown_states(changes, end + 5), sig.green_states, end + 5)
    return check_plans(TlsMapping.from_signal(sig), shown, regimes, TOL)


def test_shown_greens_and_transitions_are_rebuilt_from_changes() -> None:
    changes, end = _changes([(0, 20), (1, 25)])
    shown = shown_states(changes, end)
    assert [(s.state, s.duration_s) for s in shown] == [
        (G0, 20),
        (Y0, 3),
        (RED, 1),
        (G1, 25),
        (Y1, 3),
        (RED, 1),
    ]
    greens = greens_of(shown, (G0, G1), end)
    assert [(g.phase, g.duration_s) for g in greens] == [(0, 20), (1, 25)]
    assert [s.state for s in greens[1].before] == [Y0, RED]
    assert greens[1].switch_s == 20.0


def test_a_plan_shown_as_planned_has_no_violation() -> None:
    plan = _plan((20, 20), cycle=48)
    regimes = [Regime(issued_s=0.0, sequence=((0, 20.0), (1, 20.0)), cycle_s=48.0)]
    found = _check([(0, 20), (1, 20)] * 5, regimes)
    assert found.violations == []
    assert found.cycles == 4  # the fifth is still running: its length is unknown
    assert plan.cycle_s == 48


def test_a_wrong_green_in_a_steady_cycle_is_flagged() -> None:
    regimes = [Regime(issued_s=0.0, sequence=((0, 20.0), (1, 20.0)), cycle_s=48.0)]
    found = _check([(0, 20), (1, 20), (0, 20), (1, 26), (0, 20), (1, 20), (0, 20)], regimes)
    assert [v.kind for v in found.violations] == ["green"]
    assert "phase 1 green 26s, plan 20s" in found.violations[0].detail


def test_a_cycle_that_differs_from_the_plan_cycle_is_flagged() -> None:
    # greens as planned, but the plan counted 2 s less intergreen than the signal shows
    regimes = [Regime(issued_s=0.0, sequence=((0, 20.0), (1, 20.0)), cycle_s=46.0)]
    found = _check([(0, 20), (1, 20)] * 3, regimes)
    assert {v.kind for v in found.violations} == {"cycle"}


def test_one_transition_cycle_per_plan_change_is_allowed_not_two() -> None:
    old = Regime(issued_s=0.0, sequence=((0, 20.0), (1, 20.0)), cycle_s=48.0)
    new = Regime(issued_s=100.0, sequence=((0, 30.0), (1, 10.0)), cycle_s=48.0)
    steady_old = [(0, 20), (1, 20)] * 3  # cycles start at 0, 48, 96: the plan comes at 100
    steady_new = [(0, 30), (1, 10)] * 3
    ok = _check([*steady_old, (0, 35), (1, 12), *steady_new], [old, new])
    assert ok.violations == []
    assert ok.transition_cycles == 1
    assert ok.cycles >= 4
    # the cycle under way when the plan came and the first new one both differ: one is too many
    bad = _check(
        [(0, 20), (1, 20)] * 2 + [(0, 25), (1, 20), (0, 35), (1, 12), *steady_new], [old, new]
    )
    assert [v.kind for v in bad.violations] == ["green"]
    assert bad.transition_cycles == 1


def test_a_phase_out_of_the_plan_order_is_flagged() -> None:
    regimes = [Regime(issued_s=0.0, sequence=((0, 20.0), (1, 20.0)), cycle_s=48.0)]
    found = _check([(0, 20), (1, 20), (0, 20), (1, 20), (1, 20), (0, 20), (1, 20)], regimes)
    assert "order" in {v.kind for v in found.violations}


def test_the_same_phase_across_the_cycle_end_is_one_green() -> None:
    assert cyclic_sequence([(0, 10.0), (1, 30.0), (0, 20.0)]) == ((0, 30.0), (1, 30.0))
    assert cyclic_sequence([(0, 10.0), (0, 5.0)]) == ((0, 15.0),)


def test_controller_greens_are_held_to_the_envelope() -> None:
    changes, end = _changes([(0, 20), (1, 4), (0, 95), (1, 20)])
    greens = greens_of(shown_states(changes, end), (G0, G1), end)
    checked, found = check_envelope("J", greens, (7.0, 7.0), (90.0, 90.0), TOL)
    assert checked == 4
    assert [v.kind for v in found] == ["min_green", "max_green"]
    # a signal with a single phase has nothing to switch to: no maximum
    single = greens_of(shown_states([(0.0, G0)], 600.0), (G0,), 600.0)
    assert check_envelope("J", single, (7.0,), (90.0,), TOL) == (0, [])


def test_a_wrong_intergreen_is_flagged_by_the_audit() -> None:
    sig = _signal()
    api = _FakeApi()
    api.state = G0
    audit = SignalAudit(api, {"J": sig}, "controller", 0.0, 1.0, envelopes=None)
    script = {20: Y0, 23: G1, 43: Y1, 46: RED, 47: G0, 70: Y0}  # no all-red after phase 0
    for t in range(1, 80):
        api.state = script.get(t, api.state)
        audit.observe(float(t))
    res = audit.result(80.0)
    assert res.violations == 1
    assert "intergreen" in res.first_violations[0]
    assert "phase 0->1" in res.first_violations[0]


def _audited(greens: Sequence[tuple[int, float]], plan_at: float) -> Any:
    """Audit of a planner run showing ``greens``, told of a 30/10 s plan at ``plan_at``."""
    api = _FakeApi()
    api.state = RED
    plans: dict[str, list[Plan]] = {"J": []}
    audit = SignalAudit(api, {"J": _signal()}, "planner", 0.0, 1.0, plans=lambda: plans)
    changes, end = _changes(greens)
    script = dict(changes)
    for t in range(int(end)):
        if t == plan_at:
            plans["J"].append(_plan((30, 10), cycle=48))
        api.state = script.get(float(t), api.state)
        audit.observe(float(t))
    return audit.result(end)


def test_the_audit_follows_the_plans_a_policy_issues() -> None:
    # the programme's greens (20/20) until a plan (30/10) issued at t=100 takes over at 144
    res = _audited([(0, 20), (1, 20)] * 3 + [(0, 30), (1, 10)] * 4, plan_at=100)
    assert res.violations == 0, res.first_violations
    assert res.checked_cycles == 6
    # the same run with the plan never applied is flagged
    assert _audited([(0, 20), (1, 20)] * 7, plan_at=100).violations >= 2


def test_programme_states_must_be_the_programmes() -> None:
    sig = _signal()
    changes = [(0.0, G0), (20.0, Y0), (23.0, RED), (24.0, "GGGG"), (30.0, "OOOO")]
    shown = shown_states(changes, 40.0)
    _, _, found = check_programme(sig, shown, greens_of(shown, sig.green_states, 40.0))
    assert [v.detail for v in found] == ["state GGGG is not in programme '0'"]


class _FakeTls:
    def __init__(self, owner: _FakeApi) -> None:
        self._owner = owner

    def getRedYellowGreenState(self, tls: str) -> str:  # noqa: N802 - SUMO's name
        del tls
        return self._owner.state


class _FakeApi:
    def __init__(self) -> None:
        self.state = ""
        self.trafficlight = _FakeTls(self)


@pytest.mark.parametrize("tol", [0.2, 1.0])
def test_tolerance_is_one_step(tol: float) -> None:
    regimes = [Regime(issued_s=0.0, sequence=((0, 20.0), (1, 20.0)), cycle_s=48.0)]
    sig = _signal()
    changes, end = _changes(
        [(0, 20), (1, 20), (0, 20 + tol), (1, 20 - tol), (0, 20), (1, 20), (0, 5)]
    )
    greens = greens_of(shown_states(changes, end), sig.green_states, end)
    found = check_plans(TlsMapping.from_signal(sig), greens, regimes, tol + 1e-6)
    assert found.violations == []
    changes, end = _changes([(0, 20), (1, 20), (0, 21.5 + tol), (1, 20), (0, 20), (1, 20), (0, 5)])
    greens = greens_of(shown_states(changes, end), sig.green_states, end)
    assert check_plans(TlsMapping.from_signal(sig), greens, regimes, tol + 1e-6).violations


def test_greens_before_the_first_cycle_are_the_policy_taking_over() -> None:
    regimes = [Regime(issued_s=0.0, sequence=((0, 20.0), (1, 20.0)), cycle_s=48.0)]
    # the initial transition ate phase 0's first green: the run starts on phase 1
    found = _check([(1, 5), (0, 20), (1, 20), (0, 20), (1, 20), (0, 20)], regimes)
    assert found.violations == []
    assert found.cycles == 2
    never = _check([(1, 20)] * 5, regimes)
    assert [v.detail for v in never.violations] == ["no cycle started: phase 0 never shown"]
