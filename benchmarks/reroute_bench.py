"""Benchmark: time to advise, on real OSM cities and on synthetic grid cities of growing size.

Usage: .venv/bin/python -m benchmarks.reroute_bench [--write docs/bench/reroute.md]
       [--grids 30,60,112] [--incidents 12]

For each graph, in one process:
- **baseline**: one ``osmnx.routing.shortest_path`` call (Dijkstra on travel time) between two
  nodes of the graph, the median over the sampled closures' ends;
- **one incident**: ``streams.rerouting.advise`` for a closure of an arterial link (decision
  points, penalty-method alternatives, the MathOpt allocation, the text), median over up to
  ``--incidents`` closures of the busiest classes; reported in ms and as a ratio to the baseline;
- **ten simultaneous incidents**: the advice for each of ten closures with the nine others
  active (closed links no alternative may use), total time;
- **place a point**: ``osmnx.distance.nearest_edges`` (one call, which builds its spatial index)
  against ``graph.locate.EdgeLocator.nearest`` (index built once).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import osmnx as ox  # noqa: E402 - after the path tweak

from benchmarks.provenance import commit, machine  # noqa: E402
from graph.locate import EdgeLocator  # noqa: E402
from graph.routing import EdgeKey, RoutableGraph, build_routable_graph  # noqa: E402
from graph.synthetic import write_grid_osm  # noqa: E402
from streams.events import Incident, IncidentLocation  # noqa: E402
from streams.rerouting import RerouteConfig, RerouteContext, advise  # noqa: E402

SHARED = Path(os.environ.get("AIGUILLEUR_SHARED_DATA", REPO.parent / "shared" / "data")) / "osm"
ARTERIAL = ("primary", "secondary", "tertiary", "trunk")
T0 = datetime(2026, 3, 10, 17, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Row:
    """One graph's figures."""

    name: str
    nodes: int
    edges: int
    build_s: float
    shortest_ms: float
    advice_ms: float
    advice_max_ms: float
    diversions: int
    sampled: int
    ten_s: float
    nearest_osmnx_ms: float
    nearest_ours_ms: float


def _incident(rg: RoutableGraph, e: EdgeKey, i: int) -> Incident:
    return Incident(
        incident_id=f"b{i}",
        kind="closure",
        location=IncidentLocation(osm_way_id=int(rg.data(e)["osmid"]), from_node=e[0]),
        starts_at=T0,
        reported_by="bench",
    )


def _closures(rg: RoutableGraph, n: int, seed: int = 7) -> list[EdgeKey]:
    edges = sorted(
        e
        for e in rg.graph.edges(keys=True)
        if str(rg.data(e)["highway"]).removesuffix("_link") in ARTERIAL
    )
    rng = random.Random(seed)
    return rng.sample(edges, min(n, len(edges)))


def _ms(f: Callable[[], object], repeat: int = 1) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def bench_graph(name: str, path: Path, incidents: int) -> Row:
    """Every figure for one graph."""
    t0 = time.perf_counter()
    rg = build_routable_graph(path)
    build_s = time.perf_counter() - t0
    ctx = RerouteContext.build(rg)
    cfg = RerouteConfig()
    closures = _closures(rg, incidents)
    shortest = []
    advice = []
    diversions = 0
    for i, e in enumerate(closures):
        # the baseline: a shortest path as long as the diversion's reach (tail to a far node)
        far = _far_node(rg, e)
        shortest.append(
            _ms(
                lambda e=e, far=far: ox.routing.shortest_path(
                    rg.graph, e[0], far, weight="travel_time"
                )
            )
        )
        inc = _incident(rg, e, i)
        t = time.perf_counter()
        out = advise(inc, e, ctx, {}, T0, cfg)
        advice.append((time.perf_counter() - t) * 1000)
        diversions += out[0].kind == "diversion"
    ten = closures[:10]
    t = time.perf_counter()
    for i, e in enumerate(ten):
        others = {x: 0.0 for x in ten if x != e}
        advise(_incident(rg, e, i), e, ctx, {}, T0, cfg, others=others)
    ten_s = time.perf_counter() - t
    u = closures[0][0]
    x, y = rg.graph.nodes[u]["x"], rg.graph.nodes[u]["y"]
    nearest_osmnx = _ms(lambda: ox.distance.nearest_edges(rg.graph, x, y), repeat=3)
    locator = EdgeLocator(rg)
    nearest_ours = _ms(lambda: locator.nearest(x, y), repeat=20)
    return Row(
        name=name,
        nodes=rg.graph.number_of_nodes(),
        edges=rg.graph.number_of_edges(),
        build_s=build_s,
        shortest_ms=statistics.median(shortest),
        advice_ms=statistics.median(advice),
        advice_max_ms=max(advice),
        diversions=diversions,
        sampled=len(closures),
        ten_s=ten_s,
        nearest_osmnx_ms=nearest_osmnx,
        nearest_ours_ms=nearest_ours,
    )


