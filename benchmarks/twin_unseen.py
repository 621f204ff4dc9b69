"""The twin on SUMO scenarios it has never seen: generate varied ones, run every control on each.

Usage: .venv/bin/python benchmarks/twin_unseen.py [--out DIR] [--end S] [--only NAME ...]
       [--control NAME ...] [--shipped]

Scenarios are generated with SUMO's own tools (``netgenerate``, ``netconvert``, ``randomTrips.py``,
fixed seeds) into ``--out`` (default ``.cache/twin-unseen``): grids, spiders and random networks
with guessed signals, several lane counts and left-turn lanes, ``incoming`` and ``opposites``
layouts, actuated programmes, joined signal clusters, priority junctions without signals, 3-leg
junctions, pedestrian crossings with buses and bicycles, a configuration in a sub-folder with
relative paths and a flows-only route file, and a signal with several programmes. ``--shipped``
adds the scenarios that come with the eclipse-sumo wheel (``sumo/tools/game``). Every control the
twin lists is run on each; one line per run says whether it completed, how many vehicles were
inserted and what the signal audit found.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
import traceback
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

SEED = 11


def _tools() -> tuple[Path, str, str]:
    import sumo  # type: ignore[import-untyped]  # the wheel ships no types; sets SUMO_HOME
    import sumolib

    return (
        Path(sumo.SUMO_HOME) / "tools",
        str(sumolib.checkBinary("netgenerate")),
        str(sumolib.checkBinary("netconvert")),
    )


def _run(cmd: list[str], cwd: Path | None = None) -> None:
    subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=cwd)


def _netgenerate(net: Path, *args: str) -> None:
    _, netgenerate, _ = _tools()
    _run([netgenerate, *args, "--seed", str(SEED), "--no-warnings", "--output-file", str(net)])


def _trips(
    net: Path, routes: Path, end_s: float, period_s: float, *extra: str, validate: bool = True
) -> None:
    tools, _, _ = _tools()
    cmd = [
        sys.executable,
        str(tools / "randomTrips.py"),
        "-n",
        str(net),
        "-b",
        "0",
        "-e",
        f"{end_s:g}",
        "-p",
        f"{period_s:g}",
        "--seed",
        str(SEED),
        "--fringe-factor",
        "5",
        *extra,
    ]
    if validate:
        cmd += ["-o", str(routes.with_suffix(".trips.xml")), "-r", str(routes), "--validate"]
    else:
        cmd += ["-o", str(routes)]
    _run(cmd, cwd=routes.parent)  # randomTrips may leave files in its working folder


def _cfg(
    path: Path,
    net: str,
    routes: list[str],
    end_s: float,
    adds: list[str] = (),  # type: ignore[assignment]  # never mutated
    extra: str = "",
) -> Path:
    add = f'<additional-files value="{",".join(adds)}"/>' if adds else ""
    path.write_text(
        "<configuration><input>"
        f'<net-file value="{net}"/><route-files value="{",".join(routes)}"/>{add}'
        f'</input><time><begin value="0"/><end value="{end_s:g}"/></time>{extra}'
        "</configuration>\n"
    )
    return path


def _simple(
    out: Path, name: str, end_s: float, period_s: float, *net_args: str, trips: tuple[str, ...] = ()
) -> Path:
    d = out / name
    d.mkdir(parents=True, exist_ok=True)
    net = d / "net.net.xml"
    _netgenerate(net, *net_args)
    _trips(net, d / "routes.rou.xml", end_s, period_s, *trips)
    return _cfg(d / f"{name}.sumocfg", "net.net.xml", ["routes.rou.xml"], end_s)


def grid_incoming(out: Path, end_s: float) -> Path:
    """3x3 grid, 2 lanes and a left-turn lane, static signals, ``incoming`` layout."""
    return _simple(
        out,
        "grid_incoming",
        end_s,
        1.2,
        "--grid",
        "--grid.number=3",
        "--grid.length=200",
        "--grid.attach-length=150",
        "-L",
        "2",
        "--turn-lanes",
        "1",
        "--tls.guess",
        "--tls.layout",
        "incoming",
    )


def grid_actuated(out: Path, end_s: float) -> Path:
    """3x2 grid, one lane, every junction signalised, actuated programmes, ``opposites``."""
    return _simple(
        out,
        "grid_actuated",
        end_s,
        2.0,
        "--grid",
        "--grid.x-number=3",
        "--grid.y-number=2",
        "--grid.length=150",
        "--grid.attach-length=120",
        "-L",
        "1",
        "-j",
        "traffic_light",
        "--tls.default-type",
        "actuated",
        "--tls.layout",
        "opposites",
    )


def spider(out: Path, end_s: float) -> Path:
    """Spider net: a 5-arm centre and 3/4-leg junctions, all signalised, all-red after yellow."""
    return _simple(
        out,
        "spider",
        end_s,
        2.0,
        "--spider",
        "--spider.arm-number=5",
        "--spider.circle-number=2",
        "--spider.space-radius=120",
        "--spider.attach-length=100",
        "-j",
        "traffic_light",
        "--tls.allred.time",
        "2",
    )


def three_leg_actuated(out: Path, end_s: float) -> Path:
    """Small spider without its centre: four 3-leg junctions, actuated, ``incoming`` layout."""
    return _simple(
        out,
        "three_leg_actuated",
        end_s,
        2.5,
        "--spider",
        "--spider.arm-number=4",
        "--spider.circle-number=1",
        "--spider.space-radius=150",
        "--spider.attach-length=100",
        "--spider.omit-center",
        "-j",
        "traffic_light",
        "--tls.default-type",
        "actuated",
        "--tls.layout",
        "incoming",
    )


def random_mixed(out: Path, end_s: float) -> Path:
    """Random network, 1 to 3 lanes drawn per edge: signals guessed on the busiest junctions
    only (the others stay priority junctions)."""
    return _simple(
        out,
        "random_mixed",
        end_s,
        1.5,
        "--rand",
        "--rand.iterations=40",
        "--rand.min-distance=120",
        "--rand.max-distance=300",
        "-L",
        "3",
        "--random-lanenumber",
        "--tls.guess",
        "--tls.guess.threshold",
        "60",
    )


def joined_cluster(out: Path, end_s: float) -> Path:
    """Grid with closely spaced junctions whose signals are joined into clusters (one programme
    over several nodes)."""
    return _simple(
        out,
        "joined_cluster",
        end_s,
        1.5,
        "--grid",
        "--grid.x-number=4",
        "--grid.y-number=2",
        "--grid.x-length=25",
        "--grid.y-length=200",
        "--grid.attach-length=150",
        "-L",
        "2",
        "--tls.guess",
        "--tls.join",
        "--tls.join-dist",
        "40",
    )


def crossings(out: Path, end_s: float) -> Path:
    """Sidewalks, pedestrian crossings and bike lanes guessed by netconvert; demand of cars, buses,
    bicycles and pedestrians."""
    _, _, netconvert = _tools()
    d = out / "crossings"
    d.mkdir(parents=True, exist_ok=True)
    raw = d / "raw.net.xml"
    _netgenerate(
        raw, "--grid", "--grid.number=2", "--grid.length=200", "--grid.attach-length=150", "-L", "2"
    )
    net = d / "net.net.xml"
    _run(
        [
            netconvert,
            "-s",
            str(raw),
            "--sidewalks.guess",
            "--crossings.guess",
            "--bikelanes.guess",
            "--tls.guess",
            "--tls.set",
            "A0,A1,B0,B1",
            "--no-warnings",
            "-o",
            str(net),
        ]
    )
    raw.unlink()
    _trips(net, d / "cars.rou.xml", end_s, 2.0, "--prefix", "car")
    _trips(net, d / "bus.rou.xml", end_s, 30.0, "--prefix", "bus", "--vehicle-class", "bus")
    _trips(net, d / "bike.rou.xml", end_s, 15.0, "--prefix", "bike", "--vehicle-class", "bicycle")
    _trips(net, d / "peds.rou.xml", end_s, 6.0, "--prefix", "ped", "--pedestrians", validate=False)
    routes = ["cars.rou.xml", "bus.rou.xml", "bike.rou.xml", "peds.rou.xml"]
    return _cfg(d / "crossings.sumocfg", "net.net.xml", routes, end_s)


def subfolder_flows(out: Path, end_s: float) -> Path:
    """A configuration whose files sit in sub-folders (relative paths), with flows only, begin
    after 0 and no end time."""
    d = out / "subfolder_flows"
    (d / "net").mkdir(parents=True, exist_ok=True)
    (d / "demand").mkdir(exist_ok=True)
    (d / "config").mkdir(exist_ok=True)
    net = d / "net" / "t.net.xml"
    _netgenerate(
        net,
        "--grid",
        "--grid.x-number=2",
        "--grid.y-number=1",
        "--grid.length=200",
        "--grid.attach-length=150",
        "-L",
        "2",
        "--tls.guess",
    )
    flows = d / "demand" / "flows.rou.xml"
    flows.write_text(
        "<routes>\n"
        '  <vType id="car" vClass="passenger"/>\n'
        '  <flow id="we" type="car" begin="100" end="100000" vehsPerHour="500" '
        'from="left0A0" to="B0right0"/>\n'
        '  <flow id="ew" type="car" begin="100" end="100000" probability="0.1" '
        'from="right0B0" to="A0left0"/>\n'
        '  <flow id="ns" type="car" begin="100" end="100000" period="9" '
        'from="top0A0" to="A0bottom0"/>\n'
        '  <flow id="sn" type="car" begin="100" end="100000" number="40" '
        'from="bottom1B0" to="B0top1"/>\n'
        "</routes>\n"
    )
    cfg = d / "config" / "run.sumocfg"
    cfg.write_text(
        "<configuration><input>"
        '<net-file value="../net/t.net.xml"/><route-files value="../demand/flows.rou.xml"/>'
        '</input><time><begin value="100"/></time></configuration>\n'
    )
    del end_s  # the configuration states no end: the twin's default window applies
    return cfg


def _scaled(duration: float, state: str, scale: float) -> float:
    """A green's duration scaled (at least 3 s); yellows are kept."""
    return duration if "y" in state.lower() else max(3.0, round(duration * scale, 1))


