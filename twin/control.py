"""Control modes applied to SUMO in closed loop.

- ``programme``: the scenario's own signal programme, untouched (fixed-time in most scenarios);
- ``actuated``: the same phases switched to SUMO's gap-based actuated control;
- a registered **Planner** (``webster``, ``optimizer``…): demand measured by the twin's loops
  over the last period, converted to :class:`~optimizer.model.JunctionDemand`, planned, and applied
  at the next cycle boundary;
- a registered **Controller** (``max-pressure``, ``adaptive``…): asked every few seconds with a
  :class:`~optimizer.strategy.JunctionState` built from halting vehicles on approach and exit lanes.

Phase changes go through :class:`SignalDriver`, which inserts the yellow and all-red the scenario's
programme uses.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import msgspec

from graph.model import Junction
from graph.sumo import SumoSignal
from graph.sumo_links import SumoLink
from optimizer import envelope_from_phases
from optimizer.coordination import ZonePlan
from optimizer.model import JunctionDemand, LaneGroup, PhaseDemand, Plan
from optimizer.strategy import (
    Controller,
    Decision,
    Envelope,
    JunctionState,
    MovementState,
    PhaseState,
    Planner,
    ZonePlanner,
    controllers,
    planners,
    zone_planners,
)
from optimizer.strategy import controller as make_controller
from optimizer.strategy import planner as make_planner
from optimizer.strategy import zone_planner as make_zone_planner
from twin.coordination import zone_demand, zones_of
from twin.errors import UnknownControl
from twin.mapping import Step, TlsMapping
from twin.permitted import charged_flows, idle_protected_phases
from twin.schedule import green_ends, natural_cycle_s, transition_cycle

BUILTIN = ("programme", "actuated")
ACTUATED_MIN_GREEN_S = 5.0
ACTUATED_MAX_GREEN_S = 60.0
_EPS = 1e-6
HALTING_SPEED_MPS = 0.1
"""SUMO's own threshold for a halting vehicle."""

DecisionSource = Callable[[Sequence[JunctionState]], Mapping[str, Decision]]
"""Decisions from outside the process (the Kafka closed loop): the states of the junctions due at
one simulation step in, a decision for each of them out. It may block."""

_LaneView = dict[str, tuple[int, list[float]]]
"""Per next edge: (halting vehicles, arrival times in s of the moving ones)."""


def resolve_control(name: str) -> tuple[str, str]:
    """``(kind, name)`` with kind ``builtin``, ``planner`` or ``controller``; prefixes
    disambiguate.
    """
    kind, _, bare = name.partition(":")
    if bare:
        if kind == "planner" and bare in (*planners(), *zone_planners()):
            return "planner", bare
        if kind == "controller" and bare in controllers():
            return "controller", bare
    elif name in BUILTIN:
        return "builtin", name
    elif name in (*planners(), *zone_planners()):
        return "planner", name
    elif name in controllers():
        return "controller", name
    known = (
        *BUILTIN,
        *planners(),
        *zone_planners(),
        *(f"controller:{c}" for c in controllers()),
    )
    raise UnknownControl(name, known)


def available_controls() -> tuple[str, ...]:
    """Every control the twin can run now (built-ins, registered planners and controllers)."""
    out = list(BUILTIN) + list(planners()) + list(zone_planners())
    out += [c if c not in planners() else f"controller:{c}" for c in controllers()]
    return tuple(out)


