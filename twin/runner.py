"""Run one scenario under one control mode through libsumo (or TraCI), in closed loop."""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tqdm import tqdm

from graph.sumo import SumoNetwork, network_from_sumo
from graph.sumo_links import sumo_links
from optimizer.model import JunctionDemand, Plan
from optimizer.strategy import Decision, Planner, ZonePlanner
from twin.audit import ENVELOPE_EXEMPT, AuditResult, SignalAudit
from twin.control import (
    DecisionSource,
    LivePolicy,
    PlanPolicy,
    Policy,
    ProgrammePolicy,
    SignalDriver,
    envelope_for,
    make_policy,
    resolve_control,
    write_actuated_programmes,
)
from twin.detectors import (
    CountRecord,
    DetectorReader,
    DetectorSpec,
    rewrite_detector_files,
    strip_wauts,
    write_generated_loops,
)
from twin.errors import ScenarioError, SumoStartError
from twin.mapping import TlsMapping
from twin.metrics import RunMetrics, compute_metrics, read_tripinfo
from twin.scenario import Scenario, open_xml

log = logging.getLogger(__name__)

DEFAULT_BASE_DATE = datetime(2026, 1, 5, tzinfo=UTC)
"""Simulation time 0 maps to this instant in emitted counts (a Monday, midnight UTC)."""

_KEPT_CFG_SECTIONS = {"processing", "routing", "random_number", "mesoscopic", "emissions"}


@dataclass(frozen=True, kw_only=True)
class RunOptions:
    """How to run: intervals, SUMO protocol, changes for what-if runs, and where counts go."""

    count_interval_s: int = 60
    plan_period_s: float = 300.0
    time_to_teleport_s: float = -1.0
    """RESCO's protocol (-1: vehicles never teleport out of a jam). SUMO's default is 300."""
    seed: int = 42
    demand_factor: float = 1.0
    closed_edges: tuple[str, ...] = ()
    plans: dict[str, Plan] | None = None
    """Candidate fixed-time plans by junction id (control ``plan``)."""
    base_date: datetime = DEFAULT_BASE_DATE
    use_traci: bool = False
    progress: bool = True
    keep_counts: bool = False
    on_counts: Callable[[list[CountRecord]], None] | None = None
    plan_source: Callable[[float], Mapping[str, Plan]] | None = None
    """Plans from outside the process (the Kafka closed loop, wired in ``aiguilleur``). When set,
    the control name is only a label: at each plan period the runner calls it with the simulation
    time and applies the plan it returns for every signalised junction at that junction's next
    cycle boundary, instead of planning in process. It may block (lockstep with a pipeline)."""
    decision_source: DecisionSource | None = None
    """Live decisions from outside the process (the Kafka closed loop). When set, the control name
    is only a label: whenever junctions are due for a decision, the runner calls it with their
    states and applies the decision it returns for each, instead of asking a controller in
    process. It may block (lockstep with a pipeline)."""
    workdir: Path | None = None
    extra_sumo_args: tuple[str, ...] = ()
    may_skip_phases: bool = True
    sumo_binary: str | None = None
    """Another ``sumo`` binary (TraCI only), e.g. an older SUMO to compare versions."""
    audit: bool = True
    """Read back the states SUMO shows and check them against the control (``twin.audit``)."""
    """Live controllers may serve phases in any order (Varaiya's and RESCO's max-pressure do)."""


@dataclass(kw_only=True)
class RunResult:
    """What one run measured."""

    scenario: str
    control: str
    metrics: RunMetrics
    detectors: list[DetectorSpec]
    counts: list[CountRecord] = field(default_factory=list)
    plans: dict[str, list[Plan]] = field(default_factory=dict)
    decisions: int = 0
    applied: list[Decision] = field(default_factory=list)
    """Live controls: every decision applied, in order."""
    audit: AuditResult | None = None
    """What the signal audit found (``None`` when ``RunOptions.audit`` is off)."""


def _lane_lengths(net: Path, wanted: set[str]) -> dict[str, float]:
    out: dict[str, float] = {}
    with open_xml(net) as f:
        for _, el in ET.iterparse(f):
            if el.tag == "lane" and el.attrib.get("id") in wanted:
                out[el.attrib["id"]] = float(el.attrib.get("length", "0"))
                if len(out) == len(wanted):
                    break
    return out


