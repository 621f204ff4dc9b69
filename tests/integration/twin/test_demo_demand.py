"""The demo twin's demand: rebuilt byte for byte, fitted to the demo counts, and what a twin run
of it gives back at the demo detectors.

The thresholds are the values measured on 2026-11-26 (docs/twin.md, "The demo city") less a
margin; a rebuild that fits worse, or a network that serves the demand worse, fails them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from twin.calibration import (
    bin_counts,
    compare,
    counts_start,
    edge_counts,
    read_count_rows,
    read_detector_edges,
    route_edge_counts,
)
from twin.demo import DETECTOR_EDGES, FIT_INTERVAL_S, NAME, build_demo_twin, demo_feed, demo_fit

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
DEMO = REPO / "data" / "demo"
TWIN = DEMO / "twin"
COUNTS = DEMO / "counts.csv.gz"


def test_rebuild_gives_the_committed_files(tmp_path: Path) -> None:
    build_demo_twin(
        DEMO / "lyon-villeurbanne.osm.gz",
        tmp_path,
        counts=COUNTS,
        registry=DEMO / "detectors.csv",
    )
    committed = sorted(p.name for p in TWIN.iterdir())
    assert sorted(p.name for p in tmp_path.iterdir()) == committed
    for name in committed:
        assert (tmp_path / name).read_bytes() == (TWIN / name).read_bytes(), (
            f"{name} differs: run `aiguilleur twin demo-build` and commit data/demo/twin/"
        )


def test_the_demand_carries_the_counts_before_simulation() -> None:
    """What routeSampler fitted: vehicles by departure quarter hour on each counted edge."""
    rows = read_count_rows(COUNTS)
    placed = read_detector_edges(TWIN / DETECTOR_EDGES)
    assert len(placed) == len({r.detector_id for r in rows})  # every demo detector is placed
    observed = edge_counts(bin_counts(rows, counts_start(rows), FIT_INTERVAL_S, 4), placed)
    routed = route_edge_counts(TWIN / f"{NAME}.rou.xml.gz", observed, FIT_INTERVAL_S, 4)
    fit = compare(observed, routed, FIT_INTERVAL_S)
    assert fit.detectors == len(set(placed.values()))
    assert fit.hourly_geh_ok >= 0.97  # measured 1.000
    assert fit.interval_geh_ok >= 0.95  # measured 0.984
    assert fit.r2 >= 0.97  # measured 0.990
    assert fit.simulated_total == pytest.approx(fit.observed_total, rel=0.03)  # measured -1.8 %


def test_a_twin_run_gives_the_counts_back_at_the_demo_detectors() -> None:
    """One simulated hour (netconvert's fixed-time programmes, SUMO's jam teleport), read at the
    twin's loops on each demo detector's edge. The counts are sized below what the twin serves,
    so a run gives most of them back (docs/twin.md)."""
    feed = demo_feed(TWIN, COUNTS)
    assert len(feed.unmeasured) <= 6  # detectors on edges SUMO does not signalise
    fit = demo_fit(feed, COUNTS)
    assert fit.detectors >= 113
    assert fit.hourly_geh_ok >= 0.9  # measured 0.982
    assert fit.r2 >= 0.85  # measured 0.934
    assert fit.mae <= 25  # measured 16.6 veh/h
    assert fit.simulated_total >= 0.85 * fit.observed_total  # measured 0.91
