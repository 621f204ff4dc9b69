"""Demand fitted to detector counts, and how closely a twin run reproduces those counts.

The counts are per detector of a registry (by OSM way or by position, ``graph.registry``); the
twin's network is SUMO's. Each detector is placed on the SUMO edge that passes where it is, in its
direction of travel, so that routeSampler can fit routes to the counts (edgeData ``entered``) and a
twin run can be read back per detector (the sum of the twin's loops on that edge).

Fit is judged with the GEH statistic, ``sqrt(2 (m - c)^2 / (m + c))`` on hourly flows: GEH < 5 is
the usual calibration criterion for a count site.
"""

from __future__ import annotations

import csv
import gzip
import math
import xml.etree.ElementTree as ET
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

from graph._geo import angle_diff_deg, bearing_deg, distance_m
from graph.model import Approach, Network
from graph.registry import load_registry
from twin.detectors import CountRecord
from twin.errors import CountsFileError, ScenarioError

GEH_OK = 5.0
"""GEH below this on an hourly flow is the usual criterion for a well-reproduced count site."""
UPSTREAM_M = 20.0
"""Where a detector placed by OSM way is assumed to sit: this far upstream of its junction."""
SNAP_M = 30.0
BEARING_TOLERANCE_DEG = 45.0


@dataclass(frozen=True, slots=True)
class CountRow:
    """One row of a counts CSV (the replay format)."""

    detector_id: str
    interval_end: datetime
    interval_s: int
    count: int


def _open_text(path: Path) -> IO[str]:
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8", newline="")
    return path.open(encoding="utf-8", newline="")


def read_count_rows(path: Path) -> list[CountRow]:
    """The rows of a counts CSV (``detector_id,interval_end,interval_s,count``, optionally gzipped).

    Raises :class:`CountsFileError` naming the file and line of the first bad row.
    """
    if not path.is_file():
        raise CountsFileError(str(path), 0, "no such file")
    rows: list[CountRow] = []
    with _open_text(path) as f:
        reader = csv.DictReader(f)
        missing = {"detector_id", "interval_end", "interval_s", "count"} - set(
            reader.fieldnames or ()
        )
        if missing:
            raise CountsFileError(str(path), 1, f"missing column(s) {', '.join(sorted(missing))}")
        for line, r in enumerate(reader, start=2):
            try:
                end = datetime.fromisoformat(r["interval_end"])
                rows.append(CountRow(r["detector_id"], end, int(r["interval_s"]), int(r["count"])))
            except (TypeError, ValueError) as e:
                raise CountsFileError(str(path), line, str(e)) from e
            if end.tzinfo is None:
                raise CountsFileError(str(path), line, "interval_end has no UTC offset")
    if not rows:
        raise CountsFileError(str(path), 1, "no counts")
    return rows


def counts_start(rows: Sequence[CountRow]) -> datetime:
    """The instant the earliest interval of ``rows`` begins (simulation time 0 of its twin)."""
    return min(r.interval_end - timedelta(seconds=r.interval_s) for r in rows)


def bin_counts(
    rows: Iterable[CountRow], start: datetime, interval_s: int, n_intervals: int
) -> dict[str, list[int]]:
    """Counts per detector summed into ``n_intervals`` intervals of ``interval_s`` from ``start``.

    A row belongs to the interval holding its end; rows ending after the last interval are left
    out, and a row longer than ``interval_s`` is refused (it cannot be split).
    """
    out: dict[str, list[int]] = {}
    for r in rows:
        if r.interval_s > interval_s:
            raise ValueError(
                f"detector {r.detector_id}: a {r.interval_s} s count cannot be binned into "
                f"{interval_s} s intervals"
            )
        end_s = (r.interval_end - start).total_seconds()
        k = math.ceil(end_s / interval_s) - 1
        if 0 <= k < n_intervals:
            out.setdefault(r.detector_id, [0] * n_intervals)[k] += r.count
    return out


# --- placing detectors on the SUMO network ----------------------------------------------------


