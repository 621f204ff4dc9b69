"""Reroute advice on small drawn networks: a main road with a parallel street, a dead end, a
residential rat run; what is advised, what is refused and why, in both languages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from graph.diversions import DiversionPolicy
from graph.routing import EdgeKey, RoutableGraph, build_routable_graph
from optimizer.link_state import LinkReading, link_state
from streams.events import Incident, IncidentLocation
from streams.rerouting import RerouteConfig, RerouteContext, advise, cleared_advice
from tests.unit.graph.osm_builder import OsmBuilder

T0 = datetime(2026, 3, 10, 17, 0, tzinfo=UTC)
MAIN = 500
PARALLEL = 600


def ladder(tmp_path: Path, parallel: str = "secondary", link: str = "tertiary") -> RoutableGraph:
    """Grande Rue runs east along nodes 1..6 (200 m apart, one-way), its last block a dead end;
    Rue Parallèle 300 m north along 11..15; cross streets join 2-12 and 4-14 (Rue du Nord, Rue
    du Sud); a residential lane leaves node 3 south to 30."""
    b = OsmBuilder()
    for i in range(1, 6):
        b.node(i, 200 * (i - 1), 0)
        b.node(10 + i, 200 * (i - 1), 300)
    b.node(6, 1000, 0)
    b.node(30, 400, -150)
    b.way(MAIN, [1, 2, 3, 4, 5, 6], highway="primary", name="Grande Rue", lanes="2", oneway="yes")
    b.way(PARALLEL, [11, 12, 13, 14, 15], highway=parallel, name="Rue Parallèle")
    b.way(701, [2, 12], highway=link, name="Rue du Nord")
    b.way(702, [14, 4], highway=link, name="Rue du Sud")
    b.way(703, [3, 30], highway="residential", name="Impasse")
    return build_routable_graph(b.write(tmp_path / "ladder.osm"))


def _edge(rg: RoutableGraph, way: int, node: int) -> EdgeKey:
    return rg.edge_on_way(way, node)


def _incident(way: int, node: int, **kw: object) -> Incident:
    base = Incident(
        incident_id="inc-1",
        kind="closure",
        location=IncidentLocation(osm_way_id=way, from_node=node),
        starts_at=T0,
        reported_by="PC Lyon",
    )
    return base if not kw else type(base)(**{**_fields(base), **kw})


def _fields(inc: Incident) -> dict[str, object]:
    return {f: getattr(inc, f) for f in inc.__struct_fields__}


def test_closure_diverts_along_the_parallel_street(tmp_path: Path) -> None:
    rg = ladder(tmp_path)
    closed = _edge(rg, MAIN, 3)  # Grande Rue between nodes 3 and 4
    out = advise(_incident(MAIN, 3), closed, RerouteContext.build(rg), {}, T0, RerouteConfig())
    assert [a.kind for a in out] == ["diversion"]
    (a,) = out
    assert a.decision_point is not None
    assert a.decision_point.node == 2  # the last turn before the closure
    (alt,) = a.alternatives
    assert alt.via == ("Rue du Nord", "Rue Parallèle", "Rue du Sud")
    assert alt.node_ids[0] == 2
    assert alt.node_ids[-1] == 4
    assert alt.share == 1.0
    assert a.status == "proposed"
    assert a.valid_until - a.valid_from == timedelta(seconds=1800)
    # 30 % of the assumed flow (half of 2 x 1900 veh/h, no detector) follows the advice
    assert a.explanation.flow_source == "assumed"
    assert alt.flow_vph == round(0.3 * 0.5 * 2 * 1900)
    assert "Grande Rue is closed" in a.explanation.text_en
    assert "via Rue du Nord, Rue Parallèle, Rue du Sud" in a.explanation.text_en
    assert "Grande Rue est fermée" in a.explanation.text_fr
    assert "par Rue du Nord, Rue Parallèle, Rue du Sud" in a.explanation.text_fr
    assert any("assumed" in w for w in a.explanation.warnings)


def test_measured_flow_and_inputs_digest(tmp_path: Path) -> None:
    rg = ladder(tmp_path)
    closed = _edge(rg, MAIN, 3)
    ctx = RerouteContext.build(rg)
    d = rg.data(closed)
    reading = LinkReading(flow_vph=900)
    state = link_state(d["travel_time"], d["length"], d["capacity_vph"], [reading])
    one = advise(_incident(MAIN, 3), closed, ctx, {closed: state}, T0, RerouteConfig())
    again = advise(_incident(MAIN, 3), closed, ctx, {closed: state}, T0, RerouteConfig())
    assert one == again  # same inputs, same advice, same id
    assert one[0].explanation.flow_source == "measured"
    assert one[0].explanation.flow_vph == 900
    other = advise(_incident(MAIN, 3), closed, ctx, {}, T0, RerouteConfig())
    assert other[0].inputs_digest != one[0].inputs_digest


def test_dead_end_has_no_diversion_and_says_why(tmp_path: Path) -> None:
    rg = ladder(tmp_path)
    last = _edge(rg, MAIN, 5)  # the last block: nothing else reaches its end
    out = advise(_incident(MAIN, 5), last, RerouteContext.build(rg), {}, T0, RerouteConfig())
    (a,) = out
    assert (a.kind, a.reason) == ("no_diversion", "no_alternative")
    assert not a.alternatives
    assert a.decision_point is None
    assert "No diversion for Grande Rue" in a.explanation.text_en
    assert "no way around" in a.explanation.text_en
    assert "Pas de déviation pour Grande Rue" in a.explanation.text_fr
    # a lane with no intersection before it: nowhere to tell drivers
    lane = _edge(rg, 703, 3)
    (b,) = advise(_incident(703, 3), lane, RerouteContext.build(rg), {}, T0, RerouteConfig())
    assert (b.kind, b.reason) == ("no_diversion", "no_decision_point")


def test_policy_refuses_residential_rat_runs_unless_allowed(tmp_path: Path) -> None:
    rg = ladder(tmp_path, parallel="residential", link="residential")
    closed = _edge(rg, MAIN, 3)
    ctx = RerouteContext.build(rg)
    (refused,) = advise(_incident(MAIN, 3), closed, ctx, {}, T0, RerouteConfig())
    assert (refused.kind, refused.reason) == ("no_diversion", "policy_excludes")
    assert "residential" in refused.explanation.text_en
    allowed = RerouteConfig(policy=DiversionPolicy(excluded_classes=()))
    (a,) = advise(_incident(MAIN, 3), closed, ctx, {}, T0, allowed)
    assert a.kind == "diversion"


def test_other_closures_are_avoided(tmp_path: Path) -> None:
    rg = ladder(tmp_path)
    closed = _edge(rg, MAIN, 3)
    ctx = RerouteContext.build(rg)
    blocked = rg.edge_on_way(PARALLEL, 12, 13)  # Rue Parallèle closed eastbound elsewhere
    out = advise(_incident(MAIN, 3), closed, ctx, {}, T0, RerouteConfig(), others={blocked: 0.0})
    assert all(blocked not in rg.edges_along(alt.node_ids) for a in out for alt in a.alternatives)
    assert out[0].kind == "no_diversion"  # the only way around is closed too


def test_a_cleared_incident_withdraws_its_advice(tmp_path: Path) -> None:
    rg = ladder(tmp_path)
    closed = _edge(rg, MAIN, 3)
    inc = _incident(MAIN, 3, status="cleared")
    a = cleared_advice(inc, closed, RerouteContext.build(rg), RerouteConfig(), T0)
    assert (a.kind, a.reason) == ("no_diversion", "incident_cleared")
    assert a.valid_from == a.valid_until


@pytest.mark.parametrize("factor", [0.3, 0.6])
def test_congestion_keeps_the_road_open(tmp_path: Path, factor: float) -> None:
    rg = ladder(tmp_path)
    jammed = _edge(rg, MAIN, 3)
    inc = _incident(MAIN, 3, kind="congestion", capacity_factor=factor)
    out = advise(inc, jammed, RerouteContext.build(rg), {}, T0, RerouteConfig())
    assert out[0].kind == "diversion"
    assert "is congested" in out[0].explanation.text_en
    assert "est congestionnée" in out[0].explanation.text_fr
