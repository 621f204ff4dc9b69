"""Protected-permitted left turns: the permitted green's overflow goes to the protected phase.

A left turn that yields to the opposing traffic in one phase (SUMO's ``g``) and has priority in
another (``G``) is served in both. :func:`twin.control.critical_links` charges it to the phase
where the programme gives it the most green, which is nearly always the permitted one. Against a
heavy opposing flow the permitted green serves few left turners: the planner, which sees the turn
in the through phase at the full saturation flow, then cuts the protected phase to its minimum
and the left-turn queue backs up through the lanes behind it.

HCM's answer is used here: the left turn's capacity in its permitted phase comes from gap
acceptance in the opposing flow (:func:`optimizer.delay.permitted_left_capacity_vph`); the part
of its demand above that capacity is charged to its protected phase, where the planner must give
it green.
"""

from __future__ import annotations

from collections.abc import Sequence

from graph.model import Junction
from graph.sumo import SumoSignal
from optimizer.delay import permitted_left_capacity_vph

OPPOSING_MIN_ANGLE_DEG = 135.0
"""Approaches whose directions of travel differ by at least this much oppose each other."""

SUMO_SNEAKERS_PER_CYCLE = 0.0
"""SUMO's left turners wait at the stop line, not inside the junction, so none clears on the
yellow: on acosta's junction 273 under its own programme (seed 1, 30 cycles starting with a queue
of 3 or more), 3.2 left turners per cycle passed in the permitted green against 11.3 opposing
vehicles, none during the yellow, 5.9 in the 6 s protected green. The gap-acceptance capacity
with no sneakers gives 3.9 per cycle there; HCM's two sneakers would add 2."""

_LEFT = {"left", "uturn"}


def _angle(a: float, b: float) -> float:
    d = abs(a - b) % 360.0
    return 360.0 - d if d > 180.0 else d


def charged_flows(
    junction: Junction,
    signal: SumoSignal,
    critical: list[list[int]],
    flows: dict[int, float],
    period_s: float,
    running: tuple[Sequence[tuple[int, float]], float],
) -> list[dict[int, float]]:
    """Vehicles per link charged to each model phase over ``period_s``.

    Every critical link keeps its flow in its phase, except a permitted left turn (``g`` there)
    with a protected phase (``G``) elsewhere: the part of its flow above its permitted capacity
    under the ``running`` plan (green sequence and cycle) is charged to the protected phase with
    the most green.
    """
    out = [{i: flows.get(i, 0.0) for i in links} for links in critical]
    states = signal.green_states
    greens: dict[int, float] = {}
    for k, g in running[0]:
        greens[k] = greens.get(k, 0.0) + g
    cycle = running[1]
    if period_s <= 0 or cycle <= 0:
        return out
    turn = {m.id: m.turn for m in junction.movements}
    bearing = {a.id: a.bearing_deg for a in junction.approaches}

    def approach(i: int) -> str:
        return signal.link_lanes[i][0].rsplit("_", 1)[0]

    for k, links in enumerate(critical):
        st = states[k]
        for i in links:
            if st[i] != "g" or turn.get(signal.link_movements[i]) not in _LEFT:
                continue
            protected = [m for m, s in enumerate(states) if m != k and i < len(s) and s[i] == "G"]
            if not protected:
                continue
            mine = bearing.get(approach(i))
            opposing = [
                j
                for j, m in enumerate(signal.link_movements)
                if m
                and j < len(st)
                and st[j] == "G"
                and turn.get(m) not in _LEFT
                and mine is not None
                and (b := bearing.get(approach(j))) is not None
                and _angle(mine, b) >= OPPOSING_MIN_ANGLE_DEG
            ]
            capacity = permitted_left_capacity_vph(
                sum(flows.get(j, 0.0) for j in opposing) * 3600.0 / period_s,
                greens.get(k, 0.0),
                cycle,
                sneakers_per_cycle=SUMO_SNEAKERS_PER_CYCLE,
            ) * (period_s / 3600.0)
            over = out[k][i] - capacity
            if over <= 0:
                continue
            target = max(protected, key=lambda m: (greens.get(m, 0.0), -m))
            out[k][i] = capacity
            out[target][i] = out[target].get(i, 0.0) + over
    return out
