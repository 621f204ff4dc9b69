"""Detector registry: which approach of which junction (and zone) each detector id measures.

Two ways to place a detector, in CSV or GeoJSON:

- **by OSM way and direction**: ``osm_way_id`` plus ``from_node``, an OSM node of that way
  upstream of the junction (the node the traffic comes from). Any node of the approach works.
  When traffic leaving that node on that way can reach two junctions (the node sits between
  them), an optional ``to_node`` (a node further downstream) picks one; without it the detector
  is reported unmapped as ambiguous.
- **by position**: ``lat``, ``lon`` (or a GeoJSON Point) plus ``bearing``, the direction of travel
  the detector counts (degrees clockwise from north). The detector snaps to the nearest approach
  whose geometry passes within ``snap_m`` (default 30 m) *and* whose direction of travel there is
  within ``bearing_tolerance_deg`` (default 45°) of the given bearing, so a loop on one
  carriageway never lands on the opposite one.
- **by approach id**: ``junction_id`` and ``approach_id``, the ids of the network model itself
  (for a SUMO network: the ``tlLogic`` id and the incoming edge id). For feeds whose detectors are
  already known per approach, such as the digital twin's loops (``twin.export``).

- **by lane id**: ``lane_id``, a lane id of the network model (for a SUMO network the SUMO lane id,
  ``<edge>_<index>``). A lane of a signalised approach places the detector on that approach (and
  lane); a lane of a junction's exit only (traffic leaving it) places it on that exit, where it
  counts the junction's outflow. ``junction_id`` and ``approach_id`` may be given too, and must
  then agree.

An optional ``lanes`` column says how many lanes the detector covers (default 1), and an optional
``lane_index`` which ones, with any placement by approach: lanes ``lane_index`` to
``lane_index + lanes - 1``, counted from the rightmost lane (0) leftwards, the network model's
convention (``graph.model.Lane``). Without either, the detector covers ``lanes`` unknown lanes of
its approach, as registries written before lanes were recorded.

Malformed files (unreadable, missing columns, non-numeric values, duplicate ids) raise
:class:`~graph.errors.DetectorRegistryError` with the file and line. Well-formed detectors that
match no approach are kept in :attr:`DetectorRegistry.unmapped` with the reason, so one bad site
never stops the service.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import msgspec

from graph._geo import angle_diff_deg, bearing_deg, point_segment_distance, project
from graph.errors import DetectorRegistryError
from graph.model import Approach, Exit, Junction, Network

DEFAULT_SNAP_M = 30.0
"""Farthest a positioned detector may be from an approach's centre line and still snap to it."""
DEFAULT_BEARING_TOLERANCE_DEG = 45.0
"""Largest difference between a detector's bearing and the approach's direction of travel."""

_WAY_COLUMNS = ("osm_way_id", "from_node")
_POS_COLUMNS = ("lat", "lon", "bearing")
_APPROACH_COLUMNS = ("junction_id", "approach_id")


class DetectorSite(msgspec.Struct, frozen=True):
    """Where one detector is: its junction, approach and zone."""

    detector_id: str
    junction_id: str
    approach_id: str
    """Approach the detector counts (empty for a detector on an exit only, ``exit_id``)."""
    zone_id: str
    lanes: int = 1
    lane_ids: tuple[str, ...] = ()
    """Model lanes the detector covers (empty: ``lanes`` lanes of the approach, unknown which)."""
    exit_id: str = ""
    """Exit of ``junction_id`` the detector counts, for a detector on an exit only."""


class UnmappedDetector(msgspec.Struct, frozen=True):
    """A well-formed detector entry that matches no approach of the network, and why."""

    detector_id: str
    line: int
    reason: str


@dataclass(frozen=True, slots=True)
class _Entry:
    detector_id: str
    line: int
    lanes: int
    way_id: int | None = None
    from_node: str = ""
    to_node: str = ""
    lat: float = math.nan
    lon: float = math.nan
    bearing: float = math.nan
    junction_id: str = ""
    approach_id: str = ""
    lane_id: str = ""
    lane_index: int | None = None


_Place = tuple[Junction, Approach | Exit, tuple[str, ...]]
"""Where an entry lands: junction, approach (or exit), and the model lanes it covers."""


