"""``aiguilleur twin``: closed-loop SUMO runs, the controls benchmark, what-if reports."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from aiguilleur.settings import Settings
    from aiguilleur.twin_live import LiveOptions
    from twin import Scenario

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
    """Run one scenario under one control and print its metrics as JSON (a planner control runs
    the product's pipeline in process: the plans a worker would publish)."""
    from aiguilleur.twin_product import run_control
    from twin import RunOptions, TwinError, load_scenario

    try:
        sc = load_scenario(scenario, routes=tuple(routes or ()), begin_s=begin, end_s=end)
        sink = counts_out.open("w") if counts_out else None
        try:
            res = run_control(
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

    out = msgspec.to_builtins(res.metrics)
    if res.audit is not None:
        # What SUMO showed, checked against what the control intended (twin.audit).
        out["signal_audit"] = msgspec.to_builtins(res.audit)
    print(json.dumps(out, indent=1))
    if res.audit is not None and res.audit.violations:
        print(
            f"warning: SUMO showed {res.audit.violations} signal state(s) the control did not "
            f"intend; first: {'; '.join(res.audit.first_violations)}",
            file=sys.stderr,
        )


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
    sumo_binary: Annotated[
        str | None, typer.Option(help="another sumo binary, driven through TraCI (version studies)")
    ] = None,
    count_interval: Annotated[int, typer.Option(help="detector count interval (s)")] = 60,
    seeds: Annotated[
        str | None,
        typer.Option(help="SUMO seeds, comma-separated: each row the mean of one run per seed"),
    ] = None,
) -> None:
    """Every control on every scenario: table in docs/bench/twin.md and PNG plots (planner rows
    run the product's pipeline in process)."""
    from aiguilleur.twin_product import run_control
    from twin import RunOptions, TwinError, discover_scenarios
    from twin.bench import BenchFailure, run_bench, scenarios_from, write_report

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    roots = paths or [shared_scenarios()]
    try:
        scenarios = scenarios_from(roots, discover_scenarios)
        if end is not None:
            scenarios = [s.with_window(end_s=s.begin_s + end) for s in scenarios]
        results_path = results or out.with_suffix(".json")
        options = RunOptions(
            progress=True,
            sumo_binary=sumo_binary,
            use_traci=sumo_binary is not None,
            count_interval_s=count_interval,
        )
        failures: list[BenchFailure] = []
        seed_list = _seeds(seeds)
        rows = run_bench(
            scenarios,
            control,
            results_path,
            options=options,
            rerun=rerun,
            failures=failures,
            seeds=seed_list,
            run=run_control,
        )
        notes_file = out.with_name(out.stem + "_notes.md")
        notes = notes_file.read_text() if notes_file.is_file() else ""
        write_report(rows, scenarios, out, options, failures, notes, seed_list)
    except (TwinError, KeyError) as e:
        raise _fail(e) from e
    print(f"wrote {out}")


def _seeds(text: str | None) -> tuple[int, ...]:
    """``--seeds 1,2,3`` as integers; a clear error for anything else."""
    if not text:
        return ()
    try:
        return tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise typer.BadParameter(
            f"--seeds {text!r}: give SUMO seeds as integers separated by commas, e.g. 1,2,3"
        ) from None


DEMO_OSM = REPO_ROOT / "data" / "demo" / "lyon-villeurbanne.osm.gz"
DEMO_TWIN = REPO_ROOT / "data" / "demo" / "twin"
DEMO_COUNTS = REPO_ROOT / "data" / "demo" / "counts.csv.gz"
DEMO_REGISTRY = REPO_ROOT / "data" / "demo" / "detectors.csv"


@app.command("whatif")
def whatif_cmd(
    scenario: Annotated[Path, typer.Argument(help=".sumocfg, folder holding one, or .net.xml")],
    close: Annotated[list[str] | None, typer.Option(help="edge id to close (repeatable)")] = None,
    demand_factor: Annotated[float, typer.Option(help="scale all demand")] = 1.0,
    plan: Annotated[
        Path | None, typer.Option(help="candidate plans (JSON Plan, list or map)")
    ] = None,
    begin: Annotated[float | None, typer.Option(help="window start (s)")] = None,
    end: Annotated[float | None, typer.Option(help="window end (s)")] = None,
    control: Annotated[str, typer.Option(help="signal control of both runs")] = "programme",
    out: Annotated[Path | None, typer.Option(help="report folder")] = None,
) -> None:
    """Compare key figures before and after a change; writes report.md and figures.png."""
    from twin import TwinError, load_scenario
    from twin.whatif import Changes, read_plans, run_whatif, write_report

    try:
        sc = load_scenario(scenario, begin_s=begin, end_s=end)
        changes = Changes(
            closed_edges=tuple(close or ()),
            demand_factor=demand_factor,
            plans=read_plans(plan) if plan else None,
        )
        result = run_whatif(sc, changes, control=control)
        path = write_report(result, out or Path("whatif") / sc.name)
    except (TwinError, KeyError) as e:
        raise _fail(e) from e
    print(path.read_text())
    print(f"wrote {path}")


@app.command("demo-build")
def demo_build_cmd(
    out: Annotated[Path, typer.Option(help="output folder")] = DEMO_TWIN,
    seed: Annotated[int, typer.Option(help="random seed of the demand")] = 42,
) -> None:
    """Build the demo city's SUMO twin from the committed OSM extract: the net, and one hour of
    demand fitted to the demo counts (routeSampler)."""
    from twin import TwinError
    from twin.demo import build_demo_twin

    try:
        cfg = build_demo_twin(DEMO_OSM, out, counts=DEMO_COUNTS, registry=DEMO_REGISTRY, seed=seed)
    except TwinError as e:
        raise _fail(e) from e
    print(f"wrote {cfg}")


@app.command("demo-fit")
def demo_fit_cmd(
    control: Annotated[str, typer.Option(help="signal control of the twin run")] = "programme",
    teleport: Annotated[float, typer.Option(help="SUMO's time-to-teleport (s; -1: never)")] = 300.0,
    interval: Annotated[
        int, typer.Option(help="also compare per interval of this many seconds")
    ] = 900,
) -> None:
    """Run the demo twin and compare its counts with the demo counts (GEH, R², MAE)."""
    from twin import TwinError
    from twin.calibration import fit_markdown
    from twin.demo import demo_feed, demo_fit

    try:
        feed = demo_feed(DEMO_TWIN, DEMO_COUNTS, control=control, time_to_teleport_s=teleport)
        hourly = demo_fit(feed, DEMO_COUNTS)
        per_interval = demo_fit(feed, DEMO_COUNTS, interval_s=interval)
    except (TwinError, KeyError, ValueError) as e:
        raise _fail(e) from e
    print(f"control {control}, time-to-teleport {teleport:g} s\n")
    print(fit_markdown(hourly, unmeasured=feed.unmeasured))
    print(
        f"{interval // 60}-min intervals with GEH < 5 (hourly-equivalent flows): "
        f"{per_interval.interval_geh_ok:.1%}"
    )


@app.command("demo-whatif")
def demo_whatif_cmd(
    edge: Annotated[
        str | None, typer.Option(help="edge to close (default: busiest signalised approach)")
    ] = None,
    end: Annotated[float, typer.Option(help="window end (s)")] = 3600.0,
    out: Annotated[Path, typer.Option(help="report folder")] = REPO_ROOT
    / "docs"
    / "bench"
    / "whatif-demo",
) -> None:
    """Road-closure what-if in the demo city, in one command."""
    from graph.sumo import network_from_sumo
    from twin import TwinError, load_scenario
    from twin.demo import NAME, busiest_closable_edge
    from twin.whatif import Changes, run_whatif, write_report

    cfg = DEMO_TWIN / f"{NAME}.sumocfg"
    try:
        sc = load_scenario(cfg, end_s=end)
        if edge is None:
            approaches = {
                a.id for j in network_from_sumo(sc.net).network.junctions for a in j.approaches
            }
            edge = busiest_closable_edge(cfg, approaches)
        path = write_report(run_whatif(sc, Changes(closed_edges=(edge,))), out)
    except (TwinError, KeyError) as e:
        raise _fail(e) from e
    print(path.read_text())
    print(f"wrote {path}")


@app.command("counts")
def counts_cmd(
    scenario: Annotated[Path, typer.Argument(help=".sumocfg, folder holding one, or .net.xml")],
    csv_out: Annotated[Path, typer.Option("--csv", help="counts CSV (replay format)")],
    registry: Annotated[
        Path | None, typer.Option(help="detector registry CSV (lat, lon, bearing)")
    ] = None,
    approach_registry: Annotated[
        Path | None,
        typer.Option(help="detector registry CSV by junction_id, approach_id (for the .net.xml)"),
    ] = None,
    control: Annotated[str, typer.Option(help="signal control during the run")] = "programme",
    interval: Annotated[int, typer.Option(help="count interval (s)")] = 300,
    end: Annotated[float | None, typer.Option(help="window end (s)")] = None,
) -> None:
    """Run the twin; write its detector counts (and where the detectors are) for the demo feed."""
    from graph.sumo import network_from_sumo
    from twin import RunOptions, TwinError, load_scenario, run_twin
    from twin.export import write_approach_registry_csv, write_counts_csv, write_registry_csv

    try:
        sc = load_scenario(scenario, end_s=end)
        res = run_twin(sc, control, RunOptions(count_interval_s=interval, keep_counts=True))
        n = write_counts_csv(res.counts, csv_out)
        if registry is not None:
            write_registry_csv(res.detectors, sc.net, registry)
        if approach_registry is not None:
            network = network_from_sumo(sc.net, sc.additionals).network
            _, skipped = write_approach_registry_csv(res.detectors, network, approach_registry)
            if skipped:
                print(f"{len(skipped)} detector(s) on no signalised approach left out")
    except (TwinError, KeyError) as e:
        raise _fail(e) from e
    written = [str(p) for p in (registry, approach_registry) if p is not None]
    print(f"wrote {n} counts to {csv_out}" + "".join(f" and {w}" for w in written))


@app.command("live")
def live_cmd(
    scenario: Annotated[Path, typer.Argument(help=".sumocfg, folder holding one, or .net.xml")],
    period: Annotated[
        int, typer.Option(help="control period (s), the worker's and the twin's")
    ] = 300,
    speed: Annotated[
        float, typer.Option(help="at most this many simulated s per wall-clock s (0: no limit)")
    ] = 0.0,
    begin: Annotated[float | None, typer.Option(help="window start (s)")] = None,
    end: Annotated[float | None, typer.Option(help="window end (s)")] = None,
    timeout: Annotated[
        float, typer.Option(help="longest wait for the worker at a period boundary (s)")
    ] = 120.0,
    worker: Annotated[
        bool,
        typer.Option(help="start a worker (--no-worker: use the one the environment configures)"),
    ] = True,
    workdir: Annotated[
        Path | None, typer.Option(help="network, registry and worker log (default: .cache/)")
    ] = None,
    controller: Annotated[
        str | None,
        typer.Option(
            help="a live controller (adaptive, max-pressure): junction states to the worker, "
            "its decisions to SUMO, instead of counts and plans"
        ),
    ] = None,
    approved_by: Annotated[
        str, typer.Option(help="approver named in the envelopes the run approves (--controller)")
    ] = "",
    seed: Annotated[
        int | None, typer.Option(help="SUMO's random seed (default: the twin's)")
    ] = None,
) -> None:
    """Closed loop through Kafka: SUMO's counts to a worker, the worker's plans to SUMO (or, with
    --controller, junction states to the worker and its decisions to SUMO)."""
    import time

    import msgspec

    from aiguilleur.settings import Settings
    from aiguilleur.twin_live import LiveOptions, PipelineNotAnswering, run_live
    from twin import RunOptions, TwinError, load_scenario

    try:
        sc = load_scenario(scenario, begin_s=begin, end_s=end)
        settings = Settings()
        run = f"twin-live-{time.strftime('%Y%m%d-%H%M%S')}"
        if worker:  # a fresh namespace and group: no state of an earlier run hides a period
            settings = settings.model_copy(
                update={"topic_namespace": run, "app_id": f"aiguilleur-{run}"}
            )
        folder = workdir or REPO_ROOT / ".cache" / run
        print(f"topics: {settings.topic_namespace or '(none)'}; files: {folder}", file=sys.stderr)
        if controller:
            _live_control(
                sc,
                settings.model_copy(update={"controller": controller}),
                folder,
                LiveOptions(speed=speed, timeout_s=timeout, start_worker=worker),
                approved_by,
            )
            return
        res = run_live(
            sc,
            settings,
            folder,
            LiveOptions(
                period_s=period,
                speed=speed,
                timeout_s=timeout,
                start_worker=worker,
                seed=RunOptions.seed if seed is None else seed,
            ),
            out=lambda line: print(line, file=sys.stderr),
        )
    except (TwinError, KeyError, ValueError, PipelineNotAnswering) as e:
        raise _fail(e) from e
    applied = sum(len(v) for v in res.run.plans.values())
    print(
        f"counts produced: {res.produced}, dead letters: {res.dead_letters}, "
        f"plans consumed: {len(res.consumed)}, plans applied: {applied} "
        f"({len(res.asked)} periods)",
        file=sys.stderr,
    )
    print(json.dumps(msgspec.to_builtins(res.run.metrics), indent=1))


def _live_control(
    sc: Scenario, settings: Settings, folder: Path, options: LiveOptions, approved_by: str
) -> None:
    import msgspec

    from aiguilleur.twin_control import run_live_control

    res = run_live_control(
        sc,
        settings,
        folder,
        options,
        approved_by=approved_by,
        out=lambda line: print(line, file=sys.stderr),
    )
    rtt = sorted(res.round_trips_s)
    median_ms = rtt[len(rtt) // 2] * 1000 if rtt else 0.0
    print(
        f"states sent: {res.sent}, dead letters: {res.dead_letters}, "
        f"decisions consumed: {len(res.consumed)}, decisions applied: "
        f"{len(res.run.applied)}; round trips: {len(rtt)}, median {median_ms:.1f} ms, "
        f"{res.sent / res.decide_wall_s if res.decide_wall_s else 0:.0f} decisions/s of waiting",
        file=sys.stderr,
    )
    print(json.dumps(msgspec.to_builtins(res.run.metrics), indent=1))
