"""The demo city's road-closure what-if, checked against a direct SUMO run of the same change."""

from __future__ import annotations

import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from graph.sumo import network_from_sumo
from twin import load_scenario
from twin.demo import NAME, busiest_closable_edge
from twin.whatif import WHATIF_TELEPORT_S, Changes, run_whatif, write_report

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
DEMO_CFG = REPO / "data" / "demo" / "twin" / f"{NAME}.sumocfg"
WINDOW_S = 600.0


def _direct_run(
    cfg: Path, closed: str, out: Path
) -> tuple[list[ET.Element], list[tuple[list[str], list[str]]]]:
    """SUMO's own binary, the closure written independently of the twin's code."""
    import sumolib

    net = sumolib.net.readNet(str(cfg.parent / f"{NAME}.net.xml.gz"))
    edges = " ".join(e.getID() for e in net.getEdges())
    add = out / "close.add.xml"
    add.write_text(
        f'<additional><rerouter id="r" edges="{edges}"><interval begin="0" end="{WINDOW_S:g}">'
        f'<closingReroute id="{closed}"/></interval></rerouter></additional>'
    )
    subprocess.run(
        [
            sumolib.checkBinary("sumo"),
            "-c",
            str(cfg),
            "-a",
            str(add),
            "-e",
            f"{WINDOW_S:g}",
            "--seed",
            "42",
            "--time-to-teleport",
            f"{WHATIF_TELEPORT_S:g}",
            "--tripinfo-output",
            str(out / "trip.xml"),
            "--tripinfo-output.write-unfinished",
            "true",
            "--vehroute-output",
            str(out / "routes.xml"),
            "--vehroute-output.write-unfinished",
            "true",
            "--no-step-log",
            "true",
            "--no-warnings",
            "true",
        ],
        check=True,
        capture_output=True,
    )
    trips = ET.parse(out / "trip.xml").getroot().findall("tripinfo")
    # (first, final) route of every vehicle: a rerouted one lists its replaced routes first
    routes = []
    for v in ET.parse(out / "routes.xml").getroot().iter("vehicle"):
        rs = [r.get("edges", "").split() for r in v.iter("route")]
        routes.append((rs[0], rs[-1]))
    return trips, routes


def test_demo_closure_report_matches_direct_sumo(tmp_path: Path) -> None:
    if not DEMO_CFG.is_file():
        pytest.fail(f"{DEMO_CFG} missing: run `aiguilleur twin demo-build`")
    sc = load_scenario(DEMO_CFG, end_s=WINDOW_S)
    approaches = {a.id for j in network_from_sumo(sc.net).network.junctions for a in j.approaches}
    edge = busiest_closable_edge(DEMO_CFG, approaches)
    result = run_whatif(sc, Changes(closed_edges=(edge,)))
    report = write_report(result, tmp_path / "report").read_text()

    trips, routes = _direct_run(DEMO_CFG, edge, tmp_path)
    after = result.after.metrics
    assert after.vehicles_inserted == len(trips) > 100
    n = len(trips)
    assert after.avg_time_loss_s == pytest.approx(
        sum(float(t.get("timeLoss", 0)) for t in trips) / n, abs=0.01
    )
    assert after.avg_trip_time_s == pytest.approx(
        sum(float(t.get("duration", 0)) for t in trips) / n, abs=0.01
    )
    # the closure is real: most vehicles planning to use the edge were rerouted around it (SUMO
    # keeps the route of those with no alternative)
    planned = [(a, b) for a, b in routes if edge in a[1:]]
    avoided = [b for a, b in planned if edge not in b[1:]]
    assert len(planned) > 20
    assert len(avoided) > len(planned) / 3
    # and the report shows these very figures
    before = result.before.metrics
    row = f"| Average trip time | {before.avg_trip_time_s:g} s | {after.avg_trip_time_s:g} s |"
    assert row in report
