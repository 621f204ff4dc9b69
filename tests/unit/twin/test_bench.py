"""Benchmark report: RESCO's published table is parsed and compared; rows resume from JSON."""

from __future__ import annotations

from pathlib import Path

from twin.bench import (
    BenchFailure,
    BenchRow,
    load_results,
    markdown_report,
    mean_metrics,
    published_resco,
    save_results,
)
from twin.options import RunOptions

PUBLISHED = """\
### Avg. Delay (timeLoss, s)   (file resco_benchmark/utils/avg_timeLoss.py)
map           FIXED                   MAXWAVE                 MAXPRESSURE             IDQN
grid4x4       -                       34.32 (mean)            52.55 (mean)            32.95 +- 0.26
cologne1      56.61 (mean)            27.81 (mean)            65.85 (mean)            26.05 +- 0.57

### Avg. Trip Time (s)   (file resco_benchmark/utils/avg_duration.py)
map           IDQN
cologne1      43.59 +- 0.52 [n=100]
"""


def _row(sc: str, control: str, delay: float) -> BenchRow:
    keys = (
        "avg_trip_time_s",
        "avg_waiting_time_s",
        "avg_queue_veh",
        "stops_per_veh",
        "teleports",
        "co2_g_per_veh",
        "vehicles_inserted",
        "vehicles_never_inserted",
        "wall_s",
    )
    return BenchRow(
        scenario=sc, control=control, metrics={"avg_delay_s": delay} | dict.fromkeys(keys, 1)
    )


def test_published_delays_are_read_per_map(tmp_path: Path) -> None:
    f = tmp_path / "PUBLISHED_RESULTS.txt"
    f.write_text(PUBLISHED)
    assert published_resco(f) == {
        "grid4x4": {"MAXPRESSURE": 52.55},
        "cologne1": {"FIXED": 56.61, "MAXPRESSURE": 65.85},
    }


def test_report_compares_with_resco_and_marks_improvements() -> None:
    rows = [
        _row("cologne1", "programme", 42.0),
        _row("cologne1", "resco-max-pressure", 38.0),
        _row("cologne1", "webster", 50.0),
        _row("cologne1", "max-pressure", 30.0),
    ]
    md = markdown_report(
        rows,
        {"cologne1": {"FIXED": 56.61, "MAXPRESSURE": 65.85}},
        [],
        RunOptions(),
        [BenchFailure(scenario="x", control="y", error="SUMO failed: boom")],
    )
    assert "| cologne1 | 56.61 | 42.00 | -26% | 65.85 | 38.00 | -42% | 30.00 |" in md
    assert "| resco-max-pressure ✓ |" in md
    assert "| webster |" in md
    assert "| x | y | SUMO failed: boom |" in md


def test_results_round_trip(tmp_path: Path) -> None:
    rows = [_row("a", "programme", 1.0), _row("a", "webster", 2.0)]
    save_results(tmp_path / "r.json", rows)
    assert load_results(tmp_path / "r.json") == rows
    assert load_results(tmp_path / "missing.json") == []


def test_seeds_are_averaged_and_each_seed_delay_is_kept() -> None:
    runs = [
        {"avg_delay_s": 30.0, "vehicles_inserted": 100, "teleports": 0, "scenario": "a"},
        {"avg_delay_s": 20.0, "vehicles_inserted": 104, "teleports": 0, "scenario": "a"},
    ]
    m = mean_metrics(runs, (1, 2))
    assert m["avg_delay_s"] == 25.0
    assert m["vehicles_inserted"] == 102.0  # counts that differ are averaged
    assert m["teleports"] == 0  # counts that agree stay integers
    assert m["scenario"] == "a"
    assert m["delay_by_seed"] == {"1": 30.0, "2": 20.0}


def test_a_report_over_seeds_says_so_and_shows_each_seed() -> None:
    prog = _row("c", "programme", 40.0)
    opt = _row("c", "optimizer", 35.0)
    opt = BenchRow(
        opt.scenario, opt.control, opt.metrics | {"delay_by_seed": {"1": 30.0, "2": 40.0}}
    )
    md = markdown_report([prog, opt], {}, [], RunOptions(), seeds=(1, 2))
    assert "SUMO seeds 1, 2, every figure the mean of one run per seed" in md
    assert "| optimizer ✓ | 35.00 |" in md
    assert "30.00 / 40.00 |" in md
    assert md.count("delay per seed") == 1