class SignalDriver:
    """Shows model phases on one SUMO traffic light, with yellow/all-red between them."""

    def __init__(self, api: Any, mapping: TlsMapping, phase: int, now: float) -> None:
        self._api = api
        self.mapping = mapping
        self.phase = phase
        self.target = phase
        self.green_since = now
        self._steps: list[Step] = []
        self._step_end: float | None = None
        self._set(mapping.green(phase))

    def _set(self, state: str) -> None:
        self._api.trafficlight.setRedYellowGreenState(self.mapping.tls_id, state)

    @property
    def in_transition(self) -> bool:
        """True while yellow or all-red is shown."""
        return self._step_end is not None

    def switch(self, to_phase: int, now: float) -> float:
        """Start the change to ``to_phase``; returns the time its green starts."""
        if self.in_transition:
            return self._step_end or now
        if to_phase == self.phase:
            return now
        self.target = to_phase
        self._steps = list(self.mapping.transition(self.phase, to_phase))
        if not self._steps:
            self._begin_green(now)
            return now
        self._show_next(now)
        return (self._step_end or now) + sum(s.duration_s for s in self._steps)

    def _show_next(self, now: float) -> None:
        step = self._steps.pop(0)
        self._set(step.state)
        self._step_end = now + step.duration_s

    def _begin_green(self, now: float) -> None:
        self.phase = self.target
        self._step_end = None
        self.green_since = now
        self._set(self.mapping.green(self.phase))

    def tick(self, now: float) -> None:
        """Advance the transition; call once per simulation step."""
        if self._step_end is not None and now >= self._step_end - _EPS:
            if self._steps:
                self._show_next(now)
            else:
                self._begin_green(now)

    def green_elapsed(self, now: float) -> float:
        """Green already given to the current phase (0 during a transition)."""
        return 0.0 if self.in_transition else now - self.green_since


class Policy(Protocol):
    """A control mode, driven by the runner once per simulation step."""

    name: str

    def step(self, now: float) -> None:
        """React to the simulation at time ``now`` (after the step)."""
        ...


class ProgrammePolicy:
    """Leaves SUMO's loaded programme running (the scenario's own, or the actuated copy)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def step(self, now: float) -> None:
        """Nothing to do: SUMO runs the programme."""


def write_actuated_programmes(signals: dict[str, SumoSignal], path: Path) -> str:
    """An additional file turning every programme actuated (same phases); returns its programID."""
    program_id = "aiguilleur-actuated"
    root = ET.Element("additional")
    for sig in signals.values():
        tl = ET.SubElement(
            root,
            "tlLogic",
            id=sig.tls_id,
            type="actuated",
            programID=program_id,
            offset=f"{sig.offset_s:g}",
        )
        for ph in sig.program:
            attrs = {"duration": f"{ph.duration_s:g}", "state": ph.state}
            if ph.is_green():
                bounded = (
                    ph.min_dur_s is not None
                    and ph.max_dur_s is not None
                    and ph.max_dur_s > ph.min_dur_s
                )
                lo = (
                    ph.min_dur_s
                    if bounded and ph.min_dur_s is not None
                    else min(ACTUATED_MIN_GREEN_S, ph.duration_s)
                )
                hi = (
                    ph.max_dur_s
                    if bounded and ph.max_dur_s is not None
                    else max(ACTUATED_MAX_GREEN_S, ph.duration_s)
                )
                attrs |= {"minDur": f"{lo:g}", "maxDur": f"{hi:g}"}
            ET.SubElement(tl, "phase", attrs)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
    return program_id


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
) -> JunctionDemand:
    """Demand of one junction from counts over ``period_s``.

    One lane group per (phase, approach): the flow of the links the phase must serve against the
    saturation flow of the lanes they leave from. The flows are marked as counts over ``period_s``
    (``JunctionDemand.count_period_s``): a few minutes of a minor movement are a handful of
    vehicles, and a planner may allow for that noise (the optimiser does; Webster does not).

    With the ``running`` plan (green sequence and cycle), a turn's flow above what its permitted
    green can serve is charged to its protected phase, and a protected-turn phase with nothing
    charged to it may be left out (:mod:`twin.permitted`). ``charged``, when the caller already
    has it (:func:`charged_links` of the same counts and plan), is used as given.
    """
    flows = link_flows(signal, lane_counts, turn_counts or {})
    crit = critical_links(signal)
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


def programme_greens(signal: SumoSignal) -> list[tuple[int, float]]:
    """The scenario programme's green sequence as ``(model phase, green s)``."""
    seq: list[tuple[int, float]] = []
    for i, ph in enumerate(signal.program):
        if not ph.is_green():
            continue
        k = signal.green_states.index(ph.state)
        if seq and seq[-1][0] == k and signal.program[i - 1].state == ph.state:
            seq[-1] = (k, seq[-1][1] + ph.duration_s)
        else:
            seq.append((k, ph.duration_s))
    return seq