def multi_programme(out: Path, end_s: float) -> Path:
    """A 2x1 grid whose signals have two more programmes in an additional file (the last loaded
    runs), and a WAUT switching one of them back to the net's programme half-way."""
    d = out / "multi_programme"
    d.mkdir(parents=True, exist_ok=True)
    net = d / "net.net.xml"
    _netgenerate(
        net,
        "--grid",
        "--grid.x-number=2",
        "--grid.y-number=1",
        "--grid.length=250",
        "--grid.attach-length=150",
        "-L",
        "2",
        "--tls.guess",
    )
    import sumolib

    progs = []
    for tls in sumolib.net.readNet(str(net), withPrograms=True).getTrafficLights():
        for logic in tls.getPrograms().values():
            phases = logic.getPhases()
            for pid, scale in (("slow", 1.5), ("fast", 0.7)):
                lines = [
                    f'    <phase duration="{_scaled(p.duration, p.state, scale):g}" '
                    f'state="{p.state}"/>'
                    for p in phases
                ]
                progs.append(
                    f'  <tlLogic id="{tls.getID()}" type="static" programID="{pid}" offset="0">\n'
                    + "\n".join(lines)
                    + "\n  </tlLogic>"
                )
    ids = [t.getID() for t in sumolib.net.readNet(str(net), withPrograms=True).getTrafficLights()]
    waut = (
        f'  <WAUT refTime="0" id="w" startProg="fast">\n'
        f'    <wautSwitch time="{end_s / 2:g}" to="0"/>\n'
        f"  </WAUT>\n"
        f'  <wautJunction wautID="w" junctionID="{ids[0]}"/>\n'
    )
    (d / "programmes.add.xml").write_text(
        "<additional>\n" + "\n".join(progs) + "\n" + waut + "</additional>\n"
    )
    _trips(net, d / "routes.rou.xml", end_s, 1.5)
    return _cfg(
        d / "multi_programme.sumocfg",
        "net.net.xml",
        ["routes.rou.xml"],
        end_s,
        ["programmes.add.xml"],
    )


