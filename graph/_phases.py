"""Default conflict-free phase design of one junction.

1. Approaches are paired with the approach facing them (directions of travel at least 135° apart,
   closest to 180° first); an unpaired approach joins a group whose approach runs within 30° of
   it, else forms its own group. A plain cross gives two groups, a T-junction two.
2. Groups run in order of their total saturation flow (main road first). Each group gives one
   phase with all its movements, unprotected far-side turns giving way to the opposing flow.
3. A left turn (right turn in left-hand traffic) whose approach has a dedicated lane in
   ``turn:lanes`` is *protected*: it runs in its own phase just before its group's phase.
4. Any pair that still conflicts (odd geometry, five arms…) is split greedily into extra phases,
   so by construction no phase holds two conflicting movements and every movement is served.
5. Pedestrians: a signalised crossing on an arm walks during every phase in which no vehicle
   enters from that arm and none goes straight into it (turning vehicles give way to pedestrians).
   When no phase allows this (a mid-block crossing), an exclusive pedestrian phase is added.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import msgspec

from graph._approaches import Crossing
from graph._geo import angle_diff_deg
from graph.conflicts import OPPOSING_MIN_DEG, ConflictTable
from graph.model import Approach, Exit, Movement, Phase
from graph.settings import BuildSettings

SAME_DIRECTION_DEG = 30.0
_TURN_ORDER = {"through": 0, "right": 1, "left": 2, "uturn": 3}


def protect_turns(
    approaches: Sequence[Approach], movements: Sequence[Movement], drive_left: bool
) -> list[Movement]:
    """Mark far-side turns protected where their approach has a dedicated turn lane."""
    far = "right" if drive_left else "left"
    dedicated = {
        a.id for a in approaches if a.lanes >= 2 and any(_only(lane, far) for lane in a.turn_lanes)
    }
    return [
        msgspec.structs.replace(m, protected=True)
        if m.turn == far and m.approach_id in dedicated
        else m
        for m in movements
    ]


def _only(lane: str, turn: str) -> bool:
    parts = {p.strip() for p in lane.split(";")}
    return bool(parts) and parts <= {turn, f"sharp_{turn}", f"slight_{turn}"}


def group_approaches(approaches: Sequence[Approach]) -> list[list[Approach]]:
    """Opposing pairs, then same-direction companions, then singletons; main flow first."""
    ordered = sorted(approaches, key=lambda a: a.id)
    pairs = sorted(
        (
            (180.0 - abs(angle_diff_deg(a.bearing_deg, b.bearing_deg)), a.id, b.id)
            for i, a in enumerate(ordered)
            for b in ordered[i + 1 :]
            if abs(angle_diff_deg(a.bearing_deg, b.bearing_deg)) >= OPPOSING_MIN_DEG
        )
    )
    by_id = {a.id: a for a in ordered}
    used: set[str] = set()
    groups: list[list[Approach]] = []
    for _, x, y in pairs:
        if x not in used and y not in used:
            groups.append([by_id[x], by_id[y]])
            used |= {x, y}
    for a in ordered:
        if a.id in used:
            continue
        home = next(
            (
                grp
                for grp in groups
                if any(
                    abs(angle_diff_deg(a.bearing_deg, b.bearing_deg)) <= SAME_DIRECTION_DEG
                    for b in grp
                )
            ),
            None,
        )
        if home is None:
            groups.append([a])
        else:
            home.append(a)
        used.add(a.id)
    groups.sort(key=lambda grp: (-sum(a.saturation_flow_vph for a in grp), grp[0].id))
    return groups


def _colour(moves: list[Movement], table: ConflictTable) -> list[list[Movement]]:
    """Greedy split into sets with no conflicting pair (through first, then right, left)."""
    sets: list[list[Movement]] = []
    for m in sorted(moves, key=lambda m: (_TURN_ORDER[m.turn], m.id)):
        for s in sets:
            if not any(table.conflict(m.id, o.id) for o in s):
                s.append(m)
                break
        else:
            sets.append([m])
    return sets


def design_phases(
    approaches: Sequence[Approach],
    exits: Sequence[Exit],
    movements: Sequence[Movement],
    crossings: Sequence[Crossing],
    clearance_s: float,
    settings: BuildSettings,
    extent_m: float = 0.0,
) -> list[Phase]:
    """Phases serving every movement once, none with two conflicting movements.

    ``extent_m`` is the junction's size (its farthest nodes apart): larger junctions need longer
    all-red times to clear."""
    intergreen = intergreen_s(extent_m, settings)
    table = ConflictTable(approaches, exits, movements, drive_left=settings.drive_left)
    by_approach: dict[str, list[Movement]] = {}
    for m in movements:
        by_approach.setdefault(m.approach_id, []).append(m)
    move_sets: list[list[Movement]] = []
    for grp in group_approaches(approaches):
        moves = [m for a in grp for m in by_approach.get(a.id, [])]
        protected = [m for m in moves if m.protected]
        move_sets.extend(_colour(protected, table))
        move_sets.extend(_colour([m for m in moves if not m.protected], table))
    walk = _pedestrian_sets(move_sets, crossings)
    phases: list[Phase] = []
    for moves, peds in zip(move_sets, walk[: len(move_sets)], strict=True):
        phases.append(_phase(len(phases), moves, peds, clearance_s, intergreen, settings))
    if len(walk) > len(move_sets):
        phases.append(_phase(len(phases), [], True, clearance_s, intergreen, settings))
    return phases


def intergreen_s(extent_m: float, settings: BuildSettings) -> float:
    """Amber plus the all-red a 6 m vehicle needs to cross ``extent_m`` of junction, at least the
    settings' minimum intergreen."""
    all_red = min(settings.max_all_red_s, math.ceil((extent_m + 6.0) / settings.clearing_speed_mps))
    return max(settings.intergreen_s, settings.amber_s + all_red)


def _pedestrian_sets(move_sets: list[list[Movement]], crossings: Sequence[Crossing]) -> list[bool]:
    """Which vehicle phases pedestrians walk in; one extra ``True`` for an exclusive phase."""
    walk = [False] * len(move_sets)
    exclusive = False
    for x in crossings:
        ok = [
            not any(
                m.approach_id in x.approach_ids or (m.exit_id in x.exit_ids and m.turn == "through")
                for m in moves
            )
            for moves in move_sets
        ]
        if any(ok):
            walk = [w or o for w, o in zip(walk, ok, strict=True)]
        else:
            exclusive = True
    return [*walk, True] if exclusive else walk


def _phase(
    index: int,
    moves: list[Movement],
    pedestrian: bool,
    clearance_s: float,
    intergreen: float,
    s: BuildSettings,
) -> Phase:
    min_green = s.min_green_s
    if pedestrian:
        # Walk, then clearance; the clearance may run into the phase's own intergreen.
        min_green = max(min_green, round(s.walk_s + clearance_s - intergreen, 1))
    return Phase(
        index=index,
        movement_ids=tuple(sorted(m.id for m in moves)),
        approach_ids=tuple(sorted({m.approach_id for m in moves})),
        min_green_s=min_green,
        max_green_s=max(s.max_green_s, min_green),
        intergreen_s=intergreen,
        pedestrian=pedestrian,
    )
