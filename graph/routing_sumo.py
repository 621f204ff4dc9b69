"""The routable graph of a SUMO network (``.net.xml``), for scenarios that come without OSM.

Same schema as :mod:`graph.routing` (osmnx-compatible, validated, speeds and travel times by
osmnx), so the rerouting runs unchanged on either: nodes are SUMO junctions (integer ids, the SUMO
id kept in ``sumo_id``), edges SUMO edges open to passenger cars (``sumo_id``, ``highway`` from the
edge type ``highway.<class>`` where netconvert wrote one, ``name`` where the net has street names,
else ``ref`` = the SUMO edge id). Positions are converted to longitude and latitude with the net's
projection; a net without one keeps its own metres and a projected CRS.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import networkx as nx
import sumolib
from shapely.geometry import LineString

from graph import cache
from graph.errors import NetworkSourceError
from graph.routing import CRS, RoutableGraph, RoutingSettings, complete_graph
from graph.settings import BuildSettings

LOCAL_CRS = "EPSG:3857"
"""Stand-in CRS of a net without projection: its coordinates stay metres, as a projected CRS."""
_WAY = re.compile(r"^-?(\d+)")


def routable_from_sumo(
    net_path: Path,
    *,
    settings: BuildSettings | None = None,
    routing: RoutingSettings | None = None,
) -> RoutableGraph:
    """The routable graph of a SUMO net."""
    settings = settings or BuildSettings()
    routing = routing or RoutingSettings()
    if not net_path.is_file():
        raise NetworkSourceError(str(net_path), "file not found", "give a SUMO .net.xml")
    try:
        net = sumolib.net.readNet(str(net_path), withInternal=False)
    except Exception as e:  # sumolib raises plain exceptions for malformed XML
        raise NetworkSourceError(str(net_path), f"not a readable SUMO net ({e})") from e
    geo = net.hasGeoProj()
    g = nx.MultiDiGraph(
        crs=CRS if geo else LOCAL_CRS, source=str(net_path), attribution="SUMO network"
    )
    ids: dict[str, int] = {}

    def node_id(junction: Any) -> int:
        sid = junction.getID()
        if sid not in ids:
            ids[sid] = len(ids) + 1
            x, y = junction.getCoord()
            lon, lat = net.convertXY2LonLat(x, y) if geo else (x, y)
            attrs: dict[str, Any] = {"x": float(lon), "y": float(lat), "sumo_id": sid}
            if junction.getType() == "traffic_light":
                attrs["highway"] = "traffic_signals"
            g.add_node(ids[sid], **attrs)
        return ids[sid]

    by_way: dict[int, list[tuple[int, int, int]]] = {}
    for i, edge in enumerate(net.getEdges(withInternal=False)):
        lanes = [ln for ln in edge.getLanes() if ln.allows("passenger")]
        if not lanes:
            continue
        u, v = node_id(edge.getFromNode()), node_id(edge.getToNode())
        if u == v:
            continue
        attrs = _edge_attrs(net, edge, len(lanes), i, geo, settings, routing)
        attrs["nodes"] = (u, v)
        k = g.add_edge(u, v, **attrs)
        by_way.setdefault(attrs["osmid"], []).append((u, v, k))
    if g.number_of_edges() == 0:
        raise NetworkSourceError(str(net_path), "no edge open to passenger cars")
    complete_graph(g, settings)
    return RoutableGraph(
        graph=g,
        source=str(net_path),
        source_sha256=cache.file_sha256(net_path),
        by_way={w: tuple(es) for w, es in by_way.items()},
    )


def _edge_attrs(
    net: Any,
    edge: Any,
    lanes: int,
    index: int,
    geo: bool,
    settings: BuildSettings,
    routing: RoutingSettings,
) -> dict[str, Any]:
    sid = edge.getID()
    way = _WAY.match(sid)
    etype = edge.getType() or ""
    highway = etype.split(".", 1)[1] if etype.startswith("highway.") else "road"
    cls = highway.removesuffix("_link")
    per_lane = settings.saturation_flow_vph.get(cls, settings.saturation_flow_vph["road"])
    signal = edge.getToNode().getType() == "traffic_light"
    shape = edge.getShape()
    points = [net.convertXY2LonLat(x, y) if geo else (x, y) for x, y in shape]
    attrs: dict[str, Any] = {
        "osmid": int(way.group(1)) if way else 10**9 + index,
        "highway": highway,
        "road_class": cls,
        "oneway": True,
        "reversed": sid.startswith("-"),
        "length": round(float(edge.getLength()), 2),
        "lanes": lanes,
        "maxspeed": f"{edge.getSpeed() * 3.6:.0f}",
        "geometry": LineString(points),
        "capacity_vph": round(
            lanes * per_lane * (routing.signal_green_share if signal else 1.0), 1
        ),
        "signal_at_end": signal,
        "access": "yes",
        "sumo_id": sid,
        "ref": sid,
    }
    name = edge.getName()
    if name:
        attrs["name"] = name
    return attrs