class DetectorRegistry:
    """Lookup table from detector id to :class:`DetectorSite`."""

    def __init__(
        self, sites: Iterable[DetectorSite], unmapped: Iterable[UnmappedDetector] = ()
    ) -> None:
        self._sites = {s.detector_id: s for s in sites}
        self.unmapped: tuple[UnmappedDetector, ...] = tuple(unmapped)

    def get(self, detector_id: str) -> DetectorSite | None:
        """The site of this detector, or ``None`` when the registry does not know it."""
        return self._sites.get(detector_id)

    def sites(self) -> tuple[DetectorSite, ...]:
        """Every mapped detector, in file order."""
        return tuple(self._sites.values())

    def __len__(self) -> int:
        return len(self._sites)

    def __iter__(self) -> Iterator[DetectorSite]:
        return iter(self._sites.values())


class _Snapper:
    """Nearest-approach search on a coarse grid of projected approach segments."""

    def __init__(self, network: Network, cell_m: float) -> None:
        self.cell = cell_m
        lats = [j.lat for j in network.junctions]
        self.ref_lat = sum(lats) / len(lats) if lats else 0.0
        self.grid: dict[tuple[int, int], list[tuple[Junction, Approach, int]]] = {}
        self.points: dict[str, list[tuple[float, float]]] = {}
        for j in network.junctions:
            for a in j.approaches:
                pts = [project(lon, lat, self.ref_lat) for lon, lat in a.geometry]
                self.points[a.id] = pts
                for i in range(len(pts) - 1):
                    for key in self._cells(pts[i], pts[i + 1]):
                        self.grid.setdefault(key, []).append((j, a, i))

    def _cells(self, p: tuple[float, float], q: tuple[float, float]) -> set[tuple[int, int]]:
        x0, x1 = sorted((p[0], q[0]))
        y0, y1 = sorted((p[1], q[1]))
        c = self.cell
        return {
            (ix, iy)
            for ix in range(math.floor(x0 / c), math.floor(x1 / c) + 1)
            for iy in range(math.floor(y0 / c), math.floor(y1 / c) + 1)
        }

    def snap(
        self, lon: float, lat: float, bearing: float, snap_m: float, tolerance_deg: float
    ) -> tuple[Junction, Approach] | str:
        p = project(lon, lat, self.ref_lat)
        cx, cy = math.floor(p[0] / self.cell), math.floor(p[1] / self.cell)
        reach = math.ceil(snap_m / self.cell)
        best: tuple[float, Junction, Approach] | None = None
        wrong_way: tuple[float, float, str] | None = None
        for ix in range(cx - reach, cx + reach + 1):
            for iy in range(cy - reach, cy + reach + 1):
                for j, a, i in self.grid.get((ix, iy), ()):
                    pts = self.points[a.id]
                    d = point_segment_distance(p, pts[i], pts[i + 1])
                    if d > snap_m:
                        continue
                    (lon0, lat0), (lon1, lat1) = a.geometry[i], a.geometry[i + 1]
                    seg_bearing = bearing_deg(lon0, lat0, lon1, lat1)
                    if abs(angle_diff_deg(seg_bearing, bearing)) > tolerance_deg:
                        if wrong_way is None or d < wrong_way[0]:
                            wrong_way = (d, seg_bearing, a.id)
                        continue
                    if best is None or (d, a.id) < (best[0], best[2].id):
                        best = (d, j, a)
        if best is not None:
            return best[1], best[2]
        if wrong_way is not None:
            d, seg_bearing, aid = wrong_way
            return (
                f"nearest approach {aid} ({d:.0f} m away) runs at bearing {seg_bearing:.0f}°, "
                f"not {bearing:.0f}° ±{tolerance_deg:.0f}°: check the detector's bearing"
            )
        return (
            f"no approach of a signal-controlled junction within {snap_m:.0f} m of "
            f"({lat:.6f}, {lon:.6f}): check the position or add the junction's signals to OSM"
        )


def load_registry(
    path: Path,
    network: Network,
    *,
    snap_m: float = DEFAULT_SNAP_M,
    bearing_tolerance_deg: float = DEFAULT_BEARING_TOLERANCE_DEG,
) -> DetectorRegistry:
    """Read a detector file (CSV, GeoJSON) and map each detector to an approach."""
    if not path.is_file():
        raise DetectorRegistryError(
            str(path), 0, "file not found: give the path of a CSV or GeoJSON"
        )
    if path.suffix.lower() in {".geojson", ".json"}:
        entries = list(_read_geojson(path))
    else:
        entries = list(_read_csv(path))
    return map_entries(entries, network, snap_m=snap_m, bearing_tolerance_deg=bearing_tolerance_deg)


