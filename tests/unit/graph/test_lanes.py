"""Lanes of OSM approaches: from ``turn:lanes`` (read right to left), or the default allocation."""

from __future__ import annotations

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from graph._lanes import allocate_lanes
from graph.model import Approach, Lane, Movement, TurnType


def _approach(lanes: int, turn_lanes: tuple[str, ...] = ()) -> Approach:
    return Approach(
        id="J:a",
        junction_id="J",
        from_node="1",
        to_node="2",
        bearing_deg=0.0,
        lanes=lanes,
        saturation_flow_vph=1800.0 * lanes,
        free_speed_mps=13.9,
        length_m=100.0,
        road_class="secondary",
        turn_lanes=turn_lanes,
    )


def _moves(*turns: TurnType) -> list[Movement]:
    return [Movement(id=f"J:a>{t}", approach_id="J:a", exit_id=t, turn=t) for t in turns]


def _served(lanes: tuple[Lane, ...]) -> list[list[str]]:
    return [[m.split(">")[1] for m in ln.movement_ids] for ln in lanes]


def test_turn_lanes_are_read_from_the_right() -> None:
    a = _approach(3, ("left", "through", "through;right"))
    lanes = allocate_lanes(a, _moves("left", "through", "right"))
    assert _served(lanes) == [["right", "through"], ["through"], ["left"]]
    assert [ln.id for ln in lanes] == ["J:a#0", "J:a#1", "J:a#2"]
    assert not any(ln.guessed for ln in lanes)


def test_default_puts_turns_on_their_side() -> None:
    lanes = allocate_lanes(_approach(3), _moves("left", "through", "right", "uturn"))
    assert _served(lanes) == [["right", "through"], ["through"], ["left", "through", "uturn"]]
    assert all(ln.guessed for ln in lanes)
    left_hand = allocate_lanes(_approach(2), _moves("left", "through", "right"), drive_left=True)
    assert _served(left_hand) == [["right", "through"], ["left", "through"]]


def test_default_splits_the_stem_of_a_t() -> None:
    lanes = allocate_lanes(_approach(2), _moves("left", "right"))
    assert _served(lanes) == [["right"], ["left"]]


def test_a_tag_that_misses_a_movement_falls_back_to_the_default() -> None:
    a = _approach(2, ("through", "through"))
    lanes = allocate_lanes(a, _moves("through", "right"))
    assert _served(lanes) == [["right", "through"], ["through"]]
    assert all(ln.guessed for ln in lanes)


@given(
    n=st.integers(1, 5),
    turns=st.sets(st.sampled_from(["left", "through", "right", "uturn"]), min_size=1),
    drive_left=st.booleans(),
)
def test_every_lane_serves_something_and_every_movement_has_a_lane(
    n: int, turns: set[TurnType], drive_left: bool
) -> None:
    moves = _moves(*sorted(turns))
    lanes = allocate_lanes(_approach(n), moves, drive_left=drive_left)
    assert [ln.index for ln in lanes] == list(range(n))
    assert all(ln.movement_ids for ln in lanes)
    assert {m for ln in lanes for m in ln.movement_ids} == {m.id for m in moves}
    assert msgspec.json.decode(msgspec.json.encode(lanes[0]), type=type(lanes[0])) == lanes[0]
