"""Real OSM extracts: the committed demo city and, when present, the shared ones."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from graph.model import Network
from graph.osm import load_network

REPO = Path(__file__).resolve().parents[3]
DEMO_OSM = REPO / "data" / "demo" / "lyon-villeurbanne.osm.gz"
DEMO_DETECTORS = REPO / "data" / "demo" / "detectors.csv"


def shared_osm_dir() -> Path | None:
    """``osm/`` of the shared data (env AIGUILLEUR_SHARED_DATA or <repo>/../shared/data)."""
    env = os.environ.get("AIGUILLEUR_SHARED_DATA")
    base = Path(env) if env else REPO.parent / "shared" / "data"
    d = base / "osm"
    return d if d.is_dir() else None


def shared_osm(name: str) -> Path:
    """A shared OSM file, or a skip saying why it is missing."""
    d = shared_osm_dir()
    if d is None:
        pytest.skip(
            "shared data not found: set AIGUILLEUR_SHARED_DATA or use <repo>/../shared/data"
        )
    path = d / name
    if not path.is_file():
        pytest.skip(f"{name} is not in {d}")
    return path


@pytest.fixture(scope="session")
def demo_network() -> Network:
    return load_network(DEMO_OSM)
