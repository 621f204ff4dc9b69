"""Coordinated zone plans on the real broker: a worker with AIGUILLEUR_PLANNER=coordinated publishes
one plan per junction of a three-junction corridor, sharing a cycle, with the offsets
``coordinate_zone`` gives for the same inputs, built here independently of streams/."""

from __future__ import annotations

import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pytest

from aiguilleur.follow import decode_plan
from optimizer.coordination import Link, ZoneDemand, coordinate_zone
from optimizer.model import JunctionDemand, LaneGroup, PhaseDemand
from streams.topics import TopicNames
from tests.fixtures.networks import CORRIDOR_SPACING_M, write_corridor
from tests.integration.conftest import WorkerProcess, collect, feed, produce

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 10, 7, 55, tzinfo=UTC)  # a period boundary (multiple of 300 s)

# Vehicles per minute per approach: a main road carrying more eastbound (W approach) than
# westbound traffic, light side streets. K4 is a zone of its own.
PER_MINUTE = {
    "K1": {"N": 4, "S": 3, "E": 6, "W": 18},
    "K2": {"N": 5, "S": 2, "E": 7, "W": 20},
    "K3": {"N": 3, "S": 4, "E": 6, "W": 17},
    "K4": {"N": 6, "S": 5, "E": 8, "W": 9},
}
LANES = {"N": 1, "S": 1, "E": 2, "W": 2}
SPEED_MPS = 13.9  # the crossroads' free-flow speed (graph.synthetic)


def reading(det: str, minute: int, count: int) -> tuple[bytes, bytes]:
    end = T0 + timedelta(minutes=minute)
    value = {"detector_id": det, "interval_end": end.isoformat(), "interval_s": 60, "count": count}
    return det.encode(), msgspec.json.encode(value)


def expected_zone() -> ZoneDemand:
    """The corridor's zone demand from first principles: phase 0 serves N and S, phase 1 E and W;
    each approach's flow splits evenly over its three movements (through, left, right)."""
    junctions = []
    for jid in ("K1", "K2", "K3"):
        vph = {arm: 60.0 * c for arm, c in PER_MINUTE[jid].items()}
        phases = tuple(
            PhaseDemand(
                index=i,
                lane_groups=tuple(
                    LaneGroup(
                        id=f"{jid}:{arm}",
                        flow_vph=vph[arm],
                        saturation_flow_vph=1800.0 * LANES[arm],
                    )
                    for arm in arms
                ),
                min_green_s=7,
                max_green_s=90,
                intergreen_s=5,
            )
            for i, arms in enumerate(("NS", "EW"))
        )
        junctions.append(
            JunctionDemand(
                junction_id=jid, phases=phases, cycle_min_s=40, cycle_max_s=120, count_period_s=300
            )
        )
    links: list[Link] = []
    travel = round(CORRIDOR_SPACING_M / SPEED_MPS, 1)
    for up, down, straight in (
        ("K1", "K2", "W"),
        ("K2", "K1", "E"),
        ("K2", "K3", "W"),
        ("K3", "K2", "E"),
    ):
        f = {arm: 60.0 * c for arm, c in PER_MINUTE[up].items()}
        # Onto the exit: the side streets turn in during phase 0 (one of their three movements
        # each), the main road goes straight during phase 1.
        released = {0: (f["N"] + f["S"]) / 3, 1: f[straight] / 3}
        arriving = 60.0 * PER_MINUTE[down][straight]
        links.extend(
            Link(
                from_junction=up,
                to_junction=down,
                travel_time_s=travel,
                from_phase=phase,
                to_phase=1,
                flow_vph=round(flow, 3),
                to_flow_vph=arriving,
                to_saturation_flow_vph=3600.0,
            )
            for phase, flow in released.items()
        )
    return ZoneDemand(zone_id="C1", junctions=tuple(junctions), links=tuple(links))


async def test_worker_publishes_the_coordinated_plans_of_a_zone(
    pipeline_env: dict[str, str], tmp_path: Path
) -> None:
    net, reg, _ = write_corridor(tmp_path)
    env = {
        **pipeline_env,
        "AIGUILLEUR_NETWORK_FILE": str(net),
        "AIGUILLEUR_DETECTOR_REGISTRY": str(reg),
        "AIGUILLEUR_PLANNER": "coordinated",
    }
    worker = WorkerProcess(env, tmp_path / "worker")
    worker.start()
    try:
        boot = env["AIGUILLEUR_KAFKA_BOOTSTRAP"]
        topics = TopicNames(env["AIGUILLEUR_TOPIC_NAMESPACE"])
        items: list[tuple[bytes | None, bytes | None]] = [
            reading(f"D-{jid}-{arm}", minute, count)
            for minute in range(1, 6)
            for jid, counts in PER_MINUTE.items()
            for arm, count in counts.items()
        ]
        await feed(env, items)
        # Every detector's reading a minute into the next period closes it (a zone's time moves
        # with a quorum of its detectors).
        await produce(
            boot,
            topics.counts,
            [
                reading(f"D-{jid}-{arm}", 6, 0)
                for jid, counts in PER_MINUTE.items()
                for arm in counts
            ],
        )
        recs = await collect(boot, topics.plans, 4)
        plans = {p.junction_id: p for p in (decode_plan(r.value) for r in recs if r.value)}
        assert set(plans) == {"K1", "K2", "K3", "K4"}, worker.log_text()[-3000:]
    finally:
        worker.stop(signal.SIGKILL)

    want = coordinate_zone(expected_zone())
    assert want.coordinated, "the fixture's flows are chosen so that coordination pays"
    assert any(p.offset_s for p in want.plans)
    for plan in want.plans:
        got = plans[plan.junction_id]
        assert got.zone_id == "C1"
        assert got.cycle_s == want.cycle_s == plan.cycle_s
        assert got.offset_s == plan.offset_s
        assert [ph.green_s for ph in got.phases] == [ph.green_s for ph in plan.phases]
        assert got.strategy == "coordinated"
        zc = got.explanation.coordination
        assert zc is not None
        assert zc.coordinated
        assert zc.junction_ids == ("K1", "K2", "K3")
        assert zc.links == len(expected_zone().links)
        assert zc.text_fr in got.explanation.text_fr
    assert len({plans[j].inputs_digest for j in ("K1", "K2", "K3")}) == 1
    # K4, alone in its zone, keeps offset 0 and its own plan.
    alone = plans["K4"]
    assert alone.zone_id == "C2"
    assert alone.offset_s == 0
    assert alone.explanation.coordination is not None
    assert alone.explanation.coordination.junction_ids == ("K4",)
