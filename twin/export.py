"""Files the rest of aiguilleur reads: counts in the replay CSV format, and a detector registry
mapping each twin detector onto an approach, by position (lat, lon, bearing: for a network built
from OSM) or by lane (junction_id, approach_id, lane_id: for the network built from the scenario's
own ``.net.xml``, as the Kafka closed loop and the in-process product rows use)."""

from __future__ import annotations

import csv
import itertools
import math
from collections.abc import Iterable
from pathlib import Path

from graph.model import Network
from twin.detectors import CountRecord, DetectorSpec
from twin.errors import ScenarioError

COUNT_COLUMNS = (
    "detector_id",
    "interval_end",
    "interval_s",
    "count",
    "occupancy",
    "mean_speed_kmh",
)


def write_counts_csv(records: Iterable[CountRecord], path: Path) -> int:
    """Counts as the replay CSV (``interval_end`` RFC 3339); returns the number of rows."""
    n = 0
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(COUNT_COLUMNS)
        for r in records:
            w.writerow(
                [
                    r.detector_id,
                    r.interval_end.isoformat(),
                    r.interval_s,
                    r.count,
                    "" if r.occupancy is None else f"{r.occupancy:.4f}",
                    "" if r.mean_speed_kmh is None else f"{r.mean_speed_kmh:.1f}",
                ]
            )
            n += 1
    return n


def write_registry_csv(specs: Iterable[DetectorSpec], net_path: Path, path: Path) -> int:
    """A detector registry by position: id, lat, lon, bearing of travel, lanes (=1 per loop)."""
    import sumolib
    from sumolib.geomhelper import positionAtShapeOffset

    net = sumolib.net.readNet(str(net_path))
    if not net.hasGeoProj():
        raise ScenarioError(
            str(net_path), "the network has no geo-reference: cannot place detectors"
        )
    n = 0
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(("detector_id", "lat", "lon", "bearing", "lanes"))
        for d in specs:
            lane = net.getLane(d.lane)
            shape = lane.getShape()
            pos = min(max(d.pos_m, 0.0), lane.getLength())
            x, y = positionAtShapeOffset(shape, pos)
            (x0, y0), (x1, y1) = _segment_at(shape, pos)
            bearing = (math.degrees(math.atan2(x1 - x0, y1 - y0)) + 360.0) % 360.0
            lon, lat = net.convertXY2LonLat(x, y)
            w.writerow([d.id, f"{lat:.7f}", f"{lon:.7f}", f"{bearing:.1f}", 1])
            n += 1
    return n


def write_approach_registry_csv(
    specs: Iterable[DetectorSpec], network: Network, path: Path
) -> tuple[int, list[str]]:
    """A lane-level detector registry for a network built from the scenario's ``.net.xml``.

    A detector counts for the lane it sits on (one lane per loop): a lane of a signalised
    approach (``junction_id``, ``approach_id`` and ``lane_id``), or else a lane of a signalised
    junction's exit (``lane_id`` only: it counts that junction's outflow). Returns the number of
    rows written and the ids of detectors on neither, which are left out.
    """
    on_approach = {
        ln.id: (j.id, a.id) for j in network.junctions for a in j.approaches for ln in a.lane_detail
    }
    on_exit = {lid for j in network.junctions for x in j.exits for lid in x.lane_ids}
    n = 0
    skipped: list[str] = []
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(("detector_id", "junction_id", "approach_id", "lane_id", "lanes"))
        for d in specs:
            if d.lane in on_approach:
                junction, approach = on_approach[d.lane]
                w.writerow([d.id, junction, approach, d.lane, 1])
            elif d.lane in on_exit:
                w.writerow([d.id, "", "", d.lane, 1])
            else:
                skipped.append(d.id)
                continue
            n += 1
    return n, skipped


def _segment_at(shape: list[tuple[float, float]], offset: float) -> tuple[tuple[float, float], ...]:
    seen = 0.0
    for a, b in itertools.pairwise(shape):
        seg = math.dist(a, b)
        if seen + seg >= offset:
            return a, b
        seen += seg
    return shape[-2], shape[-1]
