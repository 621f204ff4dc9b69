"""Map routes of the OSM routable graph onto the edges of a SUMO net built from the same extract.

netconvert names an edge after its OSM way, ``<way>#<piece>`` along the way and ``-<way>#<piece>``
against it. A routable edge (one way, one direction) therefore maps to the SUMO edges of the same
way and direction that lie along it: those whose shape runs within ``MATCH_M`` of the routable
edge's line (most of it), or that hold the routable edge's middle (a routable edge shorter than
the SUMO edge, cut at a signal netconvert did not cut at), in the order they come along the line.
Geometry, not junction names, decides: netconvert renames the junctions it joins. A route maps to
the concatenation, with SUMO's own shortest path filling any gap (the inside of a joined
junction).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from shapely.geometry import LineString, Point

from graph.routing import EdgeKey, RoutableGraph

_WAY = re.compile(r"^(-?)(\d+)(?:#\d+)?$")
MAX_GAP = 4
"""Most SUMO edges inserted between two mapped ones (more: the map went wrong there)."""
MATCH_M = 9.0
"""Farthest a SUMO edge's shape (a lane's centre line, offset from the OSM way's) may run from the
routable edge's line and still lie along it."""


class OsmToSumo:
    """Routable-graph edges and paths as SUMO edge ids."""

    def __init__(self, rg: RoutableGraph, net: Any) -> None:
        self.rg = rg
        self.net = net
        self.by_way: dict[tuple[int, bool], list[tuple[str, LineString]]] = {}
        for e in net.getEdges(withInternal=False):
            m = _WAY.match(e.getID())
            if m is None:
                continue
            key = (int(m.group(2)), m.group(1) == "-")
            self.by_way.setdefault(key, []).append((e.getID(), LineString(e.getShape())))

    def _line(self, edge: EdgeKey) -> LineString:
        coords = self.rg.data(edge)["geometry"].coords
        return LineString([self.net.convertLonLat2XY(lon, lat) for lon, lat in coords])

    def edge(self, edge: EdgeKey) -> list[str]:
        """SUMO edges along one routable edge, in driving order (empty when none is)."""
        d = self.rg.data(edge)
        line = self._line(edge)
        middle = line.interpolate(0.5, normalized=True)
        along: list[tuple[float, str]] = []
        holding: list[tuple[float, str]] = []
        for sid, shape in self.by_way.get((int(d["osmid"]), bool(d["reversed"])), []):
            samples = [shape.interpolate(f, normalized=True) for f in (0.2, 0.5, 0.8)]
            if sum(_beside(line, p) for p in samples) >= 2:
                along.append((line.project(samples[1]), sid))
            elif _beside(shape, middle):
                holding.append((shape.distance(middle), sid))
        if along:
            return [sid for _, sid in sorted(along)]
        return [min(holding)[1]] if holding else []

    def path(self, edges: Sequence[EdgeKey]) -> list[str]:
        """SUMO edges of a routable path, connected (gaps filled by SUMO's shortest path)."""
        out: list[str] = []
        for e in edges:
            for sid in self.edge(e):
                if not out or out[-1] != sid:
                    out.append(sid)
        return self.connect(out)

    def connect(self, ids: Sequence[str]) -> list[str]:
        """The same edges with the shortest SUMO path inserted wherever two are not adjacent."""
        return connect(self.net, ids)


def connect(net: Any, ids: Sequence[str]) -> list[str]:
    """SUMO edges with the shortest SUMO path inserted wherever two are not adjacent."""
    out: list[str] = []
    for sid in ids:
        if out and sid != out[-1]:
            prev = net.getEdge(out[-1])
            nxt = net.getEdge(sid)
            if nxt not in prev.getOutgoing():
                route, _ = net.getShortestPath(prev, nxt, vClass="passenger")
                if route is None or len(route) > MAX_GAP + 2:
                    raise LookupError(f"no short SUMO route from {out[-1]} to {sid}")
                out.extend(x.getID() for x in route[1:-1])
        if not out or out[-1] != sid:
            out.append(sid)
    return out


def _beside(line: LineString, p: Point) -> bool:
    """The point lies beside the line: within ``MATCH_M`` of it, level with its inside (not
    beyond either end, where the next edge starts)."""
    t = line.project(p)
    return bool(0.5 < t < line.length - 0.5 and line.distance(p) <= MATCH_M)
