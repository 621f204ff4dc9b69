"""Diversion advice proven in the twin: close an arterial edge and compare no advice, SUMO's
rerouting device on every vehicle (an oracle) and the advice at compliance 0 to 100 %.

Usage: .venv/bin/python -m benchmarks.reroute_twin [--seeds 1,2,3,4,5] [--scenario demo|acosta ...]
       [--write docs/bench/reroute_twin.md] [--json docs/bench/reroute_twin.json] [--dry]

For each scenario:
1. one run without closure (seed 1) gives every edge's flow (SUMO edgeData, vehicles per hour):
   the link state the advice is computed from, as if every link had a detector;
2. the edge to close is chosen by rule, not by id: among arterial links (OSM class primary to
   tertiary where the graph has classes) the busiest for which the product advises a diversion;
3. the product computes the advice (``streams.rerouting.advise``, default policy), which is mapped
   onto SUMO edges (``twin.osm_edges`` for the demo city's OSM graph, SUMO ids for a SUMO graph);
4. every case runs once per seed (``twin.reroute``); results are kept in the JSON file after each
   run, so the sweep can be stopped and resumed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sumolib

from benchmarks import provenance
from graph.diversions import road_class
from graph.routing import EdgeKey, RoutableGraph, build_routable_graph
from graph.routing_sumo import routable_from_sumo
from optimizer.link_state import LinkReading, LinkState, link_state
from streams.events import Incident, IncidentLocation, RerouteAdvice
from streams.rerouting import RerouteConfig, RerouteContext, advise
from twin.osm_edges import OsmToSumo, connect
from twin.reroute import (
    AdvisedRoute,
    CaseResult,
    PointAdvice,
    RerouteCase,
    RerouteRun,
    baseline_flows,
    run_case,
)
from twin.scenario import Scenario, load_scenario

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("AIGUILLEUR_SHARED_DATA", REPO.parent / "shared" / "data"))
COMPLIANCE = (0.0, 0.1, 0.2, 0.3, 0.5, 1.0)
ARTERIAL = {"primary", "secondary", "tertiary", "trunk"}
CANDIDATES = 10
"""The closure is chosen among this many busiest arterial edges."""
STARTS = datetime(2026, 1, 5, tzinfo=UTC)


@dataclass(frozen=True)
class Setup:
    """A scenario, its routable graph and how a routable edge becomes SUMO edges."""

    name: str
    scenario: Scenario
    rg: RoutableGraph
    to_sumo: Callable[[Sequence[EdgeKey]], list[str]]
    """A routable path as connected SUMO edges."""
    edge_ids: Callable[[EdgeKey], list[str]]
    """The SUMO edges one routable edge lies on."""
    net: Any
    """The SUMO net (sumolib)."""


def demo_setup() -> Setup:
    """The demo city: the product's OSM graph, mapped onto the twin's SUMO edges."""
    scenario = load_scenario(REPO / "data" / "demo" / "twin" / "lyon-villeurbanne.sumocfg")
    rg = build_routable_graph(REPO / "data" / "demo" / "lyon-villeurbanne.osm.gz")
    mapping = OsmToSumo(rg, sumolib.net.readNet(str(scenario.net), withInternal=False))
    return Setup("demo (Lyon-Villeurbanne)", scenario, rg, mapping.path, mapping.edge, mapping.net)


def sumo_setup(name: str, cfg: Path) -> Setup:
    """A shared scenario without OSM: the routable graph of its SUMO net."""
    scenario = load_scenario(cfg)
    rg = routable_from_sumo(scenario.net)
    net = sumolib.net.readNet(str(scenario.net), withInternal=False)

    def to_sumo(edges: Sequence[EdgeKey]) -> list[str]:
        ids = [str(rg.data(e)["sumo_id"]) for e in edges]
        return connect(net, ids)

    return Setup(name, scenario, rg, to_sumo, lambda e: [str(rg.data(e)["sumo_id"])], net)


SETUPS: dict[str, Callable[[], Setup]] = {
    "demo": demo_setup,
    "acosta": lambda: sumo_setup(
        "Bologna Andrea Costa", SHARED / "scenarios" / "bologna" / "acosta" / "run.sumocfg"
    ),
}


def link_states(setup: Setup, flows: dict[str, float]) -> dict[EdgeKey, LinkState]:
    """The routable edges' states from SUMO edge flows (the first SUMO edge of each)."""
    out = {}
    for e in setup.rg.graph.edges(keys=True):
        ids = setup.edge_ids(e)
        measured = [flows[s] for s in ids if s in flows]
        if not measured:
            continue
        d = setup.rg.data(e)
        out[e] = link_state(
            float(d["travel_time"]),
            float(d["length"]),
            float(d["capacity_vph"]),
            [LinkReading(flow_vph=max(measured))],
        )
    return out


