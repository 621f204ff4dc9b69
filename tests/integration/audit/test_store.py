"""The trail in the real PostgreSQL: appends chain, the table refuses changes, and edits, deletions,
reorderings and truncations made behind its back (trigger off) are each found by verify."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from audit import signing, store
from audit.chain import Report, verify

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 10, 17, 0, tzinfo=UTC)
KEY = signing.generate()


def fill(conn: psycopg.Connection[object], n: int = 10) -> datetime:
    store.create_schema(conn)
    at = T0
    for i in range(n):
        at = T0 + timedelta(minutes=i)
        with conn.transaction():
            store.append(
                conn,
                at=at,
                kind="decision",
                commune="villeurbanne",
                subject=f"osm-{i % 3}",
                actor="ada",
                body={"status": "approved", "i": i},
            )
        if i % 4 == 3:
            store.checkpoint(conn, KEY, at)
    store.checkpoint(conn, KEY, at)
    return at


def check(conn: psycopg.Connection[object], now: datetime) -> Report:
    return verify(
        store.rows(conn, batch=3),
        KEY.public_key(),
        now=now,
        max_checkpoint_age=timedelta(minutes=2),
    )


def behind_its_back(conn: psycopg.Connection[object], sql: str) -> None:
    with conn.transaction():
        conn.execute("ALTER TABLE audit_log DISABLE TRIGGER USER")
        conn.execute(sql)  # type: ignore[arg-type]  # the tests' own statements
        conn.execute("ALTER TABLE audit_log ENABLE TRIGGER USER")


@pytest.mark.parametrize(
    ("tamper", "first_bad"),
    [
        ("UPDATE audit_log SET record = replace(record, 'approved', 'rejected') WHERE seq = 4", 4),
        ("DELETE FROM audit_log WHERE seq = 6", 6),
        (
            "UPDATE audit_log SET seq = -seq WHERE seq IN (7, 8); "
            "UPDATE audit_log SET seq = CASE seq WHEN -7 THEN 8 ELSE 7 END WHERE seq < 0",
            7,
        ),
        ("DELETE FROM audit_log WHERE seq >= 12", 11),
    ],
    ids=["edit", "delete", "reorder", "truncate"],
)
def test_verify_names_the_first_bad_record(pg_dsn: str, tamper: str, first_bad: int) -> None:
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        end = fill(conn)
        now = end + timedelta(seconds=30)
        report = check(conn, now)
        assert report.ok, report.problem
        assert report.records == 13
        assert report.checkpoints == 3
        behind_its_back(conn, tamper)
        report = check(conn, now)
        assert report.problem is not None
        assert report.problem.seq == first_bad, report.problem


def test_the_table_refuses_updates_deletes_and_truncation(pg_dsn: str) -> None:
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        fill(conn, 2)
        for sql in (
            "UPDATE audit_log SET kind = 'x' WHERE seq = 1",
            "DELETE FROM audit_log WHERE seq = 1",
            "TRUNCATE audit_log",
        ):
            with pytest.raises(psycopg.errors.Error, match=r"append-only"):
                conn.execute(sql)  # type: ignore[arg-type]  # the tests' own statements
        assert store.head(conn)[0] == 3


def test_appends_from_many_connections_keep_one_chain(pg_dsn: str) -> None:
    import concurrent.futures

    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        store.create_schema(conn)

    def writer(k: int) -> None:
        with psycopg.connect(pg_dsn, autocommit=True) as c:
            for i in range(15):
                with c.transaction():
                    store.append(
                        c,
                        at=T0,
                        kind="decision",
                        commune="c",
                        subject=f"w{k}",
                        actor=f"w{k}",
                        body={"i": i},
                    )

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        list(pool.map(writer, range(4)))
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        store.checkpoint(conn, KEY, T0)
        report = check(conn, T0 + timedelta(seconds=1))
        assert report.ok, report.problem
        assert report.records == 61
