"""Typed inputs and outputs of the demand estimator. Pure data: no Kafka, files or clock."""

from __future__ import annotations

from typing import Literal

import msgspec

from optimizer.model import JunctionDemand

FlowSource = Literal[
    "measured-lane",
    "approach-count",
    "other-lanes",
    "unmeasured",
    "single-movement",
    "measured-turning",
    "exit-counts",
    "prior",
    "permitted-overflow",
    "occupancy-saturated",
]
"""How a flow was obtained:

- lane flows: ``measured-lane`` (a detector on the lane), ``approach-count`` (a detector on the
  approach that does not say which lane: its count shared equally over the lanes),
  ``other-lanes`` (a lane without detector on an approach whose other lanes have one: their mean),
  ``unmeasured`` (nothing measured on the approach: 0);
- the split of a lane's flow over its movements: ``single-movement`` (the lane serves one),
  ``measured-turning`` (turning counts given, e.g. a camera), ``exit-counts`` (estimated with the
  junction's exit-side counts), ``prior`` (the stated turning prior only);
- adjustments: ``permitted-overflow`` (a permitted turn's demand above what its permitted green
  serves, moved to its protected phase), ``occupancy-saturated`` (a loop occupied beyond the
  threshold: the flow raised to the group's capacity under the running plan)."""


class DetectorWindow(msgspec.Struct, frozen=True, kw_only=True):
    """What one detector of the junction counted over the window."""

    detector_id: str
    approach_id: str = ""
    """The approach it counts (empty for a detector on an exit only)."""
    lane_ids: tuple[str, ...] = ()
    """Model lanes it covers (approach or exit lanes); empty: ``lanes`` lanes of its approach,
    unknown which."""
    lanes: int = 1
    vehicles: int
    seconds: float
    """Seconds of the window its readings cover (gaps do not count as zero traffic)."""
    readings: int
    occupancy: float | None = None
    """Mean time occupancy (0..1) over the covered seconds, when the detector reports one."""


class RunningTiming(msgspec.Struct, frozen=True, kw_only=True):
    """The timing the junction runs now: green per cycle of each phase, and the cycle."""

    greens_s: tuple[tuple[int, float], ...]
    """``(phase index, green s)``, a phase shown twice in a cycle appearing twice."""
    cycle_s: float
    source: Literal["active", "programme"] = "active"
    """``active``: the plan approved for the junction (what it runs); ``programme``: the signal's
    own programme in the network model (before any plan was approved)."""

    def green_of(self) -> dict[int, float]:
        """Green per cycle of each phase index."""
        out: dict[int, float] = {}
        for k, g in self.greens_s:
            out[k] = out.get(k, 0.0) + g
        return out


class DemandSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Estimator parameters; they change the demand, so plans' inputs digests cover them."""

    min_coverage: float = 0.5
    """Share of the window a detector must have reported for its count to be used."""
    pedestrian_flow_pph: float = 60.0
    """Pedestrians per hour assumed (not measured) on each phase with a signalised crossing."""
    saturated_occupancy: float = 0.7
    """Mean occupancy of a loop over the window above which its lane is taken to hold a standing
    queue through the green: its count is the flow served, not the demand."""
    turn_prior: tuple[tuple[str, float], ...] = (
        ("through", 0.70),
        ("left", 0.15),
        ("right", 0.15),
        ("uturn", 0.01),
    )
    """Share of an approach's traffic assumed per turn type before any turning is measured
    (renormalised over the turns an approach offers): a generic urban split, not fitted to any
    network. It decides only how a lane serving several movements splits its count."""
    exit_weight: float = 3.0
    """Weight of the exit-side counts against the turning prior in the junction O-D fit."""
    keep_unmeasured_green: bool = True
    """A phase serving an approach without detector data in the window keeps at least the green
    the running timing gives it (a count of nothing is no evidence of no traffic)."""
    permitted_sneakers_per_cycle: float = 0.0
    """Left turners assumed to clear at the end of each permitted green whatever the opposing
    flow (HCM says 2; 0 is the cautious choice and what SUMO's drivers do)."""

    def prior_of(self, turn: str) -> float:
        """The prior weight of a turn type (0.01 for one not listed)."""
        return dict(self.turn_prior).get(turn, 0.01)


class MovementFlow(msgspec.Struct, frozen=True, kw_only=True):
    """One movement's part of a lane group."""

    movement_id: str
    lane_id: str
    flow_vph: float
    source: FlowSource
    """How the lane's flow was split onto this movement (see :data:`FlowSource`)."""


class GroupEstimate(msgspec.Struct, frozen=True, kw_only=True):
    """How one lane group's demand was obtained."""

    id: str
    """``<phase index>:<approach id>``, as in the ``JunctionDemand``."""
    phase: int
    approach_id: str
    lane_ids: tuple[str, ...]
    movements: tuple[MovementFlow, ...]
    flow_vph: float
    saturation_flow_vph: float
    recent_flow_vph: float | None = None
    sources: tuple[FlowSource, ...]
    """Every way a part of the flow was obtained, lane flows first, then splits, then
    adjustments."""


class ApproachEstimate(msgspec.Struct, frozen=True, kw_only=True):
    """What was measured on one approach over the window."""

    approach_id: str
    flow_vph: float
    detectors: tuple[str, ...]
    readings: int
    measured: bool


class JunctionEstimate(msgspec.Struct, frozen=True, kw_only=True):
    """The estimator's answer for one junction: the optimiser's demand and how it was built."""

    demand: JunctionDemand
    groups: tuple[GroupEstimate, ...]
    approaches: tuple[ApproachEstimate, ...]
    exits_used: tuple[str, ...] = ()
    """Exits whose counts constrained the turning estimate."""
    running: RunningTiming | None = None
    """The running timing the permitted turns and saturated loops were judged against."""
    recent_groups: tuple[GroupEstimate, ...] = ()
    """The same lane groups over the recent window (empty when none was given)."""
    warnings: tuple[str, ...] = ()

    @property
    def measured(self) -> bool:
        """True when some approach of the junction was measured."""
        return any(a.measured for a in self.approaches)
