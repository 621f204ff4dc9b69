"""The demand estimator: a junction's optimiser demand from its detectors' counts.

One estimator for the worker (``streams``) and the digital twin's planner rows alike. Pure: it
imports the network model (``graph.model``) and the optimiser's types, never Kafka, files or the
clock. See ``docs/demand.md``.
"""

from demand.errors import DemandError, InconsistentInputs
from demand.estimate import Window, estimate_junction, running_timing
from demand.model import (
    ApproachEstimate,
    DemandSettings,
    DetectorWindow,
    FlowSource,
    GroupEstimate,
    JunctionEstimate,
    MovementFlow,
    RunningTiming,
)

__all__ = [
    "ApproachEstimate",
    "DemandError",
    "DemandSettings",
    "DetectorWindow",
    "FlowSource",
    "GroupEstimate",
    "InconsistentInputs",
    "JunctionEstimate",
    "MovementFlow",
    "RunningTiming",
    "Window",
    "estimate_junction",
    "running_timing",
]
