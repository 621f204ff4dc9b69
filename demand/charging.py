"""Which phase must serve each lane's movements: critical phases, permitted overflow, phases a
plan may leave out.

Every (lane, movement) pair is *served* by the phases that show its movement green on its lane
(``Phase.movement_ids`` and ``Phase.lane_ids``). A pair served by several phases is charged to
one, its **critical** phase: the one where the signal's reference timing (its own programme when
the model knows it, else the running plan) gives it the most green, priority winning ties, then
the lowest index — the phase the designer meant to serve it.

**Permitted turns** (HCM's protected-permitted left): a pair whose critical phase shows it
permitted (giving way, ``Phase.permitted_movement_ids``) and another phase protected is served
first by gap acceptance in its opposing flow during the permitted green
(:func:`optimizer.delay.permitted_left_capacity_vph`, under the running timing); the part of its
demand above that capacity is charged to the protected phase with the most green. A phase that
only protects such turns, with nothing charged to it, may be left out, as signal engineers drop a
protected left in light traffic; so may a phase whose every pair has priority in a phase that
stays (a split phase next to the paired phases covering it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from demand.lanes import LaneInfo
from demand.model import DemandSettings, RunningTiming
from graph.model import Junction
from optimizer.delay import permitted_left_capacity_vph

Pair = tuple[str, str]
"""(lane id, movement id)"""

_LEFT = {"left", "uturn"}


class Served:
    """The pairs each phase serves, and with which priority."""

    def __init__(self, junction: Junction, lanes: Mapping[str, Sequence[LaneInfo]]) -> None:
        self.junction = junction
        self.phases = [p.index for p in junction.phases]
        self.pairs: dict[int, list[Pair]] = {}
        self.protected: dict[int, set[Pair]] = {}
        self._sets: dict[int, set[Pair]] = {}
        self.yields = {m.id: set(m.yields_to) for m in junction.movements}
        all_lanes = [ln for ls in lanes.values() for ln in ls]
        for p in junction.phases:
            shown = set(p.movement_ids)
            permitted = set(p.permitted_movement_ids)
            green = set(p.lane_ids)
            pairs = [
                (ln.id, m)
                for ln in all_lanes
                if not green or ln.id in green or ln.id == ln.approach_id
                for m in ln.movement_ids
                if m in shown
            ]
            self.pairs[p.index] = pairs
            self._sets[p.index] = set(pairs)
            self.protected[p.index] = {pr for pr in pairs if pr[1] not in permitted}

    def phases_of(self, pair: Pair) -> list[int]:
        """Phases serving ``pair``, in phase order."""
        return [k for k in self.phases if pair in self._sets[k]]

    def serves(self, k: int, pair: Pair) -> bool:
        """True when phase ``k`` shows ``pair`` green (with priority or permitted)."""
        return pair in self._sets[k]

    def is_protected(self, k: int, pair: Pair) -> bool:
        """True when phase ``k`` shows ``pair`` with priority."""
        return pair in self.protected[k]


def reference_greens(junction: Junction, running: RunningTiming | None) -> dict[int, float]:
    """Green per phase of the timing that decides critical phases: the signal's own programme
    when the model has it, else the running plan, else none."""
    programme = {
        p.index: p.programme_green_s for p in junction.phases if p.programme_green_s is not None
    }
    if programme:
        return programme
    return running.green_of() if running is not None else {}


def critical_pairs(served: Served, greens: Mapping[int, float]) -> dict[int, list[Pair]]:
    """Phase index -> the pairs it must serve (each pair in exactly one phase)."""
    out: dict[int, list[Pair]] = {k: [] for k in served.phases}
    seen: set[Pair] = set()
    for k in served.phases:
        for pair in served.pairs[k]:
            if pair in seen:
                continue
            seen.add(pair)
            cands = served.phases_of(pair)
            best = max(cands, key=lambda c: (greens.get(c, 0.0), served.is_protected(c, pair), -c))
            out[best].append(pair)
    return out


def charged_flows(
    served: Served,
    critical: Mapping[int, list[Pair]],
    flows: Mapping[Pair, float],
    lanes: Mapping[str, LaneInfo],
    running: RunningTiming | None,
    settings: DemandSettings,
) -> tuple[dict[int, dict[Pair, float]], set[Pair]]:
    """Flow (veh/h) of each pair charged to each phase, and the pairs whose overflow moved.

    Every critical pair keeps its flow in its phase, except a permitted pair with a protected
    phase elsewhere: with a running timing, the part of its flow above its permitted capacity is
    charged to the protected phase with the most green."""
    out = {k: {pr: flows.get(pr, 0.0) for pr in prs} for k, prs in critical.items()}
    moved: set[Pair] = set()
    if running is None or running.cycle_s <= 0:
        return out, moved
    greens = running.green_of()
    for k, prs in critical.items():
        for pair in prs:
            if served.is_protected(k, pair):
                continue
            protected = [c for c in served.phases_of(pair) if served.is_protected(c, pair)]
            opposing = _opposing(served, k, pair)
            if not protected or not opposing:
                continue
            capacity = permitted_left_capacity_vph(
                sum(flows.get(o, 0.0) for o in opposing),
                greens.get(k, 0.0),
                running.cycle_s,
                saturation_flow_vph=lanes[pair[0]].saturation_flow_vph / lanes[pair[0]].width,
                sneakers_per_cycle=settings.permitted_sneakers_per_cycle,
            )
            over = out[k][pair] - capacity
            if over <= 0:
                continue
            target = max(protected, key=lambda c: (greens.get(c, 0.0), -c))
            out[k][pair] = capacity
            out[target][pair] = out[target].get(pair, 0.0) + over
            moved.add(pair)
    return out, moved


def _opposing(served: Served, k: int, pair: Pair) -> list[Pair]:
    """Pairs with priority in phase ``k`` whose movement ``pair``'s movement gives way to."""
    yields = served.yields.get(pair[1], set())
    return [o for o in served.protected[k] if o[1] in yields]


def skippable_phases(served: Served, critical: Mapping[int, list[Pair]]) -> set[int]:
    """Phases serving no pair of their own whose every pair has priority in another phase that
    stays: a plan may leave them out. Phases are considered in order; one is left out only if
    every phase already left out stays covered without it."""

    def covered(k: int, out: set[int]) -> bool:
        return all(
            any(j != k and j not in out and served.is_protected(j, pr) for j in served.phases)
            for pr in served.pairs[k]
        )

    out: set[int] = set()
    for k in served.phases:
        if not critical[k] and covered(k, out) and all(covered(m, out | {k}) for m in out):
            out.add(k)
    return out


def idle_protected_phases(
    served: Served, charged: Mapping[int, Mapping[Pair, float]], skippable: set[int]
) -> set[int]:
    """``skippable`` plus the protected-turn phases a plan may also leave out, as in light
    traffic: phases showing left or U-turns only, each of them green in another phase that stays,
    with nothing charged to them (their demand fits in their permitted green). A period whose
    turns overflow charges the phase again, and it comes back. Phases that also show through or
    right movements (a programme's intermediate states, a lagging protection) are kept."""
    turn = {m.id: m.turn for m in served.junction.movements}
    out = set(skippable)
    for k in served.phases:
        if k in out or charged[k]:
            continue
        kept = [j for j in served.phases if j != k and j not in out]
        prs = served.pairs[k]
        if prs and all(
            turn.get(pr[1]) in _LEFT and any(served.serves(j, pr) for j in kept) for pr in prs
        ):
            out.add(k)
    return out
