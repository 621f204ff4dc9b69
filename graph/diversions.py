"""Where advice can act around a closed or congested link, and the ways around it.

Graph-only (travel times are free-flow, from osmnx): the allocation of flow over what is found here
is the optimiser's job (``optimizer.diversion``).

- **Affected stretch**: one edge, or a run of consecutive edges (a street closed between two
  cross streets).
- **Mainline**: the road the affected stretch belongs to, followed upstream from its tail and
  downstream from its head (same name, else same class, else the straightest continuation).
- **Decision points**: intersections of the upstream mainline, within ``max_upstream_m``, where a
  variable-message sign stands (a registry of node ids) or, with navigation partners, every one.
- **Rejoin points**: the head of the affected link and the downstream mainline within
  ``rejoin_m``; an alternative reaching the mainline early pays the rest of the mainline to the
  last rejoin point, so alternatives are compared on the same stretch.
- **Alternatives**: from each decision point, up to ``max_alternatives`` paths by the penalty
  method (as SUMO's marouter ``--paths.penalty``): after each shortest path, the travel time of
  its edges is multiplied by ``1 + penalty`` and the search is repeated (a Dijkstra that stops
  as soon as no node left can reach the road sooner, so it explores only the neighbourhood);
  near-duplicates (more than ``max_overlap`` of their length shared with an earlier one) are
  dropped. Closed links are never used; road classes outside the policy only when ``allowed``.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import msgspec

from graph._geo import angle_diff_deg, bearing_deg
from graph.routing import EdgeKey, RoutableGraph

NoDiversionReason = Literal[
    "no_decision_point", "no_alternative", "policy_excludes", "affected_link_unknown"
]


class DiversionPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """What a diversion may use and where advice may act (``AIGUILLEUR_REROUTE_*`` settings)."""

    max_alternatives: int = 3
    excluded_classes: tuple[str, ...] = ("residential", "living_street", "service")
    """Road classes (``highway`` without ``_link``) no diversion goes through; the mainline itself
    is always allowed."""
    max_upstream_m: float = 1500.0
    rejoin_m: float = 400.0
    max_detour_factor: float = 2.5
    """Alternatives slower than this times the fastest one (free flow) are not offered."""
    penalty: float = 0.6
    max_overlap: float = 0.8
    navigation_partners: bool = True
    """Every upstream intersection of the mainline can act (navigation apps), not only signs."""
    max_decision_points: int = 3


class DecisionPoint(msgspec.Struct, frozen=True, kw_only=True):
    """An intersection upstream of the affected link where advice can reach drivers."""

    node: int
    distance_m: float
    """Along the mainline, from this node to the tail of the affected link."""
    channel: str
    """The sign's id from the registry, or ``navigation`` (navigation partners)."""
    approach_edge: EdgeKey
    """The mainline edge by which drivers reach the decision point."""


class Alternative(msgspec.Struct, frozen=True, kw_only=True):
    """A way around from a decision point to a rejoin point."""

    decision_node: int
    edges: tuple[EdgeKey, ...]
    rejoin_node: int
    free_time_s: float
    """Free-flow time of the path plus the mainline from its rejoin point to the last one."""
    length_m: float


@dataclass(frozen=True, slots=True)
class Candidates:
    """Everything found around one affected link."""

    affected: tuple[EdgeKey, ...]
    """The affected stretch, in travel order."""
    upstream: tuple[EdgeKey, ...]
    """Mainline edges leading to the affected link, in travel order (from the farthest)."""
    downstream: tuple[EdgeKey, ...]
    """Mainline edges after the affected link, in travel order."""
    decision_points: tuple[DecisionPoint, ...]
    """Farthest first."""
    alternatives: tuple[Alternative, ...]
    rest_s: dict[int, float] = field(default_factory=dict)
    """Free-flow time from each rejoin node along the mainline to the last rejoin node."""
    reason: NoDiversionReason | None = None
    detail: str = ""
    """Why nothing can be advised (when ``reason`` is set)."""


