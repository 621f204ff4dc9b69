"""The demo city's twin: a SUMO network and demand built from the committed OSM extract and
fitted to the demo's counts.

``netconvert`` turns the OSM extract into a car network with guessed and joined signals. Each demo
detector is placed on the SUMO edge where it sits (``twin.calibration``); its one-minute counts,
summed into ``FIT_INTERVAL_S`` intervals, become edgeData counts. ``randomTrips.py`` draws
candidate routes with a fixed seed (routed and validated by ``duarouter``), and ``routeSampler.py``
picks among them, with a fixed seed and its linear-programme optimisation, the vehicles that
reproduce those counts. Everything derives from ODbL data: keep the attribution.
"""

from __future__ import annotations

import gzip
import math
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from twin.calibration import (
    CountRow,
    Fit,
    bin_counts,
    compare,
    counts_start,
    detector_records,
    edge_counts,
    measured_detectors,
    place_detectors,
    read_count_rows,
    read_detector_edges,
    write_detector_edges,
    write_edgedata,
)
from twin.detectors import CountRecord
from twin.errors import ScenarioError, ScenarioFileMissing
from twin.scenario import open_xml

NAME = "lyon-villeurbanne"
ATTRIBUTION = (
    "Derived from OpenStreetMap data (c) OpenStreetMap contributors, Open Database License (ODbL) "
    "1.0, https://www.openstreetmap.org/copyright. Any derived database published must be ODbL too."
)
DETECTOR_EDGES = "detector-edges.csv"
"""In the twin's folder: which SUMO edge each demo detector sits on."""
FIT_INTERVAL_S = 900
"""Counts are fitted per quarter hour: the profile of the hour, without one-minute noise."""
CANDIDATE_PERIOD_S = 0.5
"""One candidate trip every 0.5 s over the hour: 7,200 candidates (about 4,700 distinct routes)."""
FEED_TELEPORT_S = 300.0
"""The demo feed runs with SUMO's default jam teleport, as the what-if does: the demo counts load
the twin's netconvert signals beyond what some junctions serve, and without teleports a jam
spreads until the hour ends."""
VEHICLE_ATTRIBUTES = 'departLane="best" departSpeed="max"'
NETCONVERT_OPTIONS = (
    "--keep-edges.by-vclass",
    "passenger",
    "--remove-edges.isolated",
    "true",
    "--tls.guess-signals",
    "true",
    "--tls.join",
    "true",
    "--tls.default-type",
    "static",
    "--junctions.join",
    "true",
    "--geometry.remove",
    "true",
    "--ramps.guess",
    "true",
    "--no-turnarounds.tls",
    "true",
    "--output.street-names",
    "true",
    "--no-warnings",
    "true",
)


def _tools() -> Path:
    import sumo  # type: ignore[import-untyped]  # eclipse-sumo ships no type information

    return Path(sumo.SUMO_HOME) / "tools"


def _run(cmd: list[str], what: str) -> None:
    try:
        subprocess.run(cmd, check=True, capture_output=True, text=True)
    except subprocess.CalledProcessError as e:
        raise ScenarioError(what, f"{Path(cmd[0]).name} failed: {e.stderr.strip()[-800:]}") from e


def _strip_generator_comment(src: Path, dst: Path) -> None:
    """Copy ``src`` to gzipped ``dst`` without the tools' comments (they name this machine's
    paths and the time), with the ODbL attribution instead, so rebuilding gives the same bytes."""
    with open_xml(src) as f:
        text = f.read().decode()
    text = re.sub(r"<!--.*?-->\s*", "", text, flags=re.DOTALL)
    with gzip.GzipFile(dst, "wb", mtime=0) as out:
        out.write(text.replace("?>", f"?>\n<!-- {ATTRIBUTION} -->", 1).encode())


def _build_net(osm: Path, net: Path) -> None:
    import sumolib

    raw_net = net.with_name("_net.net.xml.gz")
    _run(
        [
            sumolib.checkBinary("netconvert"),
            "--osm-files",
            str(osm),
            *NETCONVERT_OPTIONS,
            "--output-file",
            str(raw_net),
        ],
        str(osm),
    )
    _strip_generator_comment(raw_net, net)
    raw_net.unlink()


def _candidate_routes(net: Path, tmp: Path, seed: int, end_s: float) -> Path:
    """Routes between any two edges at least 200 m apart (not only the fringe: the counts rise
    and fall along streets, as traffic from car parks and side streets joins and leaves)."""
    routes = tmp / "candidates.rou.xml"
    _run(
        [
            sys.executable,
            str(_tools() / "randomTrips.py"),
            "-n",
            str(net),
            "-o",
            str(tmp / "trips.xml"),
            "-r",
            str(routes),
            "-b",
            "0",
            "-e",
            f"{end_s:g}",
            "-p",
            f"{CANDIDATE_PERIOD_S:g}",
            "--seed",
            str(seed),
            "--min-distance",
            "200",
            "--validate",
            "--remove-loops",
        ],
        str(net),
    )
    return routes


def _sample_routes(candidates: Path, edgedata: Path, out: Path, seed: int, end_s: float) -> None:
    _run(
        [
            sys.executable,
            str(_tools() / "routeSampler.py"),
            "-r",
            str(candidates),
            "-d",
            str(edgedata),
            "-o",
            str(out),
            "--optimize",
            "full",
            "--seed",
            str(seed),
            "-b",
            "0",
            "-e",
            f"{end_s:g}",
            "-a",
            VEHICLE_ATTRIBUTES,
        ],
        str(edgedata),
    )


