"""Cycle schedules for fixed-time plans: absolute green ends, offsets and transition cycles.

A plan is shown cycle after cycle. Each cycle is laid out from its start (the start of its first
phase's green) as absolute green end times, so a yellow that lasts longer than planned shortens
the next green instead of shifting every later cycle: the junction keeps its cycle length and,
when coordinated, its offset.

A coordinated plan wants its cycles to start at ``reference + offset + k * cycle``. When a new plan
takes over at a cycle boundary that is not aligned with it, one **transition cycle** bridges the
gap, the usual way controllers change offsets: it is shortened when the gap is at least half a
cycle and every minimum green still fits, and lengthened by the gap otherwise (less than a cycle);
its greens are the new plan's, stretched or squeezed in proportion.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

Seq = Sequence[tuple[int, float]]
"""A plan's phase sequence: ``(phase, green s)`` in order."""

MIN_GREEN_FLOOR_S = 1.0
"""A green is never squeezed below one second, whatever the plan's minima say."""


def transitions_s(seq: Seq, transition: Callable[[int, int], float]) -> list[float]:
    """Yellow and all-red after each phase of ``seq`` (the last one leads back to the first)."""
    n = len(seq)
    return [transition(seq[i][0], seq[(i + 1) % n][0]) if n > 1 else 0.0 for i in range(n)]


def natural_cycle_s(seq: Seq, transition: Callable[[int, int], float]) -> float:
    """The cycle ``seq`` takes with its greens and the scenario's transitions."""
    return sum(g for _, g in seq) + sum(transitions_s(seq, transition))


def green_ends(
    start: float,
    seq: Seq,
    length: float,
    transition: Callable[[int, int], float],
) -> list[tuple[int, float]]:
    """Absolute green end of each phase for a cycle of ``length`` s starting at ``start``.

    The last phase's green ends so that the next cycle's first green starts at
    ``start + length`` (at least :data:`MIN_GREEN_FLOOR_S` after that green began).
    """
    trans = transitions_s(seq, transition)
    out: list[tuple[int, float]] = []
    t = start
    for i, (phase, green) in enumerate(seq):
        if i == len(seq) - 1:
            end = max(start + length - trans[i], t + MIN_GREEN_FLOOR_S)
        else:
            end = t + green
        out.append((phase, end))
        t = end + trans[i]
    return out


def fit_greens(seq: Seq, total_green: float, minimum: Callable[[int], float]) -> list[float] | None:
    """Greens of ``seq`` rescaled to sum to ``total_green``: added in proportion to each green,
    or taken in proportion to each green's slack above its minimum; ``None`` when the minima
    leave no room."""
    greens = [g for _, g in seq]
    extra = total_green - sum(greens)
    if extra >= 0:
        base = sum(greens) or 1.0
        return [g + extra * g / base for g in greens]
    mins = [min(g, max(MIN_GREEN_FLOOR_S, minimum(p))) for p, g in seq]
    slack = [g - m for g, m in zip(greens, mins, strict=True)]
    room = sum(slack)
    if room + 1e-9 < -extra:
        return None
    return [g + extra * s / room if room > 0 else g for g, s in zip(greens, slack, strict=True)]


def transition_cycle(
    start: float,
    seq: Seq,
    cycle: float,
    aligned_start: float,
    transition: Callable[[int, int], float],
    minimum: Callable[[int], float],
) -> tuple[list[tuple[int, float]], float]:
    """``(green ends, next cycle start)`` of the cycle starting at ``start`` that brings the plan
    onto its alignment (``aligned_start`` modulo ``cycle``)."""
    gap = (aligned_start - start) % cycle
    if gap < 0.5 or cycle - gap < 0.5:
        return green_ends(start, seq, cycle, transition), start + cycle
    trans = sum(transitions_s(seq, transition))
    options = [gap, gap + cycle] if gap >= cycle / 2 else [gap + cycle]
    for length in options:
        greens = fit_greens(seq, length - trans, minimum)
        if greens is not None:
            fitted = [(p, g) for (p, _), g in zip(seq, greens, strict=True)]
            return green_ends(start, fitted, length, transition), start + length
    return green_ends(start, seq, cycle, transition), start + cycle
