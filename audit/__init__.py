"""The audit trail: append-only, hash-chained over RFC 8785 canonical JSON, with signed checkpoints.

``audit.chain`` is pure (records, hashes, verification); ``audit.store`` keeps the trail in
PostgreSQL; ``audit.signing`` holds the Ed25519 checkpoint keys.
"""

from audit.chain import GENESIS, Problem, Report, Stored, canonical, make_record, verify
from audit.errors import AuditError, RecordNotFound, SigningKeyError

__all__ = [
    "GENESIS",
    "AuditError",
    "Problem",
    "RecordNotFound",
    "Report",
    "SigningKeyError",
    "Stored",
    "canonical",
    "make_record",
    "verify",
]
