"""Build the network model from a SUMO network (``.net.xml``) and its signal programmes.

Junctions are traffic-light programmes (``tlLogic`` ids), approaches the incoming edges with
signalised links, movements the (incoming edge, outgoing edge) pairs of those links, and phases the
green states of the programme SUMO will actually run (the last ``tlLogic`` loaded for that id:
additional files override the net). Yellow and all-red phases become intergreens.

Alongside the :class:`~graph.model.Network`, :class:`SumoSignal` keeps what a simulator needs to
drive the signal: the programme, which programme phases each model phase came from, and which
movement every SUMO link index belongs to.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec

from graph.errors import NetworkSourceError
from graph.model import (
    Approach,
    Exit,
    Junction,
    Lane,
    Link,
    Movement,
    Network,
    Phase,
    TurnType,
)
from graph.sumo_links import links_from_net
from graph.zones import assign_zones

SATURATION_FLOW_PER_LANE_VPH = 1800.0
"""HCM base saturation flow per lane, used because a SUMO net does not state one."""

DEFAULT_MIN_GREEN_S = 7.0
DEFAULT_YELLOW_S = 3.0
"""Yellow shown when vehicles lose green and the programme has none there (SUMO needs one)."""
DEFAULT_MAX_GREEN_S = 90.0
MAX_GREEN_CAP_S = 180.0
"""A programme green longer than this (a manual signal's 10000 s, a rail crossing's day) is a hold,
not a timing: the phase's maximum green stops here (longer than any cycle a planner makes)."""
MAX_CLEARANCE_S = 8.0
"""Yellow, or red, shown after a green for longer than this is a phase of its own (a ramp meter's
red, a manual signal's hold), not a clearance: it counts as this much intergreen."""
VEHICLE_CLASSES = (
    "passenger",
    "bus",
    "truck",
    "delivery",
    "taxi",
    "trailer",
    "coach",
    "motorcycle",
)

_TURNS: dict[str, TurnType] = {
    "s": "through",
    "l": "left",
    "L": "left",
    "r": "right",
    "R": "right",
    "t": "uturn",
}


class ProgramPhase(msgspec.Struct, frozen=True, kw_only=True):
    """One phase of a SUMO ``tlLogic`` as written in the file."""

    state: str
    duration_s: float
    min_dur_s: float | None = None
    max_dur_s: float | None = None

    def is_green(self) -> bool:
        """True for a phase giving right of way that is no transition (no yellow, red-yellow)."""
        s = self.state
        return not any(c in s for c in "yYu") and any(c in s for c in "Gg")


class SumoSignal(msgspec.Struct, frozen=True, kw_only=True):
    """How one model junction maps onto its SUMO traffic light."""

    tls_id: str
    program_id: str
    program_type: str
    offset_s: float
    program: tuple[ProgramPhase, ...]
    green_states: tuple[str, ...]
    """SUMO state string of each model phase (index = ``Phase.index``)."""
    program_indices: tuple[tuple[int, ...], ...]
    """Programme phase indices where each model phase is shown."""
    yellow_s: tuple[float, ...]
    """Yellow time the programme shows after each model phase (0 when it has none)."""
    red_s: tuple[float, ...]
    """All-red (or other red-only transition) time after each model phase."""
    link_movements: tuple[str, ...]
    """Movement id of every link index ('' for links that are not a vehicle movement)."""
    link_lanes: tuple[tuple[str, str], ...]
    """(incoming lane, outgoing lane) of every link index ('' when the index has no connection)."""
    link_yields_to: tuple[tuple[int, ...], ...] = ()
    """Per link index, the link indices of the same junction node it must yield to when both
    show green (the net's right-of-way ``response``); empty when unknown."""


class SumoNetwork(msgspec.Struct, frozen=True, kw_only=True):
    """A network model built from SUMO, with the signal mapping of each junction."""

    network: Network
    signals: dict[str, SumoSignal]
    geo_referenced: bool


