"""Coordination links: shortest road paths from each junction to the next junctions downstream."""

from __future__ import annotations

import heapq
from collections.abc import Callable, Collection, Mapping

from graph import _tags
from graph._roads import RoadGraph, Segment
from graph.model import Link
from graph.settings import BuildSettings


def build_links(
    g: RoadGraph,
    owner: Mapping[int, str],
    settings: BuildSettings,
    approach_ids: Collection[str] | None = None,
) -> list[Link]:
    """Links from every junction to each junction reached without passing through another.

    ``owner`` maps each internal node to its junction id. Paths are shortest by length, at most
    ``link_max_m``; travel time is summed at each segment's free-flow speed. Each link names the
    exit its path leaves by and the approach it arrives by, with the ids ``graph._approaches``
    gives them; an arrival that is not in ``approach_ids`` (when given: an approach dropped for
    having no movement) leaves ``approach_id`` empty.
    """
    speed_cache: dict[tuple[int, bool], float] = {}

    def seconds(seg: Segment) -> float:
        key = (seg.way.id, seg.forward)
        if key not in speed_cache:
            kph = _tags.free_speed_kph(seg.way.tags, seg.forward, settings)[0]
            speed_cache[key] = kph / 3.6
        return seg.length_m / speed_cache[key]

    by_junction: dict[str, list[int]] = {}
    for n, j in owner.items():
        by_junction.setdefault(j, []).append(n)
    links: list[Link] = []
    for jid in sorted(by_junction):
        reached = _downstream_junctions(g, jid, by_junction[jid], owner, seconds, settings)
        for other, (d, t, exit_id, approach_id) in sorted(reached.items()):
            known = approach_ids is None or approach_id in approach_ids
            links.append(
                Link(
                    from_junction=jid,
                    to_junction=other,
                    length_m=round(d, 1),
                    travel_time_s=round(t, 1),
                    exit_id=exit_id,
                    approach_id=approach_id if known else "",
                )
            )
    return links


def _downstream_junctions(
    g: RoadGraph,
    jid: str,
    nodes: list[int],
    owner: Mapping[int, str],
    seconds: Callable[[Segment], float],
    settings: BuildSettings,
) -> dict[str, tuple[float, float, str, str]]:
    """Junctions first reached from ``jid`` (Dijkstra by length), with (metres, seconds, exit id
    of ``jid``, approach id of the junction reached)."""
    best: set[int] = set()
    # (metres, seconds, node, exit id, way id and node of the last segment): the ids break ties
    # between paths of equal length deterministically.
    heap: list[tuple[float, float, int, str, int, int]] = []
    for n in nodes:
        for seg in g.out.get(n, ()):
            if owner.get(seg.dst) != jid:
                exit_id = f"{jid}:{seg.way.id}:to:{seg.dst}"
                heapq.heappush(
                    heap, (seg.length_m, seconds(seg), seg.dst, exit_id, seg.way.id, seg.src)
                )
    reached: dict[str, tuple[float, float, str, str]] = {}
    while heap:
        d, t, n, exit_id, way_id, prev = heapq.heappop(heap)
        if n in best:
            continue
        best.add(n)
        other = owner.get(n)
        if other is not None:
            if other != jid and other not in reached:
                reached[other] = (d, t, exit_id, f"{other}:{way_id}:{prev}")
            continue
        for seg in g.out.get(n, ()):
            nd = d + seg.length_m
            if seg.dst not in best and nd <= settings.link_max_m:
                heapq.heappush(heap, (nd, t + seconds(seg), seg.dst, exit_id, seg.way.id, seg.src))
    return reached
