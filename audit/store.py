"""The trail in PostgreSQL: one append-only table, appended to inside the caller's transaction.

Appends are serialised by a transaction-scoped advisory lock, so any number of API replicas keep
one chain. A trigger refuses UPDATE, DELETE and TRUNCATE on the table; :func:`audit.chain.verify`
still detects an edit made by someone who turns the trigger off (the table's owner can).
Nothing is ever pruned by aiguilleur: the trail is kept as long as the database is (six months at
least, EU AI Act Art. 19 and 26(6)); it lives in the database's data directory, so it survives a
restart of the API and of PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit.chain import CHECKPOINT, GENESIS, Stored, checkpoint_body, make_record
from audit.errors import RecordNotFound

LOCK_ID = 0x41554454  # "AUDT": serialises appends
SCHEMA = """
CREATE TABLE IF NOT EXISTS audit_log (
    seq bigint PRIMARY KEY,
    at timestamptz NOT NULL,
    kind text NOT NULL,
    commune text NOT NULL,
    subject text NOT NULL,
    record text NOT NULL,
    hash text NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_log_subject ON audit_log (commune, subject, seq);
CREATE INDEX IF NOT EXISTS audit_log_kind ON audit_log (kind, seq);
CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only (% refused)', TG_OP;
END $$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS audit_log_no_change ON audit_log;
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log;
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
"""


def create_schema(conn: psycopg.Connection[Any]) -> None:
    """Create the table, its indexes and its append-only triggers (idempotent)."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_ID,))
        conn.execute(SCHEMA)


def head(conn: psycopg.Connection[Any]) -> tuple[int, str]:
    """``(seq, hash)`` of the last record, ``(0, GENESIS)`` when empty."""
    row = conn.execute("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
    return (0, GENESIS) if row is None else (int(row[0]), str(row[1]))


def append(
    conn: psycopg.Connection[Any],
    *,
    at: datetime,
    kind: str,
    commune: str,
    subject: str,
    actor: str,
    body: Mapping[str, Any],
) -> Stored:
    """Append one record inside the caller's transaction (it holds the lock until it ends)."""
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_ID,))
    seq, prev = head(conn)
    rec = make_record(
        seq + 1, prev, at=at, kind=kind, commune=commune, subject=subject, actor=actor, body=body
    )
    conn.execute(
        "INSERT INTO audit_log (seq, at, kind, commune, subject, record, hash) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s)",
        (rec.seq, at, kind, commune, subject, rec.text, rec.hash),
    )
    return rec


def checkpoint(conn: psycopg.Connection[Any], key: Ed25519PrivateKey, at: datetime) -> Stored:
    """Append a signed checkpoint of the current head (its own transaction)."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_ID,))
        seq, prev = head(conn)
        return append(
            conn,
            at=at,
            kind=CHECKPOINT,
            commune="",
            subject=f"head:{seq}",
            actor="aiguilleur",
            body=checkpoint_body(key, seq, prev, at),
        )


def rows(conn: psycopg.Connection[Any], batch: int = 5000) -> Iterator[Stored]:
    """Every record in ``seq`` order, fetched in batches."""
    last = 0
    while True:
        got = conn.execute(
            "SELECT seq, record, hash FROM audit_log WHERE seq > %s ORDER BY seq LIMIT %s",
            (last, batch),
        ).fetchall()
        if not got:
            return
        for seq, text, h in got:
            yield Stored(int(seq), str(text), str(h))
        last = int(got[-1][0])


def find(
    conn: psycopg.Connection[Any], kind: str, subject: str, commune: str | None = None
) -> Stored:
    """The last record of ``kind`` about ``subject`` (``RecordNotFound`` when none)."""
    query = "SELECT seq, record, hash FROM audit_log WHERE kind = %s AND subject = %s"
    args: list[Any] = [kind, subject]
    if commune is not None:
        query += " AND commune = %s"
        args.append(commune)
    row = conn.execute(query + " ORDER BY seq DESC LIMIT 1", args).fetchone()
    if row is None:
        raise RecordNotFound(f"no {kind} record for {subject!r} in the audit trail")
    return Stored(int(row[0]), str(row[1]), str(row[2]))


def history(
    conn: psycopg.Connection[Any], commune: str, subjects: list[str], limit: int = 200
) -> list[Stored]:
    """The last ``limit`` records about any of ``subjects`` in ``commune``, oldest first."""
    got = conn.execute(
        "SELECT seq, record, hash FROM audit_log WHERE commune = %s AND subject = ANY(%s) "
        "ORDER BY seq DESC LIMIT %s",
        (commune, subjects, limit),
    ).fetchall()
    return [Stored(int(s), str(t), str(h)) for s, t, h in reversed(got)]