def point_upstream(a: Approach, metres: float) -> tuple[float, float, float]:
    """(lon, lat, bearing of travel) ``metres`` upstream of the approach's junction end (its
    middle when it is shorter)."""
    pts = list(a.geometry)
    if len(pts) < 2:
        raise ScenarioError(a.id, "approach has no geometry: cannot place its detector")
    walked = 0.0
    for i in range(len(pts) - 1, 0, -1):
        (lon1, lat1), (lon0, lat0) = pts[i], pts[i - 1]
        seg = distance_m(lon0, lat0, lon1, lat1)
        if walked + seg >= metres or i == 1:
            t = min(1.0, (metres - walked) / seg) if seg > 0 else 0.0
            if walked + seg < metres:
                t = 0.5
            lon, lat = lon1 + (lon0 - lon1) * t, lat1 + (lat0 - lat1) * t
            return lon, lat, bearing_deg(lon0, lat0, lon1, lat1)
        walked += seg
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns at i == 1


def _registry_positions(
    registry_csv: Path, network: Network
) -> tuple[dict[str, tuple[float, float, float]], list[str]]:
    """Each mapped detector's (lon, lat, bearing): the file's own position when it gives one,
    else ``UPSTREAM_M`` upstream of its approach's junction."""
    registry = load_registry(registry_csv, network)
    approaches = {a.id: a for j in network.junctions for a in j.approaches}
    with registry_csv.open(encoding="utf-8", newline="") as f:
        given = {r["detector_id"]: r for r in csv.DictReader(f)}
    out: dict[str, tuple[float, float, float]] = {}
    for site in registry:
        r = given.get(site.detector_id, {})
        if r.get("lat") and r.get("lon") and r.get("bearing"):
            out[site.detector_id] = (float(r["lon"]), float(r["lat"]), float(r["bearing"]))
        else:
            out[site.detector_id] = point_upstream(approaches[site.approach_id], UPSTREAM_M)
    return out, [u.detector_id for u in registry.unmapped]


def _edge_at(net: Any, x: float, y: float, bearing: float) -> tuple[str, float] | None:
    from sumolib.geomhelper import (
        distancePointToPolygon,
        polygonOffsetWithMinimumDistanceToPoint,
        positionAtShapeOffset,
    )

    best: tuple[float, str] | None = None
    for e in net.getEdges():
        if not e.allows("passenger"):
            continue
        shape = e.getShape()
        d = float(distancePointToPolygon((x, y), shape))
        if d > SNAP_M or (best is not None and (d, e.getID()) >= best):
            continue
        off = float(polygonOffsetWithMinimumDistanceToPoint((x, y), shape))
        x0, y0 = positionAtShapeOffset(shape, max(0.0, off - 1.0))
        x1, y1 = positionAtShapeOffset(shape, min(e.getLength(), off + 1.0))
        edge_bearing = math.degrees(math.atan2(x1 - x0, y1 - y0)) % 360.0
        if abs(angle_diff_deg(edge_bearing, bearing)) <= BEARING_TOLERANCE_DEG:
            best = (d, e.getID())
    return None if best is None else (best[1], best[0])


def place_detectors(
    registry_csv: Path, network: Network, net_path: Path
) -> tuple[dict[str, str], list[str]]:
    """Detector id → the SUMO edge that passes where the detector is, in its direction.

    ``network`` is the OSM network the registry was written for. Returns the placement and the
    ids of detectors that could not be placed (unmapped by the registry, or no edge of the SUMO
    network within ``SNAP_M`` in their direction of travel), in file order.
    """
    import sumolib

    net = sumolib.net.readNet(str(net_path))
    if not net.hasGeoProj():
        raise ScenarioError(
            str(net_path), "the network has no geo-reference: cannot place detectors"
        )
    positions, unplaced = _registry_positions(registry_csv, network)
    placed: dict[str, str] = {}
    for det, (lon, lat, bearing) in positions.items():
        x, y = net.convertLonLat2XY(lon, lat)
        found = _edge_at(net, x, y, bearing)
        if found is None:
            unplaced.append(det)
        else:
            placed[det] = found[0]
    return placed, unplaced


def write_detector_edges(placed: Mapping[str, str], path: Path) -> None:
    """The placement as CSV (``detector_id,edge_id``), sorted by detector id."""
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(("detector_id", "edge_id"))
        w.writerows(sorted(placed.items()))


def read_detector_edges(path: Path) -> dict[str, str]:
    """The placement written by :func:`write_detector_edges`."""
    if not path.is_file():
        raise CountsFileError(
            str(path), 0, "no such file (written by `aiguilleur twin demo-build`)"
        )
    with path.open(encoding="utf-8", newline="") as f:
        return {r["detector_id"]: r["edge_id"] for r in csv.DictReader(f)}


