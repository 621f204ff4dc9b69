"""Demand from twin counts: link flows and phase lane groups."""

from __future__ import annotations

import msgspec
import pytest

from graph.model import Junction, Phase
from graph.sumo import ProgramPhase, SumoSignal
from twin.demand import (
    critical_links,
    junction_demand,
    link_flows,
    running_capacity_vph,
    saturated_groups,
    skippable_phases,
    with_recent,
    with_saturated,
)
from twin.programmes import programme_greens

# links: 0 = a_0 -> x, 1 = a_1 -> x (through); 2 = a_1 -> y (left: permissive, then protected)
STATES = ("GGg", "rrG")


def _signal() -> SumoSignal:
    program = (
        ProgramPhase(state="GGg", duration_s=30.0),
        ProgramPhase(state="yyg", duration_s=3.0),
        ProgramPhase(state="rrG", duration_s=6.0),
        ProgramPhase(state="rry", duration_s=3.0),
    )
    return SumoSignal(
        tls_id="J",
        program_id="0",
        program_type="static",
        offset_s=0.0,
        program=program,
        green_states=STATES,
        program_indices=((0,), (2,)),
        yellow_s=(3.0, 3.0),
        red_s=(0.0, 0.0),
        link_movements=("a>x", "a>x", "a>y"),
        link_lanes=(("a_0", "x_0"), ("a_1", "x_1"), ("a_1", "y_0")),
    )


def _junction() -> Junction:
    return Junction(
        id="J",
        lat=0.0,
        lon=0.0,
        zone_id="z",
        node_ids=("n",),
        approaches=(),
        movements=(),
        phases=(
            Phase(index=0, movement_ids=("a>x", "a>y"), approach_ids=("a",)),
            Phase(index=1, movement_ids=("a>y",), approach_ids=("a",)),
        ),
    )


def test_turning_counts_split_a_shared_lane() -> None:
    flows = link_flows(_signal(), {"a_0": 10, "a_1": 12}, {("a_1", "x"): 9, ("a_1", "y"): 3})
    assert flows == {0: 10.0, 1: 9.0, 2: 3.0}


def test_unknown_turns_split_evenly() -> None:
    flows = link_flows(_signal(), {"a_1": 10}, {("a_1", "y"): 2})
    # 8 vehicles with an unseen next edge share the lane's two links
    assert flows[1] == pytest.approx(4.0)
    assert flows[2] == pytest.approx(6.0)


def test_links_charged_to_the_phase_the_programme_serves_them_in() -> None:
    assert programme_greens(_signal()) == [(0, 30.0), (1, 6.0)]
    assert critical_links(_signal()) == [[0, 1, 2], []]


def test_demand_flow_rates_per_hour() -> None:
    d = junction_demand(
        _junction(), _signal(), {"a_0": 10, "a_1": 12}, 300.0, {("a_1", "x"): 9, ("a_1", "y"): 3}
    )
    (lg,) = d.phases[0].lane_groups
    assert lg.flow_vph == pytest.approx(22 * 12)
    assert lg.saturation_flow_vph == 3600.0
    assert d.phases[1].lane_groups == ()
    assert d.phases[0].intergreen_s == 5.0  # from the junction's phase (default), not recomputed


def test_demand_says_its_flows_are_counts_over_the_period() -> None:
    d = junction_demand(_junction(), _signal(), {"a_0": 10, "a_1": 12}, 300.0)
    assert d.count_period_s == 300.0


def _split_phase_signal() -> SumoSignal:
    """Two approaches a, b: paired phases 0 (both throughs) and 1 (both lefts), then a split phase
    per approach (2: all of a, 3: all of b), as in RESCO's grid4x4 programmes."""
    states = ("GrGr", "rGrG", "GGrr", "rrGG")
    return msgspec.structs.replace(
        _signal(),
        program=tuple(ProgramPhase(state=st, duration_s=10.0) for st in states),
        green_states=states,
        program_indices=((0,), (1,), (2,), (3,)),
        yellow_s=(0.0,) * 4,
        red_s=(0.0,) * 4,
        link_movements=("a>x", "a>y", "b>y", "b>x"),
        link_lanes=(("a_0", "x_0"), ("a_1", "y_0"), ("b_0", "y_0"), ("b_1", "x_0")),
    )


