"""Fixtures for the twin integration tests: a small generated SUMO scenario, the shared data."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]


def shared_data() -> Path | None:
    """The shared data folder (env AIGUILLEUR_SHARED_DATA or <repo>/../shared/data), if present."""
    env = os.environ.get("AIGUILLEUR_SHARED_DATA")
    path = Path(env) if env else REPO.parent / "shared" / "data"
    return path if (path / "scenarios").is_dir() else None


@pytest.fixture(scope="session")
def scenarios_dir() -> Path:
    """The shared SUMO scenarios, or a skip when they are not on this machine."""
    d = shared_data()
    if d is None:
        pytest.skip(
            "shared data not found: set AIGUILLEUR_SHARED_DATA or place it at <repo>/../shared/data"
        )
    return d / "scenarios"


@pytest.fixture(scope="session")
def grid_scenario(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3x3 signalised grid with 10 minutes of random demand, generated with SUMO's own tools."""
    import sumo  # sets SUMO_HOME
    import sumolib

    d = tmp_path_factory.mktemp("grid")
    net = d / "grid.net.xml"
    subprocess.run(
        [
            sumolib.checkBinary("netgenerate"),
            "--grid",
            "--grid.number",
            "3",
            "--grid.length",
            "150",
            "--grid.attach-length",
            "100",
            "--default.lanenumber",
            "2",
            "--tls.guess",
            "true",
            "--tls.default-type",
            "static",
            "--output-file",
            str(net),
            "--no-warnings",
        ],
        check=True,
        capture_output=True,
    )
    tools = Path(sumo.SUMO_HOME) / "tools"
    routes = d / "grid.rou.xml"
    subprocess.run(
        [
            sys.executable,
            str(tools / "randomTrips.py"),
            "-n",
            str(net),
            "-o",
            str(d / "trips.xml"),
            "-r",
            str(routes),
            "-b",
            "0",
            "-e",
            "600",
            "-p",
            "1.5",
            "--seed",
            "7",
            "--fringe-factor",
            "10",
            "--validate",
        ],
        check=True,
        capture_output=True,
    )
    cfg = d / "grid.sumocfg"
    cfg.write_text(
        '<configuration><input><net-file value="grid.net.xml"/><route-files value="grid.rou.xml"/>'
        '</input><time><begin value="0"/><end value="600"/></time></configuration>\n'
    )
    return cfg