def _sanitised_config(cfg: Path, workdir: Path) -> Path | None:
    """A copy of the .sumocfg keeping only processing options (inputs, outputs and window come from
    us).
    """
    root = ET.parse(cfg).getroot()
    out = ET.Element("configuration")
    for section in root:
        if section.tag in _KEPT_CFG_SECTIONS:
            out.append(section)
    if not len(out):
        return None
    path = workdir / "run.sumocfg"
    ET.ElementTree(out).write(path, encoding="utf-8", xml_declaration=True)
    return path


def write_closures(
    edges: tuple[str, ...], all_edges: list[str], path: Path, begin: float, end: float
) -> None:
    """A rerouter closing ``edges`` for the whole window; vehicles planning to use them reroute."""
    root = ET.Element("additional")
    rr = ET.SubElement(root, "rerouter", id="twin_closure", edges=" ".join(all_edges))
    iv = ET.SubElement(rr, "interval", begin=f"{begin:g}", end=f"{end:g}")
    for e in edges:
        ET.SubElement(iv, "closingReroute", id=e)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)


def _api(use_traci: bool) -> Any:
    if use_traci:
        import traci

        return traci
    import libsumo

    return libsumo


def _sumo_binary() -> str:
    import sumolib

    return str(sumolib.checkBinary("sumo"))


def build_command(
    scenario: Scenario, options: RunOptions, workdir: Path, additionals: list[Path]
) -> list[str]:
    """The SUMO command line of a run (outputs in ``workdir``)."""
    cmd = [options.sumo_binary or _sumo_binary()]
    cfg = _sanitised_config(scenario.config, workdir) if scenario.config is not None else None
    if cfg is not None:
        cmd += ["-c", str(cfg)]
    cmd += ["-n", str(scenario.net)]
    if scenario.routes:
        cmd += ["-r", ",".join(str(r) for r in scenario.routes)]
    if additionals:
        cmd += ["-a", ",".join(str(a) for a in additionals)]
    cmd += [
        "-b",
        f"{scenario.begin_s:g}",
        "-e",
        f"{scenario.end_s:g}",
        "--step-length",
        f"{scenario.step_length_s:g}",
        "--time-to-teleport",
        f"{options.time_to_teleport_s:g}",
        "--seed",
        str(options.seed),
        "--scale",
        f"{options.demand_factor:g}",
        "--tripinfo-output",
        str(workdir / "tripinfo.xml"),
        "--tripinfo-output.write-unfinished",
        "true",
        "--device.emissions.probability",
        "1",
        "--error-log",
        str(workdir / "sumo.err"),
        "--no-step-log",
        "true",
        "--no-warnings",
        "true",
        "--duration-log.disable",
        "true",
        *options.extra_sumo_args,
    ]
    return cmd


def _log_tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _all_edges(net: Path) -> list[str]:
    with open_xml(net) as f:
        events = list(ET.iterparse(f))
    return [
        el.attrib["id"]
        for _, el in events
        if el.tag == "edge"
        and el.attrib.get("function", "") not in {"internal", "crossing", "walkingarea"}
    ]


class _Counter:
    """Per-lane and turning counts from the control loops since the last plan.

    Turning counts come from the route of each vehicle the loop saw (its next edge after the
    approach): the ground truth a turning-movement camera would give.
    """

    def __init__(self, api: Any, specs: list[DetectorSpec]) -> None:
        self._api = api
        self._specs = specs
        self.lanes: dict[str, int] = {}
        self.turns: dict[tuple[str, str], int] = {}
        self.occupied: dict[str, list[float]] = {}

    def read(self) -> None:
        for d in self._specs:
            edge = d.lane.rsplit("_", 1)[0]
            occ = float(self._api.inductionloop.getLastIntervalOccupancy(d.id)) / 100.0
            self.occupied.setdefault(d.lane, []).append(occ)
            for v in self._api.inductionloop.getLastIntervalVehicleIDs(d.id):
                self.lanes[d.lane] = self.lanes.get(d.lane, 0) + 1
                try:
                    route = list(self._api.vehicle.getRoute(v))
                    nxt = route[route.index(edge) + 1]
                except Exception:  # vehicle gone or edge not on its route: lane count only
                    continue
                self.turns[(d.lane, nxt)] = self.turns.get((d.lane, nxt), 0) + 1

    def take(self) -> tuple[dict[str, int], dict[tuple[str, str], int]]:
        out = (self.lanes, self.turns)
        self.lanes, self.turns = {}, {}
        return out

    def take_occupancy(self) -> dict[str, float]:
        """Mean loop occupancy (0..1) per lane since the last call."""
        out = {lane: sum(v) / len(v) for lane, v in self.occupied.items() if v}
        self.occupied = {}
        return out


