"""Which movements of a junction may not run green together.

Each arm of the junction sits on a circle around the junction centre, at the bearing from the
centre to the arm ~25 m out (``position_deg``: the two carriageways of a divided road get their
own places). A movement is a chord from the point where its approach enters to the point where
its exit leaves; where an approach and an exit share a place (a two-way road), in right-hand
traffic the entering lanes lie just anticlockwise of the leaving ones (mirrored for left-hand
traffic). Two movements from different approaches **conflict** when their chords cross or they
share an exit (merge), except the *permissive* pairs a normal signal runs together: a left turn
(right turn in left-hand traffic) or U-turn that is not protected gives way to the opposing
approach (approaches at least 135° apart).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from graph._geo import angle_diff_deg
from graph.model import Approach, Exit, Junction, Movement

OPPOSING_MIN_DEG = 135.0
"""Approaches whose directions of travel differ by at least this much face each other."""
_EPS_DEG = 0.5


@dataclass(frozen=True, slots=True)
class _Chord:
    approach_id: str
    exit_id: str
    start: float
    end: float
    bearing: float
    yields: bool
    """True for a movement that gives way to the opposing flow (unprotected far-side turn)."""


def _chords(
    approaches: Sequence[Approach],
    exits: Sequence[Exit],
    movements: Sequence[Movement],
    drive_left: bool,
) -> dict[str, _Chord]:
    a_by_id = {a.id: a for a in approaches}
    e_by_id = {e.id: e for e in exits}
    side = -_EPS_DEG if not drive_left else _EPS_DEG
    far_turn = "right" if drive_left else "left"
    out: dict[str, _Chord] = {}
    for m in movements:
        a = a_by_id[m.approach_id]
        e = e_by_id[m.exit_id]
        a_pos = a.position_deg if a.position_deg is not None else a.bearing_deg + 180.0
        e_pos = e.position_deg if e.position_deg is not None else e.bearing_deg
        start = (a_pos + side) % 360.0
        end = (e_pos - side) % 360.0
        yields = m.turn in (far_turn, "uturn") and not m.protected
        out[m.id] = _Chord(a.id, e.id, start, end, a.bearing_deg, yields)
    return out


def _inside(x: float, a: float, b: float) -> bool:
    """True when ``x`` lies strictly on the clockwise arc from ``a`` to ``b``."""
    return 0.0 < (x - a) % 360.0 < (b - a) % 360.0


def _crosses(p: _Chord, q: _Chord) -> bool:
    if p.exit_id == q.exit_id:
        return True
    return _inside(q.start, p.start, p.end) != _inside(q.end, p.start, p.end)


def _conflict(p: _Chord, q: _Chord) -> bool:
    if p.approach_id == q.approach_id or not _crosses(p, q):
        return False
    opposing = abs(angle_diff_deg(p.bearing, q.bearing)) >= OPPOSING_MIN_DEG
    return not (opposing and (p.yields or q.yields))


class ConflictTable:
    """Pairwise conflicts between the movements of one junction."""

    def __init__(
        self,
        approaches: Sequence[Approach],
        exits: Sequence[Exit],
        movements: Sequence[Movement],
        *,
        drive_left: bool = False,
    ) -> None:
        self._chords = _chords(approaches, exits, movements, drive_left)

    @classmethod
    def of(cls, junction: Junction, *, drive_left: bool = False) -> ConflictTable:
        """Conflicts of a built junction (needs its ``exits``)."""
        return cls(junction.approaches, junction.exits, junction.movements, drive_left=drive_left)

    def conflict(self, m1: str, m2: str) -> bool:
        """True when movements ``m1`` and ``m2`` must not be green together."""
        return _conflict(self._chords[m1], self._chords[m2])

    def gives_way(self, m1: str, m2: str) -> bool:
        """True when ``m1`` may run green with ``m2`` only by giving way to it: their paths cross,
        their approaches face each other, ``m1`` yields (an unprotected far-side turn or U-turn)
        and ``m2`` does not."""
        p, q = self._chords[m1], self._chords[m2]
        if p.approach_id == q.approach_id or not _crosses(p, q) or not p.yields or q.yields:
            return False
        return abs(angle_diff_deg(p.bearing, q.bearing)) >= OPPOSING_MIN_DEG

    def conflicting_pairs(self, movement_ids: Iterable[str]) -> list[tuple[str, str]]:
        """Every conflicting pair among ``movement_ids``."""
        ids = sorted(set(movement_ids))
        return [
            (a, b)
            for i, a in enumerate(ids)
            for b in ids[i + 1 :]
            if _conflict(self._chords[a], self._chords[b])
        ]