def _far_node(rg: RoutableGraph, e: EdgeKey) -> int:
    """A node about 1.5 km from the closure: the reach of a diversion."""
    import networkx as nx

    dist = nx.single_source_dijkstra_path_length(rg.graph, e[0], cutoff=1500, weight="length")
    return max(dist, key=lambda n: (dist[n], n))


def render(rows: list[Row], incidents: int) -> str:
    """docs/bench/reroute.md."""
    lines = [
        "# Rerouting advice",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d} on {machine()}, commit {commit()}; "
        "`python -m benchmarks.reroute_bench`. The machine is a shared 2-core one (other "
        "sessions ran at the same time): absolute times are noisy, the ratios to the baseline "
        "measured in the same run less so.",
        "",
        f"Per graph, up to {incidents} closures of arterial links (primary, secondary, tertiary) "
        "drawn with a fixed seed. *Shortest path* is the baseline: one "
        "`osmnx.routing.shortest_path` call from the closed link's tail to a node 1.5 km away. "
        "*Advice* is everything `streams.rerouting.advise` does for one incident: mainline, "
        "decision points, penalty-method alternatives from each, the quickest way around without "
        "advice, the MathOpt (GLOP) allocation and the texts. *Ten at once* advises ten closures "
        "of the same graph, each with the nine others closed. *Place a point* compares "
        "`osmnx.distance.nearest_edges` (which builds its spatial index on every call) with "
        "`graph.locate.EdgeLocator` (built once).",
        "",
        "| graph | nodes | edges | build s | shortest path ms | advice ms (median) "
        "| × baseline | advice ms (max) | with a diversion | ten at once s | nearest_edges ms "
        "| EdgeLocator ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.name} | {r.nodes:,} | {r.edges:,} | {r.build_s:.1f} | {r.shortest_ms:.1f} "
            f"| {r.advice_ms:.0f} | {r.advice_ms / max(r.shortest_ms, 1e-6):.1f} "
            f"| {r.advice_max_ms:.0f} | {r.diversions}/{r.sampled} | {r.ten_s:.2f} "
            f"| {r.nearest_osmnx_ms:.1f} | {r.nearest_ours_ms:.2f} |"
        )
    grids = [r for r in rows if r.name.startswith("synthetic")]
    if len(grids) >= 2:
        a, b = grids[0], grids[-1]
        lines += [
            "",
            f"**Growth.** From the smallest to the largest grid the graph grows "
            f"{b.edges / a.edges:.0f}× ({a.edges:,} to {b.edges:,} edges); the median advice "
            f"goes from {a.advice_ms:.0f} to {b.advice_ms:.0f} ms "
            f"(×{b.advice_ms / a.advice_ms:.1f}), ten simultaneous incidents from "
            f"{a.ten_s:.2f} to {b.ten_s:.2f} s (×{b.ten_s / a.ten_s:.1f}), the baseline shortest "
            f"path from {a.shortest_ms:.0f} to {b.shortest_ms:.0f} ms "
            f"(×{b.shortest_ms / a.shortest_ms:.0f}). An advice's searches stop as soon as no node "
            "left can reach the road sooner, so they explore the neighbourhood of the incident, "
            "not the city; what grows with the city is building the graph (once, at start-up) "
            "and osmnx's `nearest_edges`, which indexes every edge on each call.",
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Run every graph and print (or write) the report."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--write", type=Path)
    p.add_argument("--grids", default="30,60,112", help="synthetic grid sides")
    p.add_argument("--incidents", type=int, default=12)
    args = p.parse_args(argv)
    graphs = [("demo: Lyon-Villeurbanne", REPO / "data" / "demo" / "lyon-villeurbanne.osm.gz")]
    for name in ("helsinki.osm.pbf", "monaco.osm.pbf"):
        if (SHARED / name).is_file():
            graphs.append((name, SHARED / name))
    rows = []
    with tempfile.TemporaryDirectory(prefix="aiguilleur-reroute-bench-") as tmp:
        for n in (int(x) for x in args.grids.split(",") if x):
            path = Path(tmp) / f"grid{n}.osm"
            write_grid_osm(path, n)
            graphs.append((f"synthetic grid {n}×{n}", path))
        for name, path in graphs:
            row = bench_graph(name, path, args.incidents)
            print(row, flush=True)
            rows.append(row)
    text = render(rows, args.incidents)
    if args.write:
        args.write.write_text(text, encoding="utf-8")
        print(f"wrote {args.write}")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