def run_twin(scenario: Scenario, control: str, options: RunOptions | None = None) -> RunResult:
    """Simulate ``scenario`` under ``control`` (see :mod:`twin.control`) and measure it."""
    options = options or RunOptions()
    if options.decision_source is not None:
        kind, name = "controller", control  # decisions come from outside; the name is a label
    elif options.plan_source is not None:
        kind, name = "planner", control  # plans come from outside; the name is a label
    elif control == "plan":
        kind, name = "plan", "plan"
    else:
        kind, name = resolve_control(control)
    if kind == "plan" and not options.plans:
        raise ScenarioError(
            scenario.name, "control 'plan' needs candidate plans (RunOptions.plans)"
        )
    # a scenario without signals can still be measured under its own (absent) programme
    sn = network_from_sumo(scenario.net, scenario.additionals, allow_empty=kind == "builtin")
    own_workdir = options.workdir is None
    workdir = (
        Path(tempfile.mkdtemp(prefix="aiguilleur-twin-"))
        if options.workdir is None
        else options.workdir
    )
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        return _run(scenario, sn, control, kind, name, options, workdir)
    finally:
        if own_workdir:
            shutil.rmtree(workdir, ignore_errors=True)


def _control_lanes(sn: SumoNetwork) -> set[str]:
    return {
        sig.link_lanes[i][0]
        for sig in sn.signals.values()
        for i, m in enumerate(sig.link_movements)
        if m
    }


def emitted_detectors(
    scenario: Scenario, sn: SumoNetwork, count_interval_s: int = 60
) -> list[DetectorSpec]:
    """The detectors a run emits counts for, without running SUMO: the scenario's own E1/E2
    detectors, or else one generated loop per signalised lane (what a detector registry needs)."""
    with tempfile.TemporaryDirectory(prefix="aiguilleur-twin-") as d:
        _, scenario_specs = rewrite_detector_files(scenario.additionals, Path(d), count_interval_s)
        if scenario_specs:
            return scenario_specs
        lengths = _lane_lengths(scenario.net, _control_lanes(sn))
        return write_generated_loops(lengths, Path(d) / "loops.add.xml", count_interval_s)


def _run(
    scenario: Scenario,
    sn: SumoNetwork,
    control: str,
    kind: str,
    name: str,
    options: RunOptions,
    workdir: Path,
) -> RunResult:
    interval = options.count_interval_s
    adds, scenario_specs = rewrite_detector_files(scenario.additionals, workdir, interval)
    actuated = kind == "builtin" and name == "actuated"
    adds_l = list(strip_wauts(adds, workdir) if actuated else adds)
    loops_file = workdir / "twin_loops.add.xml"
    loop_specs = write_generated_loops(
        _lane_lengths(scenario.net, _control_lanes(sn)), loops_file, interval
    )
    adds_l.append(loops_file)
    actuated_id = ""
    if actuated:
        actuated_id = write_actuated_programmes(sn.signals, workdir / "actuated.add.xml")
        adds_l.append(workdir / "actuated.add.xml")
    if options.closed_edges:
        known = _all_edges(scenario.net)
        missing = [e for e in options.closed_edges if e not in set(known)]
        if missing:
            raise ScenarioError(scenario.name, f"cannot close unknown edges: {', '.join(missing)}")
        write_closures(
            options.closed_edges,
            known,
            workdir / "closures.add.xml",
            scenario.begin_s,
            scenario.end_s,
        )
        adds_l.append(workdir / "closures.add.xml")
    cmd = build_command(scenario, options, workdir, adds_l)
    api = _api(options.use_traci)
    t0 = time.monotonic()
    try:
        api.start(cmd)
    except Exception as e:  # libsumo raises its own TraCIException or FatalTraCIError
        raise SumoStartError(
            cmd, str(e) or type(e).__name__, _log_tail(workdir / "sumo.err")
        ) from e
    try:
        result = _loop(
            api, scenario, sn, control, kind, name, options, scenario_specs, loop_specs, actuated_id
        )
    except Exception as e:
        if type(e).__module__.startswith(("libsumo", "traci")):
            raise SumoStartError(cmd, f"SUMO stopped: {e}", _log_tail(workdir / "sumo.err")) from e
        raise
    finally:
        try:
            api.close()
        except Exception:  # already closed by SUMO on a fatal error
            log.debug("event=close_failed scenario=%s", scenario.name)
    trips = read_tripinfo(workdir / "tripinfo.xml")
    result.metrics = compute_metrics(trips, wall_s=time.monotonic() - t0, **result.metrics_inputs)
    return result.to_result()