def map_entries(
    entries: list[_Entry],
    network: Network,
    *,
    snap_m: float = DEFAULT_SNAP_M,
    bearing_tolerance_deg: float = DEFAULT_BEARING_TOLERANCE_DEG,
) -> DetectorRegistry:
    """Map parsed entries onto the network's approaches."""
    by_way: dict[int, list[tuple[Junction, Approach]]] = {}
    for j in network.junctions:
        for a in j.approaches:
            if a.osm_way_id is not None:
                by_way.setdefault(a.osm_way_id, []).append((j, a))
    by_id = {(j.id, a.id): (j, a) for j in network.junctions for a in j.approaches}
    lanes = _LaneIndex(network)
    snapper: _Snapper | None = None
    sites: list[DetectorSite] = []
    unmapped: list[UnmappedDetector] = []
    for e in entries:
        found: tuple[Junction, Approach] | str
        if e.lane_id:
            placed = lanes.place(e)
            if isinstance(placed, str):
                unmapped.append(UnmappedDetector(e.detector_id, e.line, placed))
            else:
                sites.append(_site(e, placed))
            continue
        if e.approach_id:
            found = by_id.get((e.junction_id, e.approach_id)) or (
                f"junction {e.junction_id!r} has no approach {e.approach_id!r} in this network: "
                "check that the registry was written for the same network"
            )
        elif e.way_id is not None:
            found = _by_way(e, by_way)
        else:
            if snapper is None:
                snapper = _Snapper(network, cell_m=max(snap_m, 25.0))
            found = snapper.snap(e.lon, e.lat, e.bearing, snap_m, bearing_tolerance_deg)
        if not isinstance(found, str) and e.lane_index is not None:
            found_lanes = _indexed_lanes(e, found[1])
            if isinstance(found_lanes, str):
                found = found_lanes
            else:
                sites.append(_site(e, (found[0], found[1], found_lanes)))
                continue
        if isinstance(found, str):
            unmapped.append(UnmappedDetector(e.detector_id, e.line, found))
        else:
            j, a = found
            sites.append(DetectorSite(e.detector_id, j.id, a.id, j.zone_id, e.lanes))
    return DetectorRegistry(sites, unmapped)


def _site(e: _Entry, placed: _Place) -> DetectorSite:
    j, where, lane_ids = placed
    if isinstance(where, Exit):
        return DetectorSite(
            e.detector_id, j.id, "", j.zone_id, len(lane_ids), lane_ids, exit_id=where.id
        )
    return DetectorSite(e.detector_id, j.id, where.id, j.zone_id, len(lane_ids), lane_ids)


def _indexed_lanes(e: _Entry, a: Approach) -> tuple[str, ...] | str:
    """The model lanes ``lane_index`` .. ``lane_index + lanes - 1`` of ``a``, or why not."""
    first = e.lane_index or 0
    last = first + e.lanes - 1
    if last >= a.lanes:
        return (
            f"lane_index {first} with lanes {e.lanes} reaches lane {last}, but approach {a.id} "
            f"has {a.lanes} lane(s) (0 is the rightmost): check lane_index and lanes"
        )
    if not a.lane_detail:
        return (
            f"approach {a.id} has no lane detail in this network model (built before lanes "
            "were recorded): rebuild it with `aiguilleur graph build`, or drop lane_index"
        )
    return tuple(ln.id for ln in a.lane_detail[first : last + 1])


class _LaneIndex:
    """Model lanes by id: approach lanes first, then lanes of exits that are no approach."""

    def __init__(self, network: Network) -> None:
        self.approach: dict[str, tuple[Junction, Approach]] = {}
        self.exit: dict[str, tuple[Junction, Exit]] = {}
        for j in network.junctions:
            for a in j.approaches:
                for ln in a.lane_detail:
                    self.approach[ln.id] = (j, a)
        for j in network.junctions:
            for x in j.exits:
                for lid in x.lane_ids:
                    if lid not in self.approach:
                        self.exit.setdefault(lid, (j, x))

    def place(self, e: _Entry) -> _Place | str:
        found = self.approach.get(e.lane_id)
        if found is not None:
            j, a = found
            if (e.junction_id and e.junction_id != j.id) or (
                e.approach_id and e.approach_id != a.id
            ):
                return (
                    f"lane {e.lane_id!r} is on approach {a.id!r} of junction {j.id!r}, not on "
                    f"{e.approach_id or '?'!r} of {e.junction_id or '?'!r}: fix one of them"
                )
            return j, a, (e.lane_id,)
        out = self.exit.get(e.lane_id)
        if out is not None and not e.approach_id:
            return out[0], out[1], (e.lane_id,)
        return (
            f"no signalised approach or exit of this network has a lane {e.lane_id!r}: check "
            "that the registry was written for the same network (SUMO lane ids: <edge>_<index>)"
        )


