"""Our signalised junctions against SUMO's netconvert on the demo city (the peer benchmark's check).

Every netconvert traffic-light programme must share an OSM node with, or lie within 30 m of, one
of our junctions, and every junction of ours must correspond to at least one programme.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.graph_bench import FileResult, compare, read_tls, run_netconvert
from graph._reader import read_roads
from graph.model import Network

from .conftest import DEMO_OSM

pytestmark = pytest.mark.integration


def test_every_junction_has_a_netconvert_counterpart(tmp_path: Path, demo_network: Network) -> None:
    _, net_file = run_netconvert(DEMO_OSM, tmp_path)
    tls = read_tls(net_file)
    result = FileResult(
        DEMO_OSM.name, 0, 0, len(demo_network.junctions), 0, 0, len(tls), 0, 0, 0, 0, 0
    )
    compare(demo_network, tls, result, {str(n) for n in read_roads(DEMO_OSM).coords})
    assert len(tls) > 0
    assert result.theirs_only == []
    assert result.ours_only == []
    # Most correspond one to one; the rest are joins one side makes and the other does not.
    assert result.one_to_one >= 0.8 * len(demo_network.junctions)
