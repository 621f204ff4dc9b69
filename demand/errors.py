"""Errors raised by the demand estimator."""

from __future__ import annotations


class DemandError(Exception):
    """Root of every error the demand estimator raises."""


class InconsistentInputs(DemandError, ValueError):
    """Measurements that do not fit the junction they are given for (a detector on a lane the
    junction does not have, a negative count, a window of no length)."""

    def __init__(self, junction_id: str, reason: str) -> None:
        self.junction_id = junction_id
        self.reason = reason
        super().__init__(f"junction {junction_id}: {reason}")