def road_class(data: Mapping[str, Any]) -> str:
    """``highway`` without ``_link`` (the graph builders store it as ``road_class``)."""
    cls = data.get("road_class")
    return str(cls) if cls is not None else str(data.get("highway", "road")).removesuffix("_link")


def _bearing(rg: RoutableGraph, edge: EdgeKey, at_end: bool) -> float:
    coords = list(rg.data(edge)["geometry"].coords)
    (x1, y1), (x2, y2) = (coords[-2], coords[-1]) if at_end else (coords[0], coords[1])
    return bearing_deg(x1, y1, x2, y2)


def _continuation(
    rg: RoutableGraph, edge: EdgeKey, options: list[EdgeKey], downstream: bool
) -> EdgeKey | None:
    """The option that continues ``edge``'s road best: same name, same class, straightest."""
    if not options:
        return None
    name = rg.name(edge)
    cls = road_class(rg.data(edge))
    ref = _bearing(rg, edge, at_end=downstream)

    def score(o: EdgeKey) -> tuple[int, int, float]:
        other = _bearing(rg, o, at_end=not downstream)
        return (
            0 if name and rg.name(o) == name else 1,
            0 if road_class(rg.data(o)) == cls else 1,
            abs(angle_diff_deg(ref, other)),
        )

    best = min(options, key=score)
    return best if score(best)[2] <= 60.0 or score(best)[0] == 0 else None


def mainline(
    rg: RoutableGraph, affected: Sequence[EdgeKey], max_m: float, *, downstream: bool
) -> list[EdgeKey]:
    """Mainline edges upstream (ending at the affected stretch's tail) or downstream (from its
    head), in travel order, up to ``max_m`` metres."""
    g = rg.graph
    out: list[EdgeKey] = []
    seen = {n for e in affected for n in e[:2]}
    cur = affected[-1] if downstream else affected[0]
    walked = 0.0
    while walked < max_m:
        if downstream:
            options = [
                (cur[1], v, k)
                for _, v, k in g.out_edges(cur[1], keys=True)
                if v not in seen and v != cur[0]
            ]
        else:
            options = [
                (u, cur[0], k)
                for u, _, k in g.in_edges(cur[0], keys=True)
                if u not in seen and u != cur[1]
            ]
        nxt = _continuation(rg, cur, options, downstream)
        if nxt is None:
            break
        out.append(nxt)
        seen.add(nxt[1] if downstream else nxt[0])
        walked += float(rg.data(nxt)["length"])
        cur = nxt
    if not downstream:
        out.reverse()
    return out


def decision_points(
    rg: RoutableGraph,
    upstream: list[EdgeKey],
    first: EdgeKey,
    signs: Mapping[int, str],
    policy: DiversionPolicy,
) -> list[DecisionPoint]:
    """Intersections of the upstream mainline where advice can act, farthest first."""
    g = rg.graph
    out = []
    distance = 0.0
    chain = [*upstream, first]
    # Walk back from the affected link: the node before each edge is a candidate.
    for i in range(len(chain) - 1, -1, -1):
        node = chain[i][0]
        if i < len(chain) - 1:
            distance += float(rg.data(chain[i])["length"])
        if distance > policy.max_upstream_m:
            break
        if g.nodes[node]["street_count"] < 3 or i == 0:
            continue  # no turn to make here, or no known approach to it
        channel = signs.get(node) or ("navigation" if policy.navigation_partners else "")
        if channel:
            out.append(
                DecisionPoint(
                    node=node,
                    distance_m=round(distance, 1),
                    channel=channel,
                    approach_edge=chain[i - 1],
                )
            )
    # Signs first, then the nearest partners, up to the cap; reported farthest first.
    out.sort(key=lambda d: (d.channel == "navigation", d.distance_m))
    kept = out[: policy.max_decision_points]
    return sorted(kept, key=lambda d: -d.distance_m)


def _rest_times(rg: RoutableGraph, last: EdgeKey, downstream: list[EdgeKey]) -> dict[int, float]:
    times = [float(rg.data(e)["travel_time"]) for e in downstream]
    rest = {last[1]: sum(times)}
    remaining = sum(times)
    for e, t in zip(downstream, times, strict=True):
        remaining -= t
        rest[e[1]] = max(0.0, remaining)
    return rest


