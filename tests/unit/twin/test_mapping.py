"""TlsMapping: transitions between phases as SUMO needs them."""

from __future__ import annotations

import msgspec

from graph.sumo import ProgramPhase, SumoSignal
from twin.mapping import DEFAULT_YELLOW_S, TlsMapping


def _signal(
    states: tuple[str, ...], yellow: tuple[float, ...], red: tuple[float, ...]
) -> SumoSignal:
    n = len(states[0])
    return SumoSignal(
        tls_id="J",
        program_id="0",
        program_type="static",
        offset_s=0.0,
        program=tuple(ProgramPhase(state=s, duration_s=10.0) for s in states),
        green_states=states,
        program_indices=tuple((i,) for i in range(len(states))),
        yellow_s=yellow,
        red_s=red,
        link_movements=tuple(f"m{i}" for i in range(n)),
        link_lanes=tuple((f"in{i}_0", f"out{i}_0") for i in range(n)),
    )


def test_links_losing_green_go_yellow_then_red() -> None:
    m = TlsMapping.from_signal(_signal(("GGrr", "rGGr"), (3.0, 4.0), (2.0, 0.0)))
    steps = m.transition(0, 1)
    assert [s.state for s in steps] == ["yGrr", "rGrr"]
    assert [s.duration_s for s in steps] == [3.0, 2.0]
    assert m.intergreen_s(0, 1) == 5.0
    # the other way: no all-red in the programme after phase 1, only yellow
    assert [s.state for s in m.transition(1, 0)] == ["rGyr"]


def test_no_transition_when_nothing_loses_green() -> None:
    m = TlsMapping.from_signal(_signal(("Grrr", "GGrr"), (3.0, 3.0), (0.0, 0.0)))
    assert m.transition(0, 1) == ()
    assert m.transition(0, 0) == ()


def test_default_yellow_when_programme_has_none() -> None:
    m = TlsMapping.from_signal(_signal(("Gr", "rG"), (0.0, 0.0), (0.0, 0.0)))
    (step,) = m.transition(0, 1)
    assert step.state == "yr"
    assert step.duration_s == DEFAULT_YELLOW_S


def _with_crossing(states: tuple[str, ...], yellow: tuple[float, ...]) -> SumoSignal:
    sig = _signal(states, yellow, tuple(0.0 for _ in states))
    lanes = (*sig.link_lanes[:-1], (":J_w0_0", ":J_c0_0"))
    return msgspec.structs.replace(
        sig, link_lanes=lanes, link_movements=(*sig.link_movements[:-1], "")
    )


def test_crossings_go_red_without_yellow() -> None:
    # a netconvert programme: vehicles and walkers green, then the walkers' clearance (vehicles
    # still green, crossing red) with no yellow between them
    m = TlsMapping.from_signal(_with_crossing(("GrG", "Grr", "rGr"), (0.0, 3.0, 3.0)))
    assert m.transition(0, 1) == ()
    assert m.intergreen_s(0, 1) == 0.0
    # vehicles losing green still get their yellow; the crossing is red from the start of it
    assert [(s.state, s.duration_s) for s in m.transition(0, 2)] == [("yrr", DEFAULT_YELLOW_S)]


def test_a_crossing_keeps_the_programmes_all_red_clearance() -> None:
    # a mid-block crossing (the wheel's DRT scenario): cars, yellow, walkers, then 5 s all-red
    sig = _with_crossing(("Gr", "rG"), (3.0, 0.0))
    sig = msgspec.structs.replace(sig, red_s=(0.0, 5.0))
    m = TlsMapping.from_signal(sig)
    assert [(s.state, s.duration_s) for s in m.transition(1, 0)] == [("rr", 5.0)]
    assert [(s.state, s.duration_s) for s in m.transition(0, 1)] == [("yr", 3.0)]
