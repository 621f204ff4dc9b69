"""Place points on the routable graph: incidents, signs, detectors given by position.

``osmnx.distance.nearest_edges`` answers "which edge is nearest" with a shapely STRtree over the
edge geometries, built on every call (tens of milliseconds on a small city, more on a large one).
:class:`EdgeLocator` builds the same tree once and adds what placing traffic needs: a distance
limit in metres and the direction of travel, so that a point on one carriageway of a divided road,
or on a two-way street, lands on the edge carrying its traffic.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable

from shapely import STRtree
from shapely.geometry import Point

from graph._geo import EARTH_RADIUS_M, angle_diff_deg, bearing_deg, point_segment_distance, project
from graph.errors import GraphError
from graph.routing import EdgeKey, RoutableGraph

DEFAULT_SNAP_M = 30.0
DEFAULT_BEARING_TOLERANCE_DEG = 45.0


class LocationError(GraphError, LookupError):
    """A point, or a way and node, that matches no edge of the routable graph."""

    def __init__(self, what: str, reason: str) -> None:
        self.what = what
        self.reason = reason
        super().__init__(f"{what}: {reason}")


class EdgeLocator:
    """Nearest edge within a distance, facing a direction of travel."""

    def __init__(self, rg: RoutableGraph) -> None:
        self.rg = rg
        self.edges: list[EdgeKey] = list(rg.graph.edges(keys=True))
        self.tree = STRtree([rg.data(e)["geometry"] for e in self.edges])

    def nearest(
        self,
        lon: float,
        lat: float,
        bearing: float | None = None,
        *,
        max_m: float = DEFAULT_SNAP_M,
        tolerance_deg: float = DEFAULT_BEARING_TOLERANCE_DEG,
    ) -> EdgeKey:
        """The nearest edge within ``max_m`` whose direction of travel there is within
        ``tolerance_deg`` of ``bearing`` (any direction when ``bearing`` is None)."""
        box = Point(lon, lat).buffer(_degrees(max_m, lat))
        best: tuple[float, EdgeKey] | None = None
        seen_dir: list[float] = []
        for i in self.tree.query(box):
            edge = self.edges[int(i)]
            dist, heading = _distance_and_heading(self.rg, edge, lon, lat)
            if dist > max_m:
                continue
            seen_dir.append(heading)
            if bearing is not None and abs(angle_diff_deg(bearing, heading)) > tolerance_deg:
                continue
            if best is None or (dist, edge) < best:
                best = (dist, edge)
        if best is not None:
            return best[1]
        where = f"point {lat:.6f}, {lon:.6f}"
        if seen_dir:
            headings = ", ".join(f"{h:.0f}°" for h in sorted({round(h) for h in seen_dir}))
            raise LocationError(
                where,
                f"the roads within {max_m:g} m run at {headings}, none within "
                f"{tolerance_deg:g}° of the bearing {bearing:g}°: check the direction of travel",
            )
        raise LocationError(
            where, f"no drivable road within {max_m:g} m: check the position (lat, lon order)"
        )


def nearest_edges_batch(
    rg: RoutableGraph, points: Iterable[tuple[float, float]]
) -> list[tuple[EdgeKey, float]]:
    """osmnx's ``nearest_edges`` for many (lon, lat) points in one call, with the distance in
    metres to each edge found."""
    import osmnx as ox  # seconds to import: only for a batch placement

    pts = list(points)
    if not pts:
        return []
    xs = [p[0] for p in pts]
    ys = [p[1] for p in pts]
    found = ox.distance.nearest_edges(rg.graph, xs, ys)
    out = []
    for (lon, lat), e in zip(pts, found, strict=True):
        edge = (int(e[0]), int(e[1]), int(e[2]))
        out.append((edge, _distance_and_heading(rg, edge, lon, lat)[0]))
    return out


def twins(rg: RoutableGraph, edge: EdgeKey) -> list[EdgeKey]:
    """The edge and the edges running the other way between the same two nodes."""
    u, v, _ = edge
    back = [(v, u, k) for k in rg.graph[v][u]] if rg.graph.has_edge(v, u) else []
    return [edge, *back]


def heading_at(rg: RoutableGraph, edge: EdgeKey, lon: float, lat: float) -> float:
    """Direction of travel of ``edge`` where it passes nearest to the point."""
    return _distance_and_heading(rg, edge, lon, lat)[1]


def _degrees(m: float, lat: float) -> float:
    """A distance in degrees that covers ``m`` metres in both directions at this latitude."""
    return m / (EARTH_RADIUS_M * math.pi / 180.0) / max(0.1, math.cos(math.radians(lat)))


def _distance_and_heading(
    rg: RoutableGraph, edge: EdgeKey, lon: float, lat: float
) -> tuple[float, float]:
    coords = list(rg.data(edge)["geometry"].coords)
    p = project(lon, lat, lat)
    best = (math.inf, 0.0)
    for (x1, y1), (x2, y2) in itertools.pairwise(coords):
        d = point_segment_distance(p, project(x1, y1, lat), project(x2, y2, lat))
        if d < best[0]:
            best = (d, bearing_deg(x1, y1, x2, y2))
    return best
