"""Run one scenario under one control through libsumo (or TraCI), in closed loop, and measure it.

The pieces live beside this module: the controls by name (:mod:`twin.controls`), the policies that
drive the signals (:mod:`twin.policy`, :mod:`twin.plan_policy`, :mod:`twin.live_policy`), SUMO's
command line (:mod:`twin.sumo_command`), the loops' counts (:mod:`twin.loop_counter`,
:mod:`twin.detectors`) and the options and result (:mod:`twin.options`).
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from graph.sumo import SumoNetwork, network_from_sumo
from optimizer.strategy import Envelope
from twin.audit import ENVELOPE_EXEMPT, AuditResult, SignalAudit
from twin.controls import PLAN, Control, resolve_control
from twin.detectors import (
    CountRecord,
    DetectorReader,
    DetectorSpec,
    OccupancySampler,
    rewrite_detector_files,
    strip_wauts,
    write_generated_loops,
)
from twin.driver import SignalDriver
from twin.errors import ScenarioError, SumoStartError
from twin.live_policy import LivePolicy, live_envelopes
from twin.loop_counter import LoopCounter
from twin.loop_states import ControlLoops, LoopStates, write_control_loops
from twin.mapping import TlsMapping
from twin.metrics import RunMetrics, compute_metrics, read_tripinfo
from twin.options import RunOptions, RunResult
from twin.oracle import OraclePlans
from twin.plan_policy import PlanPolicy, PlanSource
from twin.policy import Policy, PolicyOutcome, ProgrammePolicy
from twin.programmes import write_actuated_programmes
from twin.progress import progress
from twin.scenario import Scenario, open_xml
from twin.sumo_command import (
    all_edges,
    build_command,
    lane_lengths,
    log_tail,
    sumo_api,
    write_closures,
)

log = logging.getLogger(__name__)

__all__ = ["RunOptions", "RunResult", "emitted_detectors", "run_twin"]


@dataclass(frozen=True, kw_only=True)
class _Run:
    """One run: the scenario, its network model, the control and how to run it."""

    scenario: Scenario
    sn: SumoNetwork
    label: str
    """The control's name as the caller gave it (reports say this)."""
    control: Control
    options: RunOptions
    workdir: Path


def _control_of(label: str, options: RunOptions) -> Control:
    if options.decision_source is not None:
        return Control("controller", label)  # decisions come from outside; the name is a label
    if options.plan_source is not None:
        return Control("planner", label)  # plans come from outside; the name is a label
    return resolve_control(label)


def run_twin(scenario: Scenario, control: str, options: RunOptions | None = None) -> RunResult:
    """Simulate ``scenario`` under ``control`` (see :mod:`twin.controls`) and measure it."""
    options = options or RunOptions()
    ctl = _control_of(control, options)
    if ctl == PLAN and not options.plans:
        raise ScenarioError(
            scenario.name, "control 'plan' needs candidate plans (RunOptions.plans)"
        )
    if ctl.kind == "planner" and options.plan_source is None:
        raise ScenarioError(
            scenario.name,
            f"control {control!r} is a planner: its plans are the product's, from the pipeline",
            "run it with `aiguilleur twin run` or `aiguilleur twin bench` (the pipeline in "
            "process, aiguilleur.twin_product), `aiguilleur twin live` (through Kafka), or run "
            "the 'oracle' control",
        )
    # a scenario without signals can still be measured under its own (absent) programme
    sn = network_from_sumo(scenario.net, scenario.additionals, allow_empty=ctl.kind == "builtin")
    own_workdir = options.workdir is None
    workdir = (
        Path(tempfile.mkdtemp(prefix="aiguilleur-twin-"))
        if options.workdir is None
        else options.workdir
    )
    workdir.mkdir(parents=True, exist_ok=True)
    run = _Run(
        scenario=scenario, sn=sn, label=control, control=ctl, options=options, workdir=workdir
    )
    try:
        return _run(run)
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
        _, scenario_specs = rewrite_detector_files(
            scenario.additionals, Path(d), count_interval_s, partial(lane_lengths, scenario.net)
        )
        if scenario_specs:
            return scenario_specs
        lengths = lane_lengths(scenario.net, _control_lanes(sn))
        return write_generated_loops(lengths, Path(d) / "loops.add.xml", count_interval_s)


