"""The demand estimator: lane flows, turning split, charging, groups, saturation, recent flows."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from demand import (
    DemandSettings,
    DetectorWindow,
    JunctionEstimate,
    RunningTiming,
    Window,
    estimate_junction,
    running_timing,
)
from demand.errors import InconsistentInputs
from graph.model import Exit, Lane
from graph.synthetic import crossroads

from ._junctions import laned_cross

S = DemandSettings()
LANES = ("J:N_0", "J:N_1", "J:S_0", "J:S_1", "J:E_0", "J:W_0")


def _lane_windows(vehicles: dict[str, int], seconds: float = 300.0) -> list[DetectorWindow]:
    return [
        DetectorWindow(
            detector_id=f"d-{lane}",
            approach_id=lane.rsplit("_", 1)[0],
            lane_ids=(lane,),
            vehicles=n,
            seconds=seconds,
            readings=5,
        )
        for lane, n in vehicles.items()
    ]


def test_groups_follow_lanes_phases_and_saturation() -> None:
    j = laned_cross()
    e = estimate_junction(j, Window(_lane_windows(dict.fromkeys(LANES, 30)), 300.0), S)
    ids = [[lg.id for lg in p.lane_groups] for p in e.demand.phases]
    assert ids == [["0:J:N", "0:J:S"], ["1:J:E", "1:J:W"]]
    n = e.demand.phases[0].lane_groups[0]
    assert n.flow_vph == pytest.approx(720.0)  # two lanes of 30 vehicles in 5 minutes
    assert n.saturation_flow_vph == 3600.0  # both lanes (crossroads: 1800 per lane)
    assert e.demand.count_period_s == 300.0
    group = next(g for g in e.groups if g.id == "0:J:N")
    assert group.sources == ("measured-lane", "prior")  # both lanes serve two movements
    # the through movement leaves from both lanes; the lanes' splits add up to their counts
    per_lane: dict[str, float] = {}
    for m in group.movements:
        per_lane[m.lane_id] = per_lane.get(m.lane_id, 0.0) + m.flow_vph
    assert per_lane == pytest.approx({"J:N_0": 360.0, "J:N_1": 360.0})


def test_approach_level_detector_is_scaled_to_the_approach() -> None:
    j = laned_cross()
    w = DetectorWindow(
        detector_id="dN", approach_id="J:N", lanes=1, vehicles=40, seconds=240.0, readings=4
    )
    e = estimate_junction(j, Window([w], 300.0), S)
    north = next(a for a in e.approaches if a.approach_id == "J:N")
    assert north.measured
    assert north.flow_vph == pytest.approx(1200.0)  # 600 veh/h on one lane, two lanes
    south = next(a for a in e.approaches if a.approach_id == "J:S")
    assert not south.measured
    assert any("J:S has no detector data" in x for x in e.warnings)
    group = next(g for g in e.groups if g.id == "0:J:N")
    assert "approach-count" in group.sources


def test_a_detector_reporting_too_little_is_not_a_measurement() -> None:
    j = laned_cross()
    e = estimate_junction(j, Window(_lane_windows({"J:N_0": 10}, seconds=60.0), 300.0), S)
    assert not e.measured


def test_exit_counts_recover_the_turning_the_prior_misses() -> None:
    """On a one-lane approach serving three movements, the prior says 70 % through; the exit
    counts say most of it turns left."""
    j = crossroads("J", "Z", 1, 0.0, 0.0, lanes={"N": 1, "S": 1, "E": 1, "W": 1})

    approaches = tuple(
        msgspec.structs.replace(
            a,
            lane_detail=(
                Lane(
                    index=0,
                    id=f"{a.id}_0",
                    movement_ids=tuple(sorted(m.id for m in j.movements if m.approach_id == a.id)),
                ),
            ),
        )
        for a in j.approaches
    )
    exits = tuple(
        Exit(
            id=f"J:{x}",
            junction_id="J",
            from_node="n",
            to_node=x,
            bearing_deg=0.0,
            lane_ids=(f"out{x}_0",),
        )
        for x in "NESW"
    )
    j = msgspec.structs.replace(j, approaches=approaches, exits=exits)
    # only N is loaded: 600 veh/h, of which 400 turn left (to E), 150 go through (to S), 50 right
    entries = {"J:N_0": 50, "J:S_0": 0, "J:E_0": 0, "J:W_0": 0}
    outflow = {"outE_0": 33, "outS_0": 13, "outW_0": 4, "outN_0": 0}
    windows = _lane_windows(entries) + [
        DetectorWindow(
            detector_id=f"x-{lane}", lane_ids=(lane,), vehicles=n, seconds=300.0, readings=5
        )
        for lane, n in outflow.items()
    ]
    prior = estimate_junction(j, Window(_lane_windows(entries), 300.0), S)
    fitted = estimate_junction(j, Window(windows, 300.0), S)
    assert set(fitted.exits_used) == {"J:E", "J:S", "J:W"}  # N: fed by empty approaches

    def left(e: JunctionEstimate) -> float:
        groups = e.groups
        return next(m.flow_vph for g in groups for m in g.movements if m.movement_id == "J:N>E")

    assert left(prior) == pytest.approx(600 * 0.15, rel=0.05)
    assert left(fitted) == pytest.approx(396.0, rel=0.1)
    sources = next(g.sources for g in fitted.groups if g.id == "0:J:N")
    assert "exit-counts" in sources
    # the lane's flow is conserved either way
    for e in (prior, fitted):
        total = sum(m.flow_vph for g in e.groups for m in g.movements if m.lane_id == "J:N_0")
        assert total == pytest.approx(600.0, abs=0.01)


def _loaded(opposing: int, left_share: float) -> dict[str, int]:
    """N and S: ``opposing`` vehicles on the kerb lane, the centre lane ``left_share`` left."""
    return {
        "J:N_0": opposing,
        "J:N_1": opposing,
        "J:S_0": opposing,
        "J:S_1": opposing,
        "J:E_0": 10,
        "J:W_0": 10,
    }


def test_permitted_left_overflow_goes_to_its_protected_phase() -> None:
    j = laned_cross(protected_left=True, programme=(40.0, 25.0, 6.0))
    running = running_timing(j, None)
    assert running is not None
    assert running.source == "programme"
    light = estimate_junction(j, Window(_lane_windows(_loaded(5, 0.2)), 300.0), S, running=running)
    heavy = estimate_junction(j, Window(_lane_windows(_loaded(90, 0.2)), 300.0), S, running=running)
    # light opposing flow: the permitted green serves the lefts; the protected phase may go
    assert light.demand.phases[2].skippable
    assert not light.demand.phases[2].lane_groups
    # heavy: the lefts' overflow is charged to the protected phase, which must stay
    assert not heavy.demand.phases[2].skippable
    protected = heavy.demand.phases[2].lane_groups
    assert [lg.id for lg in protected] == ["2:J:N", "2:J:S"]
    assert all(lg.flow_vph > 0 for lg in protected)
    assert protected[0].saturation_flow_vph == 1800.0  # the centre lane only
    group = next(g for g in heavy.groups if g.id == "2:J:N")
    assert "permitted-overflow" in group.sources
    # the centre lane's split between phases rests on the prior, and the plan says so
    assert any(
        w.startswith("lane J:N_1 serves movements of phases 0 and 2") for w in heavy.warnings
    )
    assert not any(w.startswith("lane ") for w in light.warnings)
    # the overflow is moved, not created: the total charged equals the lanes' total
    total = sum(lg.flow_vph for p in heavy.demand.phases for lg in p.lane_groups)
    assert total == pytest.approx(sum(a.flow_vph for a in heavy.approaches), rel=1e-6)


def test_without_any_timing_a_turn_goes_to_its_protected_phase_whole() -> None:
    j = laned_cross(protected_left=True)  # no programme in the model, no plan published
    e = estimate_junction(j, Window(_lane_windows(_loaded(90, 0.2)), 300.0), S)
    assert e.running is None
    lefts = {
        (g.phase, m.movement_id)
        for g in e.groups
        for m in g.movements
        if m.movement_id in ("J:N>E", "J:S>W")
    }
    assert lefts == {(2, "J:N>E"), (2, "J:S>W")}
    assert not any("permitted-overflow" in g.sources for g in e.groups)


def test_occupied_loop_raises_its_group_to_running_capacity() -> None:
    j = laned_cross()
    running = RunningTiming(greens_s=((0, 30.0), (1, 20.0)), cycle_s=60.0)
    windows = _lane_windows(dict.fromkeys(LANES, 10))
    windows[0] = DetectorWindow(
        detector_id="d-J:N_0",
        approach_id="J:N",
        lane_ids=("J:N_0",),
        vehicles=10,
        seconds=300.0,
        readings=5,
        occupancy=0.9,
    )
    e = estimate_junction(j, Window(windows, 300.0), S, running=running)
    north = next(g for g in e.groups if g.id == "0:J:N")
    assert north.flow_vph == pytest.approx(3600.0 * (30.0 - 2.0) / 60.0)
    assert "occupancy-saturated" in north.sources
    south = next(g for g in e.groups if g.id == "0:J:S")
    assert south.flow_vph == pytest.approx(240.0)


def test_an_unmeasured_approach_keeps_the_green_its_phase_runs() -> None:
    # E has no detector: a count of nothing is no evidence of no traffic, so phase 1 (E-W) keeps
    # the green the programme gives it; phase 0, all measured, keeps its own minimum
    j = laned_cross(programme=(40.0, 25.0))
    counts = {lane: 30 for lane in LANES if lane != "J:E_0"}
    window = Window(_lane_windows(counts), 300.0)
    e = estimate_junction(j, window, S, running=running_timing(j, None))
    p0, p1 = e.demand.phases
    assert p1.min_green_s == 25.0
    assert p0.min_green_s == j.phases[0].min_green_s
    # and the cycle stays at most the programme's: a longer one would shrink E's share
    assert e.demand.cycle_max_s == 75 == j.programme_cycle_s
    east = next(w for w in e.warnings if "approach J:E" in w)
    assert "taken as 0" in east
    assert "keep the green its programme gives them (phase 1 25 s)" in east
    assert "the cycle is at most its programme's (75 s)" in east
    # the approved plan, when there is one, is what it keeps
    active = RunningTiming(greens_s=((0, 30.0), (1, 18.0)), cycle_s=58.0)
    assert estimate_junction(j, window, S, running=active).demand.phases[1].min_green_s == 18.0
    # nothing running known, or the rule switched off: nothing kept
    assert estimate_junction(j, window, S).demand.phases[1].min_green_s == p0.min_green_s
    off = msgspec.structs.replace(S, keep_unmeasured_green=False)
    got = estimate_junction(j, window, off, running=running_timing(j, None))
    assert got.demand.phases[1].min_green_s == j.phases[1].min_green_s
    # every approach measured: nothing kept either
    full = Window(_lane_windows(dict.fromkeys(LANES, 30)), 300.0)
    kept = estimate_junction(j, full, S, running=running_timing(j, None))
    assert [p.min_green_s for p in kept.demand.phases] == [p.min_green_s for p in j.phases]
    assert kept.demand.cycle_max_s == 120


def test_a_phase_showing_an_unmeasured_approach_is_not_left_out() -> None:
    # the protected left phase shows N and S lefts; N is unmeasured: the phase keeps its
    # programme green, though nothing is charged to it and it would otherwise be left out
    j = laned_cross(protected_left=True, programme=(30.0, 25.0, 8.0))
    counts = {lane: 12 for lane in LANES if not lane.startswith("J:N")}
    e = estimate_junction(
        j, Window(_lane_windows(counts), 300.0), S, running=running_timing(j, None)
    )
    left = e.demand.phases[2]
    assert not left.skippable
    measured = Window(_lane_windows(dict.fromkeys(LANES, 12)), 300.0)
    assert (
        estimate_junction(j, measured, S, running=running_timing(j, None))
        .demand.phases[2]
        .skippable
    )  # with N measured, the light lefts fit their permitted green
    assert left.min_green_s == 8.0
    assert [p.min_green_s for p in e.demand.phases[:2]] == [30.0, j.phases[1].min_green_s]


def test_recent_window_is_carried_per_group() -> None:
    j = laned_cross()
    now = Window(_lane_windows(dict.fromkeys(LANES, 3)), 300.0)
    recent = Window(_lane_windows(dict.fromkeys(LANES, 30), seconds=900.0), 900.0)
    e = estimate_junction(j, now, S, recent=recent)
    lg = e.demand.phases[0].lane_groups[0]
    assert lg.flow_vph == pytest.approx(72.0)
    assert lg.recent_flow_vph == pytest.approx(240.0)


def test_pedestrian_flow_only_on_phases_with_a_crossing() -> None:
    j = laned_cross()
    e = estimate_junction(j, Window(_lane_windows(dict.fromkeys(LANES, 3)), 300.0), S)
    assert all(p.pedestrian_flow_pph == 0.0 for p in e.demand.phases)
    assert not any("pedestrian" in w for w in e.warnings)


def test_bad_window_is_refused() -> None:
    with pytest.raises(InconsistentInputs, match="junction J: window of 0"):
        estimate_junction(laned_cross(), Window([], 0.0), S)


@settings(max_examples=60, deadline=None)
@given(
    counts=st.lists(st.integers(0, 120), min_size=len(LANES), max_size=len(LANES)),
    exits=st.one_of(st.none(), st.lists(st.integers(0, 200), min_size=4, max_size=4)),
    greens=st.tuples(st.floats(7, 60), st.floats(7, 60), st.floats(4, 20)),
    heavy_prior=st.floats(0.05, 0.9),
)
def test_flow_is_conserved_and_each_pair_is_charged_once(
    counts: list[int],
    exits: list[int] | None,
    greens: tuple[float, float, float],
    heavy_prior: float,
) -> None:
    j = laned_cross(protected_left=True, programme=greens)
    windows = _lane_windows(dict(zip(LANES, counts, strict=True)))
    if exits is not None:
        windows += [
            DetectorWindow(
                detector_id=f"x{x}", lane_ids=(f"out{x}_0",), vehicles=n, seconds=300.0, readings=5
            )
            for x, n in zip("NESW", exits, strict=True)
        ]
    cfg = DemandSettings(
        turn_prior=(
            ("through", 1 - heavy_prior),
            ("left", heavy_prior),
            ("right", 0.1),
            ("uturn", 0.01),
        )
    )
    e = estimate_junction(j, Window(windows, 300.0), cfg, running=running_timing(j, None))
    # every lane's movements add up to the lane's count (turning flows conserve the entries)
    per_lane: dict[str, float] = {}
    for g in e.groups:
        for m in g.movements:
            per_lane[m.lane_id] = per_lane.get(m.lane_id, 0.0) + m.flow_vph
    for lane, n in zip(LANES, counts, strict=True):
        assert per_lane.get(lane, 0.0) == pytest.approx(n * 12.0, abs=0.01)
    # the groups' flows add up to the measured total
    groups_total = sum(lg.flow_vph for p in e.demand.phases for lg in p.lane_groups)
    assert groups_total == pytest.approx(sum(counts) * 12.0, abs=0.05)
    # a (lane, movement) is charged to one phase, or split between its permitted phase and its
    # protected one; never to two phases showing it with priority
    charged: dict[tuple[str, str], list[int]] = {}
    for g in e.groups:
        for m in g.movements:
            charged.setdefault((m.lane_id, m.movement_id), []).append(g.phase)
    for pair, phases in charged.items():
        assert len(phases) == 1 or (sorted(phases) == [0, 2] and pair[1] in ("J:N>E", "J:S>W"))
    ids = [lg.id for p in e.demand.phases for lg in p.lane_groups]
    assert len(ids) == len(set(ids))
