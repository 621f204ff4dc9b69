"""Coordination links: shortest road paths from each junction to the next junctions downstream."""

from __future__ import annotations

import heapq
from collections.abc import Callable, Mapping

from graph import _tags
from graph._roads import RoadGraph, Segment
from graph.model import Link
from graph.settings import BuildSettings


def build_links(g: RoadGraph, owner: Mapping[int, str], settings: BuildSettings) -> list[Link]:
    """Links from every junction to each junction reached without passing through another.

    ``owner`` maps each internal node to its junction id. Paths are shortest by length, at most
    ``link_max_m``; travel time is summed at each segment's free-flow speed.
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
        links.extend(
            Link(
                from_junction=jid,
                to_junction=other,
                length_m=round(d, 1),
                travel_time_s=round(t, 1),
            )
            for other, (d, t) in sorted(reached.items())
        )
    return links


def _downstream_junctions(
    g: RoadGraph,
    jid: str,
    nodes: list[int],
    owner: Mapping[int, str],
    seconds: Callable[[Segment], float],
    settings: BuildSettings,
) -> dict[str, tuple[float, float]]:
    """Junctions first reached from ``jid`` (Dijkstra by length), with (metres, seconds)."""
    best: set[int] = set()
    heap: list[tuple[float, float, int]] = []
    for n in nodes:
        for seg in g.out.get(n, ()):
            if owner.get(seg.dst) != jid:
                heapq.heappush(heap, (seg.length_m, seconds(seg), seg.dst))
    reached: dict[str, tuple[float, float]] = {}
    while heap:
        d, t, n = heapq.heappop(heap)
        if n in best:
            continue
        best.add(n)
        other = owner.get(n)
        if other is not None:
            if other != jid and other not in reached:
                reached[other] = (d, t)
            continue
        for seg in g.out.get(n, ()):
            nd = d + seg.length_m
            if seg.dst not in best and nd <= settings.link_max_m:
                heapq.heappush(heap, (nd, t + seconds(seg), seg.dst))
    return reached
