"""Identifiers as long as real networks make them pass every event's schema."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import pytest

from benchmarks.twin_unseen import LONG_ID_LENGTH, long_id
from streams.events import MAX_ID_LENGTH, JunctionStateReport, SignalEnvelope, TrafficCount

AT = datetime(2026, 1, 5, 8, tzinfo=UTC)


def test_a_joined_cluster_id_is_a_valid_id_everywhere() -> None:
    jid = long_id("J1")
    assert len(jid) == LONG_ID_LENGTH
    report = {
        "junction_id": jid,
        "zone_id": jid,
        "observed_at": AT.isoformat(),
        "current_phase": 0,
        "phase_elapsed_s": 3.0,
        "phases": [{"index": 0, "movements": [{"id": f"{jid}>{jid}", "queue_veh": 2.0}]}],
    }
    decoded = msgspec.json.decode(msgspec.json.encode(report), type=JunctionStateReport)
    assert decoded.phases[0].movements[0].id == f"{jid}>{jid}"
    count = {"detector_id": jid, "interval_end": AT.isoformat(), "interval_s": 60, "count": 3}
    assert msgspec.json.decode(msgspec.json.encode(count), type=TrafficCount).detector_id == jid
    envelope = {
        "envelope_id": "e1",
        "junction_id": jid,
        "zone_id": jid,
        "phase_order": [0],
        "min_green_s": [5.0],
        "max_green_s": [60.0],
        "intergreen_s": [3.0],
        "cycle_min_s": 40.0,
        "cycle_max_s": 120.0,
        "approved_by": "Ada",
        "approved_at": AT.isoformat(),
    }
    assert (
        msgspec.json.decode(msgspec.json.encode(envelope), type=SignalEnvelope).junction_id == jid
    )


def test_an_id_past_the_bound_is_refused() -> None:
    count = {
        "detector_id": "d" * (MAX_ID_LENGTH + 1),
        "interval_end": AT.isoformat(),
        "interval_s": 60,
        "count": 3,
    }
    with pytest.raises(msgspec.ValidationError, match="detector_id"):
        msgspec.json.decode(msgspec.json.encode(count), type=TrafficCount)
