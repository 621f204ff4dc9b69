"""What a control mode is to the runner: a policy stepped once per simulation step, and what it
did over the run."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from optimizer.model import Plan
from optimizer.strategy import Decision


@dataclass(frozen=True, kw_only=True)
class PolicyOutcome:
    """What a policy did over a run: the plans it adopted, or the live decisions it applied."""

    plans: dict[str, list[Plan]] = field(default_factory=dict)
    """Plans adopted per junction id, in order (planner controls)."""
    applied: list[Decision] = field(default_factory=list)
    """Every live decision applied, in order (controller controls)."""

    @property
    def decisions(self) -> int:
        """Number of live decisions applied."""
        return len(self.applied)


class Policy(Protocol):
    """A control mode, driven by the runner once per simulation step."""

    name: str

    def step(self, now: float) -> None:
        """React to the simulation at time ``now`` (after the step)."""
        ...

    def outcome(self) -> PolicyOutcome:
        """What the policy did so far."""
        ...


class ProgrammePolicy:
    """Leaves SUMO's loaded programme running (the scenario's own, or the actuated copy)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def step(self, now: float) -> None:
        """Nothing to do: SUMO runs the programme."""

    def outcome(self) -> PolicyOutcome:
        """Nothing planned, nothing decided."""
        return PolicyOutcome()