def read_programs(
    paths: Sequence[Path],
) -> dict[str, tuple[str, str, float, tuple[ProgramPhase, ...]]]:
    """The ``tlLogic`` SUMO starts each signal on: the last one loaded for its id, unless a WAUT
    names the signal and its ``startProg`` is one of the signal's programmes.

    Returns ``{tls_id: (program_id, type, offset, phases)}``.
    """
    out: dict[str, tuple[str, str, float, tuple[ProgramPhase, ...]]] = {}
    by_program: dict[tuple[str, str], tuple[str, str, float, tuple[ProgramPhase, ...]]] = {}
    waut_start: dict[str, str] = {}
    waut_of: dict[str, str] = {}
    for path in paths:
        try:
            with gzip.open(path) if path.suffix == ".gz" else path.open("rb") as f:
                root = ET.parse(f).getroot()
        except (OSError, ET.ParseError) as e:
            raise NetworkSourceError(str(path), f"cannot read signal programmes: {e}") from e
        for tl in root.iter("tlLogic"):
            phases = tuple(_program_phase(p.attrib) for p in tl.iter("phase"))
            if not phases:
                continue
            entry = (
                tl.attrib.get("programID", "0"),
                tl.attrib.get("type", "static"),
                float(tl.attrib.get("offset", "0")),
                phases,
            )
            out[tl.attrib["id"]] = by_program[(tl.attrib["id"], entry[0])] = entry
        for w in root.iter("WAUT"):
            waut_start[w.attrib.get("id", "")] = w.attrib.get("startProg", "")
        for wj in root.iter("wautJunction"):
            waut_of[wj.attrib.get("junctionID", "")] = wj.attrib.get("wautID", "")
    for tls_id, waut in waut_of.items():
        start = by_program.get((tls_id, waut_start.get(waut, "")))
        if start is not None:
            out[tls_id] = start
    return out


def _program_phase(attrib: dict[str, str]) -> ProgramPhase:
    def opt(key: str) -> float | None:
        v = attrib.get(key)
        return float(v) if v is not None and v != "" else None

    return ProgramPhase(
        state=attrib["state"],
        duration_s=float(attrib["duration"]),
        min_dur_s=opt("minDur"),
        max_dur_s=opt("maxDur"),
    )


def network_from_sumo(
    net_path: Path, additional_files: Sequence[Path] = (), *, allow_empty: bool = False
) -> SumoNetwork:
    """Read ``net_path`` (tlLogic overrides from ``additional_files``) into the network model."""
    import sumolib

    if not net_path.is_file():
        raise NetworkSourceError(
            str(net_path),
            "no such SUMO network file",
            "give the .net.xml of the scenario or its .sumocfg",
        )
    try:
        net = sumolib.net.readNet(str(net_path), withPrograms=True, withPedestrianConnections=True)
    except Exception as e:  # sumolib raises bare exceptions from its SAX handler
        raise NetworkSourceError(str(net_path), f"not a readable SUMO network: {e}") from e
    programs = read_programs([net_path, *additional_files])
    geo = bool(net.hasGeoProj())
    junctions: list[Junction] = []
    signals: dict[str, SumoSignal] = {}
    for tls in sorted(net.getTrafficLights(), key=lambda t: t.getID()):
        tls_id = tls.getID()
        if tls_id not in programs:
            continue
        junction, signal = _junction(net, tls, programs[tls_id], geo)
        junctions.append(junction)
        signals[tls_id] = signal
    if not junctions and not allow_empty:
        raise NetworkSourceError(
            str(net_path),
            "no traffic light with a signal programme",
            "the twin needs at least one tlLogic",
        )
    digest = hashlib.sha256(net_path.read_bytes()).hexdigest()
    links = tuple(
        Link(
            from_junction=lk.from_junction,
            to_junction=lk.to_junction,
            length_m=lk.length_m,
            travel_time_s=lk.travel_time_s,
            exit_id=lk.first_edge,
            approach_id=lk.last_edge,
        )
        for lk in links_from_net(net)
        if lk.from_junction in signals and lk.to_junction in signals
    )
    zones = assign_zones(signals, links)
    network = Network(
        source=net_path.name,
        source_sha256=digest,
        junctions=tuple(msgspec.structs.replace(j, zone_id=zones[j.id]) for j in junctions),
        links=links,
    )
    return SumoNetwork(network=network, signals=signals, geo_referenced=geo)


