"""A routable graph of the whole drivable network: an osmnx-compatible ``networkx.MultiDiGraph``.

Built from the same pyosmium read as the signal model (``graph._reader``), because
``osmnx.graph_from_xml`` fails on extracts clipped at their boundary and does not read PBF. The
graph follows osmnx's conventions, so osmnx's own functions work on it: integer OSM node ids with
``x`` (longitude), ``y`` (latitude) and ``street_count``; one edge per direction of travel between
two *endpoints* with ``osmid`` (the way), ``highway``, ``name``, ``oneway``, ``reversed``,
``length`` (m), ``lanes`` and a ``geometry`` LineString; ``crs`` EPSG:4326. It is checked with
``osmnx.convert.validate_graph`` and gets ``speed_kph`` and ``travel_time`` (s) from
``osmnx.routing.add_edge_speeds`` / ``add_edge_travel_times``.

Endpoints are what osmnx's strict simplification keeps (intersections, dead ends, nodes where the
way changes) plus signal nodes, so every edge is one way in one direction and ends at most at one
signal: its ``capacity_vph`` (lanes x saturation flow per lane, times a green share when a signal
facing it stands at its head end) is the link's capacity for the rerouting allocation.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import networkx as nx
from shapely.geometry import LineString

from graph import _tags, cache
from graph._geo import distance_m
from graph._reader import OsmRoads, Way, read_roads
from graph.osm import ATTRIBUTION
from graph.settings import BuildSettings

CRS = "EPSG:4326"
EdgeKey = tuple[int, int, int]
"""``(u, v, key)`` of an edge, as osmnx and networkx name it."""

_ACCESS_KEYS = ("motorcar", "motor_vehicle", "vehicle", "access")
_SIGNAL_DIRECTION_KEYS = ("traffic_signals:direction", "direction")


class RoutingSettings(msgspec.Struct, frozen=True, kw_only=True):
    """How capacities are derived: defaults, documented in ``docs/graph.md``."""

    signal_green_share: float = 0.45
    """Share of the hour a link ending at a signal discharges: a two-phase cycle's effective green
    over cycle (half the cycle, less the lost time) when the plan is not known."""


@dataclass(frozen=True, slots=True)
class RoutableGraph:
    """The routable graph and the indexes the rerouting needs on it."""

    graph: nx.MultiDiGraph
    source: str
    source_sha256: str
    by_way: dict[int, tuple[EdgeKey, ...]]
    """Edges of each OSM way (both directions)."""

    def data(self, edge: EdgeKey) -> dict[str, Any]:
        """The attribute dict of one edge."""
        u, v, k = edge
        return self.graph.edges[u, v, k]  # type: ignore[no-any-return]  # networkx is untyped

    def edge_on_way(self, way_id: int, from_node: int, to_node: int | None = None) -> EdgeKey:
        """The edge of ``way_id`` whose direction of travel leaves ``from_node`` (towards
        ``to_node`` when given); ``KeyError`` when none does."""
        for edge in self.by_way.get(way_id, ()):
            nodes = self.data(edge)["nodes"]
            if from_node not in nodes[:-1]:
                continue
            if to_node is None or to_node in nodes[nodes.index(from_node) + 1 :]:
                return edge
        raise KeyError((way_id, from_node, to_node))

    def name(self, edge: EdgeKey) -> str:
        """The street name of an edge (its ``name``, else its ``ref``, else empty)."""
        d = self.data(edge)
        return str(d.get("name") or d.get("ref") or "")

    def edges_along(self, node_ids: Sequence[int]) -> tuple[EdgeKey, ...]:
        """The edges a path of nodes (as in advice: every node of every edge) runs along;
        ``KeyError`` when the nodes leave the graph."""
        out: list[EdgeKey] = []
        i = 0
        while i < len(node_ids) - 1:
            step = None
            for _, v, k in self.graph.out_edges(node_ids[i], keys=True):
                nodes = self.data((node_ids[i], v, k))["nodes"]
                if tuple(node_ids[i : i + len(nodes)]) == tuple(nodes):
                    step = (node_ids[i], v, k)
                    break
            if step is None:
                raise KeyError(f"no edge leaves node {node_ids[i]} along {node_ids[i : i + 3]}")
            out.append(step)
            i += len(self.data(step)["nodes"]) - 1
        return tuple(out)


def build_routable_graph(
    path: Path,
    *,
    settings: BuildSettings | None = None,
    routing: RoutingSettings | None = None,
) -> RoutableGraph:
    """The routable graph of an OSM file (``.osm``, ``.osm.gz``, ``.osm.bz2``, ``.osm.pbf``)."""
    roads = read_roads(path)
    sha = cache.file_sha256(path)
    return routable_from_roads(
        roads, source=str(path), source_sha256=sha, settings=settings, routing=routing
    )


def routable_from_roads(
    roads: OsmRoads,
    *,
    source: str,
    source_sha256: str = "",
    settings: BuildSettings | None = None,
    routing: RoutingSettings | None = None,
) -> RoutableGraph:
    """Build, complete with osmnx (speeds, travel times, street counts) and validate the graph."""
    settings = settings or BuildSettings()
    routing = routing or RoutingSettings()
    g = nx.MultiDiGraph(crs=CRS, source=source, attribution=ATTRIBUTION)
    signals = _signal_nodes(roads)
    ends = _endpoints(roads) | set(signals)
    pieces = [(way, piece) for way in roads.ways for piece in _pieces(way.nodes, ends)]
    for n in sorted({n for _, piece in pieces for n in (piece[0], piece[-1])}):
        lon, lat = roads.coords[n]
        attrs: dict[str, Any] = {"x": lon, "y": lat}
        if n in signals:
            attrs["highway"] = "traffic_signals"
        g.add_node(n, **attrs)
    by_way: dict[int, list[EdgeKey]] = {}
    for way, piece in pieces:
        for edge in _add_piece(g, roads, way, piece, signals, settings, routing):
            by_way.setdefault(way.id, []).append(edge)
    complete_graph(g, settings)
    return RoutableGraph(
        graph=g,
        source=source,
        source_sha256=source_sha256,
        by_way={w: tuple(es) for w, es in by_way.items()},
    )


def complete_graph(g: nx.MultiDiGraph, settings: BuildSettings) -> None:
    """osmnx's speeds, travel times and street counts, then its validation."""
    import osmnx as ox  # seconds to import (geopandas, pandas): only where a graph is built

    speeds = dict(settings.speed_kph)
    speeds.update({f"{cls}_link": v for cls, v in settings.speed_kph.items()})
    ox.routing.add_edge_speeds(g, hwy_speeds=speeds, fallback=speeds.get("road", 50.0))
    ox.routing.add_edge_travel_times(g)
    nx.set_node_attributes(g, ox.stats.count_streets_per_node(g), name="street_count")
    ox.convert.validate_graph(g)


