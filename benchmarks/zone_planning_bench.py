"""What planning zones together costs the zone stage, against planning each junction alone.

    .venv/bin/python -m benchmarks.zone_planning_bench [--write docs/bench/zone_planning.md]

The demo city (55 junctions in 8 zones) and its hour of synthetic counts (data/demo), fed to zone
state as the worker would hold it. For every five-minute period of the hour and every zone, in the
same process and one after the other: the zone stage's per-junction path (``plan_junction`` with the
default ``optimizer`` planner, the baseline) and the zone path (``plan_zone`` with the
``coordinated`` zone planner). Prints the planning time per period summed over the zones, the
slowest zone, and how many zone plans were coordinated or declined.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import os
import platform
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

from graph.osm import load_network
from graph.registry import load_registry
from optimizer.strategy import planner, zone_planner
from streams.events import ZoneReading
from streams.planning import PlanningConfig, SiteRef, plan_junction
from streams.zone_planning import plan_zone
from streams.zone_state import ZoneState

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "data" / "demo"
PERIOD_S = 300


def zone_states(
    zone_of: dict[str, str],
) -> tuple[dict[str, ZoneState], list[int]]:
    """Every zone's state holding the demo hour, and the period ends it closes (ms)."""
    states: dict[str, ZoneState] = {}
    ends: set[int] = set()
    with gzip.open(DEMO / "counts.csv.gz", "rt", newline="") as f:
        for row in csv.DictReader(f):
            zone = zone_of.get(row["detector_id"])
            if zone is None:
                continue
            end_ms = int(datetime.fromisoformat(row["interval_end"]).timestamp() * 1000)
            state = states.setdefault(zone, ZoneState(zone_id=zone))
            state.upsert(
                [ZoneReading(row["detector_id"], end_ms, int(row["interval_s"]), int(row["count"]))]
            )
            ends.add(end_ms)
    first, last = min(ends), max(ends)
    step = PERIOD_S * 1000
    start = -(-(first - 60_000) // step) * step + step
    return states, list(range(start, last + 1, step))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", type=Path, help="write the report (markdown) to this file")
    args = parser.parse_args()

    network = load_network(DEMO / "lyon-villeurbanne.osm.gz", cache_dir=REPO / ".cache" / "graph")
    registry = load_registry(DEMO / "detectors.csv", network)
    zone_of_junction = {j.id: j.zone_id for j in network.junctions}
    sites: dict[str, list[SiteRef]] = {}
    zone_of: dict[str, str] = {}
    for s in registry.sites():
        zone = zone_of_junction[s.junction_id]
        zone_of[s.detector_id] = zone
        sites.setdefault(zone, []).append(SiteRef(s.detector_id, s.approach_id, s.lanes))
    states, ends = zone_states(zone_of)
    zones = network.zones()
    links = {
        z: [lk for lk in network.links if zone_of_junction.get(lk.from_junction) == z
            and zone_of_junction.get(lk.to_junction) == z]
        for z in zones
    }  # fmt: skip
    cfg = PlanningConfig(period_s=PERIOD_S, window_s=PERIOD_S)
    alone, together = planner("optimizer"), zone_planner("coordinated")

    per_period_alone: list[float] = []
    per_period_zone: list[float] = []
    slowest_zone = 0.0
    outcomes = {"coordinated": 0, "declined": 0}
    offsets_set = plans_n = 0
    for end in ends:
        t_alone = t_zone = 0.0
        for z, junctions in zones.items():
            state = states[z]
            t0 = time.perf_counter()
            for j in junctions:
                plan_junction(j, sites[z], state, end, cfg, alone, network.source_sha256)
            t_alone += time.perf_counter() - t0
            t0 = time.perf_counter()
            result = plan_zone(
                z, junctions, links[z], sites[z], state, end, cfg, together, network.source_sha256
            )
            took = time.perf_counter() - t0
            t_zone += took
            slowest_zone = max(slowest_zone, took)
            if result.zone_plan is not None and len(result.plans) > 1:
                outcomes["coordinated" if result.zone_plan.coordinated else "declined"] += 1
            plans_n += len(result.plans)
            offsets_set += sum(1 for p in result.plans if p.offset_s)
        per_period_alone.append(t_alone)
        per_period_zone.append(t_zone)

    med_alone = statistics.median(per_period_alone)
    med_zone = statistics.median(per_period_zone)
    n_links = sum(len(v) for v in links.values())
    cpu = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        ),
        platform.machine(),
    )
    lines = [
        "# Zone planning benchmark",
        "",
        f"# zone planning benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        f"{os.cpu_count()} cores, {cpu}",
        f"# demo city: {len(network.junctions)} junctions in {len(zones)} zones, {n_links} road "
        f"links inside zones, {len(ends)} five-minute periods of the demo counts, one process",
        "| zone stage planning | median s per period (all zones) | max s per period | ratio |",
        "|---|---:|---:|---:|",
        f"| each junction alone, `optimizer` planner (baseline) | {med_alone:.3f} | "
        f"{max(per_period_alone):.3f} | 1.00 |",
        f"| zones together, `coordinated` zone planner | {med_zone:.3f} | "
        f"{max(per_period_zone):.3f} | {med_zone / med_alone:.1f} |",
        "",
        f"slowest zone plan: {slowest_zone:.3f} s; multi-junction zone plans: "
        f"{outcomes['coordinated']} coordinated, {outcomes['declined']} declined; "
        f"{offsets_set} of {plans_n} plans with a non-zero offset",
        f"load average at the end: {os.getloadavg()[0]:.1f} (1 min)",
    ]
    report = "\n".join(lines)
    print(report)  # a benchmark's output is its report
    if args.write:
        args.write.write_text(report + "\n")


if __name__ == "__main__":
    main()
