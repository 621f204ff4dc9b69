"""Coordination: offsets lie in the cycle, CP-SAT matches brute force, corridors get a wave."""

from __future__ import annotations

import itertools

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optimizer import InvalidZone
from optimizer.coordination import (
    Link,
    ZoneDemand,
    build_offset_data,
    coordinate_zone,
    link_cost,
    platoon_profile,
    platoon_wait_table,
    queue_delay_table,
)
from optimizer.isolated import OptimizerOptions, analyse_cycles, optimize_junction
from tests.unit.optimizer._gen import demands


def _zone(n: int, links: list[tuple[int, int, float]], flows: list[float]) -> ZoneDemand:
    junctions = tuple(
        demands(2, [[flows[k % len(flows)]], [200.0 + 50 * k]], cycle=(40, 70), jid=f"J{k}")
        for k in range(n)
    )
    return ZoneDemand(
        zone_id="Z",
        junctions=junctions,
        links=tuple(
            Link(
                from_junction=f"J{i}", to_junction=f"J{j}", travel_time_s=t, flow_vph=300.0 + 10 * i
            )
            for i, j, t in links
        ),
    )


zones = st.integers(2, 3).flatmap(
    lambda n: st.tuples(
        st.just(n),
        st.lists(
            st.tuples(st.integers(0, n - 1), st.integers(0, n - 1), st.floats(5, 120)).filter(
                lambda x: x[0] != x[1]
            ),
            min_size=1,
            max_size=4,
        ),
        st.lists(st.floats(150, 700), min_size=1, max_size=3),
    )
)


@settings(max_examples=15, deadline=None)
@given(zones)
def test_offsets_lie_in_the_cycle_and_match_brute_force(
    spec: tuple[int, list[tuple[int, int, float]], list[float]],
) -> None:
    n, links, flows = spec
    zone = _zone(n, links, flows)
    plan = coordinate_zone(zone)
    c = plan.cycle_s
    params = plan.explanation.parameters
    gain, cost = params["coordination_gain_veh_h_per_h"], params["common_cycle_cost_veh_h_per_h"]
    assert isinstance(gain, float)
    assert isinstance(cost, float)
    if not plan.coordinated:
        # Declined: every junction on its own isolated plan, because the gain did not pay.
        assert gain <= cost + 1e-4
        assert all(p.offset_s == 0 for p in plan.plans)
        assert [p.cycle_s for p in plan.plans] == [
            optimize_junction(j).cycle_s for j in zone.junctions
        ]
        return
    assert gain > cost - 1e-4
    assert all(0 <= p.offset_s < c for p in plan.plans)
    assert all(p.cycle_s == c for p in plan.plans)
    assert plan.plans[0].offset_s == 0
    data = build_offset_data(zone, list(plan.plans), c)
    found = link_cost(data, [p.offset_s for p in plan.plans])
    best = min(link_cost(data, [0, *rest]) for rest in itertools.product(range(c), repeat=n - 1))
    # CP-SAT minimises costs rounded to 1/100 veh·s/h per link.
    assert found <= best + len(links) * 0.01
    assert found <= link_cost(data, [0] * n) + 1e-9


def test_a_one_way_corridor_gets_a_green_wave() -> None:
    same = tuple(demands(2, [[400.0], [250.0]], jid=f"J{k}") for k in range(3))
    zone = ZoneDemand(
        zone_id="Z",
        junctions=same,
        links=(
            Link(from_junction="J0", to_junction="J1", travel_time_s=23.0),
            Link(from_junction="J1", to_junction="J2", travel_time_s=31.0),
        ),
    )
    plan = coordinate_zone(zone)
    assert plan.coordinated
    assert [e.wait_s_per_veh for e in plan.links] == [0.0, 0.0]
    assert any(e.uncoordinated_wait_s_per_veh > 0 for e in plan.links)
    assert plan.explanation.solver_status == "optimal"
    assert plan.explanation.objective_value == 0.0


def test_platoon_wait_table_is_zero_when_the_platoon_fits_the_green() -> None:
    table = platoon_wait_table(cycle=60, green_up=20, green_down=30)
    assert table[0] == 0.0
    assert table[10] == 0.0
    assert table[11] > 0.0
    assert table[30] == pytest.approx(sum(60 - (30 + t + 0.5) for t in range(20)) / 20)


