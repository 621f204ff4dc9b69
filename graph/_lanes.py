"""Which movements each lane of an OSM approach serves: from ``turn:lanes``, or a default.

Lanes are indexed from the right (0 = rightmost, SUMO's convention); ``turn:lanes`` lists them
from the left, so its entries are read in reverse. Without ``turn:lanes`` (or where the tag names
a turn the junction does not offer, or leaves a movement without a lane), the **default
allocation** applies, the usual layout of an urban approach:

- one lane serves every movement;
- with several lanes, the near-side turn (right in right-hand traffic) leaves from the kerb lane,
  the far-side turn and U-turn from the lane nearest the centre line, straight-on traffic from
  every lane; without straight-on traffic (the stem of a T), the kerb half of the lanes turns
  near-side and the other half far-side.

Lanes from the default are marked ``guessed``.
"""

from __future__ import annotations

from collections.abc import Sequence

from graph import _tags
from graph.model import Approach, Lane, Movement


def lane_id(approach_id: str, index: int) -> str:
    """The model id of lane ``index`` of an OSM approach."""
    return f"{approach_id}#{index}"


def allocate_lanes(
    approach: Approach, movements: Sequence[Movement], *, drive_left: bool = False
) -> tuple[Lane, ...]:
    """The lanes of ``approach`` (its ``lanes`` count) with the movements each serves."""
    n = max(1, approach.lanes)
    mine = sorted((m for m in movements if m.approach_id == approach.id), key=lambda m: m.id)
    if not mine:
        return ()
    if approach.turn_lanes and len(approach.turn_lanes) == n:
        tagged = _from_turn_lanes(approach, mine, drive_left)
        if tagged is not None:
            return tagged
    return _default(approach.id, n, mine, drive_left)


def _from_turn_lanes(
    approach: Approach, movements: list[Movement], drive_left: bool
) -> tuple[Lane, ...] | None:
    # turn:lanes is listed from the left; lane index 0 is the rightmost lane.
    entries = list(reversed(approach.turn_lanes))
    lanes: list[list[str]] = []
    for entry in entries:
        turns = _tags.lane_turns(entry)
        lanes.append([m.id for m in movements if m.turn in turns or _uturn_on(m, turns)])
    served = {mid for ids in lanes for mid in ids}
    if any(not ids for ids in lanes) or any(m.id not in served for m in movements):
        return None  # the tag and the junction disagree: the default says at least that much
    del drive_left  # the tag already says which side each turn leaves from
    return tuple(
        Lane(index=i, id=lane_id(approach.id, i), movement_ids=tuple(ids))
        for i, ids in enumerate(lanes)
    )


def _uturn_on(m: Movement, turns: frozenset[str]) -> bool:
    """A U-turn leaves from a lane marked for the turn on its side (OSM rarely tags ``reverse``)."""
    return m.turn == "uturn" and "left" in turns


def _default(
    approach_id: str, n: int, movements: list[Movement], drive_left: bool
) -> tuple[Lane, ...]:
    ids = [m.id for m in movements]
    if n == 1:
        return (Lane(index=0, id=lane_id(approach_id, 0), movement_ids=tuple(ids), guessed=True),)
    near, far = ("left", "right") if drive_left else ("right", "left")
    # In left-hand traffic the kerb lane is the leftmost: index n-1.
    kerb, centre = (n - 1, 0) if drive_left else (0, n - 1)
    through = [m.id for m in movements if m.turn == "through"]
    near_ids = [m.id for m in movements if m.turn == near]
    far_ids = [m.id for m in movements if m.turn in (far, "uturn")]
    lanes: list[list[str]] = [list(through) for _ in range(n)]
    if through:
        lanes[kerb] += near_ids
        lanes[centre] += far_ids
    else:
        kerb_side = range(n // 2) if not drive_left else range(n - n // 2, n)
        for i in range(n):
            on_kerb_side = i in kerb_side
            lanes[i] = list(near_ids if on_kerb_side else far_ids) or list(
                far_ids if on_kerb_side else near_ids
            )
    for i, lane in enumerate(lanes):
        if not lane:
            lanes[i] = list(ids)
    return tuple(
        Lane(index=i, id=lane_id(approach_id, i), movement_ids=tuple(sorted(ls)), guessed=True)
        for i, ls in enumerate(lanes)
    )