@dataclass(frozen=True, slots=True)
class RoadFilter:
    """Which edges a way around may use: classes outside ``excluded``, or any edge of a way in
    ``always`` (the mainline itself)."""

    excluded: frozenset[str] = frozenset()
    always: frozenset[int] = frozenset()

    def __call__(self, data: Mapping[str, Any]) -> bool:
        return road_class(data) not in self.excluded or int(data["osmid"]) in self.always


ANY_ROAD = RoadFilter()


def _search(
    rg: RoutableGraph,
    origin: int,
    rest_s: Mapping[int, float],
    banned: Collection[EdgeKey],
    allowed: RoadFilter,
    used: Mapping[EdgeKey, int],
    penalty: float,
    cutoff_s: float,
) -> tuple[int, tuple[EdgeKey, ...], float] | None:
    """Dijkstra from ``origin`` on penalised travel time to the rejoin node minimising time plus
    the rest of the road from it; stops as soon as no node left can do better (the rest is never
    negative), so a search reaches only as far as the best way around. Returns the rejoin node,
    the edges and the penalised time, or None."""
    # networkx's own adjacency dicts: its public views cost a function call per lookup, a third
    # of the search's time on a city-size graph
    succ = rg.graph._succ
    excluded, always = allowed.excluded, allowed.always
    dist = {origin: 0.0}
    prev: dict[int, EdgeKey] = {}
    heap = [(0.0, origin)]
    done: set[int] = set()
    best, best_node = math.inf, None
    while heap:
        d, u = heapq.heappop(heap)
        if u in done:
            continue
        done.add(u)
        if d >= best or d > cutoff_s:
            break
        if u in rest_s and u != origin and d + rest_s[u] < best:
            best, best_node = d + rest_s[u], u
        for v, keyed in succ[u].items():
            for k, data in keyed.items():
                e = (u, v, k)
                if e in banned or (data["road_class"] in excluded and data["osmid"] not in always):
                    continue
                nd = d + float(data["travel_time"]) * (1.0 + penalty * used.get(e, 0))
                if nd < dist.get(v, math.inf):
                    dist[v] = nd
                    prev[v] = e
                    heapq.heappush(heap, (nd, v))
    if best_node is None:
        return None
    edges: list[EdgeKey] = []
    node = best_node
    while node != origin:
        edges.append(prev[node])
        node = prev[node][0]
    return best_node, tuple(reversed(edges)), best


def _overlap(a: tuple[EdgeKey, ...], b: tuple[EdgeKey, ...], rg: RoutableGraph) -> float:
    shared = set(a) & set(b)
    total = sum(float(rg.data(e)["length"]) for e in a) or 1.0
    return sum(float(rg.data(e)["length"]) for e in shared) / total


def alternatives_from(
    rg: RoutableGraph,
    origin: int,
    rest_s: Mapping[int, float],
    banned: Collection[EdgeKey],
    allowed: RoadFilter,
    policy: DiversionPolicy,
    cutoff_s: float,
) -> list[Alternative]:
    """Up to ``policy.max_alternatives`` ways from ``origin`` to the rejoin nodes (penalty
    method)."""
    used: dict[EdgeKey, int] = {}
    out: list[Alternative] = []
    best_time = math.inf
    for _ in range(policy.max_alternatives + 2):
        if len(out) >= policy.max_alternatives:
            break
        found = _search(rg, origin, rest_s, banned, allowed, used, policy.penalty, cutoff_s)
        if found is None:
            break
        target, edges, _ = found
        free = sum(float(rg.data(e)["travel_time"]) for e in edges) + rest_s[target]
        for e in edges:
            used[e] = used.get(e, 0) + 1
        best_time = min(best_time, free)
        if free > policy.max_detour_factor * best_time:
            break
        if any(_overlap(edges, a.edges, rg) > policy.max_overlap for a in out):
            continue
        out.append(
            Alternative(
                decision_node=origin,
                edges=edges,
                rejoin_node=target,
                free_time_s=round(free, 1),
                length_m=round(sum(float(rg.data(e)["length"]) for e in edges), 1),
            )
        )
    return out


