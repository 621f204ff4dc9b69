"""Write data/demo/counts.csv.gz: one hour of SYNTHETIC one-minute counts for every demo detector.

Demand per lane by road class (documented below), a morning-peak profile centred on 08:00 and
Poisson noise, with a fixed seed so the file is reproducible. These are not measurements: the
digital twin produces simulated counts for the same detectors (docs/twin.md).

    .venv/bin/python scripts/make_demo_counts.py
"""

from __future__ import annotations

import csv
import gzip
import io
import math
from datetime import datetime, timedelta, timezone

import numpy as np

from aiguilleur.settings import DEMO_DIR, Settings
from aiguilleur.wiring import detector_rows, load_network

VEH_PER_LANE_HOUR = {
    "primary": 520.0,
    "secondary": 420.0,
    "tertiary": 300.0,
    "unclassified": 150.0,
    "residential": 110.0,
}
"""Peak-hour demand per lane; other classes get 200 veh/h."""
# a Tuesday, Paris winter time
START = datetime(2026, 3, 10, 7, 30, tzinfo=timezone(timedelta(hours=1)))
MINUTES = 60
SEED = 20260310


def profile(minute: int) -> float:
    """Share of peak demand: 0.7 at 07:30 and 08:30, 1.0 at 08:00."""
    return 0.7 + 0.3 * math.sin(math.pi * minute / MINUTES)


def main() -> None:
    s = Settings()
    network = load_network(s.network_file, s.cache_dir)
    rows, _ = detector_rows(s.detector_registry, network)
    approaches = {a.id: a for j in network.junctions for a in j.approaches}
    rng = np.random.default_rng(SEED)
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["detector_id", "interval_end", "interval_s", "count"])
    for minute in range(1, MINUTES + 1):
        end = START + timedelta(minutes=minute)
        for det, _junction, approach_id, lanes in sorted(rows):
            per_lane = VEH_PER_LANE_HOUR.get(approaches[approach_id].road_class, 200.0)
            mean = per_lane * lanes * profile(minute) / 60.0
            w.writerow([det, end.isoformat(), 60, int(rng.poisson(mean))])
    path = DEMO_DIR / "counts.csv.gz"
    path.write_bytes(gzip.compress(out.getvalue().encode(), mtime=0))
    print(f"wrote {path} ({len(rows)} detectors x {MINUTES} minutes)")


if __name__ == "__main__":
    main()