def _is_vehicle_lane(lane: Any) -> bool:
    return bool(
        not lane.getEdge().getID().startswith(":") and any(lane.allows(c) for c in VEHICLE_CLASSES)
    )


def _bearing_deg(lane: Any) -> float:
    shape = lane.getShape()
    (x0, y0), (x1, y1) = shape[-2], shape[-1]
    return (math.degrees(math.atan2(x1 - x0, y1 - y0)) + 360.0) % 360.0


def _junction(
    net: Any, tls: Any, program: tuple[str, str, float, tuple[ProgramPhase, ...]], geo: bool
) -> tuple[Junction, SumoSignal]:
    tls_id = tls.getID()
    program_id, program_type, offset, phases = program
    n_links = max(len(phases[0].state), max((c[2] for c in tls.getConnections()), default=-1) + 1)
    link_movements = [""] * n_links
    link_lanes = [("", "")] * n_links
    approaches: dict[str, Approach] = {}
    movements: dict[str, Movement] = {}
    approach_lanes: dict[str, dict[str, tuple[int, set[str]]]] = {}
    exits: dict[str, Exit] = {}
    node_ids: set[str] = set()
    for in_lane, out_lane, index in tls.getConnections():
        link_lanes[index] = (in_lane.getID(), out_lane.getID())
        if not (_is_vehicle_lane(in_lane) and _is_vehicle_lane(out_lane)):
            continue
        in_edge, out_edge = in_lane.getEdge(), out_lane.getEdge()
        node_ids.add(in_edge.getToNode().getID())
        mid = f"{in_edge.getID()}>{out_edge.getID()}"
        link_movements[index] = mid
        lanes = approach_lanes.setdefault(in_edge.getID(), {})
        lanes.setdefault(in_lane.getID(), (int(in_lane.getIndex()), set()))[1].add(mid)
        if out_edge.getID() not in exits:
            exits[out_edge.getID()] = _exit(tls_id, out_edge)
        if mid not in movements:
            conns = in_edge.getConnections(out_edge)
            direction = conns[0].getDirection() if conns else "s"
            movements[mid] = Movement(
                id=mid,
                approach_id=in_edge.getID(),
                exit_id=out_edge.getID(),
                turn=_TURNS.get(direction, "through"),
            )
        if in_edge.getID() not in approaches:
            approaches[in_edge.getID()] = Approach(
                id=in_edge.getID(),
                junction_id=tls_id,
                from_node=in_edge.getFromNode().getID(),
                to_node=in_edge.getToNode().getID(),
                bearing_deg=round(_bearing_deg(in_lane), 1),
                lanes=1,
                saturation_flow_vph=SATURATION_FLOW_PER_LANE_VPH,
                free_speed_mps=float(in_edge.getSpeed()),
                length_m=float(in_edge.getLength()),
                road_class=str(in_edge.getType() or ""),
                name=str(in_edge.getName() or ""),
                guessed=("saturation_flow_vph",),
            )
    for aid, lanes in approach_lanes.items():
        approaches[aid] = msgspec.structs.replace(
            approaches[aid],
            lanes=len(lanes),
            saturation_flow_vph=SATURATION_FLOW_PER_LANE_VPH * len(lanes),
            lane_detail=tuple(
                Lane(index=i, id=lane_id, movement_ids=tuple(sorted(mids)))
                for lane_id, (i, mids) in sorted(lanes.items(), key=lambda kv: kv[1][0])
            ),
        )
    yields = _yields_to(tls, n_links)
    for mid, foes in _movement_yields(link_movements, yields).items():
        movements[mid] = msgspec.structs.replace(movements[mid], yields_to=foes)
    model_phases, signal = _phases(
        tls_id=tls_id,
        program_id=program_id,
        program_type=program_type,
        offset=offset,
        program=phases,
        link_movements=link_movements,
        movements=movements,
        link_lanes=link_lanes,
    )
    signal = msgspec.structs.replace(signal, link_yields_to=yields)
    xs, ys = (
        zip(*(net.getNode(n).getCoord()[:2] for n in sorted(node_ids)), strict=True)
        if node_ids
        else ((0.0,), (0.0,))
    )
    x, y = sum(xs) / len(xs), sum(ys) / len(ys)
    lon, lat = net.convertXY2LonLat(x, y) if geo else (0.0, 0.0)
    junction = Junction(
        id=tls_id,
        lat=float(lat),
        lon=float(lon),
        zone_id="sumo",
        node_ids=tuple(sorted(node_ids)),
        approaches=tuple(approaches.values()),
        movements=tuple(movements.values()),
        phases=model_phases,
        guessed=() if geo else ("lat", "lon"),
        exits=tuple(exits.values()),
        programme_cycle_s=round(sum(p.duration_s for p in phases), 3),
    )
    return junction, signal