# --- Evaluation networks: corridors, grids and regions at several demand levels -----------------
#
# Unlike the scenarios above (does every control run?), these measure delay: corridors of 5-10
# signals, grids and regions of 10-25, each at a light, medium, saturated or oversaturated
# demand. Demand is randomTrips from the fringe (``--fringe-factor max``) at a rate per entry
# edge, so that a level means about the same on a small and a large network. Which half is used
# to choose designs is declared by ``EvalNetwork.design``; every one is reported.

EVAL_END_S = 1800.0
DEMAND_VPH_PER_ENTRY = {"light": 60.0, "medium": 110.0, "saturated": 160.0, "oversaturated": 220.0}


@dataclass(frozen=True)
class EvalNetwork:
    """One generated evaluation network: how to build it, at which demand level."""

    name: str
    kind: str
    """corridor, grid or region"""
    net_args: tuple[str, ...]
    level: str
    design: bool
    """True: in the half designs were chosen on; False: held out (reported only)."""
    post_args: tuple[str, ...] = ()
    """netconvert options applied after netgenerate (joined clusters and signals)."""

    @property
    def rate_per_entry_vph(self) -> float:
        """Demand per entry edge. A corridor's side streets all feed its one main road, so the
        same rate per entry loads it about twice as much as a grid's: corridors get half."""
        return DEMAND_VPH_PER_ENTRY[self.level] * (0.5 if self.kind == "corridor" else 1.0)


