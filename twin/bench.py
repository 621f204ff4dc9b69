"""Benchmark: every control mode on every scenario, written as a Markdown table and PNG plots.

Results are appended to a JSON file after each run, so a long benchmark can be stopped and resumed
(runs already in the file are skipped unless ``rerun``).
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import platform
import re
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec

from twin.controls import available_controls
from twin.errors import TwinError
from twin.options import RunOptions, RunResult
from twin.runner import run_twin
from twin.scenario import Scenario, load_scenario

log = logging.getLogger(__name__)

RESCO_COLUMNS = {"FIXED": "programme", "MAXPRESSURE": "resco-max-pressure"}
"""Published RESCO baselines and the twin control each one is compared with."""

METRIC_COLUMNS = (
    ("avg_delay_s", "delay s"),
    ("avg_trip_time_s", "trip s"),
    ("avg_waiting_time_s", "wait s"),
    ("avg_queue_veh", "queue veh"),
    ("stops_per_veh", "stops/veh"),
    ("teleports", "teleports"),
    ("co2_g_per_veh", "CO2 g/veh"),
    ("vehicles_inserted", "inserted"),
    ("vehicles_never_inserted", "never ins."),
    ("wall_s", "wall s"),
)


@dataclass(frozen=True)
class BenchRow:
    """One (scenario, control) result."""

    scenario: str
    control: str
    metrics: dict[str, Any]


@dataclass(frozen=True)
class BenchFailure:
    """A (scenario, control) that could not run, and why."""

    scenario: str
    control: str
    error: str


def load_results(path: Path) -> list[BenchRow]:
    """Rows already measured (empty when the file does not exist)."""
    if not path.is_file():
        return []
    return [BenchRow(**r) for r in json.loads(path.read_text())]


def save_results(path: Path, rows: list[BenchRow]) -> None:
    """Write rows as JSON (sorted for stable diffs)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = [r.__dict__ for r in sorted(rows, key=lambda r: (r.scenario, r.control))]
    path.write_text(json.dumps(data, indent=1) + "\n")


def run_bench(
    scenarios: Sequence[Scenario],
    controls: Sequence[str] | None,
    results_path: Path,
    *,
    options: RunOptions | None = None,
    rerun: bool = False,
    on_row: Callable[[BenchRow], None] | None = None,
    failures: list[BenchFailure] | None = None,
    seeds: Sequence[int] = (),
    run: Callable[[Scenario, str, RunOptions], RunResult] = run_twin,
) -> list[BenchRow]:
    """Run every control on every scenario (skipping rows already in ``results_path``).

    With ``seeds``, each row is run once per SUMO seed and holds the mean of every metric
    (:func:`mean_metrics`), with each seed's delay kept beside it. ``run`` runs one row (the
    composition root passes one that runs planner controls through the product's pipeline); it
    must be a module-level function, since every run happens in a fresh process
    (:func:`isolated_metrics`).
    """
    options = options or RunOptions(progress=True)
    rows = load_results(results_path)
    done = {(r.scenario, r.control) for r in rows}
    failures = failures if failures is not None else []
    for sc in scenarios:
        for control in controls or available_controls():
            if (sc.name, control) in done and not rerun:
                continue
            try:
                runs = [
                    isolated_metrics(run, sc, control, replace(options, seed=seed))
                    for seed in (seeds or (options.seed,))
                ]
            except TwinError as e:
                # one scenario that cannot run must not stop the benchmark: report it instead
                first = str(e).splitlines()[0]
                log.error(
                    "event=bench_failed scenario=%s control=%s error=%r", sc.name, control, first
                )
                failures.append(BenchFailure(scenario=sc.name, control=control, error=first))
                continue
            metrics = mean_metrics(runs, seeds) if seeds else runs[0]
            row = BenchRow(scenario=sc.name, control=control, metrics=metrics)
            rows = [r for r in rows if (r.scenario, r.control) != (sc.name, control)] + [row]
            save_results(results_path, rows)
            log.info(
                "event=bench_run scenario=%s control=%s delay_s=%s wall_s=%s",
                sc.name,
                control,
                metrics["avg_delay_s"],
                metrics["wall_s"],
            )
            if on_row is not None:
                on_row(row)
    return rows


def _metrics_of(
    run: Callable[[Scenario, str, RunOptions], RunResult],
    scenario: Scenario,
    control: str,
    options: RunOptions,
) -> dict[str, Any]:
    out: dict[str, Any] = msgspec.to_builtins(run(scenario, control, options).metrics)
    return out


def isolated_metrics(
    run: Callable[[Scenario, str, RunOptions], RunResult],
    scenario: Scenario,
    control: str,
    options: RunOptions,
) -> dict[str, Any]:
    """The metrics of one run, made in a fresh process.

    libsumo keeps state from one simulation to the next in a process: measured, cologne1 under
    ``actuated`` with seed 3 gives 62.80 s alone and 81.07 s after the same control with seed 1.
    A row must not depend on what ran before it, so each run gets its own process (spawned: no
    state inherited either). A failure in the child is raised here as it was raised there.
    """
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
        return pool.submit(_metrics_of, run, scenario, control, options).result()


