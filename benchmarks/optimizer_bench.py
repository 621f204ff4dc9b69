"""Benchmark the optimiser on 1,000 generated junctions, against Webster's closed form.

Run: ``.venv/bin/python benchmarks/optimizer_bench.py [--junctions N] [--write FILE.md]``

Pinned to one core. Junctions are generated like real ones: 2-4 phases, 4-12 lane groups of 1-3
lanes, sums of critical flow ratios from light to oversaturated, vehicle and pedestrian minimum
greens, and cycle bounds of 40-120 s (some 30-150 s). Prints every figure and, with ``--write``,
records them with the date and the machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import time
from collections import defaultdict
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

import numpy as np

from optimizer import (
    JunctionDemand,
    LaneGroup,
    Link,
    PhaseDemand,
    Plan,
    ZoneDemand,
    coordinate_zone,
    optimize_junction,
    webster_plan,
)
from optimizer.coordination import build_offset_data, greedy_offsets, link_cost

CYCLE_S = 90.0
TARGET_NETWORK_S = 0.1 * CYCLE_S


def generate(n: int, seed: int = 2026) -> list[JunctionDemand]:
    """``n`` junctions drawn like real signalised intersections."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        phases_n = int(rng.choice([2, 3, 4], p=[0.35, 0.35, 0.30]))
        groups_n = int(rng.integers(max(4, phases_n), 13))
        per_phase = [1] * phases_n
        for _ in range(groups_n - phases_n):
            per_phase[int(rng.integers(phases_n))] += 1
        y_total = float(
            rng.choice([rng.uniform(0.25, 0.9), rng.uniform(0.9, 1.15)], p=[0.88, 0.12])
        )
        shares = rng.dirichlet(np.full(phases_n, 3.0))
        phases = []
        for i in range(phases_n):
            groups = []
            for j in range(per_phase[i]):
                lanes = int(rng.integers(1, 4))
                sat = round(1800.0 * lanes * float(rng.uniform(0.85, 1.0)))
                y = shares[i] * y_total * (1.0 if j == 0 else float(rng.uniform(0.3, 1.0)))
                groups.append(
                    LaneGroup(
                        id=f"J{k}-p{i}-g{j}",
                        flow_vph=round(y * sat, 1),
                        saturation_flow_vph=float(sat),
                    )
                )
            phases.append(
                PhaseDemand(
                    index=i,
                    lane_groups=tuple(groups),
                    min_green_s=float(rng.integers(5, 11)),
                    max_green_s=float(rng.integers(45, 91)),
                    intergreen_s=float(rng.integers(4, 7)),
                    pedestrian_min_green_s=float(rng.integers(12, 21))
                    if rng.random() < 0.4
                    else 0.0,
                )
            )
        wide = rng.random() < 0.2
        out.append(
            JunctionDemand(
                junction_id=f"J{k}",
                phases=tuple(phases),
                cycle_min_s=30 if wide else 40,
                cycle_max_s=150 if wide else 120,
            )
        )
    return out


def timed(
    fn: Callable[[JunctionDemand], Plan], items: list[JunctionDemand]
) -> tuple[list[float], list[Plan]]:
    """Per-item seconds and results."""
    times: list[float] = []
    results: list[Plan] = []
    for item in items:
        t0 = time.perf_counter()
        results.append(fn(item))
        times.append(time.perf_counter() - t0)
    return times, results


def corridor(n: int, rng: np.random.Generator) -> ZoneDemand:
    """A two-way arterial of ``n`` junctions from the generator, 150-500 m apart."""
    js = generate(n, seed=int(rng.integers(1 << 30)))
    links = []
    for k in range(n - 1):
        t = float(rng.uniform(12, 40))
        links.append(
            Link(from_junction=f"J{k}", to_junction=f"J{k + 1}", travel_time_s=t, flow_vph=600.0)
        )
        links.append(
            Link(from_junction=f"J{k + 1}", to_junction=f"J{k}", travel_time_s=t, flow_vph=400.0)
        )
    return ZoneDemand(zone_id=f"corridor-{n}", junctions=tuple(js), links=tuple(links))


