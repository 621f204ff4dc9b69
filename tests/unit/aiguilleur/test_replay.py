"""Replays dated as the hour just gone (or reaching into the period to come)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from aiguilleur.replay import floor_now, rebase_to_now
from streams.events import TrafficCount

PERIOD_S = 300


def _readings(minutes: int, offset_s: int) -> list[TrafficCount]:
    start = datetime(2024, 3, 5, 7, 0, tzinfo=UTC) + timedelta(seconds=offset_s)
    return [
        TrafficCount(
            detector_id="d1",
            interval_end=start + timedelta(minutes=m),
            interval_s=60,
            count=10,
        )
        for m in range(1, minutes + 1)
    ]


@given(st.integers(1, 180), st.integers(0, 3599), st.integers(0, 2))
def test_the_hour_ends_by_the_chosen_boundary_with_its_spacing(
    minutes: int, offset_s: int, ahead: int
) -> None:
    original = _readings(minutes, offset_s)
    before = floor_now(PERIOD_S)
    moved = rebase_to_now(original, PERIOD_S, ahead_periods=ahead)
    after = floor_now(PERIOD_S)  # differs from before only if a boundary passed meanwhile
    assert any(
        timedelta(0)
        <= b + timedelta(seconds=ahead * PERIOD_S) - moved[-1].interval_end
        < timedelta(seconds=PERIOD_S)
        for b in (before, after)
    )
    assert moved[0].interval_end.timestamp() % PERIOD_S == 0  # the first on a boundary
    shift = moved[0].interval_end - original[0].interval_end
    assert all(
        m.interval_end - o.interval_end == shift for m, o in zip(moved, original, strict=True)
    )


def test_ahead_moves_the_hour_one_period_later() -> None:
    hour = _readings(60, 0)
    now = rebase_to_now(hour, PERIOD_S)
    later = rebase_to_now(hour, PERIOD_S, ahead_periods=1)
    if now[-1].interval_end == later[-1].interval_end:  # a boundary passed between the calls
        now = rebase_to_now(hour, PERIOD_S)
    assert later[-1].interval_end - now[-1].interval_end == timedelta(seconds=PERIOD_S)