def choose_closure(
    setup: Setup, flows: dict[str, float], states: dict[EdgeKey, LinkState], cfg: RerouteConfig
) -> tuple[tuple[EdgeKey, ...], str, list[RerouteAdvice], tuple[PointAdvice, ...]]:
    """Of the busiest arterial SUMO edges, the one where the product expects its advice to save
    the most, as the stretch of routable edges lying on it, and its advice."""
    rg = setup.rg
    classes = {road_class(rg.data(e)) for e in rg.graph.edges(keys=True)}
    arterial = ARTERIAL if classes & ARTERIAL else classes
    ctx = RerouteContext.build(rg)
    on_sumo: dict[str, list[EdgeKey]] = {}
    for e in rg.graph.edges(keys=True):
        for sid in setup.edge_ids(e):
            on_sumo.setdefault(sid, []).append(e)

    def arterial_flow(sid: str) -> float:
        edges = on_sumo[sid]
        return (
            flows.get(sid, 0.0) if any(road_class(rg.data(e)) in arterial for e in edges) else 0.0
        )

    tried = sorted(
        (s for s in on_sumo if arterial_flow(s) > 0), key=lambda s: (-arterial_flow(s), s)
    )
    best: tuple[float, tuple[EdgeKey, ...], str, list[RerouteAdvice], tuple[PointAdvice, ...]]
    best = (0.0, (), "", [], ())
    for sid in tried[:CANDIDATES]:
        stretch = _stretch(on_sumo[sid])
        if stretch is None:
            continue
        advice = advise(_incident(rg, stretch), stretch, ctx, states, STARTS, cfg)
        saving = sum(a.expected_saving_veh_h_per_h for a in advice)
        print(f"  {sid}: {advice[0].kind} {saving:.2f} veh·h/h {advice[0].reason}")
        if advice[0].kind != "diversion" or saving <= best[0]:
            continue
        try:
            points = tuple(to_point_advice(setup, a) for a in advice)
        except LookupError:
            continue
        if any(sid in r.edges for p in points for r in p.routes):
            continue
        best = (saving, stretch, sid, advice, points)
    if not best[1]:
        raise SystemExit(f"{setup.name}: no arterial link with a diversion to close")
    return best[1], best[2], best[3], best[4]


def _stretch(edges: list[EdgeKey]) -> tuple[EdgeKey, ...] | None:
    """The edges in driving order when they follow each other, else None."""
    heads = {e[1] for e in edges}
    first = [e for e in edges if e[0] not in heads]
    if len(first) != 1:
        return None
    out = [first[0]]
    nxt = {e[0]: e for e in edges}
    while out[-1][1] in nxt and len(out) < len(edges):
        out.append(nxt[out[-1][1]])
    return tuple(out) if len(out) == len(edges) else None


def _incident(rg: RoutableGraph, stretch: tuple[EdgeKey, ...]) -> Incident:
    return Incident(
        incident_id="twin-closure",
        kind="closure",
        location=IncidentLocation(
            osm_way_id=int(rg.data(stretch[0])["osmid"]),
            from_node=stretch[0][0],
            to_node=stretch[-1][1],
        ),
        starts_at=STARTS,
        reported_by="reroute benchmark",
    )


def to_point_advice(setup: Setup, advice: RerouteAdvice) -> PointAdvice:
    """An advice event as SUMO edges: the decision edge and each alternative after it."""
    rg = setup.rg
    point = advice.decision_point
    assert point is not None
    keyed = rg.graph.get_edge_data(point.approach_node, point.node)
    approach = (point.approach_node, point.node, min(keyed))
    routes = []
    decision = ""
    for alt in advice.alternatives:
        path = setup.to_sumo(rg.edges_along(alt.node_ids))
        decision = decision or _decision_edge(setup, approach, path[0])
        routes.append(AdvisedRoute(tuple(connect(setup.net, [decision, *path])[1:]), alt.share))
    return PointAdvice(decision, tuple(routes))


