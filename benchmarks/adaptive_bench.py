"""The adaptive mode against SUMO's actuated control and the programme, on every network we have.

Usage: .venv/bin/python benchmarks/adaptive_bench.py [--only NAME ...] [--control NAME ...]
       [--seeds 1,2,3] [--results docs/bench/adaptive.json] [--out docs/bench/adaptive.md]
       [--report-only]

Networks: the generated evaluation networks of ``benchmarks/twin_unseen.py`` (corridors, grids
and regions at light, medium and saturated demand), the shared scenarios (RESCO, Bologna, the
Champs-Élysées with its OD flows; skipped when ``../shared/data`` is absent) and the demo city.
Controls: ``programme``, ``actuated`` (SUMO's actuated copy of the programme), ``adaptive`` (full
junction states, under the same greens as the actuated copy: the programme's ``minDur``/``maxDur``,
else 5-60 s, ``twin.programmes.green_bounds``), ``adaptive@loops`` (the adaptive mode on states
built from stop-line, advance and exit loops only) and ``adaptive#model`` (under the network
model's greens, what ``aiguilleur envelopes approve`` proposes: 7-90 s where the programme states
none). Each run is one SUMO
seed; results are kept per seed in a JSON file, so the benchmark resumes where it stopped. The
report gives per network the mean over seeds of the RESCO delay and of the vehicles never
inserted, and says which target holds.
"""

from __future__ import annotations

import argparse
import json
import statistics
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast, get_args

from benchmarks.twin_unseen import EVAL_NETWORKS, generate_eval
from twin import RunOptions, load_scenario, run_twin
from twin.bench import _git_head, machine
from twin.live_policy import LiveBounds
from twin.loop_states import LiveInputs
from twin.scenario import Scenario

REPO = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- table: benchmarks/adaptive_bench.py -->", "<!-- end of table -->"
CONTROLS = ("programme", "actuated", "adaptive", "adaptive@loops", "adaptive#model")
DESIGN_SHARED = ("cologne1", "grid4x4", "acosta", "ingolstadt1")
"""The shared scenarios designs were chosen on (with the generated networks marked ``design``);
the others (cologne3, arterial4x4, pasubio, the Champs-Élysées, the demo city) are held out."""


def _shared() -> list[tuple[str, Scenario]]:
    from aiguilleur.cli_twin import shared_scenarios

    try:
        root = shared_scenarios()
    except Exception:  # no shared data on this machine: generated networks and the demo only
        return []
    out: list[tuple[str, Scenario]] = []
    for d in sorted((root / "resco").iterdir()):
        if d.is_dir():
            out.append((d.name, load_scenario(d)))
    for name in ("acosta", "pasubio"):
        out.append((name, load_scenario(root / "bologna" / name)))
    champs = root / "paris-champs-elysees"
    out.append(
        (
            "champs-elysees",
            load_scenario(champs, routes=(champs / "DERIVED_od_flows.rou.xml",)),
        )
    )
    return out


def networks(cache: Path) -> list[tuple[str, str, Scenario]]:
    """(name, group, scenario) of every network: generated, shared, demo."""
    out = []
    for spec in EVAL_NETWORKS:
        group = "generated, design" if spec.design else "generated, held out"
        out.append((spec.name, group, load_scenario(generate_eval(cache, spec))))
    for name, sc in _shared():
        out.append((name, "shared, design" if name in DESIGN_SHARED else "shared, held out", sc))
    demo = REPO / "data" / "demo" / "twin" / "lyon-villeurbanne.sumocfg"
    out.append(("demo-lyon", "demo, held out", load_scenario(demo)))
    return out


def run_one(sc: Scenario, control: str, seed: int) -> dict[str, Any]:
    """One run's figures (``adaptive@loops``: the adaptive mode on loop-only states;
    ``adaptive#model``: under the network model's greens)."""
    base, _, envelope = control.partition("#")
    name, _, inputs = base.partition("@")
    opts = RunOptions(progress=False, seed=seed, audit=False)
    if inputs in get_args(LiveInputs):
        opts = replace(opts, live_inputs=cast(LiveInputs, inputs))
    if envelope in get_args(LiveBounds):
        opts = replace(opts, live_envelope=cast(LiveBounds, envelope))
    m = run_twin(sc, name, opts).metrics
    return {
        "delay": round(m.avg_delay_s, 2),
        "never_inserted": m.vehicles_never_inserted,
        "inserted": m.vehicles_inserted,
        "wall_s": round(m.wall_s, 1),
    }


def _key(name: str, control: str, seed: int) -> str:
    return f"{name}|{control}|{seed}"


def _mean(rows: dict[str, Any], name: str, control: str, seeds: list[int], f: str) -> float | None:
    """Mean over the seeds measured (columns measured with fewer seeds say so)."""
    vals = [rows[_key(name, control, s)][f] for s in seeds if _key(name, control, s) in rows]
    return statistics.mean(vals) if vals else None


def _cell(v: float | None, digits: int = 1) -> str:
    return "–" if v is None else f"{v:.{digits}f}"


def _count(v: float | None) -> str:
    """A mean count: whole when it is, else one decimal (a vehicle left out at one seed of three
    shows as 0.3, not 0)."""
    return "–" if v is None else _cell(v, 0 if float(v).is_integer() else 1)


def _seeds_of(rows: dict[str, Any], name: str, control: str, seeds: list[int]) -> int:
    return sum(_key(name, control, s) in rows for s in seeds)