def _by_way(
    e: _Entry, by_way: Mapping[int, list[tuple[Junction, Approach]]]
) -> tuple[Junction, Approach] | str:
    candidates = by_way.get(e.way_id or 0, [])
    if not candidates:
        return (
            f"OSM way {e.way_id} is not an approach of any signal-controlled junction: "
            "check the way id (it may have been split in OSM) or use lat/lon/bearing"
        )
    matches = [(j, a) for j, a in candidates if _on_approach(a, e.from_node, e.to_node)]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        ids = ", ".join(sorted(a.id for _, a in matches))
        return (
            f"ambiguous: OSM way {e.way_id} leaves node {e.from_node} towards several junctions "
            f"({ids}); add a to_node column naming a node downstream of the detector"
        )
    heads = ", ".join(f"{a.id} (from nodes {_span(a)})" for _, a in candidates)
    target = f" towards node {e.to_node}" if e.to_node else ""
    return (
        f"OSM way {e.way_id} has no approach coming from node {e.from_node}{target}; "
        f"its approaches: {heads}"
    )


def _on_approach(a: Approach, from_node: str, to_node: str) -> bool:
    """True when ``from_node`` lies on ``a`` upstream of the junction (and ``to_node`` after it)."""
    nodes = a.node_ids or (a.from_node, a.to_node)
    if from_node not in nodes[:-1]:
        return False
    return not to_node or to_node in nodes[nodes.index(from_node) + 1 :]


def _span(a: Approach) -> str:
    nodes = a.node_ids[:-1] or (a.from_node,)
    return f"{nodes[0]}…{nodes[-1]}" if len(nodes) > 1 else nodes[0]


def _read_csv(path: Path) -> Iterator[_Entry]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise DetectorRegistryError(str(path), 0, f"cannot read the file as CSV: {e}") from e
    if not rows or not any(c.strip() for c in rows[0]):
        raise DetectorRegistryError(str(path), 1, "empty file: expected a header line")
    header = [c.strip().lower() for c in rows[0]]
    _check_header(path, header)
    seen: dict[str, int] = {}
    for lineno, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        if len(row) != len(header):
            raise DetectorRegistryError(
                str(path),
                lineno,
                f"expected {len(header)} fields ({','.join(header)}), got {len(row)}",
            )
        values = {k: v.strip() for k, v in zip(header, row, strict=True)}
        entry = _entry(path, lineno, values)
        _check_unique(path, entry, seen)
        yield entry


def _check_header(path: Path, header: list[str]) -> None:
    if "detector_id" not in header:
        raise DetectorRegistryError(
            str(path), 1, f"no detector_id column in header {','.join(header)}"
        )
    if "lane_id" not in header and not any(
        all(c in header for c in cols) for cols in (_WAY_COLUMNS, _POS_COLUMNS, _APPROACH_COLUMNS)
    ):
        raise DetectorRegistryError(
            str(path),
            1,
            "header needs osm_way_id,from_node or lat,lon,bearing or junction_id,approach_id "
            "or lane_id columns "
            f"(got {','.join(header)})",
        )


def _check_unique(path: Path, entry: _Entry, seen: dict[str, int]) -> None:
    if entry.detector_id in seen:
        raise DetectorRegistryError(
            str(path),
            entry.line,
            f"detector {entry.detector_id!r} already defined on line {seen[entry.detector_id]}",
        )
    seen[entry.detector_id] = entry.line


def _entry(path: Path, line: int, values: Mapping[str, object]) -> _Entry:
    """Validate one record (CSV row or GeoJSON feature properties)."""
    raw_id = values.get("detector_id")
    detector_id = "" if raw_id is None else str(raw_id).strip()
    if not detector_id:
        raise DetectorRegistryError(str(path), line, "empty detector_id")
    lanes = 1
    raw_lanes = values.get("lanes")
    if raw_lanes not in (None, ""):
        lanes_f = _number(path, line, "lanes", raw_lanes)
        if lanes_f != int(lanes_f) or lanes_f < 1:
            raise DetectorRegistryError(
                str(path), line, f"lanes must be a positive integer, got {raw_lanes!r}"
            )
        lanes = int(lanes_f)
    lane_index: int | None = None
    raw_index = values.get("lane_index")
    if raw_index not in (None, ""):
        index_f = _number(path, line, "lane_index", raw_index)
        if index_f != int(index_f) or index_f < 0:
            raise DetectorRegistryError(
                str(path),
                line,
                f"lane_index must be 0 (the rightmost lane) or more, got {raw_index!r}",
            )
        lane_index = int(index_f)
    lane = str(values.get("lane_id") or "").strip()
    if lane:
        if lane_index is not None or lanes != 1:
            raise DetectorRegistryError(
                str(path),
                line,
                "lane_id names one lane: give one row per lane instead of lanes/lane_index",
            )
        return _Entry(
            detector_id,
            line,
            1,
            junction_id=str(values.get("junction_id") or "").strip(),
            approach_id=str(values.get("approach_id") or "").strip(),
            lane_id=lane,
        )
    entry = _placed_entry(path, line, values, detector_id, lanes)
    return dataclasses.replace(entry, lane_index=lane_index)