class PlanPolicy:
    """Fixed-time plans from a Planner (or a ZonePlanner), re-planned every period and applied at
    cycle boundaries.

    Each junction runs cycles laid out by :mod:`twin.schedule`. A zone planner's plans carry
    offsets from the policy's start: the first cycle of such a plan is a transition cycle that
    brings the junction onto ``start + offset`` modulo the common cycle, so the zone's junctions
    run in step. Plans without a zone planner keep their cycle and start where the last one ended.
    """

    def __init__(
        self,
        name: str,
        planner: Planner | ZonePlanner | None,
        api: Any,
        junctions: list[Junction],
        signals: dict[str, SumoSignal],
        drivers: dict[str, SignalDriver],
        lane_counts: Callable[[], tuple[dict[str, int], dict[tuple[str, str], int]]],
        period_s: float,
        now: float,
        fixed_plans: dict[str, Plan] | None = None,
        links: Sequence[SumoLink] = (),
        occupancy: Callable[[], dict[str, float]] | None = None,
    ) -> None:
        self.name = name
        self._occupancy = occupancy
        self._planner = planner
        self._api = api
        self._junctions = junctions
        self._by_id = {j.id: j for j in junctions}
        self._signals = signals
        self._drivers = drivers
        self._lane_counts = lane_counts
        self._period_s = period_s
        self._next_plan = now + period_s
        self._reference = now
        self._links = tuple(links)
        self._zones = (
            zones_of(junctions, self._links)
            if isinstance(planner, ZonePlanner)
            else {j.id: [j.id] for j in junctions}
        )
        self._critical = {j.id: critical_links(signals[j.id]) for j in junctions}
        self._recent: deque[tuple[dict[str, int], dict[tuple[str, str], int]]] = deque(
            maxlen=max(1, round(RECENT_WINDOW_S / period_s))
        )
        self.plans: dict[str, list[Plan]] = {j.id: [] for j in junctions}
        self.zone_plans: list[ZonePlan] = []
        self._zone_cycle: dict[str, int] = {}
        self._pending: dict[str, tuple[list[tuple[int, float]], float, float | None]] = {}
        self._seq: dict[str, list[tuple[int, float]]] = {}
        self._cycle: dict[str, float] = {}
        self._ends: dict[str, list[tuple[int, float]]] = {}
        self._idx: dict[str, int] = {}
        self._next_start: dict[str, float] = {}
        for j in junctions:
            seq = programme_greens(signals[j.id])
            if fixed_plans and j.id in fixed_plans:
                seq = _plan_sequence(fixed_plans[j.id])
                self.plans[j.id].append(fixed_plans[j.id])
            self._seq[j.id] = seq
            self._cycle[j.id] = natural_cycle_s(seq, self._transition(j.id))
            # The first green starts after the change from the phase SUMO shows now, if any.
            start = drivers[j.id].switch(seq[0][0], now)
            self._start_cycle(
                j.id, green_ends(start, seq, self._cycle[j.id], self._transition(j.id))
            )

    def _transition(self, jid: str) -> Callable[[int, int], float]:
        return self._drivers[jid].mapping.intergreen_s

    def _minimum(self, jid: str) -> Callable[[int], float]:
        mins = {p.index: p.min_green_s for p in self._by_id[jid].phases}
        return lambda k: mins.get(k, 0.0)

    def _start_cycle(self, jid: str, ends: list[tuple[int, float]]) -> None:
        self._ends[jid] = ends
        self._idx[jid] = 0
        last_phase, last_end = ends[-1]
        self._next_start[jid] = last_end + self._transition(jid)(last_phase, ends[0][0])

    def step(self, now: float) -> None:
        """Re-plan when a period ends; advance each junction's cycle."""
        if self._planner is not None and now >= self._next_plan - _EPS:
            self._replan(now)
            self._next_plan = now + self._period_s
        for j in self._junctions:
            drv = self._drivers[j.id]
            ends = self._ends[j.id]
            if drv.in_transition or now < ends[self._idx[j.id]][1] - _EPS:
                continue
            i = self._idx[j.id] + 1
            if i == len(ends):
                self._new_cycle(j.id)
                i = 0
                ends = self._ends[j.id]
            self._idx[j.id] = i
            phase = ends[i][0]
            if phase != drv.phase:
                drv.switch(phase, now)

    def _new_cycle(self, jid: str) -> None:
        start = self._next_start[jid]
        trans = self._transition(jid)
        pending = self._pending.pop(jid, None)
        if pending is None:
            self._start_cycle(jid, green_ends(start, self._seq[jid], self._cycle[jid], trans))
            return
        seq, cycle, offset = pending
        self._seq[jid], self._cycle[jid] = seq, cycle
        if offset is None:
            self._start_cycle(jid, green_ends(start, seq, cycle, trans))
            return
        ends, _ = transition_cycle(
            start, seq, cycle, self._reference + offset, trans, self._minimum(jid)
        )
        self._start_cycle(jid, ends)

    def _replan(self, now: float) -> None:
        assert self._planner is not None
        counts, turns = self._lane_counts()
        self._recent.append((counts, turns))
        all_counts: Counter[str] = Counter()
        all_turns: Counter[tuple[str, str]] = Counter()
        for c, t in self._recent:
            all_counts.update(c)
            all_turns.update(t)
        window_s = self._period_s * len(self._recent)
        occupied = self._occupancy() if self._occupancy is not None else {}
        demands: dict[str, JunctionDemand] = {}
        for j in self._junctions:
            sig = self._signals[j.id]
            plan = (self._seq[j.id], self._cycle[j.id])
            charged = charged_links(j, sig, link_flows(sig, counts, turns), self._period_s, plan)
            demand = with_recent(
                junction_demand(
                    j, sig, counts, self._period_s, turns, running=plan, charged=charged
                ),
                junction_demand(j, sig, dict(all_counts), window_s, dict(all_turns), running=plan),
            )
            running = running_capacity_vph(demand, self._seq[j.id], self._cycle[j.id])
            demands[j.id] = with_saturated(
                demand, saturated_groups(j, sig, occupied, charged=charged), running
            )
        self._adopt_all(demands, all_counts, all_turns, window_s)
        for jid in self._pending:
            self._cut_long_cycle(jid, now)

    def _cut_long_cycle(self, jid: str, now: float) -> None:
        """End a running cycle that would last far beyond the new plan's (a programme holding a
        green for hours): its current green ends now and the new plan starts after the yellow."""
        new_cycle = self._pending[jid][1]
        if self._next_start[jid] - now <= 2 * new_cycle:
            return
        ends, i = self._ends[jid], self._idx[jid]
        phase = ends[i][0]
        self._ends[jid] = [*ends[:i], (phase, now)]
        first = self._pending[jid][0][0][0]
        self._next_start[jid] = now + self._transition(jid)(phase, first)

    def _adopt_all(
        self,
        demands: dict[str, JunctionDemand],
        all_counts: Counter[str],
        all_turns: Counter[tuple[str, str]],
        window_s: float,
    ) -> None:
        assert self._planner is not None
        if isinstance(self._planner, ZonePlanner):
            recent_flows = {
                j.id: link_flows(self._signals[j.id], dict(all_counts), dict(all_turns))
                for j in self._junctions
            }
            self._replan_zones(demands, recent_flows, window_s)
        else:
            for j in self._junctions:
                self._adopt(self._planner.plan(demands[j.id]), coordinated=False)

    def _replan_zones(
        self,
        demands: dict[str, JunctionDemand],
        flows: dict[str, dict[int, float]],
        window_s: float,
    ) -> None:
        assert isinstance(self._planner, ZonePlanner)
        for zone_id, members in self._zones.items():
            zone = zone_demand(
                zone_id,
                {m: demands[m] for m in members},
                self._by_id,
                self._signals,
                self._critical,
                flows,
                self._links,
                window_s,
            )
            zone = msgspec.structs.replace(zone, running_cycle_s=self._zone_cycle.get(zone_id))
            zp = self._planner.plan_zone(zone)
            if zp.coordinated and len(members) > 1:
                self._zone_cycle[zone_id] = zp.cycle_s
            else:
                self._zone_cycle.pop(zone_id, None)
            self.zone_plans.append(zp)
            for plan in zp.plans:
                self._adopt(plan, coordinated=zp.coordinated and len(members) > 1)

    def _adopt(self, plan: Plan, *, coordinated: bool) -> None:
        self.plans[plan.junction_id].append(plan)
        seq = _plan_sequence(plan)
        cycle = (
            float(plan.cycle_s)
            if coordinated
            else natural_cycle_s(seq, self._transition(plan.junction_id))
        )
        offset = float(plan.offset_s) if coordinated else None
        self._pending[plan.junction_id] = (seq, cycle, offset)


