"""Read the drivable road network of an OSM file (XML, gzip, bzip2 or PBF) with pyosmium.

One pass over the file keeps the drivable ways (with their node locations), the tags of nodes
that matter for signals and crossings, and turn restrictions. All four formats go through
libosmium, so ``.osm.pbf`` needs no conversion, and per-direction tags (``lanes:forward``,
``turn:lanes:backward``) stay attached to their way (osmnx's simplification would merge them
into lists).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import osmium

from graph.errors import NetworkSourceError

DRIVABLE_HIGHWAYS = frozenset(
    {
        "motorway",
        "motorway_link",
        "trunk",
        "trunk_link",
        "primary",
        "primary_link",
        "secondary",
        "secondary_link",
        "tertiary",
        "tertiary_link",
        "unclassified",
        "residential",
        "living_street",
        "service",
        "road",
    }
)
"""``highway=*`` values a car may use (netconvert's default OSM type map for passenger cars)."""

_EXCLUDED_SERVICE = frozenset({"parking_aisle", "driveway", "drive-through", "emergency_access"})
_NO_ACCESS = frozenset({"no", "private"})
_YES = frozenset({"yes", "designated", "permissive", "destination"})
_NODE_KEYS = ("highway", "crossing", "crossing_ref", "traffic_signals:direction", "direction")
_NODE_KEYS_EXTRA = ("width", "name")

_FORMATS = {
    ".osm": "osm",
    ".xml": "osm",
    ".gz": "osm.gz",
    ".bz2": "osm.bz2",
    ".pbf": "pbf",
}


@dataclass(slots=True)
class Way:
    """A drivable OSM way: its node ids (in way order) and the tags we use."""

    id: int
    nodes: list[int]
    tags: dict[str, str]


@dataclass(slots=True)
class Restriction:
    """A turn restriction (``type=restriction``) through one via node."""

    from_way: int
    via_node: int
    to_way: int
    kind: str
    """``no_left_turn``, ``only_straight_on``…: only the ``no_`` / ``only_`` prefix matters."""


@dataclass(slots=True)
class OsmRoads:
    """What the builders need from an OSM file."""

    ways: list[Way] = field(default_factory=list)
    coords: dict[int, tuple[float, float]] = field(default_factory=dict)
    """(lon, lat) of every node of a drivable way."""
    node_tags: dict[int, dict[str, str]] = field(default_factory=dict)
    """Tags of signal, crossing and other tagged nodes that lie on drivable ways."""
    restrictions: list[Restriction] = field(default_factory=list)
    n_ways_total: int = 0


def is_drivable(tags: dict[str, str]) -> bool:
    """True when a car may drive on a way with these tags."""
    hw = tags.get("highway")
    if hw not in DRIVABLE_HIGHWAYS or tags.get("area") == "yes":
        return False
    if hw == "service" and tags.get("service") in _EXCLUDED_SERVICE:
        return False
    for key in ("motorcar", "motor_vehicle", "vehicle", "access"):
        value = tags.get(key)
        if value is not None:
            # The most specific access tag present decides.
            return value not in _NO_ACCESS or value in _YES
    return True


def file_format(path: Path) -> str:
    """libosmium format string for a file name, or raise a clear error."""
    fmt = _FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise NetworkSourceError(
            str(path),
            f"unknown OSM file type {path.suffix!r}",
            "give a .osm, .osm.gz, .osm.bz2 or .osm.pbf file",
        )
    return fmt


def read_roads(path: Path) -> OsmRoads:
    """Read the drivable roads of an OSM file; raise ``NetworkSourceError`` when it cannot."""
    if not path.exists():
        raise NetworkSourceError(str(path), "file not found", "check the path")
    if not path.is_file():
        raise NetworkSourceError(str(path), "not a file", "give an OSM file, not a directory")
    if path.stat().st_size == 0:
        raise NetworkSourceError(str(path), "empty file", "download the extract again")
    fmt = file_format(path)
    roads = OsmRoads()
    tagged: dict[int, dict[str, str]] = {}
    n_nodes = 0
    # Untagged nodes never reach Python (EmptyTagFilter) but still feed the location store, so
    # way nodes carry their coordinates.
    processor = (
        osmium.FileProcessor(osmium.io.File(str(path), fmt))
        .with_locations()
        .with_filter(osmium.filter.EmptyTagFilter())
    )
    try:
        for obj in processor:
            if isinstance(obj, osmium.osm.Node):
                n_nodes += 1
                tags = obj.tags
                if any(k in tags for k in _NODE_KEYS):
                    tagged[obj.id] = {
                        k: tags[k] for k in (*_NODE_KEYS, *_NODE_KEYS_EXTRA) if k in tags
                    }
            elif isinstance(obj, osmium.osm.Way):
                roads.n_ways_total += 1
                way_tags = {t.k: t.v for t in obj.tags}
                if is_drivable(way_tags):
                    _add_way(roads, obj, way_tags)
            elif isinstance(obj, osmium.osm.Relation):
                _read_restriction(obj, roads)
    except RuntimeError as e:
        raise NetworkSourceError(
            str(path),
            f"not a readable OSM {fmt} file ({e})",
            "the file may be truncated or not OSM data: download the extract again",
        ) from e
    if roads.n_ways_total == 0 and n_nodes == 0:
        raise NetworkSourceError(str(path), "no OSM data in the file", "download the extract again")
    if not roads.ways:
        raise NetworkSourceError(
            str(path),
            f"no drivable road among its {roads.n_ways_total} ways",
            "the area needs highway=* ways open to cars (primary, residential…)",
        )
    roads.node_tags = {n: t for n, t in tagged.items() if n in roads.coords}
    return roads


def _add_way(roads: OsmRoads, way: osmium.osm.Way, tags: dict[str, str]) -> None:
    """Keep a drivable way, cut where the extract lacks its nodes (clipped at the boundary)."""
    run: list[int] = []
    for n in way.nodes:
        loc = n.location
        if loc.valid():
            roads.coords[n.ref] = (loc.lon, loc.lat)
            run.append(n.ref)
            continue
        if len(run) >= 2:
            roads.ways.append(Way(way.id, run, tags))
        run = []
    if len(run) >= 2:
        roads.ways.append(Way(way.id, run, tags))


def _read_restriction(rel: osmium.osm.Relation, roads: OsmRoads) -> None:
    tags = rel.tags
    if tags.get("type") != "restriction":
        return
    kind = tags.get("restriction") or tags.get("restriction:motorcar") or ""
    if not kind.startswith(("no_", "only_")):
        return
    from_way = to_way = via = None
    for m in rel.members:
        if m.role == "from" and m.type == "w":
            from_way = m.ref
        elif m.role == "to" and m.type == "w":
            to_way = m.ref
        elif m.role == "via" and m.type == "n":
            via = m.ref
    if from_way is not None and to_way is not None and via is not None:
        roads.restrictions.append(Restriction(from_way, via, to_way, kind))
