"""RESCO's fixed-time delay under two SUMO versions: is the reproduction gap the simulator?

Runs each RESCO scenario's own programme with a given ``sumo`` binary under RESCO's protocol
(``--time-to-teleport -1``, tripinfo with unfinished trips) over several seeds, and prints RESCO's
average delay (timeLoss + departDelay over trips, plus the wait of vehicles never inserted, as
RESCO's readXML.py counts it from the route file).

Usage: python benchmarks/twin_resco_versions.py SUMO_BINARY [SCENARIO_DIR ...] [--seeds N]
(an older SUMO is e.g. ``pip install eclipse-sumo==1.9.2`` in a separate virtual environment).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

from twin.scenario import load_scenario


def resco_delay(tripinfo: Path, routes: list[Path], end_s: float) -> float:
    """RESCO's readXML.py average delay for one run."""
    trips = ET.parse(tripinfo).getroot().findall("tripinfo")
    total = sum(float(t.get("timeLoss", 0)) + float(t.get("departDelay", 0)) for t in trips)
    n = len(trips)
    last = max((float(t.get("depart", 0)) for t in trips), default=0.0)
    # RESCO: vehicles (not trips) of the route file departing after the last inserted one
    never = [
        float(v.get("depart", 0))
        for r in routes
        for v in ET.parse(r).getroot()
        if v.tag == "vehicle" and float(v.get("depart", 0)) > last
    ]
    return (total + sum(end_s - d for d in never)) / max(n + len(never), 1)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("sumo")
    ap.add_argument("scenarios", nargs="*", type=Path)
    ap.add_argument("--seeds", type=int, default=3)
    args = ap.parse_args()
    version = subprocess.run(
        [args.sumo, "--version"], capture_output=True, text=True, check=True
    ).stdout.splitlines()[0]
    print(f"# {version}")
    for d in args.scenarios:
        sc = load_scenario(d)
        vals = []
        for seed in range(args.seeds):
            with tempfile.TemporaryDirectory() as tmp:
                out = Path(tmp) / "trip.xml"
                subprocess.run(
                    [
                        args.sumo,
                        "-n",
                        str(sc.net),
                        "-r",
                        ",".join(map(str, sc.routes)),
                        "-b",
                        f"{sc.begin_s:g}",
                        "-e",
                        f"{sc.end_s:g}",
                        "--seed",
                        str(seed),
                        "--time-to-teleport",
                        "-1",
                        "--tripinfo-output",
                        str(out),
                        "--tripinfo-output.write-unfinished",
                        "true",
                        "--no-step-log",
                        "true",
                        "--no-warnings",
                        "true",
                    ],
                    check=True,
                    capture_output=True,
                )
                vals.append(resco_delay(out, list(sc.routes), sc.end_s))
        print(
            f"{sc.name}\t{statistics.mean(vals):.2f}\t(seeds {', '.join(f'{v:.2f}' for v in vals)})"
        )
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
