"""Errors raised by the digital twin."""

from __future__ import annotations


class TwinError(Exception):
    """Root of every error twin/ raises."""


class ScenarioFileMissing(TwinError, FileNotFoundError):
    """A file the scenario needs does not exist."""

    def __init__(self, path: str, referenced_from: str = "", hint: str = "") -> None:
        self.path = path
        self.referenced_from = referenced_from
        where = f" (referenced from {referenced_from})" if referenced_from else ""
        super().__init__(f"{path}: no such file{where}" + (f"; {hint}" if hint else ""))


class ScenarioError(TwinError, ValueError):
    """The scenario cannot be understood as given (no net, no routes, ambiguous folder, bad
    window).
    """

    def __init__(self, path: str, reason: str, hint: str = "") -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}" + (f" ({hint})" if hint else ""))


class SumoStartError(TwinError, RuntimeError):
    """SUMO refused to start or stopped with an error."""

    def __init__(self, command: list[str], reason: str, log_tail: str = "") -> None:
        self.command = command
        self.reason = reason
        self.log_tail = log_tail
        tail = f"\nSUMO log (last lines):\n{log_tail}" if log_tail else ""
        super().__init__(f"SUMO failed: {reason}\ncommand: {' '.join(command)}{tail}")


class UnknownControl(TwinError, KeyError):
    """No control mode, planner or controller has this name."""

    def __init__(self, name: str, known: tuple[str, ...]) -> None:
        self.name = name
        self.known = known
        super().__init__(f"unknown control {name!r}; known: {', '.join(known)}")

    def __str__(self) -> str:
        return str(self.args[0])


class CountsFileError(TwinError, ValueError):
    """A counts or detector-placement file cannot be read as given."""

    def __init__(self, path: str, line: int, reason: str) -> None:
        self.path = path
        self.line = line
        self.reason = reason
        where = f"{path}:{line}" if line else path
        super().__init__(f"{where}: {reason}")
