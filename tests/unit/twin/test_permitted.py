"""Protected-permitted left turns: the permitted green's overflow goes to the protected phase."""

from __future__ import annotations

import msgspec
import pytest

from graph.model import Approach, Junction, Movement, Phase
from graph.sumo import ProgramPhase, SumoSignal
from twin.demand import charged_links, junction_demand
from twin.permitted import charged_flows, idle_protected_phases

# links: 0 = a_0 -> x (through), 1 = a_1 -> y (left: permitted in phase 0, protected in phase 1),
# 2 = b_0 -> w (through from the opposite approach, priority in phase 0)
RUNNING = ([(0, 40.0), (1, 8.0)], 60.0)


def _signal() -> SumoSignal:
    return SumoSignal(
        tls_id="J",
        program_id="0",
        program_type="static",
        offset_s=0.0,
        program=(
            ProgramPhase(state="GgG", duration_s=40.0),
            ProgramPhase(state="yGy", duration_s=3.0),
            ProgramPhase(state="rGr", duration_s=8.0),
            ProgramPhase(state="ryr", duration_s=3.0),
        ),
        green_states=("GgG", "rGr"),
        program_indices=((0,), (2,)),
        yellow_s=(3.0, 3.0),
        red_s=(0.0, 0.0),
        link_movements=("a>x", "a>y", "b>w"),
        link_lanes=(("a_0", "x_0"), ("a_1", "y_0"), ("b_0", "w_0")),
    )


def _approach(aid: str, bearing: float) -> Approach:
    return Approach(
        id=aid,
        junction_id="J",
        from_node=f"n{aid}",
        to_node="n",
        bearing_deg=bearing,
        lanes=1,
        saturation_flow_vph=1800.0,
        free_speed_mps=13.9,
        length_m=100.0,
        road_class="",
        name="",
    )


def _junction() -> Junction:
    return Junction(
        id="J",
        lat=0.0,
        lon=0.0,
        zone_id="z",
        node_ids=("n",),
        approaches=(_approach("a", 0.0), _approach("b", 180.0)),
        movements=(
            Movement(id="a>x", approach_id="a", exit_id="x", turn="through"),
            Movement(id="a>y", approach_id="a", exit_id="y", turn="left"),
            Movement(id="b>w", approach_id="b", exit_id="w", turn="through"),
        ),
        phases=(
            Phase(index=0, movement_ids=("a>x", "a>y", "b>w"), approach_ids=("a", "b")),
            Phase(index=1, movement_ids=("a>y",), approach_ids=("a",)),
        ),
    )


def _charged(opposing: float, left: float) -> list[dict[int, float]]:
    flows = {0: 30.0, 1: left, 2: opposing}  # vehicles over 300 s
    return charged_links(_junction(), _signal(), flows, 300.0, RUNNING)


def test_light_opposing_flow_leaves_the_left_turn_in_its_permitted_phase() -> None:
    assert _charged(opposing=5.0, left=10.0) == [{0: 30.0, 1: 10.0, 2: 5.0}, {}]


def test_heavy_opposing_flow_sends_the_overflow_to_the_protected_phase() -> None:
    out = _charged(opposing=90.0, left=40.0)
    assert out[0][1] + out[1][1] == pytest.approx(40.0)
    assert 0.0 < out[0][1] < 40.0
    assert out[1][1] > 0.0
    assert out[0][0] == 30.0
    assert out[0][2] == 90.0
    # the heavier the opposing flow, the more goes to the protected phase
    assert _charged(opposing=120.0, left=40.0)[1][1] > out[1][1]


def test_without_a_running_plan_the_critical_links_are_kept() -> None:
    flows = {0: 30.0, 1: 20.0, 2: 60.0}
    assert charged_links(_junction(), _signal(), flows, 300.0, None) == [flows, {}]


def test_a_left_turn_with_no_protected_phase_stays_where_it_is() -> None:
    sig = _signal()
    states = ("GgG", "rgr")  # permitted in both: nowhere protected to go
    sig = msgspec.structs.replace(sig, green_states=states)
    flows = {0: 30.0, 1: 20.0, 2: 90.0}
    crit = [[0, 1, 2], []]
    assert charged_flows(_junction(), sig, crit, flows, 300.0, RUNNING) == [flows, {}]


def test_the_protected_phase_gets_a_lane_group_in_the_demand() -> None:
    counts = {"a_0": 30, "a_1": 40, "b_0": 90}
    d = junction_demand(_junction(), _signal(), counts, 300.0, running=RUNNING)
    groups = {lg.id: lg for p in d.phases for lg in p.lane_groups}
    assert "1:a" in groups
    total = groups["0:a"].flow_vph + groups["1:a"].flow_vph
    assert total == pytest.approx((30 + 40) * 12.0)
    assert groups["1:a"].saturation_flow_vph == 1800.0  # the left lane alone


def test_the_right_of_way_matrix_names_what_a_turn_yields_to() -> None:
    # the left (1) yields to link 2 by the net's matrix; with no flow on 2 nothing overflows,
    # whatever the bearings say
    sig = msgspec.structs.replace(_signal(), link_yields_to=((), (2,), ()))
    flows = {0: 30.0, 1: 40.0, 2: 90.0}
    out = charged_flows(_junction(), sig, [[0, 1, 2], []], flows, 300.0, RUNNING)
    assert out[1].get(1, 0.0) > 0.0
    calm = {0: 30.0, 1: 40.0, 2: 0.0}
    assert charged_flows(_junction(), sig, [[0, 1, 2], []], calm, 300.0, RUNNING) == [calm, {}]
    # a matrix saying the left yields to nothing: it is not permitted at all
    free = msgspec.structs.replace(_signal(), link_yields_to=((), (), ()))
    assert charged_flows(_junction(), free, [[0, 1, 2], []], flows, 300.0, RUNNING) == [flows, {}]


def test_a_protected_left_phase_with_nothing_charged_may_be_left_out() -> None:
    light = _charged(opposing=5.0, left=10.0)
    assert idle_protected_phases(_junction(), _signal(), light, set()) == {1}
    heavy = _charged(opposing=90.0, left=40.0)
    assert idle_protected_phases(_junction(), _signal(), heavy, set()) == set()


def test_a_phase_that_also_serves_through_traffic_is_kept() -> None:
    # phase 1 also gives the through link 0 green: not a protected-turn phase
    sig = msgspec.structs.replace(_signal(), green_states=("GgG", "GGr"))
    light = [{0: 30.0, 1: 10.0, 2: 5.0}, {}]
    assert idle_protected_phases(_junction(), sig, light, set()) == set()


def test_the_demand_leaves_out_an_idle_protected_phase_only_with_a_running_plan() -> None:
    counts = {"a_0": 30, "a_1": 10, "b_0": 5}
    with_plan = junction_demand(_junction(), _signal(), counts, 300.0, running=RUNNING)
    assert [p.skippable for p in with_plan.phases] == [False, True]
    without = junction_demand(_junction(), _signal(), counts, 300.0)
    assert [p.skippable for p in without.phases] == [False, False]
