"""Our OSM network builder against SUMO's netconvert on the same files, in the same run.

    .venv/bin/python -m benchmarks.graph_bench [--out docs/bench/graph.md] [--no-city]

For the committed demo city and every file in ``../shared/data/osm`` (when present):

1. **Build**: ``graph.osm`` cold (no cache) and reloaded from its cache (median of 5), each in
   this process; peak memory of a cold build in a child process (``ru_maxrss``).
2. **netconvert** (eclipse-sumo wheel) on the same data, cars only:
   ``netconvert --osm-files F --tls.guess-signals --tls.join --keep-edges.by-vclass passenger``.
   netconvert reads OSM XML (plain or gzip) only, so ``.pbf`` / ``.bz2`` are first written to
   plain XML with pyosmium (not timed).
3. **Comparison**: our junctions and netconvert's traffic-light programmes are linked when they
   share an OSM node (our junction's nodes and signal nodes against the nodes a programme
   controls), else when their centres lie within 30 m. Connected groups are then 1:1 matches,
   merges (one of ours covers several of theirs or the reverse) or one-sided, with a reason.
4. **City scale**: a synthetic grid city of ~100k directed road segments with signals at every
   third intersection: our build time and peak memory, and netconvert's time on the same file.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks import provenance  # noqa: E402 - after the path tweak
from graph._geo import distance_m  # noqa: E402 - after the path tweak
from graph.model import Junction, Network  # noqa: E402
from graph.osm import load_network_with_report  # noqa: E402
from graph.synthetic import write_grid_osm  # noqa: E402

MATCH_M = 30.0
NETCONVERT_OPTS = [
    "--tls.guess-signals",
    "--tls.join",
    "--keep-edges.by-vclass",
    "passenger",
]


def shared_osm_dir() -> Path | None:
    env = os.environ.get("AIGUILLEUR_SHARED_DATA")
    base = Path(env) if env else REPO.parent / "shared" / "data"
    d = base / "osm"
    return d if d.is_dir() else None


@dataclass
class Tls:
    id: str
    nodes: set[str]
    lon: float
    lat: float


@dataclass
class FileResult:
    name: str
    size_kb: float
    edges: int
    ours: int
    approaches: int
    zones: int
    theirs: int
    build_s: float
    reload_s: float
    netconvert_s: float
    base_mb: float
    peak_mb: float
    matched_ours: int = 0
    matched_theirs: int = 0
    one_to_one: int = 0
    groups: list[str] = field(default_factory=list)
    ours_only: list[str] = field(default_factory=list)
    theirs_only: list[str] = field(default_factory=list)


def netconvert_bin() -> str:
    exe = Path(sys.executable).parent / "netconvert"
    return str(exe) if exe.exists() else "netconvert"


def to_plain_xml(src: Path, tmp: Path) -> Path:
    """netconvert reads .osm and .osm.gz; write anything else as plain XML with pyosmium."""
    if src.name.endswith((".osm", ".osm.gz", ".xml")):
        return src
    import osmium

    out = tmp / (src.name.split(".")[0] + ".osm")
    with osmium.SimpleWriter(str(out)) as writer:
        for obj in osmium.FileProcessor(str(src)):
            writer.add(obj)
    return out


def run_netconvert(osm: Path, tmp: Path) -> tuple[float, Path]:
    net = tmp / (osm.name.split(".")[0] + ".net.xml")
    cmd = [netconvert_bin(), "--osm-files", str(osm), *NETCONVERT_OPTS, "-o", str(net)]
    t0 = time.perf_counter()
    subprocess.run([*cmd, "--no-warnings"], check=True, capture_output=True, timeout=600)
    return time.perf_counter() - t0, net


def read_tls(net_file: Path) -> list[Tls]:
    import sumolib

    net = sumolib.net.readNet(str(net_file))
    out = []
    for tls in net.getTrafficLights():
        nodes = {conn[0].getEdge().getToNode() for conn in tls.getConnections()}
        lonlats = [net.convertXY2LonLat(*n.getCoord()) for n in nodes]
        if not lonlats:
            continue
        out.append(
            Tls(
                id=tls.getID(),
                nodes={n.getID() for n in nodes},
                lon=sum(p[0] for p in lonlats) / len(lonlats),
                lat=sum(p[1] for p in lonlats) / len(lonlats),
            )
        )
    return out


def _links(network: Network, tls: list[Tls]) -> set[tuple[str, str]]:
    """(our junction, their programme) pairs: shared OSM nodes, else centres within MATCH_M."""
    node_owner = {n: j.id for j in network.junctions for n in (*j.node_ids, *j.signal_node_ids)}
    edges: set[tuple[str, str]] = set()
    for t in tls:
        for n in t.nodes:
            if n in node_owner:
                edges.add((node_owner[n], t.id))
    linked_ours = {a for a, _ in edges}
    linked_theirs = {b for _, b in edges}
    for t in tls:
        if t.id in linked_theirs:
            continue
        best = min(
            (
                (distance_m(t.lon, t.lat, j.lon, j.lat), j.id)
                for j in network.junctions
                if j.id not in linked_ours
            ),
            default=None,
        )
        if best is not None and best[0] <= MATCH_M:
            edges.add((best[1], t.id))
            linked_ours.add(best[1])
            linked_theirs.add(t.id)
    return edges


def compare(network: Network, tls: list[Tls], result: FileResult, road_nodes: set[str]) -> None:
    """Group our junctions and their programmes by shared nodes, then by distance."""
    ours = {j.id: j for j in network.junctions}
    edges = _links(network, tls)
    linked_ours = {a for a, _ in edges}
    linked_theirs = {b for _, b in edges}
    # Connected components of the bipartite relation.
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in edges:
        parent[find("o:" + a)] = find("t:" + b)
    comps: dict[str, tuple[set[str], set[str]]] = {}
    for a, b in edges:
        ours_ids, theirs_ids = comps.setdefault(find("o:" + a), (set(), set()))
        ours_ids.add(a)
        theirs_ids.add(b)
    tls_by_id = {t.id: t for t in tls}
    for o, theirs in comps.values():
        result.matched_ours += len(o)
        result.matched_theirs += len(theirs)
        if len(o) == 1 and len(theirs) == 1:
            result.one_to_one += 1
        elif len(o) > 1:
            result.groups.append(
                f"netconvert joins our {', '.join(sorted(o))} into {', '.join(sorted(theirs))}:"
                " its join distance runs between the junction shapes it computes, ours between"
                " OSM centre nodes less a fixed 3 m radius, so its joins can reach further"
            )
        else:
            j = ours[next(iter(o))]
            result.groups.append(
                f"our {j.id} covers netconvert's {_why_cover(j, theirs, tls_by_id)}"
            )
    for jid, j in sorted(ours.items()):
        if jid not in linked_ours:
            result.ours_only.append(f"{jid} ({j.name or 'unnamed'}): {_why_ours(j, tls_by_id)}")
    for t in tls:
        if t.id not in linked_theirs:
            result.theirs_only.append(f"{t.id}: {_why_theirs(t, network, road_nodes)}")


def _why_cover(j: Junction, theirs: set[str], tls: dict[str, Tls]) -> str:
    joined = sorted(t for t in theirs if tls[t].nodes & set(j.node_ids))
    taken = sorted(t for t in theirs if t not in joined and tls[t].nodes & set(j.signal_node_ids))
    near = sorted(set(theirs) - set(joined) - set(taken))
    parts = []
    if joined:
        parts.append(f"{', '.join(joined)} (nodes we join into one junction)")
    if taken:
        parts.append(
            f"{', '.join(taken)} (signals ahead of the intersection that we take over;"
            " netconvert keeps them apart when one entry lacks a signal, e.g. the short link"
            " of a divided road, which our rule accepts)"
        )
    if near:
        parts.append(f"{', '.join(near)} (within {MATCH_M:.0f} m)")
    return "; ".join(parts)


def _why_ours(j: Junction, tls: dict[str, Tls]) -> str:
    nearest = min(
        ((distance_m(t.lon, t.lat, j.lon, j.lat), t.id) for t in tls.values()), default=None
    )
    near = f"nearest programme {nearest[1]} at {nearest[0]:.0f} m" if nearest else "none"
    if len(j.approaches) == 1:
        return f"a signal on a one-way road with one approach; netconvert has none here ({near})"
    return f"netconvert made no programme here ({near})"


def _why_theirs(t: Tls, network: Network, road_nodes: set[str]) -> str:
    nearest = min(
        ((distance_m(t.lon, t.lat, j.lon, j.lat), j.id) for j in network.junctions), default=None
    )
    near = f"nearest of ours {nearest[1]} at {nearest[0]:.0f} m" if nearest else ""
    if not t.nodes & road_nodes:
        return f"its nodes {sorted(t.nodes)} are not on roads we keep for cars ({near})"
    return f"nodes {sorted(t.nodes)[:4]}: no signal cluster of ours there ({near})"


def peak_memory_mb(path: Path) -> tuple[float, float]:
    """(peak RSS after imports, peak RSS after one build) of a child process, in MB.

    Read from ``VmHWM`` in /proc/self/status: unlike ``ru_maxrss`` it is not inherited from the
    parent across fork + exec.
    """
    code = (
        "from pathlib import Path\n"
        "from graph.osm import load_network\n"
        "def hwm():\n"
        "    for line in open('/proc/self/status'):\n"
        "        if line.startswith('VmHWM'):\n"
        "            return int(line.split()[1]) / 1024\n"
        "before = hwm()\n"
        f"load_network(Path({str(path)!r}))\n"
        "print(before, hwm())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=REPO
    )
    before, after = out.stdout.strip().splitlines()[-1].split()
    return float(before), float(after)


def bench_file(path: Path, tmp: Path) -> FileResult:
    from graph._reader import read_roads

    t0 = time.perf_counter()
    network, report = load_network_with_report(path)
    build_s = time.perf_counter() - t0
    cache = tmp / "cache"
    load_network_with_report(path, cache_dir=cache)  # fill the cache
    reloads = []
    for _ in range(5):
        t0 = time.perf_counter()
        _, rep = load_network_with_report(path, cache_dir=cache)
        reloads.append(time.perf_counter() - t0)
        assert rep.from_cache
    plain = to_plain_xml(path, tmp)
    nc_s, net_file = run_netconvert(plain, tmp)
    tls = read_tls(net_file)
    road_nodes = {str(n) for n in read_roads(path).coords}
    mem = peak_memory_mb(path)
    demo = path.parent == REPO / "data" / "demo"
    result = FileResult(
        name=f"{path.name} (data/demo)" if demo else path.name,
        size_kb=path.stat().st_size / 1024,
        edges=report.n_edges,
        ours=len(network.junctions),
        approaches=sum(len(j.approaches) for j in network.junctions),
        zones=len(network.zones()),
        theirs=len(tls),
        build_s=build_s,
        reload_s=statistics.median(reloads),
        netconvert_s=nc_s,
        base_mb=mem[0],
        peak_mb=mem[1],
    )
    compare(network, tls, result, road_nodes)
    return result


def bench_city(tmp: Path, n: int) -> dict[str, float]:
    path = tmp / "grid.osm"
    write_grid_osm(path, n)
    t0 = time.perf_counter()
    network, report = load_network_with_report(path)
    build_s = time.perf_counter() - t0
    cache = tmp / "city-cache"
    load_network_with_report(path, cache_dir=cache)
    reloads = []
    for _ in range(3):
        t0 = time.perf_counter()
        load_network_with_report(path, cache_dir=cache)
        reloads.append(time.perf_counter() - t0)
    reload_s = statistics.median(reloads)
    nc_s, net_file = run_netconvert(path, tmp)
    mem = peak_memory_mb(path)
    return {
        "edges": report.n_edges,
        "junctions": len(network.junctions),
        "approaches": sum(len(j.approaches) for j in network.junctions),
        "zones": len(network.zones()),
        "build_s": build_s,
        "reload_s": reload_s,
        "base_mb": mem[0],
        "peak_mb": mem[1],
        "netconvert_s": nc_s,
        "netconvert_tls": len(read_tls(net_file)),
        "size_mb": path.stat().st_size / 2**20,
    }


def machine() -> str:
    """The machine line of the report (the shared provenance line and the OS)."""
    return f"{provenance.machine()} (shared), {platform.system()}"


def render(results: list[FileResult], city: dict[str, float] | None) -> str:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    out = [
        "# Graph builder benchmark: ours against netconvert",
        "",
        f"Run {now} on {machine()}, by `python -m benchmarks.graph_bench`. Times are wall-clock on",
        "a machine shared with other work: compare the ratios within one row, not across runs.",
        "",
        "netconvert: `" + " ".join(["netconvert --osm-files F", *NETCONVERT_OPTS]) + "`",
        f"(eclipse-sumo wheel). Matching: a shared OSM node, else centres within {MATCH_M:.0f} m.",
        "",
        "## Signalised junctions",
        "",
        "| file | road segments | ours | netconvert | 1:1 matches | ours matched | theirs matched"
        " | ours only | theirs only |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        out.append(
            f"| {r.name} | {r.edges} | {r.ours} | {r.theirs} | {r.one_to_one} | {r.matched_ours}"
            f" | {r.matched_theirs} | {len(r.ours_only)} | {len(r.theirs_only)} |"
        )
    out += [
        "",
        "## Speed and memory",
        "",
        "| file | size | our build | cached reload | build / reload | netconvert | our build /"
        " netconvert | peak RSS: imports / after build |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        out.append(
            f"| {r.name} | {r.size_kb:.0f} KB | {r.build_s:.3f} s | {r.reload_s * 1000:.1f} ms"
            f" | {r.build_s / r.reload_s:.0f}x | {r.netconvert_s:.2f} s"
            f" | {r.build_s / r.netconvert_s:.2f} | {r.base_mb:.0f} / {r.peak_mb:.0f} MB |"
        )
    if city is not None:
        out += [
            "",
            "## City scale (synthetic grid)",
            "",
            f"A {city['size_mb']:.0f} MB OSM XML grid city: {city['edges']:.0f} directed road"
            f" segments, {city['junctions']:.0f} signalised junctions ({city['approaches']:.0f}"
            f" approaches, {city['zones']:.0f} zones).",
            "",
            f"- our build: {city['build_s']:.1f} s, peak RSS {city['peak_mb']:.0f} MB in a child"
            f" process ({city['base_mb']:.0f} MB of it is Python and libraries, before reading)",
            f"- cached reload (median of 3): {city['reload_s']:.2f} s"
            f" ({city['build_s'] / city['reload_s']:.0f}x faster than a build)",
            f"- netconvert on the same file: {city['netconvert_s']:.1f} s"
            f" ({city['netconvert_tls']:.0f} programmes); our build / netconvert ="
            f" {city['build_s'] / city['netconvert_s']:.2f}",
        ]
    out += ["", "## Differences, one by one", ""]
    for r in results:
        out.append(f"### {r.name}")
        out.append("")
        if not (r.groups or r.ours_only or r.theirs_only):
            out.append("No difference.")
        for line in r.groups:
            out.append(f"- merge: {line}")
        for line in r.ours_only:
            out.append(f"- only ours: {line}")
        for line in r.theirs_only:
            out.append(f"- only netconvert: {line}")
        out.append("")
    return "\n".join(out) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "bench" / "graph.md")
    parser.add_argument("--no-city", action="store_true", help="skip the ~100k-segment grid")
    parser.add_argument("--grid", type=int, default=112, help="grid side (112: ~100k segments)")
    args = parser.parse_args()
    files = [REPO / "data" / "demo" / "lyon-villeurbanne.osm.gz"]
    shared = shared_osm_dir()
    if shared is not None:
        files += sorted(p for p in shared.iterdir() if ".osm" in p.name)
    results = []
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        for i, f in enumerate(files):
            d = tmp / str(i)
            d.mkdir()
            r = bench_file(f, d)
            print(
                f"{r.name}: ours {r.ours}, netconvert {r.theirs}, 1:1 {r.one_to_one}; build"
                f" {r.build_s:.3f} s, reload {r.reload_s * 1000:.1f} ms, netconvert"
                f" {r.netconvert_s:.2f} s, peak {r.peak_mb:.0f} MB"
            )
            results.append(r)
        city = None if args.no_city else bench_city(tmp, args.grid)
        if city is not None:
            print("city:", {k: round(v, 2) for k, v in city.items()})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(render(results, city), encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
