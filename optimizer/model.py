"""Typed inputs and outputs of the optimiser. Pure data: no Kafka, files or clock."""

from __future__ import annotations

from typing import Literal

import msgspec

SolverStatus = Literal["closed_form", "optimal", "feasible", "infeasible", "fallback"]


class LaneGroup(msgspec.Struct, frozen=True, kw_only=True):
    """Traffic that a phase serves on one approach: its demand and its saturation flow."""

    id: str
    flow_vph: float
    saturation_flow_vph: float
    recent_flow_vph: float | None = None
    """Mean flow over a longer recent window ending with the counting period of ``flow_vph`` (the
    twin uses 15 minutes); ``None``: not known. Webster's formula ignores it."""


class PhaseDemand(msgspec.Struct, frozen=True, kw_only=True):
    """One signal phase, the lane groups it serves, and its timing bounds."""

    index: int
    lane_groups: tuple[LaneGroup, ...]
    min_green_s: float = 7.0
    max_green_s: float = 90.0
    intergreen_s: float = 5.0
    """Amber plus all-red after the phase."""
    lost_time_s: float = 2.0
    """Start-up lost time, counted inside the green (HCM)."""
    pedestrian_min_green_s: float = 0.0
    """Green the crossing pedestrians need (walk plus clearance); the phase gets at least this."""
    pedestrian_flow_pph: float = 0.0
    """Pedestrians per hour who cross during this phase. The optimiser adds their HCM delay,
    ``(C - g)^2 / 2C`` each, to the objective, so a pedestrian phase is not left red for a long
    cycle to save vehicles a second; Webster's formula ignores it."""
    skippable: bool = False
    """Every movement this phase shows is also shown with priority by another phase that is not
    skippable (a split phase next to the paired phases that cover it, say). The optimiser's
    planner leaves such a phase out of its plan when it has no lane group, instead of paying its
    minimum green and intergreen every cycle; Webster keeps every phase."""

    def min_green_needed_s(self) -> float:
        """The binding minimum green: vehicles' or pedestrians', whichever is longer."""
        return max(self.min_green_s, self.pedestrian_min_green_s)

    def flow_ratio(self) -> float:
        """Critical flow ratio y = max(q/s) over the phase's lane groups (0 when none)."""
        ys = [
            lg.flow_vph / lg.saturation_flow_vph
            for lg in self.lane_groups
            if lg.saturation_flow_vph > 0
        ]
        return max(ys, default=0.0)


class JunctionDemand(msgspec.Struct, frozen=True, kw_only=True):
    """Everything the optimiser needs to time one junction."""

    junction_id: str
    phases: tuple[PhaseDemand, ...]
    cycle_min_s: int = 40
    cycle_max_s: int = 120
    count_period_s: float | None = None
    """When the flows are vehicle counts over this many seconds (scaled to veh/h), the optimiser
    plans for the rate those counts cannot rule out (see ``optimizer._uncertainty``); ``None``:
    the flows are known rates. Webster's formula ignores it."""

    def lost_time_s(self) -> float:
        """Total lost time per cycle: intergreens plus start-up losses."""
        return sum(p.intergreen_s + p.lost_time_s for p in self.phases)


class PhaseTiming(msgspec.Struct, frozen=True, kw_only=True):
    """The green of one phase in a plan, with the figures that justify it."""

    index: int
    green_s: int
    intergreen_s: int
    flow_ratio: float
    degree_of_saturation: float


class ApproachEffect(msgspec.Struct, frozen=True, kw_only=True):
    """Expected effect on one lane group."""

    lane_group_id: str
    flow_vph: float
    degree_of_saturation: float
    delay_s_per_veh: float
    saturation_flow_vph: float = 0.0
    running_delay_s_per_veh: float | None = None
    """The same lane group's expected delay under the plan running now, when one was given."""


class Explanation(msgspec.Struct, frozen=True, kw_only=True):
    """Why the plan is what it is, in data and in words."""

    method: str
    objective: str
    binding_constraints: tuple[str, ...]
    solver_status: SolverStatus
    solver_time_s: float = 0.0
    parameters: dict[str, float | int | str] = msgspec.field(default_factory=dict)
    text_en: str = ""
    text_fr: str = ""
    oversaturated: bool = False
    objective_value: float = 0.0
    """Value of the objective the method minimised, in the unit ``objective`` names."""
    max_degree_of_saturation: float = 0.0
    running_delay_s_per_veh: float | None = None
    """Flow-weighted mean delay the running plan is expected to give under the same demand."""


class Plan(msgspec.Struct, frozen=True, kw_only=True):
    """A fixed-time plan for one junction: cycle, phase greens, offset, and its explanation."""

    junction_id: str
    cycle_s: int
    offset_s: int
    phases: tuple[PhaseTiming, ...]
    effects: tuple[ApproachEffect, ...]
    expected_delay_s_per_veh: float
    explanation: Explanation
    strategy: str

    def total_green_s(self) -> int:
        """Sum of phase greens."""
        return sum(p.green_s for p in self.phases)
