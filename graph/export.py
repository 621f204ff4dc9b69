"""Views of a built network: a summary, GeoJSON for QGIS, a PNG map of the junctions over the
streets."""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path
from typing import Any

from graph.model import Junction, Network
from graph.registry import DetectorRegistry
from graph.routing import RoutableGraph

_MAIN_CLASSES = frozenset({"motorway", "trunk", "primary", "secondary", "tertiary"})


def summary(network: Network, registry: DetectorRegistry | None = None) -> dict[str, Any]:
    """Counts describing a network (and how a detector registry mapped onto it)."""
    approaches = [a for j in network.junctions for a in j.approaches]
    guesses: Counter[str] = Counter()
    for a in approaches:
        guesses.update(a.guessed)
    for j in network.junctions:
        guesses.update(f"junction.{g}" for g in j.guessed)
    out: dict[str, Any] = {
        "source": network.source,
        "junctions": len(network.junctions),
        "approaches": len(approaches),
        "lanes": sum(a.lanes for a in approaches),
        "movements": sum(len(j.movements) for j in network.junctions),
        "phases": sum(len(j.phases) for j in network.junctions),
        "zones": len(network.zones()),
        "links": len(network.links),
        "guesses": dict(sorted(guesses.items())),
    }
    if registry is not None:
        out["detectors"] = len(registry)
        out["unmapped_detectors"] = len(registry.unmapped)
    return out


def to_geojson(network: Network) -> dict[str, Any]:
    """A FeatureCollection: one Point per junction, one LineString per approach."""
    features: list[dict[str, Any]] = []
    for j in network.junctions:
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [j.lon, j.lat]},
                "properties": {
                    "kind": "junction",
                    "id": j.id,
                    "name": j.name,
                    "zone_id": j.zone_id,
                    "approaches": len(j.approaches),
                    "phases": len(j.phases),
                    "pedestrian_clearance_s": j.pedestrian_clearance_s,
                    "node_ids": ",".join(j.node_ids),
                },
            }
        )
        for a in j.approaches:
            features.append(
                {
                    "type": "Feature",
                    "geometry": {
                        "type": "LineString",
                        "coordinates": [list(p) for p in a.geometry],
                    },
                    "properties": {
                        "kind": "approach",
                        "id": a.id,
                        "junction_id": j.id,
                        "zone_id": j.zone_id,
                        "name": a.name,
                        "road_class": a.road_class,
                        "lanes": a.lanes,
                        "saturation_flow_vph": a.saturation_flow_vph,
                        "free_speed_mps": a.free_speed_mps,
                        "length_m": a.length_m,
                        "bearing_deg": a.bearing_deg,
                        "guessed": ",".join(a.guessed),
                    },
                }
            )
    return {
        "type": "FeatureCollection",
        "features": features,
        "properties": {"source": network.source, "attribution": network.attribution},
    }


def write_geojson(network: Network, path: Path) -> None:
    """Write :func:`to_geojson` to ``path``."""
    path.write_text(json.dumps(to_geojson(network), ensure_ascii=False), encoding="utf-8")


def streets_geojson(rg: RoutableGraph) -> dict[str, Any]:
    """The routable graph's edges as a FeatureCollection (osmnx's ``graph_to_gdfs``): one
    LineString per direction of travel with its way, name, class, lanes, speed, travel time and
    capacity."""
    import osmnx as ox  # seconds to import: only when streets are exported

    edges = ox.convert.graph_to_gdfs(rg.graph, nodes=False).reset_index()
    keep = [
        c
        for c in (
            "u",
            "v",
            "key",
            "osmid",
            "name",
            "ref",
            "highway",
            "oneway",
            "reversed",
            "lanes",
            "length",
            "speed_kph",
            "travel_time",
            "capacity_vph",
            "signal_at_end",
            "geometry",
        )
        if c in edges.columns
    ]
    out: dict[str, Any] = json.loads(edges[keep].to_json(na="drop"))
    out["properties"] = {"source": rg.source, "attribution": rg.graph.graph.get("attribution", "")}
    return out


