"""Zone state: idempotent upserts, event-time periods, pruning."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.events import ZoneReading
from streams.zone_state import ZoneState, decode_state, encode_state

MIN = 60_000
PERIOD = 5 * MIN

readings_st = st.lists(
    st.builds(
        ZoneReading,
        st.sampled_from(["a", "b", "c", "a#hgv"]),
        st.integers(1, 30).map(lambda k: 1_000 * PERIOD + k * MIN),
        st.just(60),
        st.integers(0, 50),
    ),
    max_size=60,
)


def _latest(readings: list[ZoneReading]) -> dict[tuple[str, int], int]:
    out = {}
    for r in readings:
        out[(r.detector_id, r.interval_end_ms)] = r.count
    return out


@given(readings_st)
def test_replaying_readings_changes_nothing(readings: list[ZoneReading]) -> None:
    once = ZoneState(zone_id="z")
    once.upsert(readings)
    twice = ZoneState(zone_id="z")
    twice.upsert(readings)
    twice.upsert(readings[: len(readings) // 2])  # at-least-once: a prefix is delivered again
    twice.upsert(readings[len(readings) // 2 :])
    assert encode_state(once) == encode_state(twice)
    assert once.total_vehicles() == sum(_latest(readings).values())


@given(readings_st)
def test_state_survives_encoding(readings: list[ZoneReading]) -> None:
    s = ZoneState(zone_id="z", planned_until_ms=7)
    s.upsert(readings)
    back = decode_state(encode_state(s))
    assert back == s


def test_window_sums_intervals_inside_the_window_only() -> None:
    s = ZoneState(zone_id="z")
    s.upsert([ZoneReading("a", k * MIN, 60, 10) for k in range(1, 11)])
    assert s.window("a", 0, 5 * MIN) == (50, 300, 5)
    assert s.window("a", 5 * MIN, 10 * MIN) == (50, 300, 5)
    assert s.window("b", 0, 10 * MIN) == (0, 0, 0)


def test_window_adds_vehicle_classes_when_no_total_is_given() -> None:
    s = ZoneState(zone_id="z")
    s.upsert(
        [
            ZoneReading("a#car", MIN, 60, 10),
            ZoneReading("a#hgv", MIN, 60, 2),
            ZoneReading("a", 2 * MIN, 60, 7),
            ZoneReading("a#car", 2 * MIN, 60, 6),
        ]
    )
    # minute 1: classes only (10 + 2); minute 2: the all-vehicle count wins (7)
    assert s.window("a", 0, 2 * MIN) == (19, 120, 2)


def test_first_period_is_the_last_closed_one_then_each_following() -> None:
    s = ZoneState(zone_id="z")
    s.upsert([ZoneReading("a", PERIOD * 3 + k * MIN, 60, 1) for k in range(1, 6)])
    assert s.due_periods(PERIOD, lateness_ms=0) == [PERIOD * 4]
    s.planned_until_ms = PERIOD * 4
    assert s.due_periods(PERIOD, lateness_ms=0) == []
    s.upsert([ZoneReading("a", PERIOD * 6 + MIN, 60, 1)])
    assert s.due_periods(PERIOD, lateness_ms=0) == [PERIOD * 5, PERIOD * 6]
    assert s.due_periods(PERIOD, lateness_ms=2 * MIN) == [PERIOD * 5]


def test_prune_drops_old_intervals() -> None:
    s = ZoneState(zone_id="z")
    s.upsert([ZoneReading("a", k * MIN, 60, 1) for k in range(1, 11)])
    assert s.prune(5 * MIN) == 5
    assert s.window("a", 0, 10 * MIN) == (5, 300, 5)


# --- Event time: per-detector clocks, a quorum for the zone's watermark -----------------------

DETS = [f"d{i}" for i in range(8)]
YEAR_9999_MS = 253_402_300_000_000


def _minute(k: int, dets: list[str] = DETS, count: int = 3) -> list[ZoneReading]:
    return [ZoneReading(d, 1_000 * PERIOD + k * MIN, 60, count) for d in dets]


def test_one_detector_with_a_wrong_clock_moves_no_zone_time() -> None:
    s = ZoneState(zone_id="z")
    s.upsert([ZoneReading("d0", YEAR_9999_MS, 60, 5)], quorum=2)
    assert s.watermark_ms == 0, "a single detector alone moved the zone's clock"
    s.upsert(_minute(1), quorum=2)
    assert s.watermark_ms == 1_000 * PERIOD + MIN
    s.upsert([ZoneReading("d1", 10 * MIN, 60, 5)], quorum=2)  # 1970
    for k in range(2, 8):
        s.upsert(_minute(k), quorum=2)
    assert s.watermark_ms == 1_000 * PERIOD + 7 * MIN
    assert s.due_periods(PERIOD, lateness_ms=MIN) == [1_001 * PERIOD]


@given(
    st.lists(st.integers(0, 2**40), min_size=1, max_size=20),
    st.integers(0, 7),
    st.integers(-(2**40), 2**48),
)
def test_no_single_detector_moves_the_watermark(
    minutes: list[int], culprit: int, skew: int
) -> None:
    """Whatever one detector says, the watermark is what the other detectors' clocks make it."""
    honest = [d for d in DETS if d != DETS[culprit]]
    with_culprit, without = ZoneState(zone_id="z"), ZoneState(zone_id="z")
    for k in minutes:
        good = [ZoneReading(d, MIN + k * MIN, 60, 1) for d in honest]
        with_culprit.upsert(
            [*good, ZoneReading(DETS[culprit], max(1, MIN + k * MIN + skew), 60, 1)], quorum=2
        )
        without.upsert(good, quorum=2)
    # The culprit may keep the zone at most where the honest detectors' lower median is, or
    # let it follow the honest ones' next clock: never ahead of the most advanced honest one.
    assert with_culprit.watermark_ms <= max(without.clocks.values())


