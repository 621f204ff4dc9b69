"""The shared OSM extracts (skipped when absent): cities the builder was not written against."""

from __future__ import annotations

from pathlib import Path

import osmium
import pytest

from graph._reader import is_drivable
from graph._signals import is_signal
from graph.model import Network
from graph.osm import load_network, load_network_with_report

from .conftest import shared_osm
from .invariants import check_network

pytestmark = [pytest.mark.integration, pytest.mark.shared_data]

FILES = ["helsinki.osm.pbf", "monaco.osm.pbf", "west-oakland.osm.bz2", "lyon-villeurbanne.osm.gz"]


def _raw_signals(path: Path) -> set[str]:
    """Signal nodes lying on drivable ways, read straight from the file."""
    signal_nodes: set[int] = set()
    on_roads: set[int] = set()
    for obj in osmium.FileProcessor(str(path)):
        if isinstance(obj, osmium.osm.Node) and is_signal(dict(obj.tags)):
            signal_nodes.add(obj.id)
        elif isinstance(obj, osmium.osm.Way) and is_drivable(dict(obj.tags)):
            on_roads.update(n.ref for n in obj.nodes)
    return {str(n) for n in signal_nodes & on_roads}


@pytest.fixture(scope="module", params=FILES)
def built(request: pytest.FixtureRequest) -> tuple[Path, Network, int]:
    path = shared_osm(request.param)
    net, report = load_network_with_report(path)
    return path, net, len(report.dropped)


def test_invariants(built: tuple[Path, Network, int]) -> None:
    check_network(built[1])


def test_signals_are_owned_once(built: tuple[Path, Network, int]) -> None:
    path, net, dropped = built
    owned = [s for j in net.junctions for s in j.signal_node_ids]
    assert len(owned) == len(set(owned))
    raw = _raw_signals(path)
    assert set(owned) <= raw
    # Only clusters left out (signals at the cut edge of the extract) may miss.
    assert len(raw - set(owned)) <= 3 * dropped


def test_helsinki_annankatu_x_bulevardi() -> None:
    """A plain four-arm cross of two two-way streets in central Helsinki."""
    net = load_network(shared_osm("helsinki.osm.pbf"))
    j = net.junction("osm-25291565")
    assert {a.name for a in j.approaches} == {"Annankatu", "Bulevardi"}
    assert len(j.approaches) == 4
    assert len(j.movements) == 12
    assert len(j.phases) == 2
    for p in j.phases:
        assert len({net_a.split(":")[1] for net_a in p.approach_ids}) == 2  # one street per phase
    assert any(p.pedestrian for p in j.phases)


def test_west_oakland_7th_x_wood() -> None:
    """7th Street (three lanes, turn:lanes with a left-only lane) crosses Wood Street."""
    net = load_network(shared_osm("west-oakland.osm.bz2"))
    j = net.junction("osm-53131081")
    assert len(j.approaches) == 4
    seventh = j.approach("osm-53131081:417704456:436647881")
    assert seventh.name == "7th Street"
    assert seventh.lanes == 3
    assert seventh.turn_lanes == ("left", "left;through", "")
    left = [m for m in j.movements if m.approach_id == seventh.id and m.turn == "left"]
    assert len(left) == 1
    assert left[0].protected
    assert len(j.phases) == 3


def test_monaco_boulevard_des_moulins_x_rue_des_iris() -> None:
    net = load_network(shared_osm("monaco.osm.pbf"))
    j = net.junction("osm-21915639")
    assert {a.name for a in j.approaches} == {"Boulevard des Moulins", "Rue des Iris"}
    assert len(j.approaches) == 3