# --- routeSampler input --------------------------------------------------------------------------


def edge_counts(
    counts: Mapping[str, Sequence[int]], placed: Mapping[str, str]
) -> dict[str, list[int]]:
    """Counts per SUMO edge: detectors on the same edge measure the same flow, so their counts
    are averaged (rounded half up), not added."""
    by_edge: dict[str, list[Sequence[int]]] = defaultdict(list)
    for det, series in counts.items():
        if det in placed:
            by_edge[placed[det]].append(series)
    return {
        e: [math.floor(sum(col) / len(col) + 0.5) for col in zip(*ss, strict=True)]
        for e, ss in by_edge.items()
    }


def write_edgedata(by_edge: Mapping[str, Sequence[int]], interval_s: int, path: Path) -> int:
    """SUMO edgeData (``entered`` per edge and interval), routeSampler's count input. Returns the
    number of intervals."""
    n = max((len(v) for v in by_edge.values()), default=0)
    lines = ["<data>"]
    for k in range(n):
        lines.append(
            f'  <interval id="i{k}" begin="{k * interval_s}" end="{(k + 1) * interval_s}">'
        )
        lines.extend(f'    <edge id="{e}" entered="{by_edge[e][k]}"/>' for e in sorted(by_edge))
        lines.append("  </interval>")
    lines.append("</data>\n")
    path.write_text("\n".join(lines), encoding="utf-8")
    return n