def test_detectors_that_stop_reporting_drop_out_of_the_quorum() -> None:
    s = ZoneState(zone_id="z")
    s.upsert(_minute(1), quorum=2)
    # Five of eight detectors go silent; three go on for two hours.
    for k in range(2, 121):
        s.upsert(_minute(k, DETS[:3]), quorum=2, horizon_ms=15 * MIN)
    assert s.watermark_ms >= 1_000 * PERIOD + 100 * MIN


def test_readings_of_a_planned_period_are_late() -> None:
    s = ZoneState(zone_id="z", planned_until_ms=1_001 * PERIOD)
    on_time = ZoneReading("d0", 1_001 * PERIOD + MIN, 60, 1)
    late = ZoneReading("d1", 1_001 * PERIOD, 60, 1)
    assert s.late([on_time, late]) == [late]
    assert ZoneState(zone_id="z").late([late]) == []


def test_a_long_gap_yields_only_periods_with_data() -> None:
    s = ZoneState(zone_id="z", planned_until_ms=1_000 * PERIOD)
    day = 288 * PERIOD
    s.upsert([ZoneReading(d, 1_000 * PERIOD + day + k * MIN, 60, 1) for d in DETS for k in (1, 6)])
    assert s.closable_periods(PERIOD, lateness_ms=0) == 289
    # Minute 1 closes with the watermark at minute 6; minute 6's period is still open.
    assert s.due_periods(PERIOD, lateness_ms=0, window_ms=PERIOD) == [1_001 * PERIOD + day]


def test_occupancy_is_kept_overwritten_averaged_and_pruned() -> None:
    s = ZoneState(zone_id="z")
    s.upsert([ZoneReading("a", k * MIN, 60, 10, 0.1 * k) for k in range(1, 6)])
    assert s.window_occupancy("a", 0, 5 * MIN) == pytest.approx(0.3)
    s.upsert([ZoneReading("a", 5 * MIN, 60, 10)])  # redelivered without occupancy: last wins
    assert s.window_occupancy("a", 4 * MIN, 5 * MIN) is None
    assert s.window_occupancy("b", 0, 5 * MIN) is None
    s.prune(3 * MIN)
    assert s.occupancy == {"a": {4 * MIN: 0.4}}
    assert decode_state(encode_state(s)) == s
