"""How to run the twin (:class:`RunOptions`) and what a run measured (:class:`RunResult`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from optimizer.model import Plan
from optimizer.strategy import Decision, Envelope
from twin.audit import AuditResult
from twin.detectors import (
    CountRecord,
    DetectorSpec,
)
from twin.live_policy import DecisionSource, LiveBounds
from twin.loop_states import LiveInputs
from twin.metrics import RunMetrics

DEFAULT_BASE_DATE = datetime(2026, 1, 5, tzinfo=UTC)
"""Simulation time 0 maps to this instant in emitted counts (a Monday, midnight UTC)."""


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
    """Live controllers may serve phases in any order (Varaiya's and RESCO's max-pressure do)."""
    sumo_binary: str | None = None
    """Another ``sumo`` binary (TraCI only), e.g. an older SUMO to compare versions."""
    audit: bool = True
    """Read back the states SUMO shows and check them against the control (``twin.audit``)."""
    live_envelope: LiveBounds = "programme"
    """The greens granted to live controllers: the scenario programme's ``minDur``/``maxDur``,
    else 5-60 s, the bounds SUMO's actuated copy of the programme runs under (``programme``: the
    two compared at equal bounds), or the network model's (``model``, what ``aiguilleur
    envelopes approve`` proposes: 7-90 s where the programme states none). Either way a 120 s
    maximum cycle and no minimum cycle."""
    envelopes: Mapping[str, Envelope] | None = None
    """Envelopes to grant instead (by junction id): those on record in a closed loop, so that
    the signal audit checks what the operator approved."""
    live_inputs: LiveInputs = "full"
    """What live controllers are given (``twin.loop_states``): SUMO's halting vehicles and arrival
    times (``full``), states from stop-line, advance and exit loops only (``loops``), or only
    the loops' gaps, queues not measured (``gaps``: the controllers' fall-back)."""
    additional_files: tuple[Path, ...] = ()
    """More SUMO additional files for the run (rerouters, edge outputs: ``twin.reroute``)."""
    on_step: Callable[[Any, float], None] | None = None
    """Called after every simulation step with the SUMO API and the time (``twin.reroute``
    applies diversion advice to vehicles there)."""


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