def find_candidates(
    rg: RoutableGraph,
    affected: EdgeKey | Sequence[EdgeKey],
    *,
    closed: Collection[EdgeKey] = (),
    signs: Mapping[int, str] | None = None,
    policy: DiversionPolicy | None = None,
) -> Candidates:
    """Decision points and alternatives around ``affected`` (one edge or a stretch of consecutive
    edges); closed edges are never used."""
    policy = policy or DiversionPolicy()
    stretch = stretch_of(affected)
    missing = [e for e in stretch if not rg.graph.has_edge(*e)]
    broken = any(a[1] != b[0] for a, b in itertools.pairwise(stretch))
    if missing or broken or not stretch:
        return Candidates(
            stretch,
            (),
            (),
            (),
            (),
            reason="affected_link_unknown",
            detail=f"no edge {missing[0]}" if missing else "the edges do not follow each other",
        )
    upstream = mainline(rg, stretch, policy.max_upstream_m, downstream=False)
    downstream = mainline(rg, stretch, policy.rejoin_m, downstream=True)
    points = decision_points(rg, upstream, stretch[0], signs or {}, policy)
    rest = _rest_times(rg, stretch[-1], downstream)
    # a road looping back (a ring, a roundabout) must not rejoin where the advice is given
    for e in (*upstream, *stretch):
        rest.pop(e[0], None)
    base = Candidates(stretch, tuple(upstream), tuple(downstream), tuple(points), (), rest)
    if not points:
        what = "no sign in the registry" if not policy.navigation_partners else "no intersection"
        return _no(base, "no_decision_point", f"{what} within {policy.max_upstream_m:g} m upstream")
    mainline_set = {*upstream, *stretch, *downstream}
    excluded = frozenset(policy.excluded_classes)
    allowed_here = RoadFilter(excluded, frozenset(int(rg.data(e)["osmid"]) for e in mainline_set))

    banned = {*closed, *stretch}
    original = sum(float(rg.data(e)["travel_time"]) for e in [*upstream, *stretch, *downstream])
    cutoff = policy.max_detour_factor * original + 120.0
    alts = [
        a
        for p in points
        for a in alternatives_from(rg, p.node, rest, banned, allowed_here, policy, cutoff)
    ]
    if alts:
        return replace(base, alternatives=tuple(alts))
    anyway = [
        a
        for p in points
        for a in alternatives_from(rg, p.node, rest, banned, ANY_ROAD, policy, cutoff)
    ]
    if anyway:
        classes = sorted({road_class(rg.data(e)) for a in anyway for e in a.edges} & excluded)
        return _no(
            base,
            "policy_excludes",
            f"every way around goes through {', '.join(classes)} streets, which the diversion "
            "policy excludes",
        )
    return _no(
        base,
        "no_alternative",
        f"no drivable way around from any decision point back to the road within "
        f"{policy.rejoin_m:g} m downstream",
    )


def _no(base: Candidates, reason: NoDiversionReason, detail: str) -> Candidates:
    return replace(base, reason=reason, detail=detail)


def quickest_way_around(
    rg: RoutableGraph,
    node: int,
    rest_s: Mapping[int, float],
    banned: Collection[EdgeKey],
    cutoff_s: float,
) -> Alternative | None:
    """The quickest way (free flow, any road class) from ``node`` to the rejoin nodes: what a
    driver who discovers the incident at the link does without advice."""
    policy = DiversionPolicy(max_alternatives=1, max_detour_factor=math.inf)
    found = alternatives_from(rg, node, rest_s, banned, ANY_ROAD, policy, cutoff_s)
    return found[0] if found else None


def stretch_of(affected: EdgeKey | Sequence[EdgeKey]) -> tuple[EdgeKey, ...]:
    """One edge, or a sequence of edges, as a stretch."""
    if len(affected) == 3 and all(isinstance(x, int) for x in affected):
        return (affected,)  # type: ignore[return-value]  # one (u, v, key) edge
    return tuple(affected)  # type: ignore[arg-type]  # a sequence of edges