def report(
    rows: dict[str, Any], nets: list[tuple[str, str, int]], seeds: list[int], commit: str
) -> str:
    """The Markdown table: per network, mean delay and never-inserted per control."""
    lines = [
        "| network | group | signals | programme | actuated | adaptive | adaptive per seed "
        "| adaptive, loops only | adaptive, model's greens "
        "| never inserted: programme / actuated / adaptive | adaptive < actuated "
        "| adaptive never-ins. ≤ programme |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    wins = held = total = total_ins = 0
    by_half: dict[str, list[int]] = {"design": [0, 0], "held out": [0, 0]}
    """Per half (the group's last words): [wins, networks compared]."""
    for name, group, n_tls in nets:
        d = {c: _mean(rows, name, c, seeds, "delay") for c in CONTROLS}
        ni = {c: _mean(rows, name, c, seeds, "never_inserted") for c in CONTROLS}
        if all(v is None for v in d.values()):
            continue
        per_seed = " / ".join(
            _cell(rows.get(_key(name, "adaptive", s), {}).get("delay")) for s in seeds
        )
        beat = ins = "–"
        common = [
            sd for sd in seeds if all(_key(name, c, sd) in rows for c in ("adaptive", "actuated"))
        ]
        if common:
            total += 1
            mine = _mean(rows, name, "adaptive", common, "delay") or 0.0
            ok = mine < (_mean(rows, name, "actuated", common, "delay") or 0.0)
            wins += ok
            half = by_half["design" if group.endswith("design") else "held out"]
            half[0] += ok
            half[1] += 1
            beat = "yes" if ok else "**no**"
            if len(common) < len(seeds):
                beat += f" (seed{'s' if len(common) > 1 else ''} {','.join(map(str, common))})"
        common_ins = [
            sd for sd in seeds if all(_key(name, c, sd) in rows for c in ("adaptive", "programme"))
        ]
        if common_ins:
            total_ins += 1
            mine_ni = _mean(rows, name, "adaptive", common_ins, "never_inserted") or 0.0
            ok2 = mine_ni <= (_mean(rows, name, "programme", common_ins, "never_inserted") or 0.0)
            held += ok2
            ins = "yes" if ok2 else "**no**"
        lines.append(
            f"| {name} | {group} | {n_tls} | {_cell(d['programme'])} | {_cell(d['actuated'])} "
            f"| {_cell(d['adaptive'])} | {per_seed} | {_cell(d['adaptive@loops'])} "
            f"| {_cell(d['adaptive#model'])} | "
            + " / ".join(_count(ni[c]) for c in ("programme", "actuated", "adaptive"))
            + f" | {beat} | {ins} |"
        )
    commits = sorted(
        {str(r.get("commit", "?")) for k, r in rows.items() if k.split("|")[1].startswith("adap")}
    )
    head = [
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {machine()} by "
        f"`benchmarks/adaptive_bench.py` (adaptive at commit {', '.join(commits) or commit}); "
        "SUMO seeds "
        f"{', '.join(map(str, seeds))}, each figure the mean over the seeds measured (a "
        "comparison made on fewer seeds says how many). Delay: RESCO's average delay (s), "
        f"time-to-teleport -1. Adaptive below actuated on {wins} of {total} networks measured "
        f"(design half: {by_half['design'][0]} of {by_half['design'][1]}; held out: "
        f"{by_half['held out'][0]} of {by_half['held out'][1]}); never more vehicles left "
        f"uninserted than the programme on {held} of {total_ins}.",
        "",
    ]
    return "\n".join(head + lines) + "\n"


def main() -> None:
    """Run what is missing, then write the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", default=None)
    ap.add_argument("--control", nargs="*", default=list(CONTROLS))
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--cache", type=Path, default=REPO / ".cache" / "adaptive-unseen")
    ap.add_argument("--results", type=Path, default=REPO / "docs" / "bench" / "adaptive.json")
    ap.add_argument(
        "--out",
        type=Path,
        default=REPO / "docs" / "bench" / "adaptive.md",
        help="report whose table (between the table markers) is replaced",
    )
    ap.add_argument("--rerun", action="store_true")
    ap.add_argument("--merge", nargs="*", type=Path, default=[], help="more result files to read")
    ap.add_argument("--report-only", action="store_true")
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    commit = _git_head()
    rows: dict[str, Any] = json.loads(args.results.read_text()) if args.results.is_file() else {}
    for extra in args.merge:
        rows = json.loads(extra.read_text()) | rows
    nets = [n for n in networks(args.cache) if not args.only or n[0] in args.only]
    if not args.report_only:
        for name, _, sc in nets:
            for control in args.control:
                for seed in seeds:
                    k = _key(name, control, seed)
                    if k in rows and not args.rerun:
                        continue
                    rows[k] = run_one(sc, control, seed) | {"commit": commit}
                    print(k, rows[k], flush=True)
                    args.results.write_text(json.dumps(rows, indent=1, sort_keys=True) + "\n")
    from graph.sumo import network_from_sumo

    counted = [
        (name, group, len(network_from_sumo(sc.net, sc.additionals).signals))
        for name, group, sc in nets
    ]
    table = report(rows, counted, seeds, commit)
    text = args.out.read_text() if args.out.is_file() else f"{BEGIN}\n{END}\n"
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    args.out.write_text(f"{head}{BEGIN}\n{table}{END}{tail}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
