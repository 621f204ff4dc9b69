"""Cycle schedules: absolute green ends, and transition cycles that reach a plan's offset."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from twin.schedule import fit_greens, green_ends, natural_cycle_s, transition_cycle


def _yellow(a: int, b: int) -> float:
    return 3.0 if a != b else 0.0


def test_green_ends_keep_the_cycle_length() -> None:
    seq = [(0, 20.0), (1, 10.0), (2, 15.0)]
    ends = green_ends(100.0, seq, 60.0, _yellow)
    assert [p for p, _ in ends] == [0, 1, 2]
    assert ends[0][1] == pytest.approx(120.0)
    assert ends[1][1] == pytest.approx(133.0)
    # The last green absorbs the difference so the next cycle starts at 160 after its yellow.
    assert ends[2][1] + 3.0 == pytest.approx(160.0)
    assert natural_cycle_s(seq, _yellow) == pytest.approx(54.0)


def test_fit_greens_respects_minimums_or_refuses() -> None:
    seq = [(0, 20.0), (1, 10.0)]
    assert sum(fit_greens(seq, 40.0, lambda _: 5.0) or []) == pytest.approx(40.0)
    squeezed = fit_greens(seq, 12.0, lambda _: 5.0)
    assert squeezed is not None
    assert min(squeezed) >= 5.0 - 1e-9
    assert fit_greens(seq, 9.0, lambda _: 5.0) is None


@given(
    start=st.floats(0, 5000),
    aligned=st.floats(0, 5000),
    g=st.lists(st.integers(7, 40), min_size=2, max_size=5),
)
def test_transition_cycle_lands_on_the_offset(start: float, aligned: float, g: list[int]) -> None:
    seq = [(k, float(v)) for k, v in enumerate(g)]
    cycle = natural_cycle_s(seq, _yellow)
    ends, nxt = transition_cycle(start, seq, cycle, aligned, _yellow, lambda _: 5.0)
    # The next cycle starts on the plan's alignment: the transition is shortened to no less than
    # half a cycle, or lengthened by less than a cycle (by more than half only when shortening
    # would break a minimum green).
    gap = (nxt - aligned) % cycle
    assert min(gap, cycle - gap) < 0.5 + 1e-6
    length = nxt - start
    assert cycle / 2 - 0.5 - 1e-6 <= length < 2 * cycle + 1e-6
    if length > 1.5 * cycle + 1e-6:
        shortened = length - cycle
        assert shortened - sum(_yellow(0, 1) for _ in seq) < 5.0 * len(seq)
    # Every green lasts at least its minimum (5 s here, or the plan's own green if shorter).
    t = start
    for (phase, end), (_, planned) in zip(ends, seq, strict=True):
        assert end - t >= min(5.0, planned) - 1e-6
        t = end + _yellow(phase, seq[(phase + 1) % len(seq)][0])