@dataclass(kw_only=True)
class _Partial:
    scenario: str
    control: str
    detectors: list[DetectorSpec]
    counts: list[CountRecord]
    plans: dict[str, list[Plan]]
    decisions: int
    metrics_inputs: dict[str, Any]
    metrics: RunMetrics | None = None
    applied: list[Decision] = field(default_factory=list)
    audit: AuditResult | None = None

    def to_result(self) -> RunResult:
        assert self.metrics is not None
        return RunResult(
            scenario=self.scenario,
            control=self.control,
            metrics=self.metrics,
            detectors=self.detectors,
            counts=self.counts,
            plans=self.plans,
            decisions=self.decisions,
            applied=self.applied,
            audit=self.audit,
        )


def _loop(
    api: Any,
    scenario: Scenario,
    sn: SumoNetwork,
    control: str,
    kind: str,
    name: str,
    options: RunOptions,
    scenario_specs: list[DetectorSpec],
    loop_specs: list[DetectorSpec],
    actuated_id: str,
) -> _Partial:
    now = float(api.simulation.getTime())
    junctions = list(sn.network.junctions)
    if actuated_id:
        for j in junctions:
            api.trafficlight.setProgram(j.id, actuated_id)
    drivers = _drivers(api, sn, kind, now)
    counter = _Counter(api, loop_specs)
    policy = _policy(api, sn, control, kind, name, options, drivers, counter, now, scenario.net)
    emit_specs = scenario_specs or loop_specs
    audit = _audit(api, sn, kind, name, options, policy, now, scenario.step_length_s)
    reader = DetectorReader(api, emit_specs, options.count_interval_s, options.base_date)
    lanes_by_junction = [
        sorted(
            {
                sn.signals[j.id].link_lanes[i][0]
                for i, m in enumerate(sn.signals[j.id].link_movements)
                if m
            }
        )
        for j in junctions
    ]
    all_lanes = [ln for lanes in lanes_by_junction for ln in lanes]
    counts: list[CountRecord] = []
    teleports = 0
    queue_sum = 0.0
    samples = 0
    next_count = scenario.begin_s + options.count_interval_s
    bar = tqdm(
        total=scenario.end_s - scenario.begin_s,
        disable=not options.progress,
        unit="sim s",
        desc=f"{scenario.name} {control}",
        leave=False,
    )
    last_bar = now
    while now < scenario.end_s - 1e-9:
        api.simulationStep()
        now = float(api.simulation.getTime())
        teleports += int(api.simulation.getStartingTeleportNumber())
        for drv in drivers.values():
            drv.tick(now)
        if now >= next_count - 1e-9:
            recs = reader.read(now)
            if options.on_counts is not None:
                options.on_counts(recs)
            if options.keep_counts:
                counts.extend(recs)
            if kind == "planner":
                counter.read()
            next_count += options.count_interval_s
        policy.step(now)
        if audit is not None:
            audit.observe(now)
        queue_sum += sum(api.lane.getLastStepHaltingNumber(ln) for ln in all_lanes)
        samples += 1
        if now - last_bar >= 60:
            bar.update(now - last_bar)
            last_bar = now
    bar.close()
    pending = list(api.simulation.getPendingVehicles())
    pending_wait = _pending_wait(api, pending, scenario, now)
    return _Partial(
        scenario=scenario.name,
        control=control,
        detectors=emit_specs,
        counts=counts,
        plans=getattr(policy, "plans", {}),
        decisions=int(getattr(policy, "decisions", 0)),
        applied=list(getattr(policy, "applied", [])),
        audit=audit.result(now) if audit is not None else None,
        metrics_inputs={
            "never_inserted_wait_s": pending_wait,
            "never_inserted": len(pending),
            "queue_mean_veh": queue_sum / max(samples, 1) / max(len(junctions), 1),
            "teleports": teleports,
            "sim_s": scenario.end_s - scenario.begin_s,
        },
    )


