"""The diverted flow reaches the signal planner: the board of advice in force, and a plan computed
for the traffic about to arrive (flow added, said in the explanation, covered by the digest)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec

import optimizer  # noqa: F401  # registers the planners
from graph.synthetic import crossroads
from optimizer.strategy import planner
from streams.diversion_board import DiversionBoard
from streams.events import (
    AdviceExplanation,
    AdviceLink,
    AdvicePoint,
    AdvisedAlternative,
    RerouteAdvice,
    ZoneReading,
)
from streams.planning import PlanningConfig, SiteRef, plan_junction
from streams.zone_state import ZoneState

T0 = datetime(2026, 3, 10, 17, 0, tzinfo=UTC)
MIN = 60_000


def _advice(incident: str, node: int, approaches: tuple[str, ...], flow: float) -> RerouteAdvice:
    return RerouteAdvice(
        advice_id=f"{incident}-{node}",
        incident_id=incident,
        kind="diversion",
        affected_link=AdviceLink(
            osm_way_id=1,
            from_node=1,
            to_node=2,
            name="Grande Rue",
            road_class="primary",
            length_m=200,
            capacity_vph=1900,
        ),
        decision_point=AdvicePoint(
            node=node, lat=45, lon=5, name="x", channel="navigation", distance_m=0, approach_node=9
        ),
        alternatives=(
            AdvisedAlternative(
                index=0,
                share=1.0,
                flow_vph=flow,
                via=("Rue Parallèle",),
                osm_way_ids=(3,),
                node_ids=(node, 4, 5),
                length_m=500,
                free_time_s=60,
                expected_time_s=70,
                max_load_ratio=0.8,
                signal_approaches=approaches,
            ),
        ),
        compliance_assumed=0.3,
        valid_from=T0,
        valid_until=T0 + timedelta(minutes=30),
        explanation=AdviceExplanation(
            method="m",
            objective="o",
            solver_status="optimal",
            flow_vph=flow / 0.3,
            flow_source="measured",
            continuing_share=0,
            unserved_vph=0,
            binding_constraints=(),
            no_advice_time_s=90,
            parameters={},
            text_en="",
            text_fr="",
        ),
        inputs_digest="d",
        model_version="m",
    )


def _ms(t: datetime) -> int:
    return int(t.timestamp() * 1000)


def test_board_adds_flows_in_their_window_and_forgets_cleared_incidents() -> None:
    board = DiversionBoard()
    board.apply(_advice("a", 7, ("J:W", "K:N"), 120.0))
    board.apply(_advice("b", 8, ("J:W",), 30.0))
    now = _ms(T0 + timedelta(minutes=5))
    found = board.expected(["J:N", "J:W"], now)
    assert {k: v.vph for k, v in found.items()} == {"J:W": 150.0}
    assert sorted(found["J:W"].advice_ids) == ["a-7", "b-8"]
    assert board.expected(["J:W"], _ms(T0 + timedelta(minutes=31))) == {}  # expired
    assert board.expected(["J:W"], _ms(T0 - timedelta(minutes=1))) == {}  # not yet
    cleared = msgspec.structs.replace(
        _advice("a", 7, (), 0.0), kind="no_diversion", decision_point=None, alternatives=()
    )
    board.apply(cleared)
    assert {k: v.vph for k, v in board.expected(["J:W"], now).items()} == {"J:W": 30.0}
    # a newer advice at the same decision point replaces the older one
    board.apply(_advice("b", 8, ("J:W",), 45.0))
    assert board.expected(["J:W"], now)["J:W"].vph == 45.0
    assert not board.apply_record(b"{not an advice")


def test_plans_for_the_traffic_about_to_arrive() -> None:
    cfg = PlanningConfig(period_s=300, window_s=300)
    j = crossroads("J", "Z", 1, 0.0, 0.0)
    state = ZoneState(zone_id="Z")
    state.upsert([ZoneReading(d, k * MIN, 60, 8) for d in ("dN", "dW") for k in range(1, 6)])
    sites = [SiteRef("dN", "J:N", 2), SiteRef("dW", "J:W", 1)]
    plain = plan_junction(j, sites, state, 5 * MIN, cfg, planner("webster"), "net")
    more = plan_junction(
        j, sites, state, 5 * MIN, cfg, planner("webster"), "net", expected_vph={"J:W": 300.0}
    )
    by = {a.approach_id: a for a in more.explanation.approaches}
    assert by["J:W"].expected_diverted_vph == 300.0
    assert by["J:W"].flow_vph == 480.0  # the measured flow stays what was measured
    assert by["J:N"].expected_diverted_vph == 0.0
    assert any("reroute advice" in w and "J:W" in w for w in more.explanation.warnings)
    assert more.inputs_digest != plain.inputs_digest
    # east-west gets more green for the diverted traffic
    assert more.phases[1].green_s > plain.phases[1].green_s
    assert (
        plan_junction(j, sites, state, 5 * MIN, cfg, planner("webster"), "net", expected_vph={})
        == plain
    )


def test_expected_flow_is_on_record_and_replays() -> None:
    """The diverted flow is part of the zone period's inputs: the plans recomputed from the
    record (as ``aiguilleur audit replay`` does) are the ones published."""
    from streams.events import PlanInputs
    from streams.plan_inputs import capture, compute

    cfg = PlanningConfig(period_s=300, window_s=300)
    j = crossroads("J", "Z", 1, 0.0, 0.0)
    state = ZoneState(zone_id="Z")
    state.upsert([ZoneReading(d, k * MIN, 60, 8) for d in ("dN", "dW") for k in range(1, 6)])
    sites = [SiteRef("dN", "J:N", 2), SiteRef("dW", "J:W", 1)]
    record = capture(
        commune="",
        zone_id="Z",
        state=state,
        sites=sites,
        period_end_ms=5 * MIN,
        cfg=cfg,
        planner="webster",
        zone_planner=False,
        network_sha256="net",
        active={},
        expected={"J:W": 300.0},
    )
    (plan,) = compute(record, [j], (), planner("webster"), None).plans
    assert {a.approach_id: a.expected_diverted_vph for a in plan.explanation.approaches}[
        "J:W"
    ] == 300
    logged = msgspec.json.decode(msgspec.json.encode(record), type=PlanInputs)
    assert compute(logged, [j], (), planner("webster"), None).plans == (plan,)
    without = capture(
        commune="",
        zone_id="Z",
        state=state,
        sites=sites,
        period_end_ms=5 * MIN,
        cfg=cfg,
        planner="webster",
        zone_planner=False,
        network_sha256="net",
        active={},
    )
    assert without.inputs_id != record.inputs_id


def test_diverted_flow_is_counted_by_the_approach_detectors_lanes() -> None:
    """The estimator sees the diverted flow as counts of the approach's own detectors, shared by
    their lanes over the seconds each covered; unmeasured approaches and exits get nothing."""
    from demand import DetectorWindow
    from streams.planning import with_expected_counts

    def w(d: str, approach: str, lanes: int, vehicles: int, seconds: float) -> DetectorWindow:
        return DetectorWindow(
            detector_id=d,
            approach_id=approach,
            lanes=lanes,
            vehicles=vehicles,
            seconds=seconds,
            readings=5,
        )

    windows = [w("a", "J:W", 1, 10, 300.0), w("b", "J:W", 2, 20, 150.0), w("x", "", 1, 7, 300)]
    out = with_expected_counts(windows, {"J:W": 360.0, "J:S": 500.0})
    # 360 veh/h: a third of it on a (1 of 3 lanes) over 300 s, two thirds on b over 150 s
    assert [x.vehicles for x in out] == [20, 30, 7]
    assert with_expected_counts(windows, {"J:W": 0.0}) == windows
