"""Plans computed in a planning process are the plans computed in the worker's own thread."""

from __future__ import annotations

from optimizer.guardrails import GuardrailConfig
from optimizer.strategy import planner
from streams.events import ZoneReading
from streams.plan_inputs import capture, compute
from streams.plan_pool import PlanPool, pool_spec
from streams.planning import PlanningConfig, SiteRef
from streams.zone_state import ZoneState
from tests.fixtures.networks import small_network

MIN = 60_000
END = 1_000 * 5 * MIN


def _state() -> ZoneState:
    state = ZoneState(zone_id="Z1")
    state.upsert(
        [
            ZoneReading(f"D-{a.id}", END - k * MIN, 60, 3 + k + len(a.id))
            for j in small_network().junctions
            if j.zone_id == "Z1"
            for a in j.approaches
            for k in range(5)
        ]
    )
    return state


async def test_a_planning_process_computes_the_same_plans() -> None:
    net = small_network()
    sites = tuple(
        SiteRef(f"D-{a.id}", a.id, a.lanes)
        for j in net.junctions
        if j.zone_id == "Z1"
        for a in j.approaches
    )
    cfg = PlanningConfig(300, 300, guardrails=GuardrailConfig())
    inputs = capture(
        commune="c",
        zone_id="Z1",
        state=_state(),
        sites=sites,
        period_end_ms=END,
        cfg=cfg,
        planner="optimizer",
        zone_planner=False,
        network_sha256=net.source_sha256,
        active={},
    )
    junctions = net.zones()["Z1"]
    inline = compute(inputs, junctions, net.links, planner("optimizer"), None)
    pool = PlanPool(pool_spec(net, "optimizer"), processes=1)
    try:
        pooled, seconds = await pool.compute(inputs)
    finally:
        pool.close()
    assert [p.junction_id for p in pooled.plans] == ["J1", "J2"]
    assert pooled.plans == inline.plans, _diff(pooled.plans, inline.plans)
    assert pooled.unmeasured == inline.unmeasured == ()
    assert len(seconds) == 2


def _diff(a: object, b: object, path: str = "") -> list[str]:
    import json

    import msgspec

    da, db = json.loads(msgspec.json.encode(a)), json.loads(msgspec.json.encode(b))
    out = []

    def walk(x: object, y: object, p: str) -> None:
        if isinstance(x, dict) and isinstance(y, dict):
            for k in set(x) | set(y):
                walk(x.get(k), y.get(k), f"{p}.{k}")
        elif isinstance(x, list) and isinstance(y, list) and len(x) == len(y):
            for i, (u, v) in enumerate(zip(x, y, strict=True)):
                walk(u, v, f"{p}[{i}]")
        elif x != y:
            out.append(f"{p}: {x!r} != {y!r}")

    walk(da, db, path)
    return out
