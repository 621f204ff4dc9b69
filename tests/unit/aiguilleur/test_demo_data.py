"""The committed demo data agree: every counted detector is in the registry, and mapped."""

from __future__ import annotations

from aiguilleur.replay import BadRow, read_counts
from aiguilleur.settings import DEMO_DIR, Settings
from aiguilleur.wiring import detector_rows, load_network


def test_counts_and_registry_name_the_same_detectors() -> None:
    s = Settings()
    network = load_network(s.network_file, s.cache_dir)
    rows, unmapped = detector_rows(s.detector_registry, network)
    assert unmapped == 0
    bad: list[BadRow] = []
    counted = {r.detector_id for r in read_counts(DEMO_DIR / "counts.csv.gz", bad)}
    assert not bad
    assert counted == {det for det, *_ in rows}, "regenerate: scripts/make_demo_counts.py"


def test_demo_data_keeps_its_attribution() -> None:
    notice = (DEMO_DIR / "NOTICE.md").read_text()
    assert "OpenStreetMap contributors" in notice
    assert "ODbL" in notice