def _corridor(n: int, spacing: int) -> tuple[str, ...]:
    return (
        "--grid",
        f"--grid.x-number={n}",
        "--grid.y-number=1",
        f"--grid.x-length={spacing}",
        "--grid.attach-length=200",
        "-L",
        "2",
        "--turn-lanes",
        "1",
        "--tls.guess",
    )


def _grid(nx: int, ny: int, spacing: int, lanes: int = 1) -> tuple[str, ...]:
    return (
        "--grid",
        f"--grid.x-number={nx}",
        f"--grid.y-number={ny}",
        f"--grid.length={spacing}",
        "--grid.attach-length=150",
        "-L",
        str(lanes),
        "--tls.guess",
        "--tls.guess.threshold",
        "0",
        "--tls.layout",
        "incoming",
    )


_REGION = (
    "--rand",
    "--rand.iterations=50",
    "--rand.min-distance=60",
    "--rand.max-distance=250",
    "--rand.min-angle=60",
    "-L",
    "2",
    "--random-lanenumber",
    "--tls.guess",
    "--tls.guess.threshold",
    "40",
)
_JOIN = ("--junctions.join", "--junctions.join-dist", "25", "--tls.join", "--tls.join-dist", "40")

EVAL_NETWORKS: tuple[EvalNetwork, ...] = (
    EvalNetwork("corridor5-light", "corridor", _corridor(5, 200), "light", True),
    EvalNetwork("corridor5-saturated", "corridor", _corridor(5, 200), "saturated", False),
    EvalNetwork("corridor7-medium", "corridor", _corridor(7, 150), "medium", False),
    EvalNetwork("corridor7-saturated", "corridor", _corridor(7, 150), "saturated", True),
    EvalNetwork("corridor10-medium", "corridor", _corridor(10, 120), "medium", True),
    EvalNetwork("corridor10-saturated", "corridor", _corridor(10, 120), "saturated", False),
    EvalNetwork("grid3x4-light", "grid", _grid(3, 4, 150, 2), "light", False),
    EvalNetwork("grid3x4-saturated", "grid", _grid(3, 4, 150, 2), "saturated", True),
    EvalNetwork("grid4x4-medium", "grid", _grid(4, 4, 100), "medium", True),
    EvalNetwork("grid4x4-saturated", "grid", _grid(4, 4, 100), "saturated", False),
    EvalNetwork("grid5x5-medium", "grid", _grid(5, 5, 120), "medium", False),
    EvalNetwork("grid5x5-saturated", "grid", _grid(5, 5, 120), "saturated", True),
    EvalNetwork("region-medium", "region", _REGION, "medium", False, _JOIN),
    EvalNetwork("region-saturated", "region", _REGION, "saturated", True, _JOIN),
    EvalNetwork("corridor7-oversaturated", "corridor", _corridor(7, 150), "oversaturated", True),
    EvalNetwork("corridor10-oversaturated", "corridor", _corridor(10, 120), "oversaturated", False),
    EvalNetwork("grid4x4-oversaturated", "grid", _grid(4, 4, 100), "oversaturated", False),
    EvalNetwork("grid5x5-oversaturated", "grid", _grid(5, 5, 120), "oversaturated", True),
    EvalNetwork("region-oversaturated", "region", _REGION, "oversaturated", False, _JOIN),
)