def test_links_to_unknown_junctions_are_refused() -> None:
    zone = _zone(2, [(0, 1, 10.0)], [300.0])
    bad = ZoneDemand(
        zone_id="Z",
        junctions=zone.junctions,
        links=(Link(from_junction="J0", to_junction="J9", travel_time_s=10.0),),
    )
    with pytest.raises(InvalidZone, match="outside the zone"):
        coordinate_zone(bad)


def test_coordination_is_deterministic() -> None:
    zone = _zone(3, [(0, 1, 17.0), (1, 0, 17.0), (1, 2, 40.0), (2, 1, 40.0)], [300.0, 500.0])
    assert msgspec.json.encode(coordinate_zone(zone)) == msgspec.json.encode(coordinate_zone(zone))


@given(
    cycle=st.integers(40, 120),
    green=st.integers(5, 60),
    y=st.floats(0.0, 0.95),
)
def test_platoon_profile_is_a_front_loaded_distribution(cycle: int, green: int, y: float) -> None:
    green = min(green, cycle - 5)
    profile = platoon_profile(cycle, green, y)
    assert len(profile) == green
    assert sum(profile) == pytest.approx(1.0)
    assert all(a >= b - 1e-12 for a, b in itertools.pairwise(profile))


def test_queue_delay_table_prefers_arrival_on_green() -> None:
    # 600 veh/h (y = 0.4 upstream) leaving in a 30 s green onto a 1,800 veh/h approach whose
    # green also lasts 30 s.
    table = queue_delay_table(60, 30, 30, 600.0, 0.4, 0.0, 1800.0)
    assert table[0] == pytest.approx(0.0)
    assert table[30] > table[15] > table[0]
    # Other traffic queued in red delays the platoon arriving at the start of green.
    crowded = queue_delay_table(60, 30, 30, 600.0, 0.4, 600.0, 1800.0)
    assert crowded[0] > 0.0


def test_coordination_is_declined_when_its_cycle_costs_more_than_it_gains() -> None:
    # A light link between a junction that wants a short cycle and one that wants a long one.
    quick = demands(2, [[150.0], [120.0]], cycle=(40, 120), jid="J0")
    slow = demands(2, [[1300.0], [1200.0]], cycle=(40, 120), jid="J1")
    zone = ZoneDemand(
        zone_id="Z",
        junctions=(quick, slow),
        links=(Link(from_junction="J0", to_junction="J1", travel_time_s=20.0, flow_vph=5.0),),
    )
    plan = coordinate_zone(zone)
    assert not plan.coordinated
    assert [p.cycle_s for p in plan.plans] == [optimize_junction(j).cycle_s for j in (quick, slow)]
    assert plan.plans[0].cycle_s != plan.plans[1].cycle_s
    assert "not coordinated" in plan.explanation.text_en
    assert "pas de coordination" in plan.explanation.text_fr


def test_a_running_common_cycle_is_kept_while_it_costs_little_more() -> None:
    zone = _zone(3, [(0, 1, 17.0), (1, 0, 17.0), (1, 2, 40.0), (2, 1, 40.0)], [300.0, 500.0])
    fresh = coordinate_zone(zone)
    analyses = [analyse_cycles(j, OptimizerOptions()) for j in zone.junctions]
    cost = {
        c: sum(float(a.costs[c - int(a.cycles[0])]) for a in analyses)
        for c in range(fresh.cycle_s - 15, fresh.cycle_s + 16)
    }
    best = cost[fresh.cycle_s]
    near = [c for c, v in cost.items() if c != fresh.cycle_s and v <= best * 1.04]
    far = [c for c, v in cost.items() if v > best * 1.06]
    assert near
    assert far
    kept = coordinate_zone(msgspec.structs.replace(zone, running_cycle_s=near[0]))
    assert kept.cycle_s == near[0]
    moved = coordinate_zone(msgspec.structs.replace(zone, running_cycle_s=far[0]))
    assert moved.cycle_s == fresh.cycle_s
