"""Which SUMO programme the network model reads, and what counts as an intergreen."""

from __future__ import annotations

from pathlib import Path

from graph.model import Phase
from graph.sumo import (
    DEFAULT_YELLOW_S,
    MAX_CLEARANCE_S,
    MAX_GREEN_CAP_S,
    ProgramPhase,
    SumoSignal,
    _phases,
    read_programs,
)

_PROG = (
    '<tlLogic id="{id}" type="static" programID="{pid}" offset="0">'
    '<phase duration="{d}" state="Gr"/><phase duration="3" state="yr"/>'
    '<phase duration="{d}" state="rG"/><phase duration="3" state="ry"/></tlLogic>'
)


def _model(
    program: tuple[ProgramPhase, ...], lanes: list[tuple[str, str]]
) -> tuple[tuple[Phase, ...], SumoSignal]:
    return _phases(
        tls_id="J",
        program_id="0",
        program_type="static",
        offset=0.0,
        program=program,
        link_movements=["" for _ in lanes],
        movements={},
        link_lanes=lanes,
    )


def test_the_last_programme_loaded_runs_unless_a_waut_starts_another(tmp_path: Path) -> None:
    net = tmp_path / "n.net.xml"
    net.write_text(
        "<net>"
        + _PROG.format(id="A", pid="0", d=30)
        + _PROG.format(id="B", pid="0", d=30)
        + "</net>"
    )
    add = tmp_path / "p.add.xml"
    add.write_text(
        "<additional>"
        + _PROG.format(id="A", pid="slow", d=60)
        + _PROG.format(id="A", pid="fast", d=20)
        + _PROG.format(id="B", pid="fast", d=20)
        + '<WAUT refTime="0" id="w" startProg="slow"><wautSwitch time="300" to="0"/></WAUT>'
        + '<wautJunction wautID="w" junctionID="A"/>'
        + "</additional>"
    )
    got = read_programs([net, add])
    assert got["A"][0] == "slow"  # SUMO starts A on the WAUT's startProg (checked with libsumo)
    assert got["B"][0] == "fast"
    assert read_programs([net])["A"][0] == "0"


def test_a_long_red_after_a_green_is_not_all_red_clearance() -> None:
    # a ramp meter or a manual signal holds red for hours: that is no clearance interval
    program = (
        ProgramPhase(state="Gr", duration_s=30.0),
        ProgramPhase(state="yr", duration_s=3.0),
        ProgramPhase(state="rr", duration_s=10000.0),
        ProgramPhase(state="rG", duration_s=30.0),
        ProgramPhase(state="ry", duration_s=3.0),
    )
    phases, signal = _model(program, [("a_0", "b_0"), ("c_0", "d_0")])
    assert signal.red_s == (MAX_CLEARANCE_S, 0.0)
    assert [p.intergreen_s for p in phases] == [3.0 + MAX_CLEARANCE_S, 3.0]


def test_the_model_intergreen_is_what_a_driver_shows() -> None:
    # vehicles, then walkers (crossing link 2); no yellow for the walkers, 5 s all-red after them;
    # and a programme that drops vehicles to red with no yellow (a driver shows 3 s)
    program = (
        ProgramPhase(state="GGr", duration_s=30.0),
        ProgramPhase(state="rrG", duration_s=10.0),
        ProgramPhase(state="rrr", duration_s=5.0),
    )
    phases, _ = _model(program, [("a_0", "b_0"), ("a_0", "c_0"), (":J_w0_0", ":J_c0_0")])
    assert [p.intergreen_s for p in phases] == [DEFAULT_YELLOW_S, 5.0]


def test_a_green_held_for_hours_is_no_maximum_green() -> None:
    # the wheel's rail game holds each signal for a day; its maximum green is not a day
    program = (
        ProgramPhase(state="Gr", duration_s=86400.0),
        ProgramPhase(state="rG", duration_s=30.0),
    )
    phases, _ = _model(program, [("a_0", "b_0"), ("c_0", "d_0")])
    assert [p.max_green_s for p in phases] == [MAX_GREEN_CAP_S, 90.0]


def test_a_green_split_into_fixed_and_actuated_entries_has_their_summed_bounds() -> None:
    # an actuated programme (Bologna's) splits one green into three entries showing the same
    # state: an extendable start, a fixed middle and an extendable end; the model's phase is
    # their sum, and so are its bounds (the first entry's alone read a 29 s green as at most 15 s)
    program = (
        ProgramPhase(state="Gr", duration_s=11.0, min_dur_s=6.0, max_dur_s=15.0),
        ProgramPhase(state="Gr", duration_s=10.0, min_dur_s=10.0, max_dur_s=10.0),
        ProgramPhase(state="Gr", duration_s=8.0, min_dur_s=2.0, max_dur_s=35.0),
        ProgramPhase(state="yr", duration_s=3.0, min_dur_s=3.0, max_dur_s=3.0),
        ProgramPhase(state="rG", duration_s=25.0),
        ProgramPhase(state="ry", duration_s=3.0),
    )
    phases, _ = _model(program, [("a_0", "b_0"), ("c_0", "d_0")])
    assert phases[0].programme_green_s == 29.0
    assert (phases[0].min_green_s, phases[0].max_green_s) == (18.0, 60.0)
    assert phases[0].min_green_s <= phases[0].programme_green_s <= phases[0].max_green_s
    # a phase without bounds keeps the defaults
    assert (phases[1].min_green_s, phases[1].max_green_s) == (7.0, 90.0)