def _entry_edges(net: Path) -> int:
    import sumolib

    n = sumolib.net.readNet(str(net))
    # an entry edge starts at a dead end: its node has no other way in or out
    return sum(
        1
        for e in n.getEdges()
        if e.allows("passenger")
        and len(e.getFromNode().getOutgoing()) == 1
        and len(e.getFromNode().getIncoming()) <= 1
    )


def generate_eval(out: Path, spec: EvalNetwork, end_s: float = EVAL_END_S) -> Path:
    """Build one evaluation network and its demand under ``out``; returns its .sumocfg."""
    d = out / spec.name
    cfg = d / f"{spec.name}.sumocfg"
    if cfg.is_file():
        return cfg
    d.mkdir(parents=True, exist_ok=True)
    net = d / "net.net.xml"
    if spec.post_args:
        raw = d / "raw.net.xml"
        _netgenerate(raw, *spec.net_args)
        _, _, netconvert = _tools()
        _run([netconvert, "-s", str(raw), *spec.post_args, "--no-warnings", "-o", str(net)])
        raw.unlink()
    else:
        _netgenerate(net, *spec.net_args)
    rate = spec.rate_per_entry_vph * _entry_edges(net)
    # every trip from one fringe edge to another (the later --fringe-factor wins)
    _trips(net, d / "routes.rou.xml", end_s, 3600.0 / rate, "--fringe-factor", "max")
    return _cfg(cfg, "net.net.xml", ["routes.rou.xml"], end_s)


LONG_ID_LENGTH = 200


def long_id(node: str, length: int = LONG_ID_LENGTH) -> str:
    """A node id as long as SUMO's joined clusters make them: ``cluster_<node>_<ids>…``."""
    out = f"cluster_{node}"
    k = 0
    while len(out) < length:
        out += f"_{2_400_000_000 + 7919 * k}"
        k += 1
    return out[:length]


def long_ids(out: Path, end_s: float) -> Path:
    """A 3x2 signalised grid whose junction (and signal) ids are 200 characters long, the length
    of the cluster ids SUMO builds when it joins many OSM nodes."""
    _, _, netconvert = _tools()
    d = out / "long_ids"
    d.mkdir(parents=True, exist_ok=True)
    plain = d / "plain"
    _netgenerate(
        d / "raw.net.xml",
        "--grid",
        "--grid.x-number=3",
        "--grid.y-number=2",
        "--grid.length=200",
        "--grid.attach-length=150",
        "-L",
        "2",
        "--tls.guess",
        "--plain-output-prefix",
        str(plain),
    )
    nodes = {
        el.attrib["id"]
        for el in ET.parse(f"{plain}.nod.xml").getroot().iter("node")
        if "id" in el.attrib
    }
    renamed = {n: long_id(n) for n in nodes}
    for suffix in ("nod", "edg", "con", "tll"):
        f = Path(f"{plain}.{suffix}.xml")
        if not f.is_file():
            continue
        tree = ET.parse(f)
        for el in tree.getroot().iter():
            for attr in ("id", "from", "to", "tl", "node"):
                if el.tag != "edge" or attr != "id":  # edges keep their own ids
                    v = el.attrib.get(attr)
                    if v in renamed:
                        el.set(attr, renamed[v])
        tree.write(f)
    args = [f"--{k}-files={plain}.{s}.xml" for k, s in (("node", "nod"), ("edge", "edg"))]
    if Path(f"{plain}.con.xml").is_file():
        args.append(f"--connection-files={plain}.con.xml")
    if Path(f"{plain}.tll.xml").is_file():
        args.append(f"--tllogic-files={plain}.tll.xml")
    net = d / "net.net.xml"
    _run([netconvert, *args, "--no-warnings", "-o", str(net)])
    (d / "raw.net.xml").unlink(missing_ok=True)
    _trips(net, d / "routes.rou.xml", end_s, 1.5)
    return _cfg(d / "long_ids.sumocfg", "net.net.xml", ["routes.rou.xml"], end_s)


