"""Directed segment graph of the drivable roads, with helpers to walk along chains of segments.

A *segment* joins two consecutive nodes of one way in one direction of travel. A node is
*geometry-like* when it joins exactly two neighbours (a bend or a tagged point on a road); an
*intersection* joins three or more. Chains of segments through geometry-like nodes are what
netconvert calls edges.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from graph import _tags
from graph._geo import distance_m
from graph._reader import OsmRoads, Way


@dataclass(slots=True, frozen=True)
class Segment:
    """One direction of travel between two consecutive nodes of a way."""

    src: int
    dst: int
    way: Way
    forward: bool
    """True when travelling in the way's node order."""
    length_m: float


@dataclass(slots=True)
class RoadGraph:
    """Adjacency of the drivable network."""

    roads: OsmRoads
    out: dict[int, list[Segment]] = field(default_factory=dict)
    inc: dict[int, list[Segment]] = field(default_factory=dict)
    neighbours: dict[int, set[int]] = field(default_factory=dict)

    @property
    def coords(self) -> dict[int, tuple[float, float]]:
        return self.roads.coords

    def is_intersection(self, node: int) -> bool:
        return len(self.neighbours.get(node, ())) >= 3

    def is_dead_end(self, node: int) -> bool:
        return len(self.neighbours.get(node, ())) <= 1

    def n_edges(self) -> int:
        """Number of directed segments."""
        return sum(len(v) for v in self.out.values())


def build_graph(roads: OsmRoads) -> RoadGraph:
    """Directed segments of every drivable way, honouring ``oneway``."""
    g = RoadGraph(roads)
    coords = roads.coords
    for way in roads.ways:
        ow = _tags.oneway(way.tags)
        for a, b in zip(way.nodes, way.nodes[1:], strict=False):
            if a == b:
                continue
            (lon1, lat1), (lon2, lat2) = coords[a], coords[b]
            length = distance_m(lon1, lat1, lon2, lat2)
            g.neighbours.setdefault(a, set()).add(b)
            g.neighbours.setdefault(b, set()).add(a)
            if ow >= 0:
                _add(g, Segment(a, b, way, True, length))
            if ow <= 0:
                _add(g, Segment(b, a, way, False, length))
    return g


def _add(g: RoadGraph, seg: Segment) -> None:
    g.out.setdefault(seg.src, []).append(seg)
    g.inc.setdefault(seg.dst, []).append(seg)


def walk(
    g: RoadGraph, first: Segment, *, downstream: bool = True
) -> Iterator[tuple[Segment, float]]:
    """Segments along a plain road from ``first``, each with the metres walked to its far end.

    The far end is ``dst`` walking downstream, ``src`` walking upstream. The walk ends after a
    segment whose far end is an intersection, a dead end, a node already passed, or a node with
    no single way on.
    """
    cur = first
    walked = first.length_m
    seen = {first.src, first.dst}
    while True:
        yield cur, walked
        node, back = (cur.dst, cur.src) if downstream else (cur.src, cur.dst)
        if g.is_intersection(node) or g.is_dead_end(node):
            return
        segs = g.out.get(node, ()) if downstream else g.inc.get(node, ())
        ahead = [x for x in segs if (x.dst if downstream else x.src) not in (back, *seen)]
        if len(ahead) != 1:
            return
        cur = ahead[0]
        far = cur.dst if downstream else cur.src
        seen.add(far)
        walked += cur.length_m


def upstream_chain(g: RoadGraph, last: Segment, stop: set[int], max_m: float) -> list[Segment]:
    """Segments leading to ``last`` (included), in travel order, back to the previous stop.

    Walks upstream through geometry-like nodes; stops at an intersection, a dead end, a node in
    ``stop`` (another junction), a node with no unique predecessor, or after ``max_m`` metres.
    """
    chain = []
    for seg, walked in walk(g, last, downstream=False):
        chain.append(seg)
        if walked >= max_m or seg.src in stop:
            break
    chain.reverse()
    return chain


def downstream_chain(g: RoadGraph, first: Segment, stop: set[int], max_m: float) -> list[Segment]:
    """Segments from ``first`` (included) downstream to the next stop, in travel order."""
    chain = []
    for seg, walked in walk(g, first):
        chain.append(seg)
        if walked >= max_m or seg.dst in stop:
            break
    return chain
