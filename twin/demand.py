"""Demand of a junction from the twin's loop counts, as the optimiser's ``JunctionDemand``."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import msgspec

from graph.model import Junction
from graph.sumo import SumoSignal
from optimizer.model import JunctionDemand, LaneGroup, PhaseDemand
from twin.mapping import TlsMapping
from twin.permitted import charged_flows, idle_protected_phases
from twin.programmes import programme_greens


def critical_links(signal: SumoSignal) -> list[list[int]]:
    """Per model phase, the vehicle links whose demand that phase must serve.

    A link green in several phases (a permissive left in the through phase and protected after
    it, say) is charged to the phase where the scenario's own programme gives it the most green,
    priority green winning ties: that is the phase the designer meant to serve it.
    """
    greens: dict[int, float] = {}
    for k, g in programme_greens(signal):
        greens[k] = greens.get(k, 0.0) + g
    states = signal.green_states
    out: list[list[int]] = [[] for _ in states]
    for i, m in enumerate(signal.link_movements):
        if not m:
            continue
        cands = [k for k, st in enumerate(states) if i < len(st) and st[i] in "Gg"]
        if cands:
            best = max(cands, key=lambda k: (greens.get(k, 0.0), states[k][i] == "G", -k))
            out[best].append(i)
    return out


def skippable_phases(signal: SumoSignal, critical: list[list[int]]) -> set[int]:
    """Model phases serving no link of their own whose every green link has priority green in
    another phase that stays: a plan may leave them out.

    A protected turn (priority green here, only permissive elsewhere) is not covered, so its phase
    stays. Phases are considered in order; one is left out only if every phase already left out
    stays covered without it.
    """
    states = signal.green_states

    def green_links(k: int) -> list[int]:
        st = states[k]
        return [
            i for i, m in enumerate(signal.link_movements) if m and i < len(st) and st[i] in "Gg"
        ]

    def covered(k: int, out: set[int]) -> bool:
        return all(
            any(
                j != k and j not in out and i < len(s) and s[i] == "G" for j, s in enumerate(states)
            )
            for i in green_links(k)
        )

    out: set[int] = set()
    for k in range(len(states)):
        if not critical[k] and covered(k, out) and all(covered(m, out | {k}) for m in out):
            out.add(k)
    return out


def link_flows(
    signal: SumoSignal, lane_counts: dict[str, int], turn_counts: dict[tuple[str, str], int]
) -> dict[int, float]:
    """Vehicles per vehicle link: measured turning counts where known, the lane's count split evenly
    over its links for what is left (vehicles whose next edge was not seen).

    ``turn_counts`` is keyed by (incoming lane, next edge).
    """
    by_lane: dict[str, list[int]] = {}
    for i, m in enumerate(signal.link_movements):
        if m:
            by_lane.setdefault(signal.link_lanes[i][0], []).append(i)
    out: dict[int, float] = {}
    for lane, links in by_lane.items():
        to_edge = {i: m.split(">", 1)[1] for i in links if (m := signal.link_movements[i])}
        per_edge: dict[str, int] = {}
        for e in to_edge.values():
            per_edge[e] = per_edge.get(e, 0) + 1
        known = {i: turn_counts.get((lane, e), 0) / per_edge[e] for i, e in to_edge.items()}
        rest = max(0.0, lane_counts.get(lane, 0) - sum(known.values()))
        for i in links:
            out[i] = known[i] + rest / len(links)
    return out


def junction_demand(
    junction: Junction,
    signal: SumoSignal,
    lane_counts: dict[str, int],
    period_s: float,
    turn_counts: dict[tuple[str, str], int] | None = None,
    saturation_per_lane_vph: float = 1800.0,
    running: tuple[Sequence[tuple[int, float]], float] | None = None,
    charged: list[dict[int, float]] | None = None,
    critical: list[list[int]] | None = None,
) -> JunctionDemand:
    """Demand of one junction from counts over ``period_s``.

    One lane group per (phase, approach): the flow of the links the phase must serve against the
    saturation flow of the lanes they leave from. The flows are marked as counts over ``period_s``
    (``JunctionDemand.count_period_s``): a few minutes of a minor movement are a handful of
    vehicles, and a planner may allow for that noise (the optimiser does; Webster does not).

    With the ``running`` plan (green sequence and cycle), a turn's flow above what its permitted
    green can serve is charged to its protected phase, and a protected-turn phase with nothing
    charged to it may be left out (:mod:`twin.permitted`). ``charged``, when the caller already
    has it (:func:`charged_links` of the same counts and plan), is used as given, and so is
    ``critical`` (:func:`critical_links` of the signal, which depends on the signal only).
    """
    flows = link_flows(signal, lane_counts, turn_counts or {})
    crit = critical_links(signal) if critical is None else critical
    skippable = skippable_phases(signal, crit)
    if charged is None:
        charged = charged_links(junction, signal, flows, period_s, running, crit)
    if running is not None:
        skippable = idle_protected_phases(junction, signal, charged, skippable)
    phases = []
    for k, (p, links) in enumerate(zip(junction.phases, charged, strict=True)):
        flow: dict[str, float] = {}
        lanes: dict[str, set[str]] = {}
        for i, vehicles in links.items():
            lane = signal.link_lanes[i][0]
            approach = lane.rsplit("_", 1)[0]
            flow[approach] = flow.get(approach, 0.0) + vehicles
            lanes.setdefault(approach, set()).add(lane)
        lgs = tuple(
            LaneGroup(
                id=f"{p.index}:{a}",
                flow_vph=flow[a] * 3600.0 / period_s,
                saturation_flow_vph=saturation_per_lane_vph * len(lanes[a]),
            )
            for a in sorted(flow)
        )
        phases.append(
            PhaseDemand(
                index=p.index,
                lane_groups=lgs,
                min_green_s=p.min_green_s,
                max_green_s=p.max_green_s,
                intergreen_s=shown_intergreen_s(signal, k, p.intergreen_s),
                skippable=p.index in skippable,
            )
        )
    return JunctionDemand(junction_id=junction.id, phases=tuple(phases), count_period_s=period_s)


def charged_links(
    junction: Junction,
    signal: SumoSignal,
    flows: dict[int, float],
    period_s: float,
    running: tuple[Sequence[tuple[int, float]], float] | None,
    critical: list[list[int]] | None = None,
) -> list[dict[int, float]]:
    """Vehicles per link each model phase must serve: the critical links' flows (``critical``
    when the caller has them), with permitted turns' overflow moved to their protected phase
    when a running plan is known."""
    crit = critical_links(signal) if critical is None else critical
    if running is None:
        return [{i: flows.get(i, 0.0) for i in links} for links in crit]
    return charged_flows(junction, signal, crit, flows, period_s, running)


def shown_intergreen_s(signal: SumoSignal, phase: int, programme_s: float) -> float:
    """The intergreen the twin shows after ``phase``: the yellow and all-red of the change to the
    next phase in order (:class:`SignalDriver`), or the programme's own if longer.

    A programme may pass from one green state to the next through intermediate greens and put its
    yellow elsewhere (Bologna's do): the model then says 0 s, but the twin still shows a yellow on
    the links that lose green, and a planner that is not told plans cycles too short for it.
    """
    n = len(signal.green_states)
    if n < 2:
        return programme_s
    shown = TlsMapping.from_signal(signal).intergreen_s(phase, (phase + 1) % n)
    return max(programme_s, shown)


RECENT_WINDOW_S = 900.0
"""Window of the recent flows the twin adds to each demand: HCM's 15-minute analysis period."""


def with_recent(demand: JunctionDemand, recent: JunctionDemand) -> JunctionDemand:
    """``demand`` with each lane group's flow over the longer window ``recent`` was counted over:
    the optimiser keeps a phase the recent traffic needs when the latest period happened to be
    quiet (on ingolstadt1 a side road counted 3 vehicles in the period after 15 of them)."""
    flows = {lg.id: lg.flow_vph for p in recent.phases for lg in p.lane_groups}
    phases = tuple(
        msgspec.structs.replace(
            p,
            lane_groups=tuple(
                msgspec.structs.replace(lg, recent_flow_vph=flows.get(lg.id))
                for lg in p.lane_groups
            ),
        )
        for p in demand.phases
    )
    return msgspec.structs.replace(demand, phases=phases)


SATURATED_OCCUPANCY = 0.7
"""Mean occupancy of a stop-line loop (40 m upstream) above which its lane is taken to hold a
standing queue through the green: its count is then the flow served, not the demand."""


def saturated_groups(
    junction: Junction,
    signal: SumoSignal,
    occupancy: dict[str, float],
    threshold: float = SATURATED_OCCUPANCY,
    charged: Sequence[Iterable[int]] | None = None,
) -> set[str]:
    """Lane group ids (as :func:`junction_demand` names them) whose loops were occupied at least
    ``threshold`` of the period on some lane; ``charged`` are the links each phase serves
    (:func:`charged_links`; the critical links by default)."""
    out: set[str] = set()
    served = critical_links(signal) if charged is None else charged
    for p, links in zip(junction.phases, served, strict=True):
        for i in links:
            lane = signal.link_lanes[i][0]
            if occupancy.get(lane, 0.0) >= threshold:
                out.add(f"{p.index}:{lane.rsplit('_', 1)[0]}")
    return out


def running_capacity_vph(
    demand: JunctionDemand, running: Sequence[tuple[int, float]], cycle_s: float
) -> dict[str, float]:
    """Capacity (veh/h) of each lane group under the plan running now: saturation flow times
    effective green over cycle."""
    green: dict[int, float] = {}
    for phase, g in running:
        green[phase] = green.get(phase, 0.0) + g
    out: dict[str, float] = {}
    for p in demand.phases:
        share = max(0.0, green.get(p.index, 0.0) - p.lost_time_s) / max(cycle_s, 1.0)
        for lg in p.lane_groups:
            out[lg.id] = lg.saturation_flow_vph * share
    return out


def with_saturated(
    demand: JunctionDemand, saturated: set[str], capacity_vph: dict[str, float]
) -> JunctionDemand:
    """``demand`` with every saturated lane group's flows raised to at least its capacity under
    the running plan: a queue that does not clear says demand reached capacity (SCOOT reasons
    the same way from its loops), so the planner sees a degree of saturation of 1 or more there
    and gives that group more capacity until its queue clears."""
    if not saturated:
        return demand

    def raised(lg: LaneGroup) -> LaneGroup:
        if lg.id not in saturated:
            return lg
        floor = capacity_vph.get(lg.id, 0.0)
        recent = lg.recent_flow_vph
        return msgspec.structs.replace(
            lg,
            flow_vph=max(lg.flow_vph, floor),
            recent_flow_vph=None if recent is None else max(recent, floor),
        )

    phases = tuple(
        msgspec.structs.replace(p, lane_groups=tuple(raised(lg) for lg in p.lane_groups))
        for p in demand.phases
    )
    return msgspec.structs.replace(demand, phases=phases)
