"""Errors raised by the optimiser."""

from __future__ import annotations


class OptimizerError(Exception):
    """Root of every error the optimiser raises."""


class InvalidDemand(OptimizerError, ValueError):
    """The demand cannot be timed as given (no phase, negative flow, bounds that cannot hold)."""

    def __init__(self, junction_id: str, reason: str) -> None:
        self.junction_id = junction_id
        self.reason = reason
        super().__init__(f"junction {junction_id}: {reason}")


class InvalidEnvelope(OptimizerError, ValueError):
    """An envelope whose bounds contradict each other or do not match the junction's phases."""

    def __init__(self, junction_id: str, reason: str) -> None:
        self.junction_id = junction_id
        self.reason = reason
        super().__init__(f"envelope of junction {junction_id}: {reason}")


class InvalidZone(OptimizerError, ValueError):
    """A zone to coordinate whose links name unknown junctions or carry impossible travel times."""

    def __init__(self, zone_id: str, reason: str) -> None:
        self.zone_id = zone_id
        self.reason = reason
        super().__init__(f"zone {zone_id}: {reason}")