def _decision_edge(setup: Setup, approach: EdgeKey, first: str) -> str:
    """The SUMO edge drivers are on when they reach the decision point: the approach's own edge,
    else the edge of the approach's way entering the junction the alternative leaves from."""
    own = setup.edge_ids(approach)
    if own:
        return own[-1]
    way = str(setup.rg.data(approach)["osmid"])
    junction = setup.net.getEdge(first).getFromNode()
    for e in junction.getIncoming():
        if e.getID().lstrip("-").split("#")[0] == way:
            return str(e.getID())
    raise LookupError(f"no SUMO edge of way {way} reaches the decision point")


def _key(r: dict[str, object]) -> tuple[str, str, int]:
    return (str(r["scenario"]), str(r["case"]), int(str(r["seed"])))


def sweep(
    setup: Setup,
    run: RerouteRun,
    seeds: Sequence[int],
    results: list[dict[str, object]],
    save: Callable[[], None],
) -> None:
    """Every case once per seed, skipping those already in ``results``."""
    cases = [RerouteCase("none"), RerouteCase("no_advice"), RerouteCase("oracle")]
    # 0 % diverts no vehicle: with the same seed it is the no-advice run, step for step (measured)
    cases += [RerouteCase("advice", c) for c in COMPLIANCE if c > 0]
    done = {_key(r) for r in results}
    for seed in seeds:
        for case in cases:
            if (setup.name, case.label, seed) in done:
                continue
            t0 = time.perf_counter()
            res: CaseResult = run_case(run, case, seed)
            row = {"scenario": setup.name, **asdict(res)}
            results.append(row)
            save()
            print(
                f"{setup.name} seed {seed} {case.label:<12} total {res.total_time_h:8.1f} veh·h "
                f"p95 {res.p95_time_s:6.0f} s diverted {res.diverted:4d}/{res.bound:<4d} "
                f"({time.perf_counter() - t0:.0f} s)",
                flush=True,
            )


