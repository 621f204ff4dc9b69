"""Diversion advice in the twin: one closed edge, three ways for drivers to get around it.

- ``no_advice``: the edge is closed by a SUMO ``rerouter`` (``closingReroute``) standing on the
  edges that end less than 25 m before it, so drivers discover the closure when they reach it
  and SUMO reroutes them from there (the quickest way at free flow, what a driver with no
  information does).
- ``oracle``: the same closure, and SUMO's rerouting device on every vehicle
  (``--device.rerouting.probability 1``, period 300 s): everyone re-plans every five minutes on
  current travel times, so the queue growing at the closure steers the traffic away from it
  upstream. An upper bound the issue asks to compare with.
- ``advice``: the same closure, and the advice applied at its decision points: a vehicle reaching
  a decision point's approach edge whose route uses the closed edge follows the advice with
  probability ``compliance``, then takes each advised alternative with its share (or goes on with
  the share told nothing). This is SUMO's ``routeProbReroute`` distribution, applied through
  TraCI because ``routeProbReroute`` replaces the vehicle's *whole* route with the given one
  (measured with SUMO 1.28: the vehicle ends its trip where the alternative rejoins the road);
  here the alternative is followed to where it rejoins and the vehicle's own route is resumed from
  there (``simulation.findRoute`` to its destination). The draw is seeded per vehicle, so a
  vehicle that complies at 20 % also complies at 30 %: compliance levels are paired.

The closure is a hard one (``disallow="all"``: vehicles that find no way around wait at it) and a
vehicle knows of it once it has passed a rerouter edge (``--device.rerouting.mode 8``, in every
case: otherwise SUMO refuses to insert the vehicles whose route uses the closed edge). Every case
runs the scenario's own signal programmes, with SUMO's jam teleport at 300 s (as in the what-if:
a closure that locks a junction shows as teleports rather than as a run that never ends).
Measured: total and 95th-percentile trip time (``duration`` + ``departDelay`` of every trip in
tripinfo, unfinished ones included, and the time waited so far by vehicles a jam kept from
entering at all), the vehicles diverted, the flow entering the diversion's edges
and the time lost on its edges that end at a signal (SUMO ``edgeData``).
"""

from __future__ import annotations

import math
import random
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import sumolib

from twin.errors import ScenarioError
from twin.options import RunOptions
from twin.runner import run_twin
from twin.scenario import Scenario

Mode = Literal["none", "no_advice", "oracle", "advice"]
DISCOVERY_M = 25.0
"""Drivers see the closure this far ahead (as ``streams.rerouting.DISCOVERY_M`` assumes)."""
TELEPORT_S = 300.0


@dataclass(frozen=True, slots=True)
class AdvisedRoute:
    """One alternative at a decision point, as SUMO edges after the decision edge."""

    edges: tuple[str, ...]
    share: float


@dataclass(frozen=True, slots=True)
class PointAdvice:
    """The advice at one decision point: the edge drivers are on when they get it."""

    decision_edge: str
    routes: tuple[AdvisedRoute, ...]


@dataclass(frozen=True, slots=True)
class RerouteCase:
    """One way of running the closure."""

    mode: Mode
    compliance: float = 0.0

    @property
    def label(self) -> str:
        """``advice 20%`` or the mode."""
        return f"advice {self.compliance:.0%}" if self.mode == "advice" else self.mode


@dataclass(frozen=True, slots=True)
class CaseResult:
    """What one run of one case measured."""

    case: str
    seed: int
    trips: int
    """Vehicles in the network at some point (SUMO's tripinfo, unfinished trips included)."""
    never_inserted: int
    """Vehicles still waiting to enter at the end: a jam at their departure edge kept them out."""
    total_time_h: float
    p95_time_s: float
    mean_time_s: float
    teleports: int
    bound: int
    """Vehicles that reached a decision point with the closed edge ahead on their route."""
    diverted: int
    """Of those, the vehicles the advice sent onto an alternative."""
    diversion_vph: float
    """Vehicles per hour entering the busiest edge of the advised alternatives."""
    signal_delay_s: float
    """Time lost per vehicle on the alternatives' edges that end at a traffic light."""
    wall_s: float


