"""The adaptive mode in closed loop through the real pipeline: real broker, real worker, real SUMO.

The decisions SUMO applied must be exactly the decisions the worker published, one per state the
twin sent, under the envelopes the run approved (the scenario's phases and the programme's
greens, as the in-process run grants them); and since a decision is a function of the state and
the envelope only, the run must measure exactly what the in-process adaptive run measures.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import msgspec
import pytest

from aiguilleur.settings import Settings
from aiguilleur.twin_control import run_live_control
from aiguilleur.twin_live import LiveOptions
from benchmarks.twin_unseen import LONG_ID_LENGTH, long_ids
from graph.sumo import network_from_sumo
from streams.envelopes import to_envelope
from twin import RunOptions, load_scenario, run_twin
from twin.live_policy import live_envelopes

pytestmark = pytest.mark.integration


def test_worker_decisions_drive_the_twin(
    kafka_bootstrap: str, grid_scenario: Path, tmp_path: Path
) -> None:
    sc = load_scenario(grid_scenario)  # 3x3 signalised grid, 600 s
    tag = "t" + uuid.uuid4().hex[:10]
    settings = Settings(
        kafka_bootstrap=kafka_bootstrap,
        app_id=tag,
        topic_namespace=tag,
        metrics_port=0,
        controller="adaptive",
    )
    res = run_live_control(
        sc,
        settings,
        tmp_path / "live",
        LiveOptions(timeout_s=60.0, progress=False),
        approved_by="Ada Operator",
    )
    local = run_twin(sc, "adaptive", RunOptions(progress=False))

    # the approvals on record are the envelopes the in-process run grants
    sn = network_from_sumo(sc.net, sc.additionals)
    junctions = sn.network.junctions
    granted = live_envelopes(junctions, sn.signals, RunOptions().live_envelope)
    assert sorted(res.envelopes) == sorted(j.id for j in junctions)
    for j in junctions:
        assert to_envelope(res.envelopes[j.id]) == granted[j.id]
        assert res.envelopes[j.id].approved_by == "Ada Operator"

    # one decision per state sent, and SUMO applied exactly those, in order
    assert res.sent == len(res.consumed) == len(res.run.applied) > 0
    applied = [
        (d.junction_id, res.base + timedelta(seconds=d.time_s), d.phase_index)
        for d in res.run.applied
    ]
    consumed = {(d.junction_id, d.observed_at): d for d in res.consumed}
    assert len(consumed) == len(res.consumed)
    assert sorted(applied) == sorted((k[0], k[1], d.phase_index) for k, d in consumed.items())
    for d in res.run.applied:
        ev = consumed[(d.junction_id, res.base + timedelta(seconds=d.time_s))]
        assert (d.next_decision_in_s, d.reason) == (ev.next_decision_in_s, ev.reason)
        assert ev.envelope_id == res.envelopes[d.junction_id].envelope_id
    assert any(ev.phase_index != ev.from_phase for ev in res.consumed)  # it did switch phases

    # the same decisions as in process, so the same run
    assert [
        (d.junction_id, d.time_s, d.phase_index, d.next_decision_in_s) for d in local.applied
    ] == [(d.junction_id, d.time_s, d.phase_index, d.next_decision_in_s) for d in res.run.applied]
    live_metrics = msgspec.structs.replace(res.run.metrics, wall_s=0.0)
    assert live_metrics == msgspec.structs.replace(local.metrics, wall_s=0.0)


def test_junction_ids_as_long_as_joined_clusters_go_through_kafka(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    # 200-character junction ids (SUMO's joined clusters reach 165 and more): states keyed and
    # decided through the real broker and worker, none dead-lettered.
    sc = load_scenario(long_ids(tmp_path / "net", 300.0))
    junctions = network_from_sumo(sc.net, sc.additionals).network.junctions
    assert junctions
    assert all(len(j.id) >= LONG_ID_LENGTH for j in junctions)
    tag = "t" + uuid.uuid4().hex[:10]
    settings = Settings(
        kafka_bootstrap=kafka_bootstrap,
        app_id=tag,
        topic_namespace=tag,
        metrics_port=0,
        controller="adaptive",
    )
    res = run_live_control(
        sc,
        settings,
        tmp_path / "live",
        LiveOptions(timeout_s=60.0, progress=False),
        approved_by="Ada Operator",
    )
    assert res.dead_letters == 0
    assert sorted(res.envelopes) == sorted(j.id for j in junctions)
    assert res.sent == len(res.consumed) == len(res.run.applied) > 0
    assert {ev.junction_id for ev in res.consumed} == {j.id for j in junctions}
    assert res.run.metrics.vehicles_inserted > 0
