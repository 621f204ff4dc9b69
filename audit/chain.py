"""The hash chain: records in canonical JSON (RFC 8785), each carrying the hash of the previous one,
and signed checkpoints of the head.

A record is ``{"seq", "at", "kind", "commune", "subject", "actor", "body", "prev"}``; its hash is
the sha256 of its canonical JSON, which is stored as is. :func:`verify` reads the stored records
in order and names the first one that is not what the chain says: an edited record (its hash or
its canonical form no longer match), a deleted one (a gap in ``seq``, or a ``prev`` that is not
the previous hash), a reordered pair (a ``seq`` out of place), a forged checkpoint (a bad
signature), or a truncated tail (the last checkpoint is older than checkpoints are written, so
records after it may be missing).

Pure: stored rows and a public key in, a report out.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from audit import signing

GENESIS = "0" * 64
"""``prev`` of the first record."""

CHECKPOINT = "checkpoint"


def canonical(value: Mapping[str, Any]) -> bytes:
    """RFC 8785 canonical JSON."""
    return rfc8785.dumps(value)


def digest(text: bytes) -> str:
    """sha256 hex of canonical bytes."""
    return hashlib.sha256(text).hexdigest()


def timestamp(at: datetime) -> str:
    """RFC 3339, UTC, milliseconds: how times are written in records."""
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class Stored:
    """One record as the store keeps it: its position, canonical text and hash."""

    seq: int
    text: str
    hash: str


def make_record(
    seq: int,
    prev: str,
    *,
    at: datetime,
    kind: str,
    commune: str,
    subject: str,
    actor: str,
    body: Mapping[str, Any],
) -> Stored:
    """The next record of the chain."""
    record = {
        "seq": seq,
        "at": timestamp(at),
        "kind": kind,
        "commune": commune,
        "subject": subject,
        "actor": actor,
        "body": dict(body),
        "prev": prev,
    }
    text = canonical(record)
    return Stored(seq, text.decode(), digest(text))


def checkpoint_message(head_seq: int, head_hash: str, at: str) -> bytes:
    """What a checkpoint signs: the head it vouches for and when."""
    return canonical({"head_seq": head_seq, "head_hash": head_hash, "at": at})


def checkpoint_body(
    key: Ed25519PrivateKey, head_seq: int, head_hash: str, at: datetime
) -> dict[str, Any]:
    """The body of a checkpoint record over the head ``(head_seq, head_hash)``."""
    when = timestamp(at)
    return {
        "head_seq": head_seq,
        "head_hash": head_hash,
        "key_id": signing.key_id(key.public_key()),
        "signature": signing.sign(key, checkpoint_message(head_seq, head_hash, when)),
    }


@dataclass(frozen=True, slots=True)
class Problem:
    """The first record that is not what the chain says, and why."""

    seq: int
    reason: str


@dataclass(frozen=True, slots=True)
class Report:
    """What :func:`verify` found."""

    records: int
    checkpoints: int
    head_seq: int
    head_hash: str
    last_checkpoint_seq: int
    last_checkpoint_at: str
    problem: Problem | None

    @property
    def ok(self) -> bool:
        """No problem found."""
        return self.problem is None


def _check_one(row: Stored, expected_seq: int, prev: str) -> tuple[dict[str, Any], str | None]:
    """The parsed record and the reason it is bad (``None`` when it is sound)."""
    try:
        record = json.loads(row.text)
    except ValueError:
        return {}, "not JSON: the record was edited"
    if not isinstance(record, dict):
        return {}, "not a JSON object: the record was edited"
    if row.seq != expected_seq:
        what = "missing (deleted)" if row.seq > expected_seq else "out of order"
        return record, f"expected record {expected_seq} here, found {row.seq}: records {what}"
    if record.get("seq") != row.seq:
        return record, f"the record says seq {record.get('seq')!r}: records moved (reordered)"
    if canonical(record).decode() != row.text or digest(row.text.encode()) != row.hash:
        return record, "its content does not match its hash: the record was edited"
    if record.get("prev") != prev:
        return record, "its prev is not the previous record's hash: a record before it was " + (
            "deleted, edited or moved"
        )
    return record, None


def verify(
    rows: Iterable[Stored],
    public_key: Ed25519PublicKey | None,
    *,
    now: datetime,
    max_checkpoint_age: timedelta,
) -> Report:
    """Check the whole trail (``rows`` in ``seq`` order) and name the first bad record.

    ``public_key`` checks the checkpoints (``None``: only the chain is checked, and a truncated
    tail cannot be detected). The last checkpoint must be younger than ``max_checkpoint_age``:
    checkpoints are written at least that often, so an older one means the tail after it was cut
    (or the writer is down, which an auditor wants to know as well).
    """
    prev, expected, n, n_cp = GENESIS, 1, 0, 0
    last_cp_seq, last_cp_at = 0, ""
    problem: Problem | None = None
    for row in rows:
        record, reason = _check_one(row, expected, prev)
        if reason is None and record.get("kind") == CHECKPOINT and public_key is not None:
            reason = _check_checkpoint(record, row.seq, prev, public_key)
            if reason is None:
                n_cp += 1
                last_cp_seq, last_cp_at = row.seq, str(record["at"])
        if reason is not None:
            problem = Problem(expected, reason)
            break
        prev, expected, n = row.hash, expected + 1, n + 1
    if problem is None and public_key is not None:
        problem = _check_tail(n, last_cp_seq, last_cp_at, now, max_checkpoint_age)
    return Report(n, n_cp, expected - 1, prev, last_cp_seq, last_cp_at, problem)


def _check_checkpoint(
    record: Mapping[str, Any], seq: int, prev: str, key: Ed25519PublicKey
) -> str | None:
    body = record.get("body") or {}
    if body.get("head_seq") != seq - 1 or body.get("head_hash") != prev:
        return "a checkpoint that does not vouch for the record before it"
    if body.get("key_id") != signing.key_id(key):
        return f"a checkpoint signed with key {body.get('key_id')!r}, not the deployment's"
    message = checkpoint_message(seq - 1, prev, str(record.get("at")))
    if not signing.verify(key, message, str(body.get("signature", ""))):
        return "a checkpoint whose signature is not the deployment's key's: forged or edited"
    return None


def _check_tail(
    n: int, last_cp_seq: int, last_cp_at: str, now: datetime, max_age: timedelta
) -> Problem | None:
    if n == 0:
        return None
    if not last_cp_at:
        return Problem(1, "no signed checkpoint in the trail: its tail cannot be vouched for")
    at = datetime.fromisoformat(last_cp_at.replace("Z", "+00:00"))
    if now - at > max_age:
        return Problem(
            last_cp_seq + 1,
            f"the last signed checkpoint (record {last_cp_seq}, {last_cp_at}) is older than "
            f"{max_age.total_seconds():g} s: records after it may have been cut off (truncated), "
            "or the checkpoint writer is down",
        )
    return None
