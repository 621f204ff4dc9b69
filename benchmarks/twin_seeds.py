"""How much a control's delay moves with SUMO's random seed (see docs/bench/twin_seeds.md).

The main twin benchmark runs every control once, with seed 42, as RESCO's protocol does per
episode; RESCO itself averages many episodes. This runs chosen controls with several seeds on every
scenario and reports mean, standard deviation and range, so that a difference between two
controls can be read against the noise of one run.

Usage: .venv/bin/python benchmarks/twin_seeds.py [SCENARIO ...] [--control NAME ...]
       [--seeds 1,2,3] [--out docs/bench/twin_seeds.md]
Default scenarios: the shared ones (``AIGUILLEUR_SHARED_DATA`` or ``../shared/data``), with the
Champs-Élysées scenario's real OD flows.
"""

from __future__ import annotations

import argparse
import json
import statistics
from datetime import UTC, datetime
from pathlib import Path

from aiguilleur.cli_twin import shared_scenarios
from aiguilleur.twin_product import run_control
from twin import RunOptions
from twin.bench import _git_head, isolated_metrics, machine, scenarios_from
from twin.scenario import discover_scenarios

DEFAULT_CONTROLS = ("programme", "optimizer", "coordinated", "max-pressure", "adaptive")
REPO = Path(__file__).resolve().parents[1]


def _default_paths() -> list[Path]:
    root = shared_scenarios()
    champs = root / "paris-champs-elysees"
    out = [p for p in sorted(root.iterdir()) if p.is_dir() and p != champs]
    if champs.is_dir():
        out.append(Path(f"{champs}::DERIVED_od_flows.rou.xml"))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("paths", nargs="*", type=Path)
    ap.add_argument("--control", action="append", dest="controls")
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "bench" / "twin_seeds.md")
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    commit = _git_head()  # the code this process runs: modules are loaded now
    controls = args.controls or list(DEFAULT_CONTROLS)
    scenarios = scenarios_from(args.paths or _default_paths(), discover_scenarios)
    results: dict[str, dict[str, list[float]]] = {}
    for sc in scenarios:
        for control in controls:
            for seed in seeds:
                metrics = isolated_metrics(
                    run_control, sc, control, RunOptions(progress=False, seed=seed)
                )
                delay = round(float(metrics["avg_delay_s"]), 2)
                results.setdefault(sc.name, {}).setdefault(control, []).append(delay)
                print(f"{sc.name} {control} seed={seed} delay_s={delay}", flush=True)
    seed_list = ", ".join(map(str, seeds))
    lines = [
        "# Twin benchmark: spread over SUMO seeds",
        "",
        f"Generated {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {machine()} by "
        f"`benchmarks/twin_seeds.py` at commit `{commit}`, seeds "
        f"{seed_list} (RESCO protocol otherwise as in twin.md). Average delay (s): "
        "mean ± standard deviation [min–max].",
        "",
        "| scenario | " + " | ".join(controls) + " |",
        "|---|" + "---|" * len(controls),
    ]
    for name, by_control in results.items():
        cells = []
        for control in controls:
            v = by_control.get(control, [])
            sd = statistics.stdev(v) if len(v) > 1 else 0.0
            cells.append(f"{statistics.mean(v):.1f} ± {sd:.1f} [{min(v):.1f}–{max(v):.1f}]")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    args.out.write_text("\n".join(lines) + "\n")
    args.out.with_suffix(".json").write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