def _exit(tls_id: str, edge: Any) -> Exit:
    lanes = [ln for ln in edge.getLanes() if _is_vehicle_lane(ln)]
    shape = (lanes or edge.getLanes())[0].getShape()
    (x0, y0), (x1, y1) = shape[0], shape[1]
    return Exit(
        id=edge.getID(),
        junction_id=tls_id,
        from_node=edge.getFromNode().getID(),
        to_node=edge.getToNode().getID(),
        bearing_deg=round((math.degrees(math.atan2(x1 - x0, y1 - y0)) + 360.0) % 360.0, 1),
        lanes=max(1, len(lanes)),
        lane_ids=tuple(ln.getID() for ln in lanes),
    )


def _movement_yields(
    link_movements: Sequence[str], yields: Sequence[Sequence[int]]
) -> dict[str, tuple[str, ...]]:
    """Per movement, the movements one of its links yields to (the right-of-way matrix)."""
    out: dict[str, set[str]] = {}
    for i, foes in enumerate(yields):
        mine = link_movements[i] if i < len(link_movements) else ""
        if not mine:
            continue
        for j in foes:
            other = link_movements[j] if j < len(link_movements) else ""
            if other and other != mine:
                out.setdefault(mine, set()).add(other)
    return {m: tuple(sorted(v)) for m, v in out.items()}


def _yields_to(tls: Any, n_links: int) -> tuple[tuple[int, ...], ...]:
    """Per signal link, the signal links it yields to, from its node's right-of-way matrix."""
    conns: list[tuple[int, Any, Any]] = []
    for in_lane, out_lane, index in tls.getConnections():
        conn = next((c for c in in_lane.getOutgoing() if c.getToLane() is out_lane), None)
        if conn is not None:
            conns.append((index, conn, in_lane.getEdge().getToNode()))
    out: list[set[int]] = [set() for _ in range(n_links)]
    for i, ci, node in conns:
        for j, cj, other in conns:
            if j != i and other is node and node.forbids(cj, ci):
                out[i].add(j)
    return tuple(tuple(sorted(x)) for x in out)


def _shown_intergreen(
    state: str, next_state: str, link_lanes: list[tuple[str, str]], yellow: float, red: float
) -> float:
    """Yellow plus red a driver shows between a green and the programme's next one: vehicles
    losing green get the yellow (:data:`DEFAULT_YELLOW_S` if the programme has none) and the
    all-red; crossings losing green only the all-red; nothing when no link loses green."""
    yellow, red = min(yellow, MAX_CLEARANCE_S), min(red, MAX_CLEARANCE_S)
    losing = [
        i
        for i, (a, b) in enumerate(zip(state, next_state, strict=False))
        if a in "Gg" and b not in "Gg"
    ]
    if any(not (i < len(link_lanes) and link_lanes[i][0].startswith(":")) for i in losing):
        return (yellow or DEFAULT_YELLOW_S) + red
    return red if losing else 0.0