def table(name: str, rows: list[dict[str, object]], seeds: Sequence[int]) -> list[str]:
    """The scenario's Markdown table: means over seeds, the change against no advice paired by
    seed (mean ± standard deviation), and the gain recovered against the oracle."""
    by_case: dict[str, dict[int, dict[str, object]]] = {}
    for r in rows:
        seed = int(str(r["seed"]))
        if r["scenario"] == name and seed in seeds:
            by_case.setdefault(str(r["case"]), {})[seed] = r
    if "no_advice" in by_case:
        # 0 % diverts nobody: the no-advice run, step for step (see the module docstring)
        by_case["advice 0%"] = {s: {**r, "bound": None} for s, r in by_case["no_advice"].items()}

    def mean(case: str, key: str) -> float:
        vals = [float(str(r[key])) for r in by_case.get(case, {}).values() if r[key] is not None]
        return statistics.fmean(vals) if vals else float("nan")

    def paired(case: str) -> str:
        base = by_case.get("no_advice", {})
        d = [
            float(str(r["total_time_h"])) - float(str(base[s]["total_time_h"]))
            for s, r in by_case.get(case, {}).items()
            if s in base
        ]
        if len(d) < 2 or case == "no_advice":
            return ""
        return f"{statistics.fmean(d):+.1f} ± {statistics.stdev(d):.1f}"

    def recovered(case: str, key: str) -> str:
        base, oracle, value = mean("no_advice", key), mean("oracle", key), mean(case, key)
        if not case.startswith("advice"):
            return ""
        if base - oracle <= 0:
            return "n/a"  # the oracle gains nothing to recover
        return f"{(base - value) / (base - oracle):.0%}"

    lines = [
        "| case | seeds | total trip time veh·h | Δ vs no advice (paired) | p95 trip s "
        "| mean trip s | never inserted | diverted / bound | diversion load veh/h "
        "| delay at its signals s/veh | teleports | gain recovered, total | gain recovered, p95 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    order = ["none", "no_advice", "oracle", *(f"advice {c:.0%}" for c in COMPLIANCE)]
    for case in order:
        if case not in by_case:
            continue
        total = mean(case, "total_time_h")
        bound = mean(case, "bound")
        label = "no closure" if case == "none" else case
        lines.append(
            f"| {label} | {len(by_case[case])} | {total:.1f} | {paired(case)} "
            f"| {mean(case, 'p95_time_s'):.0f} | {mean(case, 'mean_time_s'):.1f} "
            f"| {mean(case, 'never_inserted'):.0f} | {mean(case, 'diverted'):.0f} / "
            f"{'—' if math.isnan(bound) else f'{bound:.0f}'} "
            f"| {mean(case, 'diversion_vph'):.0f} | {mean(case, 'signal_delay_s'):.1f} "
            f"| {mean(case, 'teleports'):.1f} | {recovered(case, 'total_time_h')} "
            f"| {recovered(case, 'p95_time_s')} |"
        )
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    """Run the sweep (resumable) and write the report."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", default="1,2,3,4,5")
    p.add_argument("--scenario", action="append", choices=sorted(SETUPS))
    p.add_argument("--write", type=Path, default=REPO / "docs" / "bench" / "reroute_twin.md")
    p.add_argument("--json", type=Path, default=REPO / "docs" / "bench" / "reroute_twin.json")
    p.add_argument("--dry", action="store_true", help="choose the closure and print the advice")
    args = p.parse_args(argv)
    commit = provenance.commit()  # what is measured: the commit at the start of the run
    seeds = [int(s) for s in args.seeds.split(",")]
    data = json.loads(args.json.read_text()) if args.json.is_file() else {}
    results: list[dict[str, object]] = data.get("runs", [])
    chosen: dict[str, dict[str, object]] = data.get("closures", {})

    def save() -> None:
        args.json.write_text(json.dumps({"closures": chosen, "runs": results}, indent=1))

    cfg = RerouteConfig()
    for key in args.scenario or ["demo", "acosta"]:
        setup = SETUPS[key]()
        flows = baseline_flows(setup.scenario, seed=1)
        states = link_states(setup, flows)
        edge, sumo_edge, advice, points = choose_closure(setup, flows, states, cfg)
        chosen[setup.name] = {
            "routable_edges": [list(e) for e in edge],
            "name": setup.rg.name(edge[0]),
            "sumo_edge": sumo_edge,
            "flow_vph": round(flows[sumo_edge]),
            "advice_en": [a.explanation.text_en for a in advice],
            "advice_fr": [a.explanation.text_fr for a in advice],
            "decision_points": [
                {"edge": pa.decision_edge, "routes": [[list(r.edges), r.share] for r in pa.routes]}
                for pa in points
            ],
        }
        print(json.dumps(chosen[setup.name], ensure_ascii=False, indent=1))
        save()
        if args.dry:
            continue
        sweep(setup, RerouteRun(setup.scenario, sumo_edge, points), seeds, results, save)
    write_report(args.write, chosen, results, seeds, commit)
    return 0


def write_report(
    path: Path,
    chosen: dict[str, dict[str, object]],
    results: list[dict[str, object]],
    seeds: Sequence[int],
    commit: str,
) -> None:
    """docs/bench/reroute_twin.md."""
    lines = [
        "# Rerouting advice in the twin",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d} on {provenance.machine()}, commit {commit}, "
        f"SUMO {sumolib.version.gitDescribe() if hasattr(sumolib, 'version') else ''}; "
        "a 2-core machine shared with other work (wall times are not comparable, the simulated "
        "figures are). `python -m benchmarks.reroute_twin` (resumable).",
        "",
    ]
    for name, c in chosen.items():
        lines += [
            f"## {name}",
            "",
            f"Closed: {c['name'] or 'unnamed'} (SUMO edge `{c['sumo_edge']}`, "
            f"{c['flow_vph']} veh/h before the closure), for the whole hour.",
            "",
            *(f"> {t}" for t in c["advice_en"]),  # type: ignore[union-attr]
            "",
            *table(name, results, seeds),
            "",
        ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {path}")
