"""Errors raised by the optimiser."""

from __future__ import annotations


class OptimizerError(Exception):
    """Root of every error the optimiser raises."""


class InvalidDemand(OptimizerError, ValueError):
    """The demand cannot be timed as given (no phase, negative flow, bounds that cannot all hold)."""

    def __init__(self, junction_id: str, reason: str) -> None:
        self.junction_id = junction_id
        self.reason = reason
        super().__init__(f"junction {junction_id}: {reason}")
