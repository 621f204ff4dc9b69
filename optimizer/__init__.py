"""Signal timing: typed demand in, typed plan and explanation out. Pure: no Kafka, files or clock."""

from optimizer.errors import InvalidDemand, OptimizerError
from optimizer.model import (
    ApproachEffect,
    Explanation,
    JunctionDemand,
    LaneGroup,
    PhaseDemand,
    PhaseTiming,
    Plan,
)
from optimizer.webster import webster_cycle_s, webster_plan

__all__ = [
    "ApproachEffect",
    "Explanation",
    "InvalidDemand",
    "JunctionDemand",
    "LaneGroup",
    "OptimizerError",
    "PhaseDemand",
    "PhaseTiming",
    "Plan",
    "webster_cycle_s",
    "webster_plan",
]