def _run_bounds(program: tuple[ProgramPhase, ...], i: int) -> tuple[float, float, float, bool]:
    """(green s, min s, max s, bounded) of the run of programme entries from ``i`` showing the
    same state: one phase of the model. Each entry with bounds (``minDur`` < ``maxDur``: an
    actuated stretch) adds them; a fixed entry adds its duration to both. An actuated programme
    often splits one green into a fixed and an extendable part: the phase's bounds are their
    sums, not the first entry's (which read a 29 s green as at most 15 s)."""
    green_s = lo = hi = 0.0
    bounded = False
    k = i
    while k < len(program) and program[k].state == program[i].state:
        e = program[k]
        green_s += e.duration_s
        if e.min_dur_s is not None and e.max_dur_s is not None and e.max_dur_s > e.min_dur_s:
            bounded = True
            lo += e.min_dur_s
            hi += e.max_dur_s
        else:
            lo += e.duration_s
            hi += e.duration_s
        k += 1
    return green_s, lo, hi, bounded


def _phases(
    *,
    tls_id: str,
    program_id: str,
    program_type: str,
    offset: float,
    program: tuple[ProgramPhase, ...],
    link_movements: list[str],
    movements: dict[str, Movement],
    link_lanes: list[tuple[str, str]],
) -> tuple[tuple[Phase, ...], SumoSignal]:
    """Unique green states of the programme, in order of appearance, with their intergreens."""
    states: list[str] = []
    indices: list[list[int]] = []
    yellow: list[float] = []
    red: list[float] = []
    intergreen: list[float] = []
    minmax: list[tuple[float, float]] = []
    n = len(program)
    for i, ph in enumerate(program):
        if not ph.is_green():
            continue
        if ph.state in states:
            indices[states.index(ph.state)].append(i)
            continue
        states.append(ph.state)
        indices.append([i])
        y = r = 0.0
        j = (i + 1) % n
        while j != i and not program[j].is_green():
            if any(c in program[j].state for c in "yYu"):
                y += program[j].duration_s
            else:
                r += program[j].duration_s
            j = (j + 1) % n
        yellow.append(min(y, MAX_CLEARANCE_S))
        red.append(min(r, MAX_CLEARANCE_S))
        intergreen.append(_shown_intergreen(ph.state, program[j].state, link_lanes, y, r))
        green_s, lo, hi, bounded = _run_bounds(program, i)
        if not bounded:
            lo = min(DEFAULT_MIN_GREEN_S, green_s)
            hi = max(DEFAULT_MAX_GREEN_S, min(green_s, MAX_GREEN_CAP_S))
        minmax.append((float(lo), float(hi)))
    if not states:
        raise NetworkSourceError(tls_id, f"programme {program_id!r} has no green phase")
    model: list[Phase] = []
    for k, state in enumerate(states):
        green = [
            i
            for i, c in enumerate(state)
            if c in "Gg" and i < len(link_movements) and link_movements[i]
        ]
        mids = sorted({link_movements[i] for i in green})
        priority = {link_movements[i] for i in green if state[i] == "G"}
        aids = sorted({movements[m].approach_id for m in mids})
        model.append(
            Phase(
                index=k,
                movement_ids=tuple(mids),
                approach_ids=tuple(aids),
                min_green_s=minmax[k][0],
                max_green_s=minmax[k][1],
                intergreen_s=intergreen[k],
                pedestrian=not mids,
                permitted_movement_ids=tuple(m for m in mids if m not in priority),
                lane_ids=tuple(sorted({link_lanes[i][0] for i in green})),
                programme_green_s=round(sum(program[i].duration_s for i in indices[k]), 3),
            )
        )
    signal = SumoSignal(
        tls_id=tls_id,
        program_id=program_id,
        program_type=program_type,
        offset_s=offset,
        program=program,
        green_states=tuple(states),
        program_indices=tuple(tuple(ix) for ix in indices),
        yellow_s=tuple(yellow),
        red_s=tuple(red),
        link_movements=tuple(link_movements),
        link_lanes=tuple(link_lanes),
    )
    return tuple(model), signal
