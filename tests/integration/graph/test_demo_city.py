"""The committed demo city (Villeurbanne / Lyon 6e), checked against facts from the raw file."""

from __future__ import annotations

import gzip
import xml.etree.ElementTree as ET
from functools import cache
from pathlib import Path

import osmium
import pytest

from graph._reader import is_drivable
from graph.model import Network
from graph.osm import load_network
from graph.registry import load_registry

from .conftest import DEMO_DETECTORS, DEMO_OSM
from .invariants import check_network

pytestmark = pytest.mark.integration


@cache
def raw() -> tuple[dict[str, dict[str, str]], dict[str, list[str]], dict[str, dict[str, str]]]:
    """(way tags, way node refs, node tags) read with ElementTree, independent of the builder."""
    with gzip.open(DEMO_OSM) as f:
        root = ET.parse(f).getroot()
    way_tags, way_nodes, node_tags = {}, {}, {}
    for w in root.iter("way"):
        way_tags[w.get("id", "")] = {t.get("k", ""): t.get("v", "") for t in w.iter("tag")}
        way_nodes[w.get("id", "")] = [n.get("ref", "") for n in w.iter("nd")]
    for n in root.iter("node"):
        tags = {t.get("k", ""): t.get("v", "") for t in n.iter("tag")}
        if tags:
            node_tags[n.get("id", "")] = tags
    return way_tags, way_nodes, node_tags


def test_invariants(demo_network: Network) -> None:
    check_network(demo_network)


def test_every_signal_on_a_road_belongs_to_exactly_one_junction(demo_network: Network) -> None:
    way_tags, way_nodes, node_tags = raw()
    on_roads = {n for w, nodes in way_nodes.items() if is_drivable(way_tags[w]) for n in nodes}
    signals = {
        n
        for n, t in node_tags.items()
        if n in on_roads
        and (t.get("highway") == "traffic_signals" or t.get("crossing") == "traffic_signals")
    }
    owned = [s for j in demo_network.junctions for s in j.signal_node_ids]
    assert len(owned) == len(set(owned))
    assert set(owned) == signals
    assert len(signals) == 160


def test_cours_emile_zola_x_cours_de_la_republique(demo_network: Network) -> None:
    """Hand-checked: a T on Cours Émile Zola (two-way); Cours de la République enters from the
    north (two-way way 977421082) and leaves south as one-way way 1001535904; signalised
    crossings 1775533761 and 1775533775 sit within 20 m and join the junction."""
    j = demo_network.junction("osm-25932604")
    assert {"1775533761", "1775533775"} <= set(j.node_ids)
    assert sorted(a.osm_way_id or 0 for a in j.approaches) == [779291539, 779291540, 977421082]
    assert {a.name for a in j.approaches} == {"Cours Émile Zola", "Cours de la République"}
    assert 1001535904 in {e.osm_way_id for e in j.exits}
    assert len(j.movements) == 9
    # Two phases: the Émile Zola pair, then République; crossings make both pedestrian phases.
    assert len(j.phases) == 2
    zola = {a.id for a in j.approaches if a.name == "Cours Émile Zola"}
    assert set(j.phases[0].approach_ids) == zola
    assert j.pedestrian_clearance_s > 0


def test_herminier_x_emile_zola_lanes_read_from_osm(demo_network: Network) -> None:
    """Hand-checked around Avenue du Commandant l'Herminier / Cours Émile Zola: the signalised
    intersections 58584500 and 1423350636 are 11.5 m apart and form one junction; Rue Docteur
    Rollet (way 128930534) is one-way, lanes=2, turn:lanes=left;through|through;right, no
    maxspeed; Cours Émile Zola (ways 207908670, 670257355) is two-way, lanes=2, maxspeed=50."""
    j = demo_network.junction("osm-58584500")
    assert {"58584500", "1423350636"} <= set(j.node_ids)
    rollet = j.approach("osm-58584500:128930534:7138305317")
    assert rollet.lanes == 2
    assert rollet.turn_lanes == ("left;through", "through;right")
    assert "lanes" not in rollet.guessed
    assert "free_speed_mps" in rollet.guessed
    zola = [a for a in j.approaches if a.osm_way_id in (207908670, 670257355)]
    assert len(zola) == 2
    for a in zola:
        assert a.lanes == 1
        assert "lanes" not in a.guessed
        assert a.free_speed_mps == pytest.approx(50 / 3.6, abs=0.01)
        assert "free_speed_mps" not in a.guessed
    # Travelling east on Émile Zola, Rue Docteur Rollet (heading south) is a right turn.
    east = next(a for a in zola if 45 < a.bearing_deg < 135)
    to_rollet = [
        m
        for m in j.movements
        if m.approach_id == east.id and m.exit_id.split(":")[1] == "128930533"
    ]
    assert [m.turn for m in to_rollet] == ["right"]


def test_lanes_and_speeds_match_the_tags(demo_network: Network) -> None:
    way_tags, _, _ = raw()
    checked = 0
    for j in demo_network.junctions:
        for a in j.approaches:
            tags = way_tags[str(a.osm_way_id)]
            if tags.get("oneway") == "yes" and "lanes" in tags and "turn:lanes" not in tags:
                assert a.lanes == int(tags["lanes"]), a.id
                assert "lanes" not in a.guessed
                checked += 1
            if tags.get("maxspeed", "").isdigit():
                assert a.free_speed_mps == pytest.approx(int(tags["maxspeed"]) / 3.6, abs=0.01)
            else:
                assert "free_speed_mps" in a.guessed
    assert checked >= 5


def test_demo_registry_maps_one_detector_per_approach(demo_network: Network) -> None:
    reg = load_registry(DEMO_DETECTORS, demo_network)
    assert reg.unmapped == ()
    approach_ids = sorted(a.id for j in demo_network.junctions for a in j.approaches)
    assert sorted(s.approach_id for s in reg.sites()) == approach_ids
    zones = {j.id: j.zone_id for j in demo_network.junctions}
    assert all(s.zone_id == zones[s.junction_id] for s in reg.sites())


def test_pbf_gives_the_same_network(tmp_path: Path, demo_network: Network) -> None:
    pbf = tmp_path / "lyon.osm.pbf"
    with osmium.SimpleWriter(str(pbf)) as writer:
        for obj in osmium.FileProcessor(str(DEMO_OSM)):
            writer.add(obj)
    from_pbf = load_network(pbf)
    assert from_pbf.junctions == demo_network.junctions
    assert from_pbf.links == demo_network.links
