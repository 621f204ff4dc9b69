"""The rerouting stage's link state from the counts (single readings and gateway batches) and its
congestion detection, on the drawn ladder network: what is kept, what is merged, what becomes an
incident and what does not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec

from graph.routing import EdgeKey, RoutableGraph
from streams.events import Incident, IncidentLocation, TrafficCount, TrafficCountBatch
from streams.reroute_stage import ActiveIncidents, LinkReadings, detected_incidents, link_readings
from streams.rerouting import RerouteContext
from tests.unit.streams.test_rerouting import MAIN, PARALLEL, ladder

T0 = datetime(2026, 3, 10, 17, 0, tzinfo=UTC)


def _board(tmp_path: Path) -> tuple[RoutableGraph, RerouteContext, EdgeKey, LinkReadings]:
    rg = ladder(tmp_path)
    ctx = RerouteContext.build(rg)
    edge = rg.edge_on_way(MAIN, 2)
    # two detectors (one per lane) on Grande Rue 2 -> 3, one on the parallel street
    other = rg.edge_on_way(PARALLEL, 11, 12)
    board = link_readings(ctx, {"D1": edge, "D2": edge, "P1": other})
    return rg, ctx, edge, board


def _count(det: str, minute: int, count: int, occupancy: float | None = None) -> TrafficCount:
    return TrafficCount(
        detector_id=det,
        interval_end=T0 + timedelta(minutes=minute),
        interval_s=60,
        count=count,
        occupancy=occupancy,
    )


def test_flows_of_a_links_detectors_add_up_per_interval(tmp_path: Path) -> None:
    _, _, edge, board = _board(tmp_path)
    enc = msgspec.json.encode
    assert board.add_record(enc(_count("D1", 1, 10))) == 1
    assert board.add_record(enc(_count("D2", 1, 5))) == 1
    assert board.add_record(enc(_count("D1", 1, 99))) == 1  # redelivered: the first one stays
    assert board.add_record(enc(_count("NOBODY", 1, 7))) == 0  # measures no link of the graph
    assert board.add_record(b"{not json") == 0
    state = board.states()[edge]
    assert state.flow_vph == (10 + 5) * 60
    assert state.capacity_vph == board.capacities[edge]


def test_advice_uses_readings_from_before_the_incident(tmp_path: Path) -> None:
    _, _, edge, board = _board(tmp_path)
    for minute, count in ((1, 10), (2, 20), (3, 30)):
        board.add(_count("D1", minute, count))
    assert board.states(before=T0 + timedelta(minutes=2))[edge].flow_vph == 20 * 60
    assert edge not in board.states(before=T0)  # nothing measured before


def test_gateway_batches_feed_the_link_state(tmp_path: Path) -> None:
    _, _, edge, board = _board(tmp_path)
    batch = TrafficCountBatch(
        gateway_id="G1", readings=(_count("D1", 1, 12), _count("NOBODY", 1, 3))
    )
    value = msgspec.json.encode(batch)
    assert board.add_batch(b"G1", value) == 1
    assert board.add_batch(b"other-key", value) == 0  # the ingest stage dead-letters it
    assert board.add_batch(b"G1", b"[]") == 0
    assert board.states()[edge].flow_vph == 12 * 60


def _jam(board: LinkReadings, det: str) -> None:
    """Occupancy rising from 0.2 to 0.45 while the flow falls from 30 to 15 veh/min."""
    for minute in range(1, 7):
        board.add(_count(det, minute, 33 - 3 * minute, occupancy=0.15 + 0.05 * minute))


def test_congestion_becomes_a_detected_incident(tmp_path: Path) -> None:
    _, ctx, edge, board = _board(tmp_path)
    _jam(board, "D1")
    for minute in range(1, 7):  # the parallel street flows freely
        board.add(_count("P1", minute, 10, occupancy=0.08))
    now = T0 + timedelta(minutes=6)
    (found,) = detected_incidents(ctx, board.states(), ActiveIncidents(), now)
    assert found.kind == "congestion"
    assert found.source == "detection"
    assert found.location == IncidentLocation(osm_way_id=MAIN, from_node=edge[0], to_node=edge[1])
    assert 0 < found.capacity_factor < 1
    assert found.flow_vph == 15 * 60
    assert found.note  # the signature it saw
    assert found.starts_at == now
    # the incident decodes as the topic's schema says
    assert msgspec.json.decode(msgspec.json.encode(found), type=Incident) == found


def test_a_link_an_active_incident_covers_is_not_detected_again(tmp_path: Path) -> None:
    _, ctx, edge, board = _board(tmp_path)
    _jam(board, "D1")
    active = ActiveIncidents()
    declared = Incident(
        incident_id="works",
        kind="closure",
        location=IncidentLocation(osm_way_id=MAIN, from_node=edge[0]),
        starts_at=T0,
        reported_by="PC",
    )
    active.apply(declared, (edge,))
    assert detected_incidents(ctx, board.states(), active, T0 + timedelta(minutes=6)) == []
    active.apply(msgspec.structs.replace(declared, status="cleared"), (edge,))
    assert len(detected_incidents(ctx, board.states(), active, T0 + timedelta(minutes=6))) == 1
