"""Proposals and decisions at the same time on the real PostgreSQL: one lock order, no deadlock,
and a proposal the database refuses for now is recorded once it accepts, not skipped.

A loaded demo run lost a proposal: the recorder's proposal held the audit trail's lock and waited
for the junction's pending row (to supersede it), while an operator's approval held that row and
waited for the trail's lock; PostgreSQL aborted the proposal as a deadlock and the recorder moved
on."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import datetime

import msgspec
import psycopg
import pytest

from api.runtime import _record_one
from audit import store
from oversight.service import Oversight
from tests.integration.api.conftest import Api, plans

pytestmark = pytest.mark.integration


def _row_locked(dsn: str, plan_id: str) -> bool:
    """Whether another transaction holds ``plan_id``'s row (FOR UPDATE NOWAIT fails)."""
    with psycopg.connect(dsn) as conn, conn.transaction():
        try:
            conn.execute(
                "SELECT 1 FROM recommendations WHERE id = %s FOR UPDATE NOWAIT", (plan_id,)
            )
        except psycopg.errors.LockNotAvailable:
            return True
    return False


def test_a_decision_waits_for_the_trail_before_it_locks_its_row(api: Api) -> None:
    first, second = plans(2, "alpha")
    service = api.service
    service.propose("alpha", msgspec.json.encode(first), api.clock())
    errors: list[BaseException] = []

    def run(f: object, *args: object) -> threading.Thread:
        def target() -> None:
            try:
                f(*args)  # type: ignore[operator]
            except BaseException as e:  # reported by the assertion below
                errors.append(e)

        t = threading.Thread(target=target)
        t.start()
        return t

    with psycopg.connect(service.dsn) as holder, holder.transaction():
        # another writer is appending to the trail
        holder.execute("SELECT pg_advisory_xact_lock(%s)", (store.LOCK_ID,))
        decision = run(service.decide, "alpha", first.plan_id, "approved", "ada", api.clock())
        time.sleep(0.5)
        # the waiting decision holds no row lock, so a proposal that supersedes that row and an
        # approval of it cannot each hold what the other waits for
        assert not _row_locked(service.dsn, first.plan_id)
        proposal = run(service.propose, "alpha", msgspec.json.encode(second), api.clock())
        time.sleep(0.5)
    decision.join(30)
    proposal.join(30)
    assert errors == []
    assert service.get("alpha", second.plan_id).status == "proposed"
    # whichever came first: approved then kept, or superseded before the approval was refused
    assert service.get("alpha", first.plan_id).status in {"approved", "superseded"}


class _Refusing:
    """An Oversight whose first ``n`` proposals fail as the database does for a deadlock victim."""

    def __init__(self, service: Oversight, n: int) -> None:
        self.service, self.left = service, n

    def propose(self, commune: str, value: bytes, now: datetime) -> object:
        if self.left > 0:
            self.left -= 1
            raise psycopg.errors.DeadlockDetected("deadlock detected")
        return self.service.propose(commune, value, now)


def test_a_refused_proposal_is_tried_again_until_it_is_on_record(api: Api) -> None:
    (plan,) = plans(1, "alpha")
    flaky = _Refusing(api.service, 2)
    asyncio.run(
        _record_one(
            flaky,  # type: ignore[arg-type]
            "plans",
            "alpha",
            msgspec.json.encode(plan),
            api.clock,
            "test@0",
            retry_max_s=0.05,
        )
    )
    assert flaky.left == 0
    assert api.service.get("alpha", plan.plan_id).status == "proposed"
