"""The demo's sensor feed from the twin: counts the replay accepts, detectors the registry maps."""

from __future__ import annotations

from pathlib import Path

import pytest

from aiguilleur.replay import BadRow, read_counts
from graph.osm import load_network
from graph.registry import load_registry
from twin import RunOptions, load_scenario, run_twin
from twin.demo import NAME
from twin.export import write_counts_csv, write_registry_csv

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]


def test_twin_counts_feed_the_demo(tmp_path: Path) -> None:
    sc = load_scenario(REPO / "data" / "demo" / "twin" / f"{NAME}.sumocfg", end_s=600)
    res = run_twin(
        sc, "programme", RunOptions(progress=False, keep_counts=True, count_interval_s=300)
    )
    n = write_counts_csv(res.counts, tmp_path / "counts.csv")
    write_registry_csv(res.detectors, sc.net, tmp_path / "detectors.csv")

    bad: list[BadRow] = []
    rows = read_counts(tmp_path / "counts.csv", bad)
    assert bad == []
    assert len(rows) == n == 2 * len(res.detectors)
    assert sum(r.count for r in rows) > 100

    # the twin's loops land on the approaches aiguilleur builds from the same OSM extract
    network = load_network(REPO / "data" / "demo" / "lyon-villeurbanne.osm.gz")
    registry = load_registry(tmp_path / "detectors.csv", network)
    assert len(registry) >= 0.8 * len(res.detectors)
    assert len(registry) + len(registry.unmapped) == len(res.detectors)


def test_twin_counts_replay_as_the_demo_detectors(tmp_path: Path) -> None:
    """`aiguilleur demo --source twin`: the twin's loops read as the demo registry's detectors."""
    from aiguilleur.settings import DEMO_DIR
    from twin.demo import demo_feed

    feed = demo_feed(DEMO_DIR / "twin", DEMO_DIR / "counts.csv.gz", end_s=600)
    write_counts_csv(feed.counts, tmp_path / "counts.csv")
    bad: list[BadRow] = []
    rows = read_counts(tmp_path / "counts.csv", bad)
    assert bad == []
    recorded = read_counts(DEMO_DIR / "counts.csv.gz", bad)
    assert rows[0].interval_end == recorded[0].interval_end  # the recorded hour's clock
    assert {r.interval_s for r in rows} == {60}
    ids = {r.detector_id for r in rows}
    assert ids | set(feed.unmeasured) == {r.detector_id for r in recorded}
    assert len(rows) == 10 * len(ids)  # every measured detector, every minute
    assert sum(r.count for r in rows) > 1000
    network = load_network(DEMO_DIR / "lyon-villeurbanne.osm.gz")
    registry = load_registry(DEMO_DIR / "detectors.csv", network)
    assert all(registry.get(d) is not None for d in ids)