def _plan_sequence(plan: Plan) -> list[tuple[int, float]]:
    seq = [(p.index, float(p.green_s)) for p in plan.phases if p.green_s > 0]
    return seq or [(plan.phases[0].index, 1.0)]


def envelope_for(
    junction: Junction,
    cycle_min_s: float = 40.0,
    cycle_max_s: float = 120.0,
    *,
    may_skip: bool = True,
) -> Envelope:
    """The operator envelope the twin grants a live controller: the scenario's phases and bounds."""
    return envelope_from_phases(
        junction.id, junction.phases, cycle_min_s, cycle_max_s, may_skip_phases=may_skip
    )


class LivePolicy:
    """A Controller asked for a decision whenever its last one said to ask again."""

    def __init__(
        self,
        name: str,
        api: Any,
        junctions: list[Junction],
        signals: dict[str, SumoSignal],
        drivers: dict[str, SignalDriver],
        now: float,
        *,
        may_skip: bool = True,
        decision_source: DecisionSource | None = None,
    ) -> None:
        self.name = name
        self._api = api
        self._junctions = junctions
        self._drivers = drivers
        self.decisions = 0
        self.switches = 0
        self.applied: list[Decision] = []
        """Every decision applied, in order (with a decision source: exactly what it returned)."""
        self._source = decision_source
        self._ctrl: dict[str, Controller] = (
            {}
            if decision_source is not None
            else {
                j.id: make_controller(name, envelope_for(j, may_skip=may_skip)) for j in junctions
            }
        )
        self._next: dict[str, float] = {j.id: now for j in junctions}
        self._cycle_start: dict[str, float] = {j.id: now for j in junctions}
        self._last_phase: dict[str, int] = {}
        self._movements: dict[str, list[list[tuple[str, list[str], list[str], int]]]] = {}
        for j in junctions:
            sig = signals[j.id]
            per_phase = []
            for state in sig.green_states:
                mv: dict[str, tuple[set[str], set[str]]] = {}
                for i, c in enumerate(state):
                    mid = sig.link_movements[i] if i < len(sig.link_movements) else ""
                    if c in "Gg" and mid:
                        ins, outs = mv.setdefault(mid, (set(), set()))
                        ins.add(sig.link_lanes[i][0])
                        outs.add(sig.link_lanes[i][1])
                per_phase.append(
                    [(m, sorted(a), sorted(b), len(a)) for m, (a, b) in sorted(mv.items())]
                )
            self._movements[j.id] = per_phase

    def _halting(self, lanes: list[str], cache: dict[str, int]) -> int:
        total = 0
        for ln in lanes:
            if ln not in cache:
                cache[ln] = int(self._api.lane.getLastStepHaltingNumber(ln))
            total += cache[ln]
        return total

    def _lane_view(self, lane: str, cache: dict[str, _LaneView]) -> _LaneView:
        """Per next edge: halting vehicles, and arrival times (s) of the moving ones at the stop
        line (what a turning-movement camera sees): a shared lane is split between its movements."""
        if lane not in cache:
            view: _LaneView = {}
            veh = self._api.vehicle
            length = float(self._api.lane.getLength(lane))
            for v in self._api.lane.getLastStepVehicleIDs(lane):
                route, idx = veh.getRoute(v), veh.getRouteIndex(v)
                nxt = route[idx + 1] if 0 <= idx < len(route) - 1 else ""
                halting, etas = view.setdefault(nxt, (0, []))
                speed = float(veh.getSpeed(v))
                if speed < HALTING_SPEED_MPS:
                    view[nxt] = (halting + 1, etas)
                else:
                    etas.append(max(0.0, length - float(veh.getLanePosition(v))) / speed)
            cache[lane] = view
        return cache[lane]

    def _movement(
        self,
        mid: str,
        ins: list[str],
        outs: list[str],
        n_lanes: int,
        cache: dict[str, int],
        views: dict[str, _LaneView],
    ) -> MovementState:
        exit_edge = mid.split(">", 1)[1]
        queue = 0
        etas: list[float] = []
        for ln in ins:
            halting, arriving = self._lane_view(ln, views).get(exit_edge, (0, []))
            queue += halting
            etas += arriving
        return MovementState(
            id=mid,
            queue_veh=float(queue),
            downstream_queue_veh=float(self._halting(outs, cache)),
            saturation_flow_vph=1800.0 * n_lanes,
            approaching_veh=tuple(sorted(round(t, 1) for t in etas)),
        )

    def step(self, now: float) -> None:
        """Ask each junction's controller when its decision is due; switch phases accordingly.

        With a decision source, the states of every junction due at this step go to it at once
        and its decisions are applied instead of asking the controllers in process."""
        cache: dict[str, int] = {}
        views: dict[str, _LaneView] = {}
        due: list[JunctionState] = []
        for j in self._junctions:
            drv = self._drivers[j.id]
            if now < self._next[j.id] - _EPS or drv.in_transition:
                continue
            phases = tuple(
                PhaseState(
                    index=k,
                    movements=tuple(
                        self._movement(m, ins, outs, n, cache, views) for m, ins, outs, n in mvs
                    ),
                )
                for k, mvs in enumerate(self._movements[j.id])
            )
            if drv.phase == j.phases[0].index and self._last_phase.get(j.id) != drv.phase:
                self._cycle_start[j.id] = drv.green_since
            self._last_phase[j.id] = drv.phase
            due.append(
                JunctionState(
                    junction_id=j.id,
                    time_s=now,
                    current_phase=drv.phase,
                    phase_elapsed_s=drv.green_elapsed(now),
                    phases=phases,
                    cycle_elapsed_s=now - self._cycle_start[j.id],
                )
            )
        if not due:
            return
        if self._source is not None:
            answers = self._source(due)
            decisions = [answers[st.junction_id] for st in due]
        else:
            decisions = [self._ctrl[st.junction_id].decide(st) for st in due]
        for decision in decisions:
            self._apply(decision, now)

    def _apply(self, decision: Decision, now: float) -> None:
        drv = self._drivers[decision.junction_id]
        self.decisions += 1
        self.applied.append(decision)
        wait = max(1.0, float(decision.next_decision_in_s))
        if decision.phase_index != drv.phase:
            self.switches += 1
            green_start = drv.switch(decision.phase_index, now)
            self._next[decision.junction_id] = max(now + wait, green_start + 1.0)
        else:
            self._next[decision.junction_id] = now + wait


def make_policy(kind: str, name: str) -> Planner | ZonePlanner | None:
    """The Planner (or ZonePlanner) instance for planner controls (``None`` for the others)."""
    if kind != "planner":
        return None
    return make_zone_planner(name) if name in zone_planners() else make_planner(name)
