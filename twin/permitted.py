"""Protected-permitted turns: the permitted green's overflow goes to the protected phase.

A turn that yields in one phase (SUMO's ``g``: to the links its node's right-of-way matrix puts
before it, or, without that matrix, a left turn to the opposing through traffic) and has priority
in another (``G``) is served in both. :func:`twin.demand.critical_links` charges it to the phase
where the programme gives it the most green, which is nearly always the permitted one. Against a
heavy opposing flow the permitted green serves few left turners: the planner, which sees the turn
in the through phase at the full saturation flow, then cuts the protected phase to its minimum
and the left-turn queue backs up through the lanes behind it.

HCM's answer is used here: the left turn's capacity in its permitted phase comes from gap
acceptance in the opposing flow (:func:`optimizer.delay.permitted_left_capacity_vph`); the part
of its demand above that capacity is charged to its protected phase, where the planner must give
it green. A phase that only protects turns whose demand all fits in their permitted green is
left out, as signal engineers drop a protected-left phase in light traffic
(:func:`idle_protected_phases`).
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
    opposing = _Opposing(junction, signal, flows, period_s)
    for k, links in enumerate(critical):
        for i in links:
            if not opposing.links(k, i):
                continue
            protected = [m for m, s in enumerate(states) if m != k and i < len(s) and s[i] == "G"]
            if not protected:
                continue
            capacity = permitted_left_capacity_vph(
                opposing.vph(k, i),
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


def idle_protected_phases(
    junction: Junction, signal: SumoSignal, charged: list[dict[int, float]], skippable: set[int]
) -> set[int]:
    """Protected-turn phases a plan may also leave out, as in light traffic: phases showing green
    to left or U-turns only, each of them green (permitted) in another phase that stays, with no
    link charged to them (the turns' demand fits in their permitted green, :func:`charged_flows`).
    The turns are then served permitted only; a period whose turns overflow charges the phase
    again, and it comes back. Phases that also show green to through or right movements (a
    programme's intermediate states, a lagging protection) are kept."""
    states = signal.green_states
    turn = {m.id: m.turn for m in junction.movements}
    out = set(skippable)
    for k, st in enumerate(states):
        if k in out or charged[k]:
            continue
        links = [
            i for i, m in enumerate(signal.link_movements) if m and i < len(st) and st[i] in "Gg"
        ]
        kept = [j for j in range(len(states)) if j != k and j not in out]
        if links and all(
            turn.get(signal.link_movements[i]) in _LEFT
            and any(i < len(states[j]) and states[j][i] in "Gg" for j in kept)
            for i in links
        ):
            out.add(k)
    return out


class _Opposing:
    """What a link yields to while it shows ``g``: the links its node's right-of-way matrix gives
    priority over it (``SumoSignal.link_yields_to``) that show ``G`` at the same time. Without that
    matrix, a left turn yields to the through and right turns with priority from the approaches
    facing its own."""

    def __init__(
        self, junction: Junction, signal: SumoSignal, flows: dict[int, float], period_s: float
    ) -> None:
        self._signal = signal
        self._flows = flows
        self._period_s = period_s
        self._turn = {m.id: m.turn for m in junction.movements}
        self._bearing = {a.id: a.bearing_deg for a in junction.approaches}

    def _approach(self, i: int) -> str:
        return self._signal.link_lanes[i][0].rsplit("_", 1)[0]

    def _left(self, i: int) -> bool:
        return self._turn.get(self._signal.link_movements[i]) in _LEFT

    def links(self, k: int, i: int) -> list[int]:
        """Vehicle links with priority green in model phase ``k`` that link ``i`` yields to
        (none unless ``i`` shows ``g`` there)."""
        sig = self._signal
        st = sig.green_states[k]
        if i >= len(st) or st[i] != "g":
            return []
        if sig.link_yields_to:
            return [
                j
                for j in sig.link_yields_to[i]
                if j < len(st) and st[j] == "G" and sig.link_movements[j]
            ]
        mine = self._bearing.get(self._approach(i))
        if mine is None or not self._left(i):
            return []
        return [
            j
            for j, m in enumerate(sig.link_movements)
            if m
            and j < len(st)
            and st[j] == "G"
            and not self._left(j)
            and (b := self._bearing.get(self._approach(j))) is not None
            and _angle(mine, b) >= OPPOSING_MIN_ANGLE_DEG
        ]

    def vph(self, k: int, i: int) -> float:
        """Flow (veh/h) link ``i`` yields to in model phase ``k``."""
        vehicles = sum(self._flows.get(j, 0.0) for j in self.links(k, i))
        return vehicles * 3600.0 / self._period_s
