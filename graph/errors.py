"""Errors raised while building the network model."""

from __future__ import annotations


class GraphError(Exception):
    """Root of every error graph/ raises."""


class NetworkSourceError(GraphError, ValueError):
    """The network source (OSM or SUMO file) is missing, corrupt, empty or has no drivable road."""

    def __init__(self, path: str, reason: str, hint: str = "") -> None:
        self.path = path
        self.reason = reason
        self.hint = hint
        super().__init__(f"{path}: {reason}" + (f" ({hint})" if hint else ""))


class DetectorRegistryError(GraphError, ValueError):
    """A detector registry file cannot be read or names something that does not exist."""

    def __init__(self, path: str, line: int, reason: str) -> None:
        self.path = path
        self.line = line
        self.reason = reason
        super().__init__(f"{path}:{line}: {reason}")


class UnknownJunction(GraphError, KeyError):
    """No junction of the network has this id."""
