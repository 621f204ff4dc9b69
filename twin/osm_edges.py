"""Map routes of the OSM routable graph onto the edges of a SUMO net built from the same extract.

netconvert names an edge after its OSM way, ``<way>#<piece>`` along the way and ``-<way>#<piece>``
against it, and names a junction after its OSM node (joined junctions ``cluster_<node>_<node>…``).
A routable edge (one way, one direction, a run of OSM nodes) therefore maps to the SUMO edges of
the same way and direction whose junctions hold a node of that run; a route maps to their
concatenation, with SUMO's own shortest path filling any gap (a junction netconvert joined away).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from graph.routing import EdgeKey, RoutableGraph

_WAY = re.compile(r"^(-?)(\d+)(?:#\d+)?$")
_NUMBER = re.compile(r"\d+")
MAX_GAP = 4
"""Most SUMO edges inserted between two mapped ones (more: the map went wrong there)."""


@dataclass(frozen=True, slots=True)
class _SumoEdge:
    id: str
    way: int
    backward: bool
    from_nodes: frozenset[int]
    to_nodes: frozenset[int]


class OsmToSumo:
    """Routable-graph edges and paths as SUMO edge ids."""

    def __init__(self, rg: RoutableGraph, net: Any) -> None:
        self.rg = rg
        self.net = net
        self.by_way: dict[tuple[int, bool], list[_SumoEdge]] = {}
        for e in net.getEdges(withInternal=False):
            m = _WAY.match(e.getID())
            if m is None:
                continue
            s = _SumoEdge(
                id=e.getID(),
                way=int(m.group(2)),
                backward=m.group(1) == "-",
                from_nodes=_nodes(e.getFromNode().getID()),
                to_nodes=_nodes(e.getToNode().getID()),
            )
            self.by_way.setdefault((s.way, s.backward), []).append(s)

    def edge(self, edge: EdgeKey) -> list[str]:
        """SUMO edges covering one routable edge, in driving order (empty when none does)."""
        d = self.rg.data(edge)
        nodes: tuple[int, ...] = d["nodes"]
        index = {n: i for i, n in enumerate(nodes)}
        found: list[tuple[float, str]] = []
        for s in self.by_way.get((int(d["osmid"]), bool(d["reversed"])), []):
            starts = [index[n] for n in s.from_nodes if n in index]
            ends = [index[n] for n in s.to_nodes if n in index]
            if starts and ends and min(starts) >= max(ends):
                continue
            if starts and min(starts) < len(nodes) - 1:
                found.append((min(starts), s.id))
            elif ends and max(ends) > 0:
                found.append((max(ends) - 0.5, s.id))
        if found:
            return [sid for _, sid in sorted(found)]
        return self._by_shape(edge)

    def _by_shape(self, edge: EdgeKey) -> list[str]:
        """A routable edge inside one longer SUMO edge (netconvert did not cut where we did, at a
        signal or a geometry node): the SUMO edge of the same way and direction passing nearest
        to its middle, within 15 m."""
        from sumolib.geomhelper import distancePointToPolygon

        d = self.rg.data(edge)
        mid = d["geometry"].interpolate(0.5, normalized=True)
        x, y = self.net.convertLonLat2XY(mid.x, mid.y)
        best = min(
            (
                (distancePointToPolygon((x, y), self.net.getEdge(s.id).getShape()), s.id)
                for s in self.by_way.get((int(d["osmid"]), bool(d["reversed"])), [])
            ),
            default=None,
        )
        return [best[1]] if best is not None and best[0] <= 15.0 else []

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


def _nodes(junction_id: str) -> frozenset[int]:
    return frozenset(int(x) for x in _NUMBER.findall(junction_id))
