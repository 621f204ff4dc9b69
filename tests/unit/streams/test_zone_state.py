"""Zone state: idempotent upserts, event-time periods, pruning."""

from __future__ import annotations

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
