"""Errors of the streaming edge."""

from __future__ import annotations


class StreamsError(Exception):
    """Root of every error streams/ raises."""


class RejectedReading(StreamsError, ValueError):
    """An input record that cannot be accepted: the reason goes to the dead-letter topic."""

    def __init__(self, code: str, reason: str) -> None:
        self.code = code
        self.reason = reason
        super().__init__(f"{code}: {reason}")


class PlannerMismatch(StreamsError, ValueError):
    """Plan inputs recomputed with another planner than the one on record."""

    def __init__(self, inputs_id: str, reason: str) -> None:
        self.inputs_id = inputs_id
        self.reason = reason
        super().__init__(f"plan inputs {inputs_id}: {reason}")


class KafkaUnavailable(StreamsError, ConnectionError):
    """Kafka could not be reached: where, why, and what to check."""

    def __init__(self, bootstrap: str, reason: str, hint: str) -> None:
        self.bootstrap = bootstrap
        self.reason = reason
        self.hint = hint
        super().__init__(f"{reason}; {hint}")


class KafkaRefused(KafkaUnavailable, PermissionError):
    """Kafka answered and refused the connection (credentials, mechanism, TLS): retrying the same
    settings cannot help."""
