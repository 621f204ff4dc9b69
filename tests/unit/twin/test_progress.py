"""Progress: a bar on a terminal, plain lines in a log, nothing when switched off."""

from __future__ import annotations

import io

from tqdm import tqdm

from twin.progress import PlainProgress, progress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_log_gets_a_line_per_tenth_and_one_at_the_end_without_carriage_returns() -> None:
    out = io.StringIO()
    ticks = iter(float(t) for t in range(100))
    bar = PlainProgress(3600, "grid4x4 planner:webster", "sim s", out, clock=lambda: next(ticks))
    for _ in range(60):
        bar.update(60)
    bar.close()
    text = out.getvalue()
    assert "\r" not in text
    lines = text.splitlines()
    assert len(lines) == 10  # 10% ... 90%, then done
    assert lines[0].startswith("grid4x4 planner:webster: 10% (360/3600 sim s), ")
    assert lines[-1].startswith("grid4x4 planner:webster: done (3600/3600 sim s), ")
    assert all(line.endswith(" s elapsed") for line in lines)


def test_a_big_step_writes_one_line_not_one_per_tenth_it_crosses() -> None:
    out = io.StringIO()
    bar = PlainProgress(100, "run", "sim s", out)
    bar.update(55)
    bar.update(40)
    bar.close()
    assert [line.split(" (")[0] for line in out.getvalue().splitlines()] == [
        "run: 55%",
        "run: 95%",
        "run: stopped",
    ]


def test_the_stream_decides_between_bar_and_lines() -> None:
    log = io.StringIO()
    assert isinstance(progress(10, "run", "sim s", stream=log), PlainProgress)
    terminal = _Terminal()
    bar = progress(10, "run", "sim s", stream=terminal)
    assert isinstance(bar, tqdm)
    bar.close()
    off = io.StringIO()
    silent = progress(10, "run", "sim s", enabled=False, stream=off)
    silent.update(10)
    silent.close()
    assert off.getvalue() == ""