def mean_metrics(runs: Sequence[dict[str, Any]], seeds: Sequence[int]) -> dict[str, Any]:
    """The mean of each numeric metric over one run per seed (counts that agree stay integers),
    with ``delay_by_seed`` (seed -> average delay, s) beside them."""
    out: dict[str, Any] = {}
    for key, first in runs[0].items():
        values = [r[key] for r in runs]
        numeric = isinstance(first, int | float) and not isinstance(first, bool)
        same_count = all(isinstance(v, int) for v in values) and len(set(values)) == 1
        out[key] = round(sum(values) / len(values), 4) if numeric and not same_count else first
    out["delay_by_seed"] = {
        str(seed): round(float(r["avg_delay_s"]), 2) for seed, r in zip(seeds, runs, strict=True)
    }
    return out


def published_resco(path: Path) -> dict[str, dict[str, float]]:
    """RESCO's published average delays ``{map: {FIXED: s, MAXPRESSURE: s}}`` from
    PUBLISHED_RESULTS.txt.
    """
    out: dict[str, dict[str, float]] = {}
    if not path.is_file():
        return out
    text = path.read_text()
    section = text.split("### Avg. Delay", 1)[-1].split("###", 1)[0]
    lines = [ln for ln in section.splitlines() if ln.strip()]
    header = next((ln.split() for ln in lines if ln.startswith("map")), None)
    if header is None:
        return out
    for ln in lines:
        cells = re.split(r"\s{2,}|(?<=\))\s+|(?<=\])(?=\d)", ln.strip())
        if not cells or cells[0] == "map" or len(cells) < 2:
            continue
        vals: dict[str, float] = {}
        for col, cell in zip(header[1:], cells[1:], strict=False):
            m = re.match(r"([\d.]+)", cell)
            if col in RESCO_COLUMNS and m:
                vals[col] = float(m.group(1))
        if vals:
            out[cells[0]] = vals
    return out


def find_published(scenarios: Sequence[Scenario]) -> dict[str, dict[str, float]]:
    """Published RESCO delays found next to (or above) the scenarios' folders."""
    out: dict[str, dict[str, float]] = {}
    for sc in scenarios:
        for parent in list(sc.net.parents)[:3]:
            f = parent / "PUBLISHED_RESULTS.txt"
            if f.is_file():
                out.update(published_resco(f))
                break
    return out


def machine(options: RunOptions | None = None) -> str:
    """One line describing the machine and the SUMO that ran."""
    if options is not None and options.sumo_binary:
        import subprocess

        out = subprocess.run(
            [options.sumo_binary, "--version"], capture_output=True, text=True, check=False
        ).stdout.splitlines()
        first = out[0] if out else options.sumo_binary
        return (
            f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores, Python "
            f"{platform.python_version()}, {first} (TraCI)"
        )
    try:
        import sumolib

        sumo_v = getattr(sumolib, "__version__", "")
    except ImportError:  # pragma: no cover - sumolib is a dependency
        sumo_v = ""
    return (
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, SUMO {sumo_v or 'unknown'} (libsumo)"
    )


def _git_head() -> str:
    import subprocess

    out = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).resolve().parent,
    )
    return out.stdout.strip() or "unknown"


def _fmt(v: Any) -> str:
    if isinstance(v, dict):
        return " / ".join(_fmt(x) for x in v.values())
    if isinstance(v, float):
        return f"{v:.2f}" if abs(v) < 1000 else f"{v:.0f}"
    return str(v)


