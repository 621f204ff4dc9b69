"""The demo city's twin: a SUMO network and demand built from the committed OSM extract.

``netconvert`` turns the OSM extract into a car network with guessed and joined signals;
``randomTrips.py`` draws an hour of trips between fringe and inner edges with a fixed seed, routed
and validated by ``duarouter``. Everything derives from ODbL data: keep the attribution.
"""

from __future__ import annotations

import gzip
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

from twin.errors import ScenarioError, ScenarioFileMissing
from twin.scenario import open_xml

NAME = "lyon-villeurbanne"
ATTRIBUTION = (
    "Derived from OpenStreetMap data (c) OpenStreetMap contributors, Open Database License (ODbL) "
    "1.0, https://www.openstreetmap.org/copyright. Any derived database published must be ODbL too."
)
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


def build_demo_twin(
    osm: Path, out_dir: Path, *, seed: int = 42, period_s: float = 2.5, end_s: float = 3600.0
) -> Path:
    """Build ``<name>.net.xml.gz``, ``<name>.rou.xml.gz`` and ``<name>.sumocfg`` in ``out_dir``."""
    import sumolib

    if not osm.is_file():
        raise ScenarioFileMissing(
            str(osm), hint="the demo OSM extract is data/demo/lyon-villeurbanne.osm.gz"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    net = out_dir / f"{NAME}.net.xml.gz"
    raw_net = out_dir / "_net.net.xml.gz"
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
    tmp = out_dir / "_build"
    tmp.mkdir(exist_ok=True)
    try:
        routes = tmp / "routes.rou.xml"
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
                f"{period_s:g}",
                "--seed",
                str(seed),
                "--fringe-factor",
                "10",
                "--min-distance",
                "400",
                "--validate",
                "--remove-loops",
                "--trip-attributes",
                'departLane="best" departSpeed="max"',
            ],
            str(net),
        )
        _strip_generator_comment(routes, out_dir / f"{NAME}.rou.xml.gz")
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
        f"Built by `aiguilleur twin demo-build` from `../{osm.name}` (seed {seed}, one trip every "
        f"{period_s:g} s for {end_s:g} s).\n\n{ATTRIBUTION}\n"
    )
    return cfg


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