@dataclass(frozen=True, kw_only=True)
class _Detectors:
    scenario: list[DetectorSpec]
    """The scenario's own detectors (their counts are emitted when there are any)."""
    loops: list[DetectorSpec]
    """One generated loop per signalised lane (what the in-process planners count with)."""
    actuated_program: str
    """programID of the actuated copy of the programmes ('' unless the control is actuated)."""
    control_loops: ControlLoops | None = None
    """Stop-line, advance and exit loops of a live controller fed by loops only."""


def _exit_lanes(sn: SumoNetwork) -> set[str]:
    return {
        sig.link_lanes[i][1]
        for sig in sn.signals.values()
        for i, m in enumerate(sig.link_movements)
        if m
    }


def _additionals(run: _Run) -> tuple[list[Path], _Detectors]:
    """The additional files of the run (detectors, actuated programmes, closures)."""
    scenario, options, workdir = run.scenario, run.options, run.workdir
    interval = options.count_interval_s
    adds, scenario_specs = rewrite_detector_files(
        scenario.additionals, workdir, interval, partial(lane_lengths, scenario.net)
    )
    actuated = run.control.actuated
    out = list(strip_wauts(adds, workdir) if actuated else adds)
    loops_file = workdir / "twin_loops.add.xml"
    loop_specs = write_generated_loops(
        lane_lengths(scenario.net, _control_lanes(run.sn)), loops_file, interval
    )
    out.append(loops_file)
    control_loops = None
    if run.control.kind == "controller" and options.live_inputs != "full":
        approach, exits = _control_lanes(run.sn), _exit_lanes(run.sn)
        lengths = lane_lengths(scenario.net, approach | exits)
        control_loops = write_control_loops(
            {ln: lengths[ln] for ln in approach if ln in lengths},
            {ln: lengths[ln] for ln in exits if ln in lengths},
            workdir / "control_loops.add.xml",
        )
        out.append(workdir / "control_loops.add.xml")
    actuated_id = ""
    if actuated:
        actuated_id = write_actuated_programmes(run.sn.signals, workdir / "actuated.add.xml")
        out.append(workdir / "actuated.add.xml")
    if options.closed_edges:
        known = all_edges(scenario.net)
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
        out.append(workdir / "closures.add.xml")
    out.extend(options.additional_files)
    return out, _Detectors(
        scenario=scenario_specs,
        loops=loop_specs,
        actuated_program=actuated_id,
        control_loops=control_loops,
    )


def _run(run: _Run) -> RunResult:
    adds, detectors = _additionals(run)
    cmd = build_command(run.scenario, run.options, run.workdir, adds)
    api = sumo_api(run.options.use_traci)
    t0 = time.monotonic()
    try:
        api.start(cmd)
    except Exception as e:  # libsumo raises its own TraCIException or FatalTraCIError
        raise SumoStartError(
            cmd, str(e) or type(e).__name__, log_tail(run.workdir / "sumo.err")
        ) from e
    try:
        result = _loop(api, run, detectors)
    except Exception as e:
        if type(e).__module__.startswith(("libsumo", "traci")):
            raise SumoStartError(
                cmd, f"SUMO stopped: {e}", log_tail(run.workdir / "sumo.err")
            ) from e
        raise
    finally:
        try:
            api.close()
        except Exception:  # already closed by SUMO on a fatal error
            log.debug("event=close_failed scenario=%s", run.scenario.name)
    trips = read_tripinfo(run.workdir / "tripinfo.xml")
    metrics = compute_metrics(trips, wall_s=time.monotonic() - t0, **result.metrics_inputs)
    return result.finish(metrics)