def markdown_report(
    rows: list[BenchRow],
    published: dict[str, dict[str, float]],
    plots: list[str],
    options: RunOptions,
    failures: Sequence[BenchFailure] = (),
    notes: str = "",
    seeds: Sequence[int] = (),
) -> str:
    """The benchmark page: protocol, RESCO reproduction, and one table per scenario."""
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Twin benchmark: every control on every scenario",
        "",
        f"Generated {now} on {machine(options)} by `aiguilleur twin bench` at commit "
        f"`{_git_head()}` (controllers and planners as registered at that commit).",
        "",
        "Protocol: each scenario's own window and demand; "
        + (
            f"SUMO seeds {', '.join(map(str, seeds))}, every figure the mean of one run per seed "
            "(each seed's delay in the last column)"
            if seeds
            else f"SUMO seed {options.seed}"
        )
        + f"; time-to-teleport {options.time_to_teleport_s:g} (RESCO's); counts every "
        f"{options.count_interval_s} s; the planner rows (webster, optimizer, coordinated) are the "
        "product's plans: the worker's own code, in process, from the detectors' count records "
        f"only, re-planned every {options.plan_period_s:g} s and applied at the next cycle "
        "boundary; `oracle` plans on each loop's exact turning counts (an upper bound, not the "
        "product); live controllers use halting vehicles per movement and per exit lane. "
        "Delay is RESCO's: (timeLoss + departDelay of every trip + time waited by vehicles never "
        "inserted) / (trips + never inserted).",
        "",
    ]
    by_sc: dict[str, dict[str, dict[str, Any]]] = {}
    for r in rows:
        by_sc.setdefault(r.scenario, {})[r.control] = r.metrics
    if published:
        lines += [
            "## RESCO reproduction (average delay, s)",
            "",
            "| scenario | RESCO fixed | twin programme | gap "
            "| RESCO max-pressure | twin resco-max-pressure | gap | aiguilleur max-pressure |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for sc, res in sorted(by_sc.items()):
            if sc not in published:
                continue
            cells = [sc]
            for col, ctl in RESCO_COLUMNS.items():
                pub = published[sc].get(col)
                got = res.get(ctl, {}).get("avg_delay_s")
                gap = f"{(got - pub) / pub:+.0%}" if pub and got is not None else "–"
                cells += [_fmt(pub) if pub else "–", _fmt(got) if got is not None else "–", gap]
            ours = res.get("max-pressure", {}).get("avg_delay_s")
            cells.append(_fmt(ours) if ours is not None else "–")
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    columns = [*METRIC_COLUMNS, *((("delay_by_seed", "delay per seed"),) if seeds else ())]
    for sc, res in sorted(by_sc.items()):
        lines += [
            f"## {sc}",
            "",
            "| control | " + " | ".join(h for _, h in columns) + " |",
            "|---" * (len(columns) + 1) + "|",
        ]
        base = res.get("programme", {}).get("avg_delay_s")
        for ctl, m in sorted(res.items(), key=lambda kv: kv[1]["avg_delay_s"]):
            mark = " ✓" if base and ctl != "programme" and m["avg_delay_s"] < base else ""
            lines.append(
                f"| {ctl}{mark} | " + " | ".join(_fmt(m.get(k, "–")) for k, _ in columns) + " |"
            )
        lines.append("")
    lines += ["✓ = lower average delay than the scenario's own programme.", ""]
    if failures:
        lines += [
            "## Runs that could not start",
            "",
            "| scenario | control | error |",
            "|---|---|---|",
        ]
        lines += [f"| {f.scenario} | {f.control} | {f.error} |" for f in failures]
        lines.append("")
    lines += [f"![{Path(p).stem}]({Path(p).name})" for p in plots]
    if notes:
        lines += ["", notes.strip()]
    return "\n".join(lines) + "\n"


def plot_delays(rows: list[BenchRow], path: Path) -> Path:
    """Bar chart of average delay per control, one panel per scenario."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by_sc: dict[str, dict[str, float]] = {}
    for r in rows:
        by_sc.setdefault(r.scenario, {})[r.control] = float(r.metrics["avg_delay_s"])
    n = max(len(by_sc), 1)
    cols = min(3, n)
    nrows = (n + cols - 1) // cols
    fig, axes = plt.subplots(nrows, cols, figsize=(5 * cols, 3.4 * nrows), squeeze=False)
    for ax, (sc, res) in zip(axes.flat, sorted(by_sc.items()), strict=False):
        names = sorted(res, key=res.__getitem__)
        ax.barh(
            names,
            [res[k] for k in names],
            color=["#888" if k == "programme" else "#2a7" for k in names],
        )
        ax.set_title(sc)
        ax.set_xlabel("average delay (s)")
    for ax in list(axes.flat)[len(by_sc) :]:
        ax.axis("off")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def write_report(
    rows: list[BenchRow],
    scenarios: Sequence[Scenario],
    out_md: Path,
    options: RunOptions,
    failures: Sequence[BenchFailure] = (),
    notes: str = "",
    seeds: Sequence[int] = (),
) -> Path:
    """Write the Markdown page and its plot next to it."""
    plot = plot_delays(rows, out_md.parent / f"{out_md.stem}_delay.png")
    out_md.write_text(
        markdown_report(
            rows, find_published(scenarios), [str(plot)], options, failures, notes, seeds
        )
    )
    return out_md


def scenarios_from(paths: Sequence[Path], discover: Callable[[Path], list[Path]]) -> list[Scenario]:
    """Scenarios from .sumocfg files or folders (folders are searched for every .sumocfg).

    ``SCENARIO::ROUTES[,ROUTES…]`` replaces the scenario's route files (for a scenario that ships
    its real demand beside a placeholder), and names the result ``<name>+<first route stem>``.
    """
    out: list[Scenario] = []
    for p in paths:
        base, _, routes = str(p).partition("::")
        if routes:
            extra = tuple(
                Path(base).parent / r if not Path(r).is_absolute() else Path(r)
                for r in routes.split(",")
            )
            if Path(base).is_dir():
                extra = tuple(Path(base) / r for r in routes.split(","))
            sc = load_scenario(Path(base), routes=extra)
            out.append(replace(sc, name=f"{sc.name}+{extra[0].name.split('.')[0]}"))
            continue
        out += [load_scenario(c) for c in (discover(p) if p.is_dir() else [p])]
    return out
