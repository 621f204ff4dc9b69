"""Write data/demo/counts.csv.gz: one hour of SYNTHETIC one-minute counts for every demo detector.

These are not measurements. The mean flow of a detector is a level per lane by road class
(``VEH_PER_LANE_HOUR``) times its lanes, times a fixed factor of its own (``DETECTOR_SPREAD``:
no two streets carry quite the same), times an evening-peak profile (``profile``); each minute's
count is a Poisson draw around it. A fixed seed makes the file reproducible. The digital twin
produces simulated counts for the same detectors (docs/twin.md, "The demo city").

The levels are sized to what the demo twin serves, measured on 2026-11-26 by scaling the demand
fitted to the first version of these counts (520 veh/h per lane on primary roads at the peak):
with netconvert's signals, Webster timing or actuated control, at most 3 of 3,270 vehicles
cannot enter at 0.7 of it; at 0.8, 10 to 211 cannot and the delay nearly doubles. The levels
below are about 0.55 of the first version on primary and tertiary roads at the peak, 0.6 over
the hour, so that an approach at its class's level loads the twin to about 0.8 of what it
serves (docs/twin.md, "How the counts are sized").

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
    "primary": 280.0,
    "secondary": 240.0,
    "tertiary": 170.0,
    "unclassified": 100.0,
    "residential": 80.0,
}
"""Peak demand per lane (veh/h) by road class; other classes get ``OTHER_VEH_PER_LANE_HOUR``."""
OTHER_VEH_PER_LANE_HOUR = 120.0
DETECTOR_SPREAD = (0.12, 0.8, 1.2)
"""Each detector's own factor: lognormal with this sigma, clipped to [0.8, 1.2]."""
# a Tuesday evening, Paris winter time
START = datetime(2026, 3, 10, 17, 0, tzinfo=timezone(timedelta(hours=1)))
MINUTES = 60
PEAK_MINUTE = 40
SEED = 20260310


def profile(minute: int) -> float:
    """Share of peak demand: 0.8 at 17:00, 1.0 at 17:40, 0.94 at 18:00."""
    return 0.8 + 0.2 * math.sin(math.pi * minute / (2 * PEAK_MINUTE))


def main() -> None:
    s = Settings()
    network = load_network(s.network_file, s.cache_dir)
    rows, _ = detector_rows(s.detector_registry, network)
    approaches = {a.id: a for j in network.junctions for a in j.approaches}
    rng = np.random.default_rng(SEED)
    sigma, low, high = DETECTOR_SPREAD
    peak: dict[str, float] = {}
    for det, _junction, approach_id, lanes in sorted(rows):
        road_class = approaches[approach_id].road_class
        level = VEH_PER_LANE_HOUR.get(road_class, OTHER_VEH_PER_LANE_HOUR)
        peak[det] = level * lanes * float(np.clip(rng.lognormal(0.0, sigma), low, high))
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["detector_id", "interval_end", "interval_s", "count"])
    for minute in range(1, MINUTES + 1):
        end = START + timedelta(minutes=minute)
        for det in sorted(peak):
            mean = peak[det] * profile(minute) / 60.0
            w.writerow([det, end.isoformat(), 60, int(rng.poisson(mean))])
    path = DEMO_DIR / "counts.csv.gz"
    path.write_bytes(gzip.compress(out.getvalue().encode(), mtime=0))
    print(f"wrote {path} ({len(rows)} detectors x {MINUTES} minutes)")


if __name__ == "__main__":
    main()