def build_demo_twin(
    osm: Path,
    out_dir: Path,
    *,
    counts: Path,
    registry: Path,
    seed: int = 42,
    end_s: float = 3600.0,
) -> Path:
    """Build ``<name>.net.xml.gz``, ``<name>.rou.xml.gz``, ``<name>.sumocfg`` and
    ``detector-edges.csv`` in ``out_dir``; the demand reproduces ``counts`` (the detectors of
    ``registry``, placed on the network built from ``osm``) over ``[0, end_s)``."""
    from graph.osm import load_network

    for path, what in ((osm, "OSM extract"), (counts, "counts"), (registry, "detector registry")):
        if not path.is_file():
            raise ScenarioFileMissing(str(path), hint=f"the demo {what} is under data/demo/")
    out_dir.mkdir(parents=True, exist_ok=True)
    net = out_dir / f"{NAME}.net.xml.gz"
    _build_net(osm, net)
    placed, unplaced = place_detectors(registry, load_network(osm), net)
    if unplaced:
        raise ScenarioError(
            str(registry), f"detector(s) on no edge of the twin: {', '.join(unplaced)}"
        )
    write_detector_edges(placed, out_dir / DETECTOR_EDGES)
    rows = read_count_rows(counts)
    n_intervals = math.ceil(end_s / FIT_INTERVAL_S)
    binned = bin_counts(rows, counts_start(rows), FIT_INTERVAL_S, n_intervals)
    tmp = out_dir / "_build"
    tmp.mkdir(exist_ok=True)
    try:
        edgedata = tmp / "counts.edgedata.xml"
        write_edgedata(edge_counts(binned, placed), FIT_INTERVAL_S, edgedata)
        candidates = _candidate_routes(net, tmp, seed, end_s)
        sampled = tmp / "sampled.rou.xml"
        _sample_routes(candidates, edgedata, sampled, seed, end_s)
        _strip_generator_comment(sampled, out_dir / f"{NAME}.rou.xml.gz")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    cfg = out_dir / f"{NAME}.sumocfg"
    cfg.write_text(
        "<configuration>\n"
        f"  <!-- {ATTRIBUTION} -->\n"
        f'  <input><net-file value="{NAME}.net.xml.gz"/>'
        f'<route-files value="{NAME}.rou.xml.gz"/></input>\n'
        f'  <time><begin value="0"/><end value="{end_s:g}"/></time>\n'
        "</configuration>\n"
    )
    (out_dir / "NOTICE.md").write_text(
        "# Demo city twin (generated)\n\n"
        f"Built by `aiguilleur twin demo-build` from `../{osm.name}`: the network by netconvert, "
        f"the demand by routeSampler (seed {seed}) fitted to the {FIT_INTERVAL_S // 60}-minute "
        f"totals of `../{counts.name}` (synthetic counts) at the detectors of "
        f"`../{registry.name}`, placed on the network as `{DETECTOR_EDGES}` says, "
        f"for {end_s:g} s.\n\n{ATTRIBUTION}\n"
    )
    return cfg


@dataclass(frozen=True, kw_only=True)
class DemoFeed:
    """A twin run of the demo city read as the demo's detectors."""

    counts: list[CountRecord]
    """One-minute counts per demo detector, timed from the counts file's first interval."""
    unmeasured: list[str]
    """Demo detectors whose edge carries none of the twin's loops (not signalised in SUMO)."""
    start: datetime


def demo_feed(
    twin_dir: Path,
    counts: Path,
    *,
    control: str = "programme",
    time_to_teleport_s: float = FEED_TELEPORT_S,
    end_s: float | None = None,
) -> DemoFeed:
    """Run the demo twin and return its loop counts as the demo detectors' one-minute counts."""
    from twin.options import RunOptions
    from twin.runner import run_twin
    from twin.scenario import load_scenario

    placed = read_detector_edges(twin_dir / DETECTOR_EDGES)
    start = counts_start(read_count_rows(counts))
    sc = load_scenario(twin_dir / f"{NAME}.sumocfg", end_s=end_s)
    res = run_twin(
        sc,
        control,
        RunOptions(
            count_interval_s=60,
            keep_counts=True,
            progress=False,
            base_date=start,
            time_to_teleport_s=time_to_teleport_s,
        ),
    )
    measured = measured_detectors(res.counts, placed)
    return DemoFeed(
        counts=detector_records(res.counts, placed),
        unmeasured=sorted(set(placed) - measured),
        start=start,
    )


def demo_fit(feed: DemoFeed, counts: Path, *, interval_s: int = 3600) -> Fit:
    """How closely the twin's counts reproduce the demo counts, per hour and per interval."""
    rows = read_count_rows(counts)
    n = math.ceil(max((r.interval_end - feed.start).total_seconds() for r in rows) / interval_s)
    simulated = bin_counts(
        (CountRow(r.detector_id, r.interval_end, r.interval_s, r.count) for r in feed.counts),
        feed.start,
        interval_s,
        n,
    )
    return compare(bin_counts(rows, feed.start, interval_s, n), simulated, interval_s)


def busiest_closable_edge(scenario_cfg: Path, signalised_approaches: set[str]) -> str:
    """The signalised approach edge that most routes pass through (start and end edges not
    counted: vehicles there cannot reroute), the closure an operator would most want to study."""
    from twin.scenario import read_sumocfg

    sc = read_sumocfg(scenario_cfg)
    used: Counter[str] = Counter()
    for path in sc.routes:
        with open_xml(path) as f:
            for _, el in ET.iterparse(f):
                if el.tag == "route" and "edges" in el.attrib:
                    edges = el.attrib["edges"].split()
                    used.update(e for e in edges[1:-1] if e in signalised_approaches)
                el.clear()
    if used:
        return min(used, key=lambda e: (-used[e], e))
    raise ScenarioError(str(scenario_cfg), "no signalised approach is used by any route")
