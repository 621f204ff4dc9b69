"""Approaches, exits, movements and pedestrian crossings of one clustered junction."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field

from graph import _tags
from graph._geo import angle_diff_deg, bearing_deg, distance_m
from graph._reader import Restriction
from graph._roads import RoadGraph, Segment, downstream_chain, upstream_chain
from graph._signals import Cluster, is_signalised_crossing
from graph.model import Approach, Movement, TurnType
from graph.settings import BuildSettings

BEARING_SAMPLE_M = 20.0
"""Bearings are taken over the last (first) 20 m of an approach (exit): short OSM segments near
the junction centre would otherwise give noisy turn types."""
ARM_SAMPLE_M = 25.0
"""Arms are placed around the junction by the bearing from its centre to a point this far out."""
THROUGH_MAX_DEG = 35.0
UTURN_MIN_DEG = 150.0


@dataclass(slots=True)
class Exit:
    """An outgoing drivable segment leaving the junction."""

    id: str
    way_id: int
    src: int
    dst: int
    bearing_deg: float
    lanes: int
    chain: list[Segment]
    position_deg: float


@dataclass(slots=True)
class Crossing:
    """A signalised pedestrian crossing on one arm (an approach and/or exit of the same road)."""

    approach_ids: tuple[str, ...]
    exit_ids: tuple[str, ...]
    width_m: float
    width_guessed: bool


@dataclass(slots=True)
class JunctionParts:
    approaches: list[Approach] = field(default_factory=list)
    exits: list[Exit] = field(default_factory=list)
    movements: list[Movement] = field(default_factory=list)
    crossings: list[Crossing] = field(default_factory=list)


def turn_type(approach_bearing: float, exit_bearing: float) -> TurnType:
    """Turn from the direction of travel entering to the direction leaving (geometric)."""
    delta = angle_diff_deg(approach_bearing, exit_bearing)
    if abs(delta) <= THROUGH_MAX_DEG:
        return "through"
    if abs(delta) >= UTURN_MIN_DEG:
        return "uturn"
    return "right" if delta > 0 else "left"


def build_parts(
    g: RoadGraph,
    jid: str,
    cluster: Cluster,
    all_internal: set[int],
    restrictions: Mapping[int, list[Restriction]],
    settings: BuildSettings,
) -> JunctionParts:
    """Measure one junction: its approaches, exits, movements and crossings."""
    parts = JunctionParts()
    internal = cluster.internal
    centre = (
        sum(g.coords[n][0] for n in cluster.controlled) / len(cluster.controlled),
        sum(g.coords[n][1] for n in cluster.controlled) / len(cluster.controlled),
    )
    entries: list[tuple[Approach, int]] = []
    for c in sorted(internal):
        for seg in g.inc.get(c, ()):
            if seg.src in internal:
                continue
            a = _approach(g, jid, seg, all_internal, centre, settings)
            if any(a.id == b.id for b, _ in entries):
                continue
            entries.append((a, c))
        for seg in g.out.get(c, ()):
            if seg.dst not in internal:
                parts.exits.append(_exit(g, jid, seg, all_internal, centre))
    for a, c in entries:
        moves = _movements(g, a, c, internal, parts.exits, restrictions, settings)
        if moves:
            parts.approaches.append(a)
            parts.movements.extend(moves)
    parts.crossings = _crossings(g, parts.approaches, parts.exits, internal, settings)
    return parts


def _approach(
    g: RoadGraph,
    jid: str,
    seg: Segment,
    stop: set[int],
    centre: tuple[float, float],
    settings: BuildSettings,
) -> Approach:
    chain = upstream_chain(g, seg, stop, settings.approach_max_m)
    nodes = [chain[0].src, *(s.dst for s in chain)]
    points = [g.coords[n] for n in nodes]
    tags = seg.way.tags
    lanes, lanes_guessed = _tags.lanes(tags, seg.forward)
    speed_kph, speed_guessed = _tags.free_speed_kph(tags, seg.forward, settings)
    guessed = ["saturation_flow_vph"]
    if lanes_guessed:
        guessed.append("lanes")
    if speed_guessed:
        guessed.append("free_speed_mps")
    return Approach(
        id=f"{jid}:{seg.way.id}:{seg.src}",
        junction_id=jid,
        osm_way_id=seg.way.id,
        from_node=str(seg.src),
        to_node=str(seg.dst),
        bearing_deg=round(_end_bearing(points[::-1], reverse=True), 1),
        lanes=lanes,
        saturation_flow_vph=lanes * _tags.saturation_flow_per_lane(tags, settings),
        free_speed_mps=round(speed_kph / 3.6, 2),
        length_m=round(sum(s.length_m for s in chain), 1),
        road_class=tags.get("highway", "road"),
        name=_tags.road_name(tags),
        guessed=tuple(sorted(guessed)),
        node_ids=tuple(str(n) for n in nodes),
        geometry=tuple((round(lon, 7), round(lat, 7)) for lon, lat in points),
        turn_lanes=_tags.turn_lanes(tags, seg.forward),
        position_deg=round(_position(centre, points[::-1]), 1),
    )


def _exit(
    g: RoadGraph, jid: str, seg: Segment, stop: set[int], centre: tuple[float, float]
) -> Exit:
    chain = downstream_chain(g, seg, stop, ARM_SAMPLE_M * 2.5)
    points = [g.coords[seg.src], *(g.coords[s.dst] for s in chain)]
    lanes, _ = _tags.lanes(seg.way.tags, seg.forward)
    return Exit(
        id=f"{jid}:{seg.way.id}:to:{seg.dst}",
        way_id=seg.way.id,
        src=seg.src,
        dst=seg.dst,
        bearing_deg=_end_bearing(points, reverse=False),
        lanes=lanes,
        chain=chain,
        position_deg=_position(centre, points),
    )


def _position(centre: tuple[float, float], points: list[tuple[float, float]]) -> float:
    """Bearing from the centre to the first of ``points`` (ordered outwards) ``ARM_SAMPLE_M``
    away, or to the last point when none is that far."""
    far = points[-1]
    for p in points:
        if distance_m(centre[0], centre[1], p[0], p[1]) >= ARM_SAMPLE_M:
            far = p
            break
    return bearing_deg(centre[0], centre[1], far[0], far[1])


def _end_bearing(points: list[tuple[float, float]], *, reverse: bool) -> float:
    """Bearing over the first ``BEARING_SAMPLE_M`` of ``points`` (starting at the junction).

    With ``reverse`` the points run from the junction upstream, and the bearing is the
    direction of travel towards the junction.
    """
    start = points[0]
    far = points[-1]
    walked = 0.0
    for p, q in itertools.pairwise(points):
        walked += distance_m(p[0], p[1], q[0], q[1])
        far = q
        if walked >= BEARING_SAMPLE_M:
            break
    if reverse:
        return bearing_deg(far[0], far[1], start[0], start[1])
    return bearing_deg(start[0], start[1], far[0], far[1])


def _movements(
    g: RoadGraph,
    a: Approach,
    entry: int,
    internal: set[int],
    exits: list[Exit],
    restrictions: Mapping[int, list[Restriction]],
    settings: BuildSettings,
) -> list[Movement]:
    reach = {entry}
    todo = [entry]
    while todo:
        n = todo.pop()
        for seg in g.out.get(n, ()):
            if seg.dst in internal and seg.dst not in reach:
                reach.add(seg.dst)
                todo.append(seg.dst)
    rules = [r for n in reach for r in restrictions.get(n, ()) if r.from_way == a.osm_way_id]
    only = {r.to_way for r in rules if r.kind.startswith("only_")}
    banned = {r.to_way for r in rules if r.kind.startswith("no_")}
    allowed_turns: set[str] | None = None
    if a.turn_lanes:
        allowed_turns = set().union(*(_tags.lane_turns(t) for t in a.turn_lanes))
    moves: list[Movement] = []
    uturns: list[Movement] = []
    for e in exits:
        if e.src not in reach or e.way_id in banned or (only and e.way_id not in only):
            continue
        turn = turn_type(a.bearing_deg, e.bearing_deg)
        if e.dst == int(a.from_node) and e.way_id == a.osm_way_id:
            turn = "uturn"
        if allowed_turns is not None and turn not in allowed_turns and turn != "uturn":
            continue
        m = Movement(
            id=f"{a.id}>{e.id.split(':', 1)[1]}",
            approach_id=a.id,
            exit_id=e.id,
            turn=turn,
        )
        (uturns if turn == "uturn" else moves).append(m)
    if settings.allow_uturns or not moves:
        moves.extend(uturns)
    return moves


def _crossings(
    g: RoadGraph,
    approaches: list[Approach],
    exits: list[Exit],
    internal: set[int],
    settings: BuildSettings,
) -> list[Crossing]:
    tags = g.roads.node_tags
    limit = settings.crossing_search_m

    def crossing_on(nodes: list[int], lengths: list[float]) -> int | None:
        walked = 0.0
        for n, d in zip(nodes, lengths, strict=True):
            walked += d
            if walked > limit:
                return None
            t = tags.get(n)
            if t is not None and is_signalised_crossing(t):
                return n
        return None

    arms: dict[tuple[int, int], tuple[list[str], list[str], int | None, int]] = {}
    for a in approaches:
        nodes = [int(n) for n in a.node_ids]
        upstream = nodes[-2::-1]
        lengths = [
            distance_m(*g.coords[p], *g.coords[q])
            for p, q in zip(nodes[::-1], upstream, strict=False)
        ]
        key = (a.osm_way_id or 0, upstream[0])
        found = _inside_crossing(g, nodes[-1], internal, downstream=True)
        if found is None:
            found = crossing_on(upstream, lengths)
        arms[key] = ([a.id], [], found, a.lanes)
    for e in exits:
        nodes = [s.dst for s in e.chain]
        found = _inside_crossing(g, e.src, internal, downstream=False)
        if found is None:
            found = crossing_on(nodes, [s.length_m for s in e.chain])
        key = (e.way_id, e.dst)
        if key in arms:
            a_ids, e_ids, hit, lanes = arms[key]
            arms[key] = (a_ids, [*e_ids, e.id], hit if hit is not None else found, lanes + e.lanes)
        else:
            arms[key] = ([], [e.id], found, e.lanes)
    out: list[Crossing] = []
    for a_ids, e_ids, hit, lanes in arms.values():
        if hit is None:
            continue
        width = _float(tags[hit].get("width"))
        out.append(
            Crossing(
                approach_ids=tuple(a_ids),
                exit_ids=tuple(e_ids),
                width_m=width if width is not None else lanes * settings.lane_width_m,
                width_guessed=width is None,
            )
        )
    return out


def _inside_crossing(
    g: RoadGraph, start: int, internal: set[int], *, downstream: bool
) -> int | None:
    """A signalised crossing on the arm's stretch inside the junction, from ``start`` (where the
    arm meets the junction) to the first intersection, or ``None``."""
    tags = g.roads.node_tags
    prev = -1
    node = start
    seen: set[int] = set()
    while node in internal and node not in seen and not g.is_intersection(node):
        t = tags.get(node)
        if t is not None and is_signalised_crossing(t):
            return node
        seen.add(node)
        segs = g.out.get(node, ()) if downstream else g.inc.get(node, ())
        nxt = [s.dst if downstream else s.src for s in segs]
        nxt = [n for n in nxt if n != prev and n in internal]
        if len(nxt) != 1:
            return None
        prev, node = node, nxt[0]
    return None


def _float(raw: str | None) -> float | None:
    if raw is None:
        return None
    try:
        value = float(raw.replace("m", "").strip())
    except ValueError:
        return None
    return value if value > 0 else None
