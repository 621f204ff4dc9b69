"""Which OSM nodes are signal-controlled, and how they cluster into junctions.

The rule follows netconvert's ``--tls.guess-signals --tls.join`` so the two can be compared:

1. **Signal nodes** are nodes of drivable ways tagged ``highway=traffic_signals``, or signalised
   crossings (``crossing=traffic_signals``, or ``crossing_ref`` pelican/toucan/puffin/pegasus).
   ``traffic_signals:direction=forward|backward`` limits a signal to one direction of its way.
2. A signal node that is itself an intersection controls that intersection.
3. **Signals around an intersection** (guess-signals): a signal on a road leading into an
   intersection, at most ``guess_signals_dist_m`` (25 m) of road upstream of its border (its
   centre node less ``intersection_radius_m``, 3 m) with no
   other intersection or signal between, covers that entry. An intersection whose every entry is
   covered is controlled and takes over those signal nodes, plus signalised crossings on its exits
   within the same distance. One relaxation of netconvert's rule: an entry coming from another
   intersection less than ``join_dist_m`` away (the short link inside a divided-road crossing)
   needs no signal of its own, if at least two other entries have one.
4. Signal nodes not taken over by an intersection stay controlled points of their own
   (mid-block pedestrian lights, signals ahead of a junction OSM leaves partly unsignalised).
5. **Join** (tls.join): controlled nodes linked by roads shorter than ``join_dist_m`` (20 m,
   border to border: ``intersection_radius_m`` is taken off at each intersection end) become
   one junction. As in netconvert, the length is summed along a road and restarts at
   each intersection, so a chain of short blocks joins transitively; groups made only of points
   on a plain road (two pedestrian lights close together) stay apart.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

from graph._roads import RoadGraph, Segment, walk
from graph.settings import BuildSettings

_SIGNAL_CROSSING_REFS = frozenset({"pelican", "toucan", "puffin", "pegasus"})
_NOT_SIGNALISED = frozenset({"no", "uncontrolled", "unmarked", "marked", "zebra", "informal"})


def is_signal(tags: dict[str, str]) -> bool:
    """True for a traffic-signal node or a signalised crossing."""
    if tags.get("highway") == "traffic_signals":
        return True
    if "traffic_signals" in tags.get("crossing", ""):
        return True
    return tags.get("crossing_ref") in _SIGNAL_CROSSING_REFS


def is_signalised_crossing(tags: dict[str, str]) -> bool:
    """A pedestrian crossing with its own lights."""
    crossing = tags.get("crossing")
    if tags.get("highway") == "crossing":
        return is_signal(tags)
    return crossing is not None and crossing not in _NOT_SIGNALISED and is_signal(tags)


def signal_direction(tags: dict[str, str]) -> str:
    """``forward``, ``backward`` or ``both``."""
    value = tags.get("traffic_signals:direction") or tags.get("direction") or ""
    return value if value in {"forward", "backward"} else "both"


@dataclass(slots=True)
class Cluster:
    """One signal-controlled junction before it is measured."""

    controlled: list[int]
    """Controlled nodes (intersections and stand-alone signal points), sorted."""
    internal: set[int]
    """Controlled nodes plus nodes of the short roads joining them."""
    signals: set[int] = field(default_factory=set)
    """Signal nodes this junction runs (its own and those taken over)."""


@dataclass(slots=True)
class SignalPlan:
    """Result of the clustering, with counts the benchmark reports."""

    clusters: list[Cluster]
    n_signal_nodes: int
    n_absorbed: int
    n_standalone: int


def cluster_signals(g: RoadGraph, settings: BuildSettings) -> SignalPlan:
    """Find controlled nodes and group them into junctions."""
    tags = g.roads.node_tags
    signals = {n for n, t in tags.items() if is_signal(t) and n in g.neighbours}
    controlled = {s for s in signals if g.is_intersection(s)}
    # (priority, metres, intersection, signal): a signal facing an intersection belongs to it
    # before any intersection whose exit it merely lies on; then the nearest one wins.
    claims: list[tuple[int, float, int, int]] = []

    radius = settings.intersection_radius_m
    guess_m = settings.guess_signals_dist_m + radius
    covered = _propagate_signals(g, signals, guess_m)
    for node in sorted(n for n in g.inc if g.is_intersection(n) and n not in controlled):
        entries = g.inc[node]
        got = [covered.get((node, seg.src)) for seg in entries]
        missing = [seg for seg, hit in zip(entries, got, strict=True) if hit is None]
        n_covered = len(entries) - len(missing)
        if n_covered == 0:
            continue
        if missing and (
            n_covered < 2
            or not all(_short_link(g, seg, settings.join_dist_m + 2 * radius) for seg in missing)
        ):
            continue
        controlled.add(node)
        claims.extend((0, dist, node, s) for dist, s in (hit for hit in got if hit is not None))
        downstream = _crossings_downstream(g, node, signals, guess_m)
        claims.extend((1, dist, node, s) for s, dist in downstream.items())
    taken: dict[int, set[int]] = {}  # intersection -> signal nodes it took over
    absorbed: set[int] = set()
    for _, _, node, s in sorted(claims):
        if s not in absorbed:
            absorbed.add(s)
            taken.setdefault(node, set()).add(s)
    standalone = signals - absorbed - controlled
    controlled |= standalone

    clusters = _join(g, controlled, settings.join_dist_m, radius)
    for c in clusters:
        for n in c.controlled:
            c.signals |= taken.get(n, set())
            if n in signals:
                c.signals.add(n)
    return SignalPlan(clusters, len(signals), len(absorbed), len(standalone))


def _propagate_signals(
    g: RoadGraph, signals: set[int], max_m: float
) -> dict[tuple[int, int], tuple[float, int]]:
    """(intersection, upstream neighbour) -> (metres, nearest signal node on that entry)."""
    best: dict[tuple[int, int], tuple[float, int]] = {}
    tags = g.roads.node_tags
    for s in sorted(signals):
        if g.is_intersection(s):
            continue
        direction = signal_direction(tags[s])
        for seg in g.out.get(s, ()):
            if direction != "both" and seg.forward != (direction == "forward"):
                continue
            hit = _walk_to_intersection(g, seg, signals, max_m)
            if hit is None:
                continue
            key, dist = hit
            if key not in best or (dist, s) < best[key]:
                best[key] = (dist, s)
    return best


def _walk_to_intersection(
    g: RoadGraph, seg: Segment, signals: set[int], max_m: float
) -> tuple[tuple[int, int], float] | None:
    """The (intersection, node before it) ``seg`` leads to within ``max_m``, and the distance;
    ``None`` when another signal, a dead end or a fork comes first."""
    for s, walked in walk(g, seg):
        if walked > max_m:
            return None
        if g.is_intersection(s.dst):
            return (s.dst, s.src), walked
        if s.dst in signals:
            return None
    return None


def _short_link(g: RoadGraph, seg: Segment, join_m: float) -> bool:
    """True when ``seg`` ends a road from another intersection shorter than ``join_m``."""
    for s, walked in walk(g, seg, downstream=False):
        if walked >= join_m:
            return False
        if g.is_intersection(s.src):
            return True
    return False


def _crossings_downstream(
    g: RoadGraph, node: int, signals: set[int], max_m: float
) -> dict[int, float]:
    """Signal points on a plain road leaving ``node`` within ``max_m`` (exit-side crossings),
    with their distance."""
    out: dict[int, float] = {}
    for seg in g.out.get(node, ()):
        for s, walked in walk(g, seg):
            if walked > max_m or g.is_intersection(s.dst):
                break
            if s.dst in signals:
                out[s.dst] = walked
                break
    return out


def _join(g: RoadGraph, controlled: set[int], join_m: float, radius: float) -> list[Cluster]:
    """Group controlled nodes as netconvert's ``generateNodeClusters`` does for ``tls.join``.

    From a node, a road leads to a neighbour when its length plus the length walked since the
    last intersection stays under ``join_m``; the walked length restarts at each intersection.
    Nodes reached that way form one group; its controlled nodes become one junction, plus the
    nodes that connect them (dangling uncontrolled nodes are pruned).
    """
    parent = {n: n for n in controlled}

    def find(n: int) -> int:
        while parent[n] != n:
            parent[n] = parent[parent[n]]
            n = parent[n]
        return n

    reach: dict[int, set[int]] = {}
    for start in sorted(controlled):
        reach[start] = _reach(g, start, join_m, radius)
        for other in reach[start] & controlled:
            ra, rb = find(start), find(other)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)
    groups: dict[int, list[int]] = {}
    for n in controlled:
        groups.setdefault(find(n), []).append(n)
    clusters: list[Cluster] = []
    for members in groups.values():
        members.sort()
        if len(members) > 1 and not any(g.is_intersection(m) for m in members):
            # Only plain-road signal points (pedestrian lights): netconvert keeps them apart.
            clusters.extend(Cluster([m], {m}) for m in members)
            continue
        comp = set().union(*(reach[m] for m in members))
        clusters.append(Cluster(members, _prune(g, comp, controlled)))
    clusters.sort(key=lambda c: c.controlled[0])
    return clusters


def _reach(g: RoadGraph, start: int, join_m: float, radius: float) -> set[int]:
    best = {start: 0.0}
    heap = [(0.0, start)]
    while heap:
        walked, n = heapq.heappop(heap)
        if walked > best.get(n, float("inf")):
            continue
        for nb in g.neighbours.get(n, ()):
            # Border to border: the road inside an intersection does not count.
            inside = radius * (g.is_intersection(n) + g.is_intersection(nb))
            total = walked + max(0.0, _seg_len(g, n, nb) - inside)
            if total >= join_m:
                continue
            carry = 0.0 if g.is_intersection(nb) else total
            if carry < best.get(nb, float("inf")):
                best[nb] = carry
                heapq.heappush(heap, (carry, nb))
    return set(best)


def _prune(g: RoadGraph, comp: set[int], controlled: set[int]) -> set[int]:
    """Drop uncontrolled nodes hanging off the group (at most one neighbour inside it)."""
    inside = set(comp)
    changed = True
    while changed:
        changed = False
        for n in sorted(inside):
            if n in controlled:
                continue
            if len(g.neighbours.get(n, set()) & inside) <= 1:
                inside.discard(n)
                changed = True
    return inside


def _seg_len(g: RoadGraph, a: int, b: int) -> float:
    for seg in g.out.get(a, ()):
        if seg.dst == b:
            return seg.length_m
    for seg in g.out.get(b, ()):
        if seg.dst == a:
            return seg.length_m
    return 0.0
