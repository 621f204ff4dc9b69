"""Build the signal-controlled network model from an OpenStreetMap file, offline.

``load_network(path)`` reads ``.osm``, ``.osm.gz``, ``.osm.bz2`` or ``.osm.pbf`` (all through
pyosmium/libosmium), clusters signals into junctions (``graph._signals``), measures approaches,
exits and movements (``graph._approaches``), designs default phases (``graph._phases``), links
junctions for coordination (``graph._links``) and groups them into zones (``graph.zones``).
With ``cache_dir`` the result is cached by the file's content hash (``graph.cache``).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from graph import cache
from graph._approaches import JunctionParts, build_parts
from graph._geo import distance_m
from graph._lanes import allocate_lanes
from graph._links import build_links
from graph._phases import design_phases, protect_turns
from graph._reader import Restriction, read_roads
from graph._roads import RoadGraph, build_graph
from graph._signals import Cluster, cluster_signals
from graph.conflicts import ConflictTable
from graph.errors import NetworkSourceError
from graph.model import Approach, Exit, Junction, Movement, Network, Phase
from graph.settings import BuildSettings
from graph.zones import assign_zones

ATTRIBUTION = "© OpenStreetMap contributors, Open Database License (ODbL) 1.0"
MAX_NAMES = 3

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class BuildReport:
    """What the build saw and decided, for the CLI summary and the benchmark."""

    n_drivable_ways: int = 0
    n_edges: int = 0
    """Directed road segments (one per way node pair and direction of travel)."""
    n_signal_nodes: int = 0
    n_absorbed_signals: int = 0
    """Signal nodes ahead of an intersection that the intersection took over (guess-signals)."""
    n_standalone_signals: int = 0
    dropped: list[tuple[str, str]] = field(default_factory=list)
    """(junction id, reason) for clusters that did not become junctions."""
    from_cache: bool = False
    seconds: float = 0.0


def load_network(
    path: Path,
    *,
    settings: BuildSettings | None = None,
    cache_dir: Path | None = None,
) -> Network:
    """The network of an OSM file; cached under ``cache_dir`` when given."""
    return load_network_with_report(path, settings=settings, cache_dir=cache_dir)[0]


def load_network_with_report(
    path: Path,
    *,
    settings: BuildSettings | None = None,
    cache_dir: Path | None = None,
) -> tuple[Network, BuildReport]:
    """Like :func:`load_network`, with what the build saw (counts, dropped clusters, timing)."""
    settings = settings or BuildSettings()
    t0 = time.perf_counter()
    if not path.is_file():
        reason = "not a file" if path.exists() else "file not found"
        raise NetworkSourceError(
            str(path), reason, "give the path of an .osm/.osm.gz/.osm.pbf file"
        )
    try:
        sha = cache.file_sha256(path)
    except OSError as e:
        raise NetworkSourceError(
            str(path), f"cannot read the file ({e.strerror})", "check its permissions"
        ) from e
    target = cache.cache_path(cache_dir, path, sha, settings) if cache_dir else None
    if target is not None:
        cached = cache.load_cached(target, sha)
        if cached is not None:
            report = BuildReport(from_cache=True, seconds=time.perf_counter() - t0)
            logger.info("event=graph_cache_hit path=%s cache=%s", path, target)
            return cached, report
    network, report = build_network(path, sha, settings)
    if target is not None:
        try:
            cache.save_cached(target, network)
        except OSError as e:
            # The cache only saves time: a read-only or full disk must not stop the service.
            logger.warning("event=graph_cache_unwritable path=%s error=%s", target, e)
    report.seconds = time.perf_counter() - t0
    logger.info(
        "event=graph_built path=%s junctions=%d seconds=%.2f",
        path,
        len(network.junctions),
        report.seconds,
    )
    return network, report


def build_network(path: Path, sha256: str, settings: BuildSettings) -> tuple[Network, BuildReport]:
    """Build without the cache."""
    roads = read_roads(path)
    g = build_graph(roads)
    plan = cluster_signals(g, settings)
    report = BuildReport(
        n_drivable_ways=len(roads.ways),
        n_edges=g.n_edges(),
        n_signal_nodes=plan.n_signal_nodes,
        n_absorbed_signals=plan.n_absorbed,
        n_standalone_signals=plan.n_standalone,
    )
    if not plan.clusters:
        raise NetworkSourceError(
            str(path),
            f"no signal-controlled junction: none of its {len(roads.ways)} drivable ways carries "
            "a highway=traffic_signals or crossing=traffic_signals node",
            "choose an area with traffic lights, or check the extract is not cut too small",
        )
    restrictions: dict[int, list[Restriction]] = {}
    for r in roads.restrictions:
        restrictions.setdefault(r.via_node, []).append(r)
    all_internal = set().union(*(c.internal for c in plan.clusters))
    junctions: list[Junction] = []
    owner: dict[int, str] = {}
    for cluster in plan.clusters:
        # The smallest controlled node names the junction: stable while OSM keeps that node.
        jid = f"osm-{cluster.controlled[0]}"
        parts = build_parts(g, jid, cluster, all_internal, restrictions, settings)
        if not parts.approaches:
            report.dropped.append(
                (jid, "no drivable approach with a way out (edge of the extract?)")
            )
            continue
        junctions.append(_junction(g, jid, cluster, parts, settings))
        for n in cluster.internal:
            owner[n] = jid
    approach_ids = {a.id for j in junctions for a in j.approaches}
    links = build_links(g, owner, settings, approach_ids)
    zones = assign_zones(
        (j.id for j in junctions),
        links,
        zone_link_m=settings.zone_link_m,
        max_zone_size=settings.max_zone_size,
    )
    junctions = [_with_zone(j, zones[j.id]) for j in junctions]
    network = Network(
        source=str(path),
        source_sha256=sha256,
        junctions=tuple(sorted(junctions, key=lambda j: j.id)),
        links=tuple(links),
        attribution=ATTRIBUTION,
    )
    return network, report


def _junction(
    g: RoadGraph, jid: str, cluster: Cluster, parts: JunctionParts, settings: BuildSettings
) -> Junction:
    movements = protect_turns(parts.approaches, parts.movements, settings.drive_left)
    exits = tuple(
        Exit(
            id=e.id,
            junction_id=jid,
            osm_way_id=e.way_id,
            from_node=str(e.src),
            to_node=str(e.dst),
            bearing_deg=round(e.bearing_deg, 1),
            lanes=e.lanes,
            position_deg=round(e.position_deg, 1),
        )
        for e in parts.exits
    )
    clearance = max((x.width_m / settings.walking_speed_mps for x in parts.crossings), default=0.0)
    points = [g.coords[n] for n in cluster.internal]
    extent = max(
        (distance_m(*p, *q) for i, p in enumerate(points) for q in points[i + 1 :]), default=0.0
    )
    phases = design_phases(
        parts.approaches, exits, movements, parts.crossings, clearance, settings, extent
    )
    movements, phases = _right_of_way(parts.approaches, exits, movements, phases, settings)
    approaches = [
        msgspec.structs.replace(
            a, lane_detail=allocate_lanes(a, movements, drive_left=settings.drive_left)
        )
        for a in parts.approaches
    ]
    guessed = ["phases"]
    if any(x.width_guessed for x in parts.crossings):
        guessed.append("pedestrian_clearance_s")
    lons = [g.coords[n][0] for n in cluster.controlled]
    lats = [g.coords[n][1] for n in cluster.controlled]
    names = sorted({a.name for a in parts.approaches if a.name})
    return Junction(
        id=jid,
        lat=round(sum(lats) / len(lats), 7),
        lon=round(sum(lons) / len(lons), 7),
        zone_id="",
        node_ids=tuple(str(n) for n in sorted(cluster.internal)),
        approaches=tuple(approaches),
        movements=tuple(movements),
        phases=tuple(phases),
        name=" / ".join(names[:MAX_NAMES]),
        pedestrian_clearance_s=round(clearance, 1),
        guessed=tuple(guessed),
        signal_node_ids=tuple(str(n) for n in sorted(cluster.signals)),
        crossing_approach_ids=tuple(sorted({a for x in parts.crossings for a in x.approach_ids})),
        exits=exits,
    )


def _right_of_way(
    approaches: list[Approach],
    exits: tuple[Exit, ...],
    movements: list[Movement],
    phases: list[Phase],
    settings: BuildSettings,
) -> tuple[list[Movement], list[Phase]]:
    """Movements with what they give way to (``yields_to``), and phases with the movements they
    show permitted: those giving way to another movement of the same phase (an unprotected left
    turn across the opposing through traffic)."""
    table = ConflictTable(approaches, exits, movements, drive_left=settings.drive_left)
    ids = [m.id for m in movements]
    yields = {m: tuple(o for o in ids if o != m and table.gives_way(m, o)) for m in ids}
    movements = [msgspec.structs.replace(m, yields_to=yields[m.id]) for m in movements]
    out = []
    for p in phases:
        shown = set(p.movement_ids)
        permitted = tuple(m for m in p.movement_ids if any(o in shown for o in yields[m]))
        out.append(msgspec.structs.replace(p, permitted_movement_ids=permitted))
    return movements, out


def _with_zone(j: Junction, zone_id: str) -> Junction:
    return msgspec.structs.replace(j, zone_id=zone_id)