class AdviceApplier:
    """The per-step hook that applies advice to the vehicles reaching a decision point."""

    def __init__(
        self, advice: Sequence[PointAdvice], closed_edge: str, compliance: float, seed: int
    ) -> None:
        self.advice = {p.decision_edge: p for p in advice}
        self.closed = closed_edge
        self.compliance = compliance
        self.seed = seed
        self.seen: set[tuple[str, str]] = set()
        self.bound = 0
        self.diverted = 0

    def _draw(self, vehicle: str, what: str) -> float:
        return random.Random(f"{self.seed}:{vehicle}:{what}").random()

    def __call__(self, api: Any, _now: float) -> None:
        for edge, point in self.advice.items():
            for veh in api.edge.getLastStepVehicleIDs(edge):
                if (veh, edge) in self.seen:
                    continue
                self.seen.add((veh, edge))
                route = list(api.vehicle.getRoute(veh))
                rest = route[int(api.vehicle.getRouteIndex(veh)) :]
                if not rest or rest[0] != edge or self.closed not in rest:
                    continue
                self.bound += 1
                if self._draw(veh, "comply") >= self.compliance:
                    continue
                pick = self._draw(veh, edge)
                for r in point.routes:
                    if pick < r.share:
                        self._divert(api, veh, edge, r, rest[-1])
                        break
                    pick -= r.share

    def _divert(self, api: Any, veh: str, edge: str, route: AdvisedRoute, dest: str) -> None:
        tail = api.simulation.findRoute(route.edges[-1], dest).edges
        if route.edges[-1] != dest and not tail:
            return  # the destination cannot be reached from where the alternative rejoins
        new = [edge, *route.edges, *list(tail)[1:]]
        if self.closed in new:
            return
        api.vehicle.setRoute(veh, new)
        self.diverted += 1


class _Hook:
    """Every step: the advice, when there is some; at the last step: how long the vehicles still
    waiting to enter have waited (they count in the total like any trip)."""

    def __init__(self, applier: AdviceApplier | None, end_s: float) -> None:
        self.applier = applier
        self.end_s = end_s
        self.never_inserted_s: list[float] = []

    def __call__(self, api: Any, now: float) -> None:
        if self.applier is not None:
            self.applier(api, now)
        if now >= self.end_s - 1e-9:
            self.never_inserted_s = [
                float(api.vehicle.getDepartDelay(v)) for v in api.simulation.getPendingVehicles()
            ]


def discovery_edges(net: Any, edge: str, within_m: float = DISCOVERY_M) -> list[str]:
    """The edges whose end is less than ``within_m`` before ``edge``: drivers on them see the
    closure and turn at the end of the edge they are on (SUMO's rerouter acts on entering)."""
    out: set[str] = set()
    frontier = [(e, 0.0) for e in net.getEdge(edge).getIncoming()]
    while frontier:
        e, ahead = frontier.pop()
        if e.getID() in out or e.getID() == edge:
            continue
        out.add(e.getID())
        tail = ahead + e.getLength()
        if tail < within_m:
            frontier.extend((x, tail) for x in e.getIncoming())
    return sorted(out)


def write_closure(path: Path, edge: str, discover: Sequence[str], begin: float, end: float) -> None:
    """A rerouter closing ``edge``, standing on the edges that lead into it."""
    root = ET.Element("additional")
    rr = ET.SubElement(root, "rerouter", id="reroute_closure", edges=" ".join(discover))
    iv = ET.SubElement(rr, "interval", begin=f"{begin:g}", end=f"{end:g}")
    # disallow="all": without it SUMO 1.28 lets a vehicle that finds no way around drive through
    # the "closed" edge (measured on Bologna's Andrea Costa scenario)
    ET.SubElement(iv, "closingReroute", id=edge, disallow="all")
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)


def write_edge_data(path: Path, out: Path, begin: float, end: float) -> None:
    """Per-edge counts and time loss over the whole window."""
    root = ET.Element("additional")
    ET.SubElement(
        root,
        "edgeData",
        id="reroute_edges",
        file=str(out),
        begin=f"{begin:g}",
        end=f"{end:g}",
        excludeEmpty="true",
    )
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)


def read_edge_data(path: Path) -> dict[str, dict[str, float]]:
    """Edge id -> edgeData attributes (entered, timeLoss, speed…) summed over intervals."""
    out: dict[str, dict[str, float]] = {}
    for _, el in ET.iterparse(path):
        if el.tag != "edge":
            continue
        row = out.setdefault(el.attrib["id"], {})
        for k, v in el.attrib.items():
            if k == "id":
                continue
            try:
                row[k] = row.get(k, 0.0) + float(v)
            except ValueError:
                continue
    return out