@dataclass(frozen=True, kw_only=True)
class _Partial:
    """A run's result before SUMO's trip file is read."""

    scenario: str
    control: str
    detectors: list[DetectorSpec]
    counts: list[CountRecord]
    outcome: PolicyOutcome
    audit: AuditResult | None
    metrics_inputs: dict[str, Any]

    def finish(self, metrics: RunMetrics) -> RunResult:
        return RunResult(
            scenario=self.scenario,
            control=self.control,
            metrics=metrics,
            detectors=self.detectors,
            counts=self.counts,
            plans=self.outcome.plans,
            decisions=self.outcome.decisions,
            applied=self.outcome.applied,
            audit=self.audit,
        )


class _CountTap:
    """What a run reads from its loops each count interval: the count records (for the pipeline
    and the report, with the loops' occupancy) and, for the oracle, the next-edge counts."""

    def __init__(
        self,
        api: Any,
        run: _Run,
        emit_specs: list[DetectorSpec],
        loops: list[DetectorSpec],
        counter: LoopCounter,
    ) -> None:
        options = run.options
        self._options = options
        self._oracle = run.control.kind == "oracle"
        self._counter = counter
        self._reader = DetectorReader(api, emit_specs, options.count_interval_s, options.base_date)
        wanted = options.on_counts is not None or options.keep_counts or self._oracle
        self._sampler = OccupancySampler(api, emit_specs + loops) if wanted else None
        self.counts: list[CountRecord] = []

    def step(self) -> None:
        """Sample the loops' occupancy of this step (when counts are read at all)."""
        if self._sampler is not None:
            self._sampler.step()

    def read(self, now: float) -> None:
        """Read the interval that just ended and hand it on."""
        occupancy = self._sampler.take() if self._sampler is not None else None
        recs = self._reader.read(now, occupancy)
        if self._options.on_counts is not None:
            self._options.on_counts(recs)
        if self._options.keep_counts:
            self.counts.extend(recs)
        if self._oracle:
            self._counter.read(occupancy)


def _loop(api: Any, run: _Run, detectors: _Detectors) -> _Partial:
    scenario, sn, options = run.scenario, run.sn, run.options
    now = float(api.simulation.getTime())
    junctions = list(sn.network.junctions)
    if detectors.actuated_program:
        for j in junctions:
            api.trafficlight.setProgram(j.id, detectors.actuated_program)
    drivers = _drivers(api, run, now)
    counter = LoopCounter(api, detectors.loops)
    policy = _policy(api, run, drivers, counter, now, detectors.control_loops)
    emit_specs = detectors.scenario or detectors.loops
    audit = _audit(api, run, policy, now)
    tap = _CountTap(api, run, emit_specs, detectors.loops, counter)
    all_lanes = sorted(_control_lanes(sn))
    teleports = 0
    queue_sum = 0.0
    samples = 0
    next_count = scenario.begin_s + options.count_interval_s
    bar = progress(
        scenario.end_s - scenario.begin_s,
        f"{scenario.name} {run.label}",
        "sim s",
        enabled=options.progress,
    )
    last_bar = now
    while now < scenario.end_s - 1e-9:
        api.simulationStep()
        now = float(api.simulation.getTime())
        teleports += int(api.simulation.getStartingTeleportNumber())
        for drv in drivers.values():
            drv.tick(now)
        if options.on_step is not None:
            options.on_step(api, now)
        tap.step()
        if now >= next_count - 1e-9:
            tap.read(now)
            next_count += options.count_interval_s
        policy.step(now)
        if audit is not None:
            audit.observe(now)
        queue_sum += sum(api.lane.getLastStepHaltingNumber(ln) for ln in all_lanes)
        samples += 1
        if now - last_bar >= 60:
            bar.update(now - last_bar)
            last_bar = now
    bar.update(now - last_bar)
    bar.close()
    pending = list(api.simulation.getPendingVehicles())
    pending_wait = _pending_wait(api, pending, scenario, now)
    return _Partial(
        scenario=scenario.name,
        control=run.label,
        detectors=emit_specs,
        counts=tap.counts,
        outcome=policy.outcome(),
        audit=audit.result(now) if audit is not None else None,
        metrics_inputs={
            "never_inserted_wait_s": pending_wait,
            "never_inserted": len(pending),
            "queue_mean_veh": queue_sum / max(samples, 1) / max(len(junctions), 1),
            "teleports": teleports,
            "sim_s": scenario.end_s - scenario.begin_s,
        },
    )