def _signal_nodes(roads: OsmRoads) -> dict[int, str]:
    """Signal nodes and the direction they face (``forward``, ``backward`` or ``both``)."""
    out = {}
    for n, tags in roads.node_tags.items():
        if tags.get("highway") == "traffic_signals" or tags.get("crossing") == "traffic_signals":
            direction = next((tags[k] for k in _SIGNAL_DIRECTION_KEYS if k in tags), "both").lower()
            out[n] = direction if direction in {"forward", "backward"} else "both"
    return out


def _endpoints(roads: OsmRoads) -> set[int]:
    """Nodes where an edge must end: intersections, dead ends, way ends and way changes."""
    occurrences: Counter[int] = Counter()
    neighbours: dict[int, set[int]] = {}
    for w in roads.ways:
        occurrences.update(w.nodes)
        for a, b in zip(w.nodes, w.nodes[1:], strict=False):
            if a != b:
                neighbours.setdefault(a, set()).add(b)
                neighbours.setdefault(b, set()).add(a)
    ends = {n for n, c in occurrences.items() if c >= 2}
    ends |= {n for n, nb in neighbours.items() if len(nb) != 2}
    ends |= {w.nodes[0] for w in roads.ways} | {w.nodes[-1] for w in roads.ways}
    return ends


def _pieces(nodes: list[int], ends: set[int]) -> list[list[int]]:
    """The way's node list cut at endpoints (a closed piece is cut once more, in its middle)."""
    clean = [n for i, n in enumerate(nodes) if i == 0 or n != nodes[i - 1]]
    cuts = [i for i, n in enumerate(clean) if n in ends or i in (0, len(clean) - 1)]
    out = []
    for i, j in itertools.pairwise(cuts):
        piece = clean[i : j + 1]
        if piece[0] == piece[-1]:
            if len(piece) < 4:
                continue  # a loop too short to route through
            mid = len(piece) // 2
            out += [piece[: mid + 1], piece[mid:]]
        else:
            out.append(piece)
    return out


def _access(tags: dict[str, str]) -> str:
    """The access value that decided the way is drivable (most specific tag first)."""
    return next((tags[k] for k in _ACCESS_KEYS if k in tags), "yes")


def _add_piece(
    g: nx.MultiDiGraph,
    roads: OsmRoads,
    way: Way,
    piece: list[int],
    signals: dict[int, str],
    settings: BuildSettings,
    routing: RoutingSettings,
) -> list[EdgeKey]:
    ow = _tags.oneway(way.tags)
    coords = roads.coords
    length = sum(distance_m(*coords[a], *coords[b]) for a, b in itertools.pairwise(piece))
    out = []
    for forward in (True, False):
        if (forward and ow < 0) or (not forward and ow > 0):
            continue
        nodes = piece if forward else piece[::-1]
        lanes, _ = _tags.lanes(way.tags, forward)
        speed, guessed = _tags.free_speed_kph(way.tags, forward, settings)
        facing = signals.get(nodes[-1])
        signal_at_end = facing in ("both", "forward" if forward else "backward")
        share = routing.signal_green_share if signal_at_end else 1.0
        per_lane = _tags.saturation_flow_per_lane(way.tags, settings)
        attrs: dict[str, Any] = {
            "osmid": way.id,
            "highway": way.tags.get("highway", "road"),
            "road_class": _tags.road_class(way.tags),
            "oneway": ow != 0,
            "reversed": not forward,
            "length": round(length, 2),
            "lanes": lanes,
            "geometry": LineString([coords[n] for n in nodes]),
            "nodes": tuple(nodes),
            "capacity_vph": round(lanes * per_lane * share, 1),
            "signal_at_end": signal_at_end,
            "access": _access(way.tags),
        }
        if not guessed:
            attrs["maxspeed"] = f"{speed:g}"
        for key in ("name", "ref"):
            if key in way.tags:
                attrs[key] = way.tags[key]
        k = g.add_edge(nodes[0], nodes[-1], **attrs)
        out.append((nodes[0], nodes[-1], k))
    return out