def test_split_phases_covered_by_the_paired_phases_are_skippable() -> None:
    sig = _split_phase_signal()
    crit = critical_links(sig)
    assert crit == [[0, 2], [1, 3], [], []]
    assert skippable_phases(sig, crit) == {2, 3}


def test_a_protected_turn_phase_is_not_skippable() -> None:
    # link 2 has priority green only in phase 1; phase 0 lets it through permissively
    sig = _signal()
    assert skippable_phases(sig, critical_links(sig)) == set()
    d = junction_demand(_junction(), sig, {"a_0": 10, "a_1": 12}, 300.0)
    assert [p.skippable for p in d.phases] == [False, False]


def test_phases_covering_each_other_are_not_both_skipped() -> None:
    sig = _split_phase_signal()
    # no phase serves a link of its own: only one of two identical covers may go
    twins = msgspec.structs.replace(
        sig, green_states=("GGGG", "GGGG"), program_indices=((0,), (1,))
    )
    assert skippable_phases(twins, [[], []]) == {0}


def test_recent_flows_are_attached_by_lane_group() -> None:
    latest = junction_demand(_junction(), _signal(), {"a_0": 1, "a_1": 2}, 300.0)
    window = junction_demand(_junction(), _signal(), {"a_0": 10, "a_1": 20}, 900.0)
    d = with_recent(latest, window)
    (lg,) = d.phases[0].lane_groups
    assert lg.flow_vph == pytest.approx(3 * 12)
    assert lg.recent_flow_vph == pytest.approx(30 * 4)
    assert d.count_period_s == 300.0


def test_intergreen_is_what_the_twin_shows_when_the_programme_hides_its_yellow() -> None:
    # A programme going straight from one green state to the other (yellow 0 in the model): the
    # driver still shows its default yellow on the links losing green, and the demand says so.
    sig = msgspec.structs.replace(
        _signal(),
        program=(
            ProgramPhase(state="GGg", duration_s=30.0),
            ProgramPhase(state="rrG", duration_s=6.0),
        ),
        yellow_s=(0.0, 0.0),
    )
    j = msgspec.structs.replace(
        _junction(),
        phases=tuple(msgspec.structs.replace(p, intergreen_s=0.0) for p in _junction().phases),
    )
    demand = junction_demand(j, sig, {"a_0": 10, "a_1": 10}, 300.0)
    assert [p.intergreen_s for p in demand.phases] == [3.0, 0.0]
    # Phase 1 -> 0 loses no green link ("rrG" -> "GGg"): nothing to show.
    normal = junction_demand(_junction(), _signal(), {"a_0": 10, "a_1": 10}, 300.0)
    assert [p.intergreen_s for p in normal.phases] == [p.intergreen_s for p in _junction().phases]


def test_a_saturated_lane_group_is_planned_at_least_at_its_running_capacity() -> None:
    demand = junction_demand(_junction(), _signal(), {"a_0": 10, "a_1": 10}, 300.0)
    occupied = {"a_0": 0.95, "a_1": 0.1}
    groups = saturated_groups(_junction(), _signal(), occupied)
    assert groups == {"0:a"}
    running = running_capacity_vph(demand, [(0, 30.0), (1, 6.0)], 42.0)
    raised = with_saturated(demand, groups, running)
    before = {lg.id: lg.flow_vph for p in demand.phases for lg in p.lane_groups}
    after = {lg.id: lg.flow_vph for p in raised.phases for lg in p.lane_groups}
    sat = next(lg.saturation_flow_vph for p in demand.phases for lg in p.lane_groups)
    assert after["0:a"] == pytest.approx(max(before["0:a"], sat * (30.0 - 2.0) / 42.0))
    assert after["0:a"] > before["0:a"]
    assert {k: v for k, v in after.items() if k != "0:a"} == {
        k: v for k, v in before.items() if k != "0:a"
    }
    assert with_saturated(demand, set(), running) is demand