def _audit(api: Any, run: _Run, policy: Policy, now: float) -> SignalAudit | None:
    """The signal audit of a run (``twin.audit``), or ``None`` when switched off."""
    if not run.options.audit:
        return None
    sn, step_s = run.sn, run.scenario.step_length_s
    if run.control.kind == "controller":
        envelopes = None
        if run.control.name not in ENVELOPE_EXEMPT:
            envelopes = {
                jid: (env.min_green_s, env.max_green_s) for jid, env in _envelopes(run).items()
            }
        return SignalAudit(api, sn.signals, "controller", now, step_s, envelopes=envelopes)
    if isinstance(policy, PlanPolicy):
        plans = policy.plans
        return SignalAudit(api, sn.signals, "planner", now, step_s, plans=lambda: plans)
    return SignalAudit(api, sn.signals, "builtin", now, step_s)


def _envelopes(run: _Run) -> dict[str, Envelope]:
    """The envelope granted to each junction's live controller (``RunOptions.envelopes``, else
    ``RunOptions.live_envelope``)."""
    if run.options.envelopes is not None:
        return dict(run.options.envelopes)
    return live_envelopes(
        run.sn.network.junctions,
        run.sn.signals,
        run.options.live_envelope,
        may_skip=run.options.may_skip_phases,
    )


def _drivers(api: Any, run: _Run, now: float) -> dict[str, SignalDriver]:
    """Signal drivers for the controls that set phases themselves, starting on SUMO's current
    phase."""
    drivers: dict[str, SignalDriver] = {}
    if run.control.sets_phases:
        for j in run.sn.network.junctions:
            sig = run.sn.signals[j.id]
            cur = api.trafficlight.getRedYellowGreenState(j.id)
            first = sig.green_states.index(cur) if cur in sig.green_states else 0
            drivers[j.id] = SignalDriver(api, TlsMapping.from_signal(sig), first, now)
    return drivers


def _policy(
    api: Any,
    run: _Run,
    drivers: dict[str, SignalDriver],
    counter: LoopCounter,
    now: float,
    control_loops: ControlLoops | None = None,
) -> Policy:
    sn, options, ctl = run.sn, run.options, run.control
    junctions = list(sn.network.junctions)
    if ctl.kind in {"planner", "plan", "oracle"}:
        source: PlanSource | None = None
        if ctl.kind == "oracle":
            source = OraclePlans(junctions, counter, options.plan_period_s)
        elif options.plan_source is not None:
            outside = options.plan_source
            source = lambda now, _running: outside(now)  # noqa: E731  # the pipeline keeps its own
        return PlanPolicy(
            run.label,
            api,
            junctions,
            sn.signals,
            drivers,
            options.plan_period_s,
            now,
            source=source,
            fixed_plans=options.plans if ctl == PLAN else None,
        )
    if ctl.kind == "controller":
        return LivePolicy(
            ctl.name,
            api,
            junctions,
            sn.signals,
            drivers,
            now,
            may_skip=options.may_skip_phases,
            decision_source=options.decision_source,
            inputs=options.live_inputs,
            envelopes=_envelopes(run),
            loops=LoopStates(api, control_loops) if control_loops is not None else None,
        )
    return ProgrammePolicy(run.label)


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