def route_edge_counts(
    route_file: Path, edges: Iterable[str], interval_s: int, n_intervals: int
) -> dict[str, list[int]]:
    """Vehicles of a route file passing each of ``edges``, per interval of their departure: what
    routeSampler fitted, before any simulation."""
    from twin.scenario import open_xml

    wanted = set(edges)
    out = {e: [0] * n_intervals for e in wanted}
    depart = 0.0
    with open_xml(route_file) as f:
        for event, el in ET.iterparse(f, events=("start", "end")):
            if event == "start":
                if el.tag == "vehicle":
                    depart = float(el.attrib.get("depart", "0"))
                continue
            if el.tag == "route" and "edges" in el.attrib:
                k = int(depart // interval_s)
                if 0 <= k < n_intervals:
                    for e in set(el.attrib["edges"].split()) & wanted:
                        out[e][k] += 1
            elif el.tag == "vehicle":
                el.clear()
    return out


# --- reading a twin run per detector -------------------------------------------------------------


def _loop_edge(record: CountRecord) -> str:
    # generated loops are "twin_<lane>", a lane "<edge>_<index>"
    return record.detector_id.removeprefix("twin_").rsplit("_", 1)[0]


def detector_records(
    records: Iterable[CountRecord], placed: Mapping[str, str]
) -> list[CountRecord]:
    """The twin's loop counts as the registry's detectors: for every detector whose edge has
    loops, the sum of those loops' counts per interval (occupancy and speed are not carried)."""
    sums: dict[tuple[str, datetime, int], int] = defaultdict(int)
    for r in records:
        sums[(_loop_edge(r), r.interval_end, r.interval_s)] += r.count
    edges_seen = {e for e, _, _ in sums}
    by_edge: dict[str, list[str]] = defaultdict(list)
    for det, e in sorted(placed.items()):
        if e in edges_seen:
            by_edge[e].append(det)
    out = [
        CountRecord(detector_id=det, interval_end=end, interval_s=s, count=n)
        for (e, end, s), n in sums.items()
        for det in by_edge.get(e, ())
    ]
    out.sort(key=lambda r: (r.interval_end, r.detector_id))
    return out


def measured_detectors(records: Iterable[CountRecord], placed: Mapping[str, str]) -> set[str]:
    """The detectors whose edge carries at least one of the twin's loops."""
    edges = {_loop_edge(r) for r in records}
    return {d for d, e in placed.items() if e in edges}


# --- fit -----------------------------------------------------------------------------------------


def geh(simulated: float, observed: float) -> float:
    """GEH of two hourly flows (0 when both are 0)."""
    total = simulated + observed
    return 0.0 if total <= 0 else math.sqrt(2.0 * (simulated - observed) ** 2 / total)


@dataclass(frozen=True, kw_only=True)
class Fit:
    """How closely simulated counts reproduce observed ones, over the detectors both have."""

    detectors: int
    intervals: int
    interval_s: int
    hourly_geh_ok: float
    """Share of detector-hours with GEH < 5."""
    interval_geh_ok: float
    """Share of detector-intervals with GEH < 5 on the interval's hourly-equivalent flow."""
    r2: float
    """Coefficient of determination of the detector-hour counts (1 − SSres/SStot)."""
    mae: float
    """Mean absolute error of the detector-hour counts (vehicles)."""
    observed_total: int
    simulated_total: int
    worst: tuple[tuple[str, int, int, float], ...]
    """The five detector-hours with the largest GEH: (detector, observed, simulated, GEH)."""


def compare(
    observed: Mapping[str, Sequence[int]],
    simulated: Mapping[str, Sequence[int]],
    interval_s: int,
) -> Fit:
    """GEH, R² and mean absolute error of the detectors in both, per hour and per interval.

    Both map a detector to its counts per interval (the same intervals); whole hours are formed
    from consecutive intervals (``3600 / interval_s`` of them, which must be a whole number).
    """
    if 3600 % interval_s:
        raise ValueError(f"interval {interval_s} s does not divide an hour")
    per_hour = 3600 // interval_s
    common = sorted(set(observed) & set(simulated))
    if not common:
        raise ValueError("no detector has both observed and simulated counts")
    n = min(min(len(observed[d]), len(simulated[d])) for d in common)
    hours = n // per_hour
    if hours == 0:
        raise ValueError(f"{n} intervals of {interval_s} s make no whole hour")
    pairs: list[tuple[str, int, int]] = []
    interval_ok = 0
    for d in common:
        for h in range(hours):
            sl = slice(h * per_hour, (h + 1) * per_hour)
            pairs.append((d, sum(observed[d][sl]), sum(simulated[d][sl])))
        interval_ok += sum(
            geh(s * per_hour, o * per_hour) < GEH_OK
            for o, s in zip(observed[d][:n], simulated[d][:n], strict=True)
        )
    obs = [o for _, o, _ in pairs]
    mean = sum(obs) / len(obs)
    ss_tot = sum((o - mean) ** 2 for o in obs)
    ss_res = sum((o - s) ** 2 for _, o, s in pairs)
    gehs = [(d, o, s, geh(s, o)) for d, o, s in pairs]
    return Fit(
        detectors=len(common),
        intervals=n,
        interval_s=interval_s,
        hourly_geh_ok=sum(g < GEH_OK for *_, g in gehs) / len(gehs),
        interval_geh_ok=interval_ok / (len(common) * n),
        r2=1.0 - ss_res / ss_tot if ss_tot > 0 else math.nan,
        mae=sum(abs(o - s) for _, o, s in pairs) / len(pairs),
        observed_total=sum(obs),
        simulated_total=sum(s for *_, s in pairs),
        worst=tuple(sorted(gehs, key=lambda t: (-t[3], t[0]))[:5]),
    )


def fit_markdown(fit: Fit, *, unmeasured: Sequence[str] = ()) -> str:
    """The fit as a short Markdown section."""
    lines = [
        f"| count sites compared | {fit.detectors} |",
        "|---|---|",
        f"| site-hours with GEH < {GEH_OK:g} | {fit.hourly_geh_ok:.1%} |",
    ]
    if fit.interval_s < 3600:
        lines.append(
            f"| {fit.interval_s // 60}-min intervals with GEH < {GEH_OK:g} (hourly-equivalent) "
            f"| {fit.interval_geh_ok:.1%} |"
        )
    lines += [
        f"| R² of hourly counts | {fit.r2:.3f} |",
        f"| mean absolute error, veh/h | {fit.mae:.1f} |",
        f"| vehicles counted, observed → twin | {fit.observed_total} → {fit.simulated_total} |",
    ]
    if unmeasured:
        lines.append(f"| detectors the twin has no loop for | {', '.join(unmeasured)} |")
    worst = ", ".join(f"{d} {o}→{s} (GEH {g:.1f})" for d, o, s, g in fit.worst)
    return "\n".join(lines) + f"\n\nLargest GEH: {worst}.\n"
