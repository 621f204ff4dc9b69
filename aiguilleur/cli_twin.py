"""``aiguilleur twin``: closed-loop SUMO runs, the controls benchmark, what-if reports."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="The digital twin (SUMO).", no_args_is_help=True, add_completion=False)

REPO_ROOT = Path(__file__).resolve().parent.parent


def shared_scenarios() -> Path:
    """The shared SUMO scenarios folder (AIGUILLEUR_SHARED_DATA or <repo>/../shared/data)."""
    env = os.environ.get("AIGUILLEUR_SHARED_DATA")
    base = Path(env) if env else REPO_ROOT.parent / "shared" / "data"
    return base / "scenarios"


def _fail(e: Exception) -> typer.Exit:
    print(f"error: {e}", file=sys.stderr)
    return typer.Exit(2)


@app.command("controls")
def controls_cmd() -> None:
    """List the control modes the twin can run."""
    from twin import available_controls

    for c in available_controls():
        print(c)


@app.command("run")
def run_cmd(
    scenario: Annotated[Path, typer.Argument(help=".sumocfg, folder holding one, or .net.xml")],
    control: Annotated[
        str, typer.Option(help="programme, actuated, a planner or a controller")
    ] = "programme",
    routes: Annotated[
        list[Path] | None, typer.Option(help="route files replacing the scenario's")
    ] = None,
    begin: Annotated[float | None, typer.Option(help="window start (s)")] = None,
    end: Annotated[float | None, typer.Option(help="window end (s)")] = None,
    counts_out: Annotated[Path | None, typer.Option(help="write counts as JSON lines here")] = None,
    interval: Annotated[int, typer.Option(help="count interval (s)")] = 60,
) -> None:
    """Run one scenario under one control and print its metrics as JSON."""
    from twin import RunOptions, TwinError, load_scenario, run_twin

    try:
        sc = load_scenario(scenario, routes=tuple(routes or ()), begin_s=begin, end_s=end)
        sink = counts_out.open("w") if counts_out else None
        try:
            res = run_twin(
                sc,
                control,
                RunOptions(
                    count_interval_s=interval,
                    on_counts=(
                        lambda rs: sink.writelines(
                            json.dumps(r.to_dict(), default=str) + "\n" for r in rs
                        )
                    )
                    if sink
                    else None,
                ),
            )
        finally:
            if sink:
                sink.close()
    except (TwinError, KeyError) as e:
        raise _fail(e) from e
    import msgspec

    print(json.dumps(msgspec.to_builtins(res.metrics), indent=1))


@app.command("bench")
def bench_cmd(
    paths: Annotated[
        list[Path] | None, typer.Argument(help="scenario folders or .sumocfg files")
    ] = None,
    control: Annotated[
        list[str] | None, typer.Option(help="controls to run (default: all)")
    ] = None,
    out: Annotated[Path, typer.Option(help="Markdown report")] = REPO_ROOT
    / "docs"
    / "bench"
    / "twin.md",
    results: Annotated[Path | None, typer.Option(help="JSON results (resumable)")] = None,
    rerun: Annotated[bool, typer.Option(help="re-run rows already in the results")] = False,
    end: Annotated[
        float | None, typer.Option(help="shorten every window to this many seconds")
    ] = None,
) -> None:
    """Every control on every scenario: table in docs/bench/twin.md and PNG plots."""
    from twin import RunOptions, TwinError, discover_scenarios
    from twin.bench import run_bench, scenarios_from, write_report

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    roots = paths or [shared_scenarios()]
    try:
        scenarios = scenarios_from(roots, discover_scenarios)
        if end is not None:
            scenarios = [s.with_window(end_s=s.begin_s + end) for s in scenarios]
        results_path = results or out.with_suffix(".json")
        options = RunOptions(progress=True)
        rows = run_bench(scenarios, control, results_path, options=options, rerun=rerun)
        write_report(rows, scenarios, out, options)
    except (TwinError, KeyError) as e:
        raise _fail(e) from e
    print(f"wrote {out}")
