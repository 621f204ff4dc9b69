"""The diversion allocation: flow conserved at every node, no arc past its spare capacity, the
paths carry exactly the arc flows, the cheapest way is filled first."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optimizer.diversion import (
    DiversionArc,
    DiversionRequest,
    InvalidDiversion,
    allocate,
)
from tests.fixtures.flows import check_allocation


@st.composite
def requests(draw: st.DrawFn) -> DiversionRequest:
    """Random layered networks from a source to exits, some arcs closed or full."""
    layers = draw(st.integers(1, 4))
    width = draw(st.integers(1, 4))
    nodes = [["s"]] + [[f"n{i}_{j}" for j in range(width)] for i in range(layers)]
    arcs = []
    for i in range(layers):
        for a in nodes[i]:
            for b in nodes[i + 1]:
                if draw(st.booleans()) or b == nodes[i + 1][0]:
                    cap = draw(st.sampled_from([0.0, 150.0, 400.0, 900.0, 1800.0]))
                    arcs.append(
                        DiversionArc(
                            id=f"{a}>{b}",
                            tail=a,
                            head=b,
                            free_time_s=draw(st.floats(5.0, 120.0)),
                            capacity_vph=cap,
                            background_vph=draw(st.floats(0.0, 1.2)) * cap,
                        )
                    )
    exits = {n: draw(st.floats(0.0, 60.0)) for n in nodes[-1] if draw(st.booleans())}
    exits = exits or {nodes[-1][0]: 0.0}
    return DiversionRequest(
        id="r",
        arcs=tuple(arcs),
        source="s",
        supply_vph=float(draw(st.integers(0, 3000))),
        exits=exits,
        pieces=draw(st.integers(1, 8)),
    )


@settings(max_examples=60)
@given(requests())
def test_flow_conserved_and_capacities_respected(req: DiversionRequest) -> None:
    alloc = allocate(req)
    assert alloc.status == "optimal"
    check_allocation(req, alloc)


def test_cheapest_way_filled_first_then_the_next() -> None:
    fast = DiversionArc(id="fast", tail="s", head="t", free_time_s=60, capacity_vph=500)
    slow = DiversionArc(id="slow", tail="s", head="t", free_time_s=200, capacity_vph=1000)
    alloc = allocate(
        DiversionRequest(id="r", arcs=(fast, slow), source="s", supply_vph=300, exits={"t": 0})
    )
    assert {a.arc_id: a.flow_vph for a in alloc.arcs} == {"fast": 300}
    more = allocate(
        DiversionRequest(id="r", arcs=(fast, slow), source="s", supply_vph=1200, exits={"t": 0})
    )
    flows = {a.arc_id: a.flow_vph for a in more.arcs}
    assert flows["fast"] == 500  # filled to capacity: a binding constraint
    assert "fast" in more.saturated
    assert flows["slow"] == 700
    assert more.unserved_vph == 0


def test_a_closed_arc_carries_nothing_and_excess_is_unserved() -> None:
    closed = DiversionArc(id="closed", tail="s", head="t", free_time_s=10, capacity_vph=0)
    small = DiversionArc(id="small", tail="s", head="t", free_time_s=90, capacity_vph=200)
    alloc = allocate(
        DiversionRequest(id="r", arcs=(closed, small), source="s", supply_vph=500, exits={"t": 0})
    )
    assert {a.arc_id: a.flow_vph for a in alloc.arcs} == {"small": 200}
    assert alloc.unserved_vph == 300


def test_exit_cost_counts_the_rest_of_the_road() -> None:
    near = DiversionArc(id="near", tail="s", head="a", free_time_s=30, capacity_vph=900)
    far = DiversionArc(id="far", tail="s", head="b", free_time_s=50, capacity_vph=900)
    # reaching a leaves 60 s of road to drive, b is the end: b is quicker overall
    alloc = allocate(
        DiversionRequest(
            id="r", arcs=(near, far), source="s", supply_vph=100, exits={"a": 60.0, "b": 0.0}
        )
    )
    assert [p.exit_node for p in alloc.paths] == ["b"]


def test_bad_requests_are_refused_with_the_reason() -> None:
    bad = DiversionArc(id="x", tail="s", head="t", free_time_s=10, capacity_vph=-5)
    with pytest.raises(InvalidDiversion, match="arc x"):
        allocate(DiversionRequest(id="r", arcs=(bad,), source="s", supply_vph=1, exits={"t": 0}))
    with pytest.raises(InvalidDiversion, match="negative supply"):
        allocate(DiversionRequest(id="r", arcs=(), source="s", supply_vph=-1, exits={"t": 0}))