GENERATORS: dict[str, Callable[[Path, float], Path]] = {
    "grid_incoming": grid_incoming,
    "grid_actuated": grid_actuated,
    "spider": spider,
    "three_leg_actuated": three_leg_actuated,
    "random_mixed": random_mixed,
    "joined_cluster": joined_cluster,
    "crossings": crossings,
    "subfolder_flows": subfolder_flows,
    "multi_programme": multi_programme,
    "long_ids": long_ids,
}


def shipped_scenarios() -> list[Path]:
    """The scenarios of the eclipse-sumo wheel with signals (``sumo/tools/game``)."""
    tools, _, _ = _tools()
    return sorted((tools / "game").glob("*.sumocfg"))


def generate(out: Path, end_s: float, only: list[str] | None = None) -> dict[str, Path]:
    """Generate the scenarios (all, or those named) under ``out``; returns their .sumocfg."""
    out = out.resolve()  # the tools run in the scenario's folder: relative paths would break
    return {n: g(out, end_s) for n, g in GENERATORS.items() if not only or n in only}


def run_all(
    scenarios: dict[str, Path], controls: list[str], end_s: float | None
) -> list[dict[str, object]]:
    """Every control on every scenario; one row per run (errors are caught and kept)."""
    from aiguilleur.twin_product import run_control
    from twin import RunOptions, available_controls, load_scenario

    rows: list[dict[str, object]] = []
    for name, cfg in scenarios.items():
        for control in controls or list(available_controls()):
            row: dict[str, object] = {"scenario": name, "control": control}
            t0 = time.monotonic()
            try:
                sc = load_scenario(cfg)
                if end_s is not None:
                    sc = sc.with_window(end_s=min(sc.end_s, sc.begin_s + end_s))
                res = run_control(sc, control, RunOptions(progress=False, plan_period_s=120))
                a = res.audit
                row |= {
                    "ok": True,
                    "inserted": res.metrics.vehicles_inserted,
                    "delay": res.metrics.avg_delay_s,
                    "cycles": a.checked_cycles if a else None,
                    "greens": a.checked_greens if a else None,
                    "transition": a.transition_cycles if a else None,
                    "violations": a.violations if a else None,
                    "first": a.first_violations[:2] if a else (),
                }
            except Exception as e:  # a report of what breaks, not a test
                row |= {"ok": False, "error": f"{type(e).__name__}: {e}"[:400]}
                row["traceback"] = traceback.format_exc(limit=-4)
            row["wall_s"] = round(time.monotonic() - t0, 1)
            rows.append(row)
            _print_row(row)
    return rows


def _print_row(row: dict[str, object]) -> None:
    if row["ok"]:
        line = (
            f"{row['scenario']:<18} {row['control']:<22} ok inserted={row['inserted']} "
            f"delay={row['delay']} cycles={row['cycles']} greens={row['greens']} "
            f"transition={row['transition']} violations={row['violations']} {row['wall_s']}s"
        )
        if row["violations"]:
            line += "\n    " + "\n    ".join(str(v) for v in row["first"])  # type: ignore[attr-defined]  # a tuple
    else:
        line = (
            f"{row['scenario']:<18} {row['control']:<22} FAILED {row['error']}\n{row['traceback']}"
        )
    print(line, flush=True)


def main() -> None:
    """Generate, run, report."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--out", type=Path, default=Path(".cache/twin-unseen"))
    ap.add_argument("--end", type=float, default=600.0, help="simulated seconds per run")
    ap.add_argument("--only", nargs="*", default=None, help="generated scenarios to use")
    ap.add_argument("--control", nargs="*", default=[], help="controls (default: all)")
    ap.add_argument("--shipped", action="store_true", help="add the wheel's own scenarios")
    ap.add_argument("--no-generated", action="store_true")
    args = ap.parse_args()
    scenarios = {} if args.no_generated else generate(args.out, args.end, args.only)
    if args.shipped:
        scenarios |= {f"game/{p.stem}": p for p in shipped_scenarios()}
    rows = run_all(scenarios, args.control, args.end)
    failed = [r for r in rows if not r["ok"] or r.get("violations")]
    print(f"{len(rows)} runs, {len(failed)} failed or with audit violations")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