def grid(rows: int, cols: int, rng: np.random.Generator) -> ZoneDemand:
    """A two-way street grid: links in both directions between neighbours, 15-35 s apart."""
    js = generate(rows * cols, seed=int(rng.integers(1 << 30)))
    links = []
    for r in range(rows):
        for c in range(cols):
            k = r * cols + c
            for nb, phase in (
                (k + 1 if c + 1 < cols else -1, 0),
                (k + cols if r + 1 < rows else -1, 1),
            ):
                if nb < 0:
                    continue
                t = float(rng.uniform(15, 35))
                for a, b in ((k, nb), (nb, k)):
                    links.append(
                        Link(
                            from_junction=f"J{a}",
                            to_junction=f"J{b}",
                            travel_time_s=t,
                            from_phase=phase,
                            to_phase=phase,
                            flow_vph=500.0,
                        )
                    )
    return ZoneDemand(zone_id=f"grid-{rows}x{cols}", junctions=tuple(js), links=tuple(links))


def machine() -> str:
    """CPU model, core count, load, versions."""
    model = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{model}; nproc {os.cpu_count()}; load average {load}; "
        f"Python {platform.python_version()}; OR-Tools {version('ortools')}; "
        f"numpy {np.__version__}"
    )


Say = Callable[[str], None]


def network_section(say: Say, demands: list[JunctionDemand]) -> tuple[list[float], list[Plan]]:
    """Whole network and per junction, optimiser against Webster, plus plan quality."""
    t_web, webs = timed(webster_plan, demands)
    t_opt, opts = timed(optimize_junction, demands)
    net_web, net_opt = sum(t_web), sum(t_opt)
    med_web, med_opt = statistics.median(t_web), statistics.median(t_opt)
    flows = [sum(lg.flow_vph for p in d.phases for lg in p.lane_groups) for d in demands]
    veh_web = sum(w.expected_delay_s_per_veh * q for w, q in zip(webs, flows, strict=True))
    veh_opt = sum(o.expected_delay_s_per_veh * q for o, q in zip(opts, flows, strict=True))
    over = sum(o.explanation.oversaturated for o in opts)
    engines: dict[str, int] = defaultdict(int)
    for o in opts:
        engines[str(o.explanation.parameters["engine"])] += 1
    used = ", ".join(f"{k} {v}" for k, v in sorted(engines.items()))
    say(f"Network of {len(demands)} junctions ({over} oversaturated; engines: {used}).")
    say("")
    say("| measure | optimiser | Webster (baseline) | ratio |")
    say("| --- | --- | --- | --- |")
    say(f"| whole network, s | {net_opt:.2f} | {net_web:.3f} | {net_opt / net_web:.0f}x |")
    say(
        f"| median junction, ms | {1e3 * med_opt:.2f} | {1e3 * med_web:.3f} | "
        f"{med_opt / med_web:.0f}x |"
    )
    say(
        f"| 90th percentile junction, ms | {1e3 * float(np.percentile(t_opt, 90)):.2f} | "
        f"{1e3 * float(np.percentile(t_web, 90)):.3f} | |"
    )
    say(f"| slowest junction, ms | {1e3 * max(t_opt):.2f} | {1e3 * max(t_web):.3f} | |")
    say(
        f"| flow-weighted mean delay (HCM), s/veh | {veh_opt / sum(flows):.2f} | "
        f"{veh_web / sum(flows):.2f} | {veh_opt / veh_web:.3f} |"
    )
    say("")
    verdict = "met" if net_opt <= TARGET_NETWORK_S else "NOT met"
    say(
        f"Network time against the {CYCLE_S:.0f} s cycle: {net_opt / CYCLE_S:.1%} "
        f"(target 10%, i.e. {TARGET_NETWORK_S:.0f} s): {verdict}."
    )
    say("")
    return t_opt, opts


def size_section(
    say: Say, demands: list[JunctionDemand], t_opt: list[float], opts: list[Plan]
) -> None:
    """Median time by phases and lane groups, and by number of cycles enumerated."""
    say("### Growth with junction size (median ms per junction, count in brackets)")
    say("")
    say("| phases | lane groups 4-6 | 7-9 | 10-12 | all |")
    say("| --- | --- | --- | --- | --- |")
    for n in (2, 3, 4):
        cells = []
        for lo, hi in ((4, 6), (7, 9), (10, 12)):
            sel = [
                t
                for t, d in zip(t_opt, demands, strict=True)
                if len(d.phases) == n and lo <= sum(len(p.lane_groups) for p in d.phases) <= hi
            ]
            cells.append(f"{1e3 * statistics.median(sel):.2f} ({len(sel)})" if sel else "-")
        every = [t for t, d in zip(t_opt, demands, strict=True) if len(d.phases) == n]
        say(f"| {n} | " + " | ".join(cells) + f" | {1e3 * statistics.median(every):.2f} |")
    say("")
    spans = [int(o.explanation.parameters["cycles_enumerated"]) for o in opts]
    for lo, hi in ((1, 40), (41, 80), (81, 200)):
        sel = [t for t, s in zip(t_opt, spans, strict=True) if lo <= s <= hi]
        if sel:
            say(
                f"- {lo}-{hi} cycles enumerated: median {1e3 * statistics.median(sel):.2f} ms "
                f"({len(sel)} junctions)"
            )
    say("")