def trip_times(path: Path) -> list[float]:
    """duration + departDelay of every trip in a tripinfo file."""
    out = []
    for _, el in ET.iterparse(path):
        if el.tag == "tripinfo":
            out.append(float(el.attrib["duration"]) + float(el.attrib.get("departDelay", "0")))
            el.clear()
    return out


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1), nearest rank."""
    if not values:
        return 0.0
    s = sorted(values)
    return s[min(len(s) - 1, max(0, math.ceil(q * len(s)) - 1))]


@dataclass(frozen=True)
class RerouteRun:
    """A scenario with one closed edge and the advice for it."""

    scenario: Scenario
    closed_edge: str
    advice: tuple[PointAdvice, ...] = ()
    options: RunOptions = field(default_factory=RunOptions)


def run_case(run: RerouteRun, case: RerouteCase, seed: int) -> CaseResult:
    """Simulate one case with one seed and measure it."""
    sc = run.scenario
    net = sumolib.net.readNet(str(sc.net), withInternal=False)
    if not net.hasEdge(run.closed_edge):
        raise ScenarioError(sc.name, f"no edge {run.closed_edge!r} to close")
    with tempfile.TemporaryDirectory(prefix="aiguilleur-reroute-") as tmp:
        work = Path(tmp)
        adds = [work / "edges.add.xml"]
        write_edge_data(adds[0], work / "edges.xml", sc.begin_s, sc.end_s)
        if case.mode != "none":
            discover = discovery_edges(net, run.closed_edge)
            write_closure(work / "closure.add.xml", run.closed_edge, discover, sc.begin_s, sc.end_s)
            adds.append(work / "closure.add.xml")
        extra = list(run.options.extra_sumo_args)
        if case.mode != "none":
            # a closure is known to a vehicle once it has passed a rerouter edge (mode 8); without
            # it SUMO refuses to insert any vehicle whose route uses the closed edge
            extra += ["--device.rerouting.mode", "8"]
        if case.mode == "oracle":
            extra += ["--device.rerouting.probability", "1", "--device.rerouting.period", "300"]
        applier = None
        if case.mode == "advice":
            applier = AdviceApplier(run.advice, run.closed_edge, case.compliance, seed)
        hook = _Hook(applier, sc.end_s)
        options = replace(
            run.options,
            seed=seed,
            time_to_teleport_s=TELEPORT_S,
            workdir=work / "run",
            additional_files=tuple(adds),
            extra_sumo_args=tuple(extra),
            on_step=hook,
            progress=False,
            audit=False,
        )
        result = run_twin(sc, "programme", options)
        times = trip_times(work / "run" / "tripinfo.xml") + hook.never_inserted_s
        edges = read_edge_data(work / "edges.xml")
    watched = {e for p in run.advice for r in p.routes for e in r.edges}
    hours = (sc.end_s - sc.begin_s) / 3600.0
    entered = [edges.get(e, {}).get("entered", 0.0) for e in watched]
    at_signals = [e for e in watched if net.getEdge(e).getToNode().getType() == "traffic_light"]
    lost = sum(edges.get(e, {}).get("timeLoss", 0.0) for e in at_signals)
    passing = sum(edges.get(e, {}).get("entered", 0.0) for e in at_signals)
    return CaseResult(
        case=case.label,
        seed=seed,
        trips=len(times) - len(hook.never_inserted_s),
        never_inserted=len(hook.never_inserted_s),
        total_time_h=round(sum(times) / 3600.0, 2),
        p95_time_s=round(percentile(times, 0.95), 1),
        mean_time_s=round(sum(times) / max(1, len(times)), 1),
        teleports=result.metrics.teleports,
        bound=applier.bound if applier else 0,
        diverted=applier.diverted if applier else 0,
        diversion_vph=round(max(entered, default=0.0) / hours, 1),
        signal_delay_s=round(lost / passing, 1) if passing else 0.0,
        wall_s=result.metrics.wall_s,
    )


def baseline_flows(
    scenario: Scenario, seed: int, options: RunOptions | None = None
) -> dict[str, float]:
    """Vehicles per hour entering each SUMO edge in a run without any closure (the link flows the
    advice is computed from, as if every link had a detector)."""
    options = options or RunOptions()
    with tempfile.TemporaryDirectory(prefix="aiguilleur-reroute-") as tmp:
        work = Path(tmp)
        write_edge_data(
            work / "edges.add.xml", work / "edges.xml", scenario.begin_s, scenario.end_s
        )
        run_twin(
            scenario,
            "programme",
            replace(
                options,
                seed=seed,
                time_to_teleport_s=TELEPORT_S,
                additional_files=(work / "edges.add.xml",),
                progress=False,
                audit=False,
            ),
        )
        data = read_edge_data(work / "edges.xml")
    hours = (scenario.end_s - scenario.begin_s) / 3600.0
    return {e: row.get("entered", 0.0) / hours for e, row in data.items()}