def write_png(
    network: Network, path: Path, *, title: str = "", streets: RoutableGraph | None = None
) -> None:
    """A map of the junctions (coloured by zone) over the streets: every drivable edge of the
    routable graph when given (width by lanes), else the approaches; matplotlib's Agg."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 10), dpi=120)
    zones = sorted({j.zone_id for j in network.junctions})
    cmap = plt.get_cmap("tab20")
    colour = {z: cmap(i % 20) for i, z in enumerate(zones)}
    if streets is not None:
        for e in streets.graph.edges(keys=True):
            d = streets.data(e)
            xs, ys = d["geometry"].xy
            main = d["highway"].removesuffix("_link") in _MAIN_CLASSES
            ax.plot(
                list(xs),
                list(ys),
                color="0.45" if main else "0.7",
                linewidth=0.4 + 0.6 * int(d["lanes"]),
                solid_capstyle="round",
                zorder=1,
            )
    else:
        for j in network.junctions:
            for a in j.approaches:
                xs = [p[0] for p in a.geometry]
                ys = [p[1] for p in a.geometry]
                ax.plot(xs, ys, color="0.6", linewidth=0.8 + 0.5 * a.lanes, zorder=1)
    ax.scatter(
        [j.lon for j in network.junctions],
        [j.lat for j in network.junctions],
        c=[colour[j.zone_id] for j in network.junctions],
        s=[20 + 10 * len(j.approaches) for j in network.junctions],
        edgecolors="black",
        linewidths=0.5,
        zorder=2,
    )
    lat0 = sum(j.lat for j in network.junctions) / max(1, len(network.junctions))
    ax.set_aspect(1 / max(0.1, _cos_deg(lat0)))
    ax.set_title(title or f"{len(network.junctions)} junctions, {len(zones)} zones")
    ax.set_xlabel("longitude")
    ax.set_ylabel("latitude")
    fig.text(0.01, 0.01, network.attribution, fontsize=7)
    fig.savefig(path)
    plt.close(fig)


def junction_text(j: Junction) -> str:
    """Human-readable description of one junction (for ``graph show``)."""
    lines = [
        f"{j.id}  {j.name}",
        f"  zone {j.zone_id}  at {j.lat:.6f}, {j.lon:.6f}  OSM nodes {', '.join(j.node_ids)}",
        f"  signal nodes {', '.join(j.signal_node_ids)}",
        f"  pedestrian clearance {j.pedestrian_clearance_s:.1f} s  guessed: {', '.join(j.guessed)}",
        "  approaches:",
    ]
    for a in j.approaches:
        lines.append(
            f"    {a.id}  {a.name or '(unnamed)'} [{a.road_class}] {a.lanes} lane(s) "
            f"{a.saturation_flow_vph:.0f} veh/h  {a.free_speed_mps * 3.6:.0f} km/h  "
            f"{a.length_m:.0f} m  heading {a.bearing_deg:.0f}°"
            + (f"  turn:lanes {'|'.join(a.turn_lanes)}" if a.turn_lanes else "")
            + (f"  guessed: {', '.join(a.guessed)}" if a.guessed else "")
        )
    lines.append("  movements:")
    lines.extend(
        f"    {m.id}  {m.turn}{' (protected)' if m.protected else ''}" for m in j.movements
    )
    lines.append("  phases:")
    for p in j.phases:
        kind = " + pedestrians" if p.pedestrian and p.movement_ids else ""
        kind = " pedestrians only" if p.pedestrian and not p.movement_ids else kind
        lines.append(
            f"    {p.index}: {len(p.movement_ids)} movement(s){kind}  "
            f"green {p.min_green_s:.0f}-{p.max_green_s:.0f} s  intergreen {p.intergreen_s:.0f} s"
        )
    return "\n".join(lines)


def _cos_deg(lat: float) -> float:
    return math.cos(math.radians(lat))