def network_size_section(say: Say, demands: list[JunctionDemand]) -> None:
    """Whole-network time for growing networks."""
    say("### Growth with network size (whole network, one core)")
    say("")
    say("| junctions | optimiser s | per junction ms | Webster s |")
    say("| --- | --- | --- | --- |")
    for size in sorted({100, 300, len(demands)}):
        if size > len(demands):
            continue
        t0 = time.perf_counter()
        for d in demands[:size]:
            optimize_junction(d)
        t_net = time.perf_counter() - t0
        t0 = time.perf_counter()
        for d in demands[:size]:
            webster_plan(d)
        t_w = time.perf_counter() - t0
        say(f"| {size} | {t_net:.2f} | {1e3 * t_net / size:.2f} | {t_w:.3f} |")
    say("")


def coordination_section(say: Say) -> None:
    """Corridors and grids: time, status, and link waits uncoordinated / greedy / CP-SAT."""
    say("### Coordination (common cycle + CP-SAT offsets, default options)")
    say("")
    say(
        "Platoon waits in veh·h per hour: all offsets 0 / greedy placement / chosen offsets "
        "(CP-SAT hinted with greedy placement improved by coordinate descent, 2 units of "
        "deterministic time) / CP-SAT's lower bound."
    )
    say("")
    say("| zone | junctions | links | s | status | waits 0 / greedy / chosen / bound |")
    say("| --- | --- | --- | --- | --- | --- |")
    rng = np.random.default_rng(7)
    zones = [
        corridor(5, rng),
        corridor(10, rng),
        corridor(20, rng),
        grid(3, 3, rng),
        grid(4, 4, rng),
    ]
    for zone in zones:
        t0 = time.perf_counter()
        zp = coordinate_zone(zone)
        t_z = time.perf_counter() - t0
        data = build_offset_data(zone, list(zp.plans), zp.cycle_s)
        greedy = link_cost(data, greedy_offsets(data)) / 3600
        base = zp.explanation.parameters["uncoordinated_wait_veh_h_per_h"]
        say(
            f"| {zone.zone_id} | {len(zone.junctions)} | {len(zone.links)} | {t_z:.2f} | "
            f"{zp.explanation.solver_status} | {base} / {greedy:.4f} / "
            f"{zp.explanation.objective_value:.4f} / "
            f"{zp.explanation.parameters['lower_bound_veh_h_per_h']} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--junctions", type=int, default=1000)
    parser.add_argument("--write", type=Path, default=None, help="markdown file for the results")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    demands = generate(args.junctions)
    optimize_junction(demands[0])  # warm-up: imports, OR-Tools initialisation
    lines: list[str] = []

    def say(text: str) -> None:
        print(text)
        lines.append(text)

    say(f"## Run of {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}")
    say("")
    say(f"Machine: {machine()}. One process pinned to one core.")
    say("")
    t_opt, opts = network_section(say, demands)
    size_section(say, demands, t_opt, opts)
    network_size_section(say, demands)
    coordination_section(say)
    if args.write:
        args.write.parent.mkdir(parents=True, exist_ok=True)
        header = (
            "# Optimiser benchmark\n\nGenerated by `benchmarks/optimizer_bench.py --write "
            "docs/bench/optimizer.md`; models in `docs/optimizer.md`.\n\n"
            "Reading the numbers: times are wall-clock on a machine shared with other work (the "
            "load average at the start is given), so single slow junctions are often interference; "
            "the baseline is Webster's closed form, timed in the same process on the same "
            "junctions. "
            "Delays are the HCM model's expectation for each plan, not a simulation.\n\n"
        )
        args.write.write_text(header + "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