def _audit(
    api: Any,
    sn: SumoNetwork,
    kind: str,
    name: str,
    options: RunOptions,
    policy: Policy,
    now: float,
    step_s: float,
) -> SignalAudit | None:
    """The signal audit of a run (``twin.audit``), or ``None`` when switched off."""
    if not options.audit:
        return None
    if kind == "controller":
        envelopes = None
        if name not in ENVELOPE_EXEMPT:
            envelopes = {}
            for j in sn.network.junctions:
                env = envelope_for(j, may_skip=options.may_skip_phases)
                envelopes[j.id] = (env.min_green_s, env.max_green_s)
        return SignalAudit(api, sn.signals, "controller", now, step_s, envelopes=envelopes)
    if isinstance(policy, PlanPolicy):
        plans = policy.plans
        return SignalAudit(api, sn.signals, "planner", now, step_s, plans=lambda: plans)
    return SignalAudit(api, sn.signals, "builtin", now, step_s)


def _drivers(api: Any, sn: SumoNetwork, kind: str, now: float) -> dict[str, SignalDriver]:
    """Signal drivers for the modes that set phases themselves, starting on SUMO's current phase."""
    drivers: dict[str, SignalDriver] = {}
    if kind in {"planner", "controller", "plan"}:
        for j in sn.network.junctions:
            sig = sn.signals[j.id]
            cur = api.trafficlight.getRedYellowGreenState(j.id)
            first = sig.green_states.index(cur) if cur in sig.green_states else 0
            drivers[j.id] = SignalDriver(api, TlsMapping.from_signal(sig), first, now)
    return drivers


def _policy(
    api: Any,
    sn: SumoNetwork,
    control: str,
    kind: str,
    name: str,
    options: RunOptions,
    drivers: dict[str, SignalDriver],
    counter: _Counter,
    now: float,
    net: Path,
) -> Policy:
    junctions = list(sn.network.junctions)
    if kind in {"planner", "plan"}:
        planner: Planner | ZonePlanner | None = None
        if options.plan_source is not None:
            planner = SourcedPlanner(control, options.plan_source, api.simulation.getTime)
        elif kind == "planner":
            planner = make_policy(kind, name)
        return PlanPolicy(
            control,
            planner,
            api,
            junctions,
            sn.signals,
            drivers,
            counter.take,
            options.plan_period_s,
            now,
            fixed_plans=options.plans if kind == "plan" else None,
            links=sumo_links(net) if isinstance(planner, ZonePlanner) else (),
            occupancy=counter.take_occupancy,
        )
    if kind == "controller":
        return LivePolicy(
            name,
            api,
            junctions,
            sn.signals,
            drivers,
            now,
            may_skip=options.may_skip_phases,
            decision_source=options.decision_source,
        )
    return ProgrammePolicy(control)


class SourcedPlanner:
    """A Planner whose plans come from :attr:`RunOptions.plan_source`, asked once per period."""

    def __init__(
        self,
        name: str,
        source: Callable[[float], Mapping[str, Plan]],
        clock: Callable[[], float],
    ) -> None:
        self.name = name
        self._source = source
        self._clock = clock
        self._asked_at: float | None = None
        self._plans: Mapping[str, Plan] = {}

    def plan(self, demand: JunctionDemand) -> Plan:
        """The source's plan for this junction (the source is asked on the period's first call)."""
        now = float(self._clock())
        if self._asked_at != now:
            self._plans = self._source(now)
            self._asked_at = now
        found = self._plans.get(demand.junction_id)
        if found is None:
            raise ScenarioError(
                self.name,
                f"the plan source gave no plan for junction {demand.junction_id!r} at t={now:g} s",
                "it must return one for every signalised junction of the scenario",
            )
        return found


def _pending_wait(api: Any, pending: list[str], scenario: Scenario, now: float) -> float:
    """Seconds waited so far by vehicles still waiting to be inserted.

    SUMO >= 1.10 answers ``getDepartDelay`` for them; older versions do not, so their intended
    departure is read from the route files instead (vehicles and trips; flows are not expanded).
    """
    try:
        return sum(float(api.vehicle.getDepartDelay(v)) for v in pending)
    except Exception:  # TraCI of an older SUMO: unsupported variable
        log.debug("event=depart_delay_unsupported scenario=%s", scenario.name)
    wanted = set(pending)
    departs: dict[str, float] = {}
    for path in scenario.routes:
        with open_xml(path) as f:
            for _, el in ET.iterparse(f):
                if el.tag in {"vehicle", "trip"} and el.attrib.get("id") in wanted:
                    try:
                        departs[el.attrib["id"]] = float(el.attrib.get("depart", "0"))
                    except ValueError:  # "triggered" and other symbolic departures
                        continue
    return sum(max(0.0, now - d) for d in departs.values())
