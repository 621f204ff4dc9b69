"""Invariants of the default phase design on random junction geometries (hypothesis).

- phases cover every movement;
- no phase holds two conflicting movements (by the conflict table, and by an independent
  geometric check: straight-on flows crossing at right angles never share a phase);
- pedestrians get a phase wherever a crossing exists.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from graph._approaches import Crossing, turn_type
from graph._geo import angle_diff_deg
from graph._phases import design_phases, protect_turns
from graph.conflicts import ConflictTable
from graph.model import Approach, Exit, Movement
from graph.settings import BuildSettings


@st.composite
def junctions(draw: st.DrawFn) -> tuple[list[Approach], list[Exit], list[Movement], list[Crossing]]:
    n_arms = draw(st.integers(min_value=2, max_value=6))
    positions = sorted(
        draw(
            st.lists(
                st.floats(min_value=0, max_value=359.9),
                min_size=n_arms,
                max_size=n_arms,
                unique_by=lambda x: round(x / 25),
            )
        )
    )
    approaches: list[Approach] = []
    exits: list[Exit] = []
    crossings: list[Crossing] = []
    for i, pos in enumerate(positions):
        kind = draw(st.sampled_from(["two-way", "in", "out"]))
        lanes = draw(st.integers(min_value=1, max_value=3))
        a_ids: list[str] = []
        e_ids: list[str] = []
        if kind in ("two-way", "in"):
            turn_lanes = ("left", "through") if lanes >= 2 and draw(st.booleans()) else ()
            a = Approach(
                id=f"J:{i}:a",
                junction_id="J",
                osm_way_id=i,
                from_node=f"{i}",
                to_node="0",
                bearing_deg=(pos + 180.0) % 360.0,
                lanes=lanes,
                saturation_flow_vph=1800.0 * lanes,
                free_speed_mps=13.9,
                length_m=100.0,
                road_class="primary",
                turn_lanes=turn_lanes,
                position_deg=pos,
            )
            approaches.append(a)
            a_ids.append(a.id)
        if kind in ("two-way", "out"):
            e = Exit(
                id=f"J:{i}:e",
                junction_id="J",
                osm_way_id=i,
                from_node="0",
                to_node=f"{i}",
                bearing_deg=pos,
                position_deg=pos,
            )
            exits.append(e)
            e_ids.append(e.id)
        if draw(st.booleans()):
            crossings.append(Crossing(tuple(a_ids), tuple(e_ids), 3.25 * lanes, True))
    movements = [
        Movement(
            id=f"{a.id}>{e.id}",
            approach_id=a.id,
            exit_id=e.id,
            turn=turn_type(a.bearing_deg, e.bearing_deg),
        )
        for a in approaches
        for e in exits
        if e.osm_way_id != a.osm_way_id
    ]
    movements = protect_turns(approaches, movements, drive_left=False)
    return approaches, exits, movements, crossings


@settings(max_examples=300, deadline=None)
@given(junctions(), st.booleans())
def test_phases_cover_movements_without_conflicts(
    j: tuple[list[Approach], list[Exit], list[Movement], list[Crossing]], drive_left: bool
) -> None:
    approaches, exits, movements, crossings = j
    s = BuildSettings(drive_left=drive_left)
    phases = design_phases(approaches, exits, movements, crossings, 6.0, s)
    served = [m for p in phases for m in p.movement_ids]
    assert sorted(served) == sorted(m.id for m in movements)  # each exactly once
    table = ConflictTable(approaches, exits, movements, drive_left=drive_left)
    by_id = {m.id: m for m in movements}
    bearing = {a.id: a.bearing_deg for a in approaches}
    for p in phases:
        assert table.conflicting_pairs(p.movement_ids) == []
        assert set(p.approach_ids) == {by_id[m].approach_id for m in p.movement_ids}
        throughs = [by_id[m] for m in p.movement_ids if by_id[m].turn == "through"]
        for x in throughs:
            for y in throughs:
                d = abs(angle_diff_deg(bearing[x.approach_id], bearing[y.approach_id]))
                assert not 60.0 <= d <= 120.0, f"crossing straight flows share phase {p.index}"
    assert [p.index for p in phases] == list(range(len(phases)))
    if crossings:
        assert any(p.pedestrian for p in phases)


def test_plain_cross_conflicts_by_hand() -> None:
    """The conflict table on a right-hand cross, checked against what a traffic engineer says."""
    approaches = [
        Approach(
            id=name,
            junction_id="J",
            from_node=name,
            to_node="0",
            bearing_deg=(pos + 180) % 360,
            lanes=1,
            saturation_flow_vph=1800,
            free_speed_mps=13.9,
            length_m=100,
            road_class="primary",
        )
        for name, pos in (("N", 0), ("E", 90), ("S", 180), ("W", 270))
    ]
    exits = [
        Exit(id=f"to{name}", junction_id="J", from_node="0", to_node=name, bearing_deg=pos)
        for name, pos in (("N", 0), ("E", 90), ("S", 180), ("W", 270))
    ]

    def mv(a: str, e: str, turn: str, protected: bool = False) -> Movement:
        return Movement(
            id=f"{a}{e}",
            approach_id=a,
            exit_id=f"to{e}",
            turn=turn,  # type: ignore[arg-type]  # a TurnType literal, typed as str here
            protected=protected,
        )

    moves = [
        mv("N", "S", "through"),
        mv("S", "N", "through"),
        mv("E", "W", "through"),
        mv("N", "E", "left"),
        mv("N", "W", "right"),
        mv("S", "W", "left"),
        mv("W", "S", "right"),
    ]
    t = ConflictTable(approaches, exits, moves)
    assert not t.conflict("NS", "SN")  # opposing straight flows
    assert t.conflict("NS", "EW")  # crossing straight flows
    assert not t.conflict("NE", "SN")  # permissive left gives way to the opposing flow
    assert not t.conflict("NW", "SN")  # right turn stays clear of the opposing flow
    assert not t.conflict("NE", "SW")  # opposing left turns pass each other
    assert not t.conflict("SW", "NW")  # same exit, but the left turn gives way
    assert t.conflict("WS", "NS")  # merging into the south exit from crossing arms
    assert t.conflict("SW", "EW")  # left turn across a crossing straight flow
    protected = ConflictTable(approaches, exits, [*moves[:5], mv("S", "W", "left", True), moves[6]])
    assert protected.conflict("SW", "NS")  # a protected left runs alone: opposing flow is a foe
