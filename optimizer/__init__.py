"""Signal timing: typed demand in, typed plan and explanation out.

Pure: no Kafka, files or clock. Importing the package registers every planner and controller
it offers: planners "fixed-time", "webster", "optimizer"; the zone planner "coordinated";
controllers "fixed-time", "max-pressure", "adaptive".
"""

from optimizer._envelope import (
    EnvelopeGuard,
    envelope_from_demand,
    envelope_from_phases,
    shortest_cycle_s,
    validate_envelope,
)
from optimizer.adaptive import AdaptiveController
from optimizer.coordination import (
    CoordinatedPlanner,
    Link,
    LinkEffect,
    ZoneDemand,
    ZonePlan,
    coordinate_zone,
)
from optimizer.errors import InvalidDemand, InvalidEnvelope, InvalidZone, OptimizerError
from optimizer.fixed_time import FixedTimeController, FixedTimePlanner, fixed_time_plan
from optimizer.guardrails import (
    GuardrailConfig,
    Transition,
    TransitionStep,
    guard_transition,
    timing_delay_s_per_veh,
)
from optimizer.isolated import OptimizerOptions, OptimizerPlanner, analyse_cycles, optimize_junction
from optimizer.max_pressure import MaxPressureController, phase_pressure
from optimizer.model import (
    ApproachEffect,
    Explanation,
    JunctionDemand,
    LaneGroup,
    PhaseDemand,
    PhaseTiming,
    Plan,
)
from optimizer.strategy import (
    Controller,
    Decision,
    Envelope,
    JunctionState,
    MovementState,
    PhaseState,
    Planner,
    ZonePlanner,
    controller,
    controllers,
    planner,
    planners,
    zone_planner,
    zone_planners,
)
from optimizer.webster import webster_cycle_s, webster_plan

__all__ = [
    "AdaptiveController",
    "ApproachEffect",
    "Controller",
    "CoordinatedPlanner",
    "Decision",
    "Envelope",
    "EnvelopeGuard",
    "Explanation",
    "FixedTimeController",
    "FixedTimePlanner",
    "GuardrailConfig",
    "InvalidDemand",
    "InvalidEnvelope",
    "InvalidZone",
    "JunctionDemand",
    "JunctionState",
    "LaneGroup",
    "Link",
    "LinkEffect",
    "MaxPressureController",
    "MovementState",
    "OptimizerError",
    "OptimizerOptions",
    "OptimizerPlanner",
    "PhaseDemand",
    "PhaseState",
    "PhaseTiming",
    "Plan",
    "Planner",
    "Transition",
    "TransitionStep",
    "ZoneDemand",
    "ZonePlan",
    "ZonePlanner",
    "analyse_cycles",
    "controller",
    "controllers",
    "coordinate_zone",
    "envelope_from_demand",
    "envelope_from_phases",
    "fixed_time_plan",
    "guard_transition",
    "optimize_junction",
    "phase_pressure",
    "planner",
    "planners",
    "shortest_cycle_s",
    "timing_delay_s_per_veh",
    "validate_envelope",
    "webster_cycle_s",
    "webster_plan",
    "zone_planner",
    "zone_planners",
]