def _placed_entry(
    path: Path, line: int, values: Mapping[str, object], detector_id: str, lanes: int
) -> _Entry:
    """An entry placed by approach id, OSM way or position."""
    approach_id = str(values.get("approach_id") or "").strip()
    if approach_id:
        junction_id = str(values.get("junction_id") or "").strip()
        if not junction_id:
            raise DetectorRegistryError(
                str(path), line, f"approach_id {approach_id!r} given without junction_id"
            )
        return _Entry(detector_id, line, lanes, junction_id=junction_id, approach_id=approach_id)
    way = values.get("osm_way_id")
    if way not in (None, ""):
        way_f = _number(path, line, "osm_way_id", way)
        node = str(values.get("from_node") or "").strip()
        if way_f != int(way_f) or way_f <= 0:
            raise DetectorRegistryError(
                str(path), line, f"osm_way_id must be an OSM id, got {way!r}"
            )
        if not node:
            raise DetectorRegistryError(
                str(path), line, "osm_way_id given without from_node (the node traffic comes from)"
            )
        to_node = str(values.get("to_node") or "").strip().removeprefix("n")
        return _Entry(
            detector_id,
            line,
            lanes,
            way_id=int(way_f),
            from_node=node.removeprefix("n"),
            to_node=to_node,
        )
    lat = _number(path, line, "lat", values.get("lat"))
    lon = _number(path, line, "lon", values.get("lon"))
    bearing = _number(path, line, "bearing", values.get("bearing"))
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        raise DetectorRegistryError(str(path), line, f"lat/lon out of range: {lat}, {lon}")
    return _Entry(detector_id, line, lanes, lat=lat, lon=lon, bearing=bearing % 360.0)


def _number(path: Path, line: int, column: str, raw: object) -> float:
    if raw is None or raw == "":
        raise DetectorRegistryError(
            str(path),
            line,
            f"missing {column}: give osm_way_id,from_node or lat,lon,bearing "
            "or junction_id,approach_id",
        )
    if isinstance(raw, bool):
        raise DetectorRegistryError(str(path), line, f"{column} is not a number: {raw!r}")
    try:
        value = float(raw) if isinstance(raw, (int, float, str)) else math.nan
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise DetectorRegistryError(str(path), line, f"{column} is not a number: {raw!r}")
    return value


def _read_geojson(path: Path) -> Iterator[_Entry]:
    """GeoJSON FeatureCollection of Points; ``line`` in errors is the 1-based feature number."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DetectorRegistryError(str(path), 0, f"cannot read the file as GeoJSON: {e}") from e
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
        raise DetectorRegistryError(str(path), 0, "expected a GeoJSON FeatureCollection")
    features = doc.get("features")
    if not isinstance(features, list):
        raise DetectorRegistryError(str(path), 0, "FeatureCollection without a features list")
    seen: dict[str, int] = {}
    for n, feat in enumerate(features, start=1):
        if not isinstance(feat, dict):
            raise DetectorRegistryError(str(path), n, f"feature {n} is not an object")
        props = feat.get("properties") or {}
        if not isinstance(props, dict):
            raise DetectorRegistryError(str(path), n, f"feature {n}: properties is not an object")
        values: dict[str, object] = {str(k).lower(): v for k, v in props.items()}
        geom = feat.get("geometry")
        if isinstance(geom, dict) and geom.get("type") == "Point":
            coords = geom.get("coordinates")
            if not (isinstance(coords, list) and len(coords) >= 2):
                raise DetectorRegistryError(str(path), n, f"feature {n}: bad Point coordinates")
            values.setdefault("lon", coords[0])
            values.setdefault("lat", coords[1])
        elif geom is not None and values.get("osm_way_id") in (None, ""):
            gtype = geom.get("type") if isinstance(geom, dict) else type(geom).__name__
            raise DetectorRegistryError(
                str(path), n, f"feature {n}: geometry must be a Point, got {gtype!r}"
            )
        entry = _entry(path, n, values)
        _check_unique(path, entry, seen)
        yield entry
