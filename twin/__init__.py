"""The digital twin: SUMO scenarios run in closed loop under every control mode, and measured."""

from twin.controls import Control, available_controls, resolve_control
from twin.detectors import CountRecord, DetectorSpec
from twin.errors import (
    ScenarioError,
    ScenarioFileMissing,
    SumoStartError,
    TwinError,
    UnknownControl,
)
from twin.mapping import TlsMapping
from twin.metrics import RunMetrics
from twin.options import RunOptions, RunResult
from twin.reference import RescoMaxPressure  # importing registers "resco-max-pressure"
from twin.runner import run_twin
from twin.scenario import Scenario, discover_scenarios, load_scenario

__all__ = [
    "Control",
    "CountRecord",
    "DetectorSpec",
    "RescoMaxPressure",
    "RunMetrics",
    "RunOptions",
    "RunResult",
    "Scenario",
    "ScenarioError",
    "ScenarioFileMissing",
    "SumoStartError",
    "TlsMapping",
    "TwinError",
    "UnknownControl",
    "available_controls",
    "discover_scenarios",
    "load_scenario",
    "resolve_control",
    "run_twin",
]
