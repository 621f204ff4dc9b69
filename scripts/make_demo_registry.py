"""Write data/demo/detectors.csv: one detector per approach of every junction of the demo city.

Detectors alternate between the two placements the registry accepts, so both are exercised:
odd ids by OSM way + the node the traffic comes from (+ ``to_node`` where that node sits
between two junctions on the way), even ids by lat/lon + bearing (a point
20 m upstream of the junction on the approach, bearing = direction of travel there). The script
then loads the file back and checks every detector maps to the approach it was made for.

    .venv/bin/python scripts/make_demo_registry.py [--source FILE] [--out CSV]
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from graph.osm import load_network  # noqa: E402
from graph.registry import load_registry  # noqa: E402
from twin.calibration import point_upstream  # noqa: E402

UPSTREAM_M = 20.0
HEADER = ["detector_id", "osm_way_id", "from_node", "to_node", "lat", "lon", "bearing", "lanes"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=REPO / "data/demo/lyon-villeurbanne.osm.gz")
    parser.add_argument("--out", type=Path, default=REPO / "data/demo/detectors.csv")
    args = parser.parse_args()
    network = load_network(args.source)
    rows: list[list[str]] = []
    expected: dict[str, str] = {}
    approaches = [a for j in network.junctions for a in j.approaches]
    for n, a in enumerate(approaches, start=1):
        det = f"D{n:04d}"
        expected[det] = a.id
        if n % 2 == 1:
            # Any node of the approach upstream of the junction names the direction.
            node = a.node_ids[0] if n % 4 == 1 else a.from_node
            # to_node only where the way leaves `node` towards two junctions.
            shared = [
                b for b in approaches if b.osm_way_id == a.osm_way_id and node in b.node_ids[:-1]
            ]
            to_node = a.to_node if len(shared) > 1 else ""
            rows.append([det, str(a.osm_way_id), node, to_node, "", "", "", str(a.lanes)])
        else:
            lon, lat, bearing = point_upstream(a, UPSTREAM_M)
            rows.append(
                [det, "", "", "", f"{lat:.7f}", f"{lon:.7f}", f"{bearing:.0f}", str(a.lanes)]
            )
    with args.out.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(HEADER)
        w.writerows(rows)
    registry = load_registry(args.out, network)
    wrong = [
        (s.detector_id, s.approach_id, expected[s.detector_id])
        for s in registry.sites()
        if s.approach_id != expected[s.detector_id]
    ]
    for u in registry.unmapped:
        print(f"unmapped {u.detector_id} (line {u.line}): {u.reason}", file=sys.stderr)
    for det, got, want in wrong:
        print(f"{det} snapped to {got}, made for {want}", file=sys.stderr)
    zones = {s.zone_id for s in registry.sites()}
    print(
        f"wrote {args.out}: {len(rows)} detectors on {len(network.junctions)} junctions "
        f"in {len(zones)} zones ({len(registry.unmapped)} unmapped, {len(wrong)} misplaced)"
    )
    return 1 if registry.unmapped or wrong else 0


if __name__ == "__main__":
    raise SystemExit(main())
