"""Small junctions with lanes for the estimator's tests."""

from __future__ import annotations

import msgspec

from graph.model import Exit, Junction, Lane, Phase
from graph.synthetic import crossroads


def laned_cross(
    *, protected_left: bool = False, programme: tuple[float, ...] | None = None
) -> Junction:
    """A four-arm cross (``graph.synthetic.crossroads``) whose N and S approaches have a kerb
    lane (right and through) and a centre lane (through and left), E and W one lane for all.

    Phases: 0 N-S (lefts permitted, giving way to the opposing through and right), 1 E-W; with
    ``protected_left`` a phase 2 shows the N and S lefts with priority. Exits carry lane ids.
    """
    j = crossroads("J", "Z", 1, 0.0, 0.0, lanes={"N": 2, "S": 2, "E": 1, "W": 1})
    by = {m.id: m for m in j.movements}

    def mid(a: str, b: str) -> str:
        return f"J:{a}>J:{b}"

    approaches = []
    for a in j.approaches:
        arm = a.id[-1]
        mine = sorted(m.id for m in j.movements if m.approach_id == a.id)
        if arm in "NS":
            right = next(m for m in mine if by[m].turn == "right")
            through = next(m for m in mine if by[m].turn == "through")
            left = next(m for m in mine if by[m].turn == "left")
            lanes = (
                Lane(index=0, id=f"{a.id}_0", movement_ids=tuple(sorted((right, through)))),
                Lane(index=1, id=f"{a.id}_1", movement_ids=tuple(sorted((through, left)))),
            )
        else:
            lanes = (Lane(index=0, id=f"{a.id}_0", movement_ids=tuple(mine)),)
        approaches.append(msgspec.structs.replace(a, lane_detail=lanes))
    left_ns = {m.id for m in j.movements if by[m.id].turn == "left" and m.approach_id[-1] in "NS"}
    movements = []
    for move in j.movements:
        m = move
        if m.id in left_ns:
            opp = "S" if m.approach_id.endswith("N") else "N"
            foes = tuple(
                sorted(
                    o.id
                    for o in j.movements
                    if o.approach_id == f"J:{opp}" and o.turn in ("through", "right")
                )
            )
            m = msgspec.structs.replace(m, yields_to=foes)
        movements.append(m)
    p0, p1 = j.phases
    phases = [
        msgspec.structs.replace(p0, permitted_movement_ids=tuple(sorted(left_ns))),
        p1,
    ]
    if protected_left:
        phases.append(
            Phase(
                index=2,
                movement_ids=tuple(sorted(left_ns)),
                approach_ids=("J:N", "J:S"),
                lane_ids=("J:N_1", "J:S_1"),
            )
        )
    if programme is not None:
        phases = [
            msgspec.structs.replace(p, programme_green_s=g)
            for p, g in zip(phases, programme, strict=True)
        ]
    exits = tuple(
        Exit(
            id=f"J:{arm}",
            junction_id="J",
            from_node="J-node",
            to_node=f"out{arm}",
            bearing_deg=0.0,
            lane_ids=(f"out{arm}_0",),
        )
        for arm in "NESW"
    )
    del mid
    return msgspec.structs.replace(
        j,
        approaches=tuple(approaches),
        movements=tuple(movements),
        phases=tuple(phases),
        exits=exits,
        programme_cycle_s=(sum(programme) + 5 * len(programme)) if programme else None,
    )
