"""Errors of the audit trail."""

from __future__ import annotations


class AuditError(Exception):
    """Root of every error audit/ raises."""


class SigningKeyError(AuditError, ValueError):
    """A checkpoint key that cannot be read or used."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class RecordNotFound(AuditError, KeyError):
    """No record of the trail matches what was asked for."""

    def __init__(self, what: str) -> None:
        self.what = what
        super().__init__(what)

    def __str__(self) -> str:
        return self.what
