"""Live control follows what operators decided, end to end: a real worker's control stage decides
under the envelope an operator approved through the API; an operator's stop makes it fall back to
the programme on record (the junction's approved plan); a resume brings the live controller back;
a withdrawn envelope means no decision."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import msgspec
import pytest

from aiguilleur.follow import records
from optimizer.strategy import JunctionState, MovementState, PhaseState
from streams.control import to_report
from streams.events import SignalDecision
from tests.integration.api.conftest import Stack, plans, running_stack
from tests.integration.conftest import connection, produce

pytestmark = pytest.mark.integration

T0 = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def stack(
    kafka_bootstrap: str, postgres_server: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    folder = tmp_path_factory.mktemp("control")
    with running_stack(
        kafka_bootstrap,
        postgres_server,
        folder,
        AIGUILLEUR_CONTROLLER="adaptive",
        AIGUILLEUR_PLANNER="webster",
    ) as s:
        yield s


def _post(s: Stack, path: str, body: object) -> object:
    r = httpx.post(
        f"{s.url}{path}", json=body, headers=s.headers("ada@alpha", "alpha:operator"), timeout=30
    )
    assert r.status_code == 200, r.text
    return r.json()


def _state(junction: str, t: float) -> JunctionState:
    return JunctionState(
        junction_id=junction,
        time_s=t,
        current_phase=0,
        phase_elapsed_s=12.0,
        cycle_elapsed_s=12.0,
        phases=tuple(
            PhaseState(index=k, movements=(MovementState(id=f"m{k}", queue_veh=8.0 + 4 * k),))
            for k in (0, 1)
        ),
    )


class Decisions:
    """Send junction states, wait for the worker's answers."""

    def __init__(self, s: Stack) -> None:
        self.s = s
        self.k = 0

    def send(self, *junctions: str) -> datetime:
        self.k += 1
        at = T0 + timedelta(seconds=5 * self.k)
        reports = [to_report(_state(j, at.timestamp()), "Z1", at) for j in junctions]
        asyncio.run(
            produce(
                self.s.bootstrap,
                self.s.topics.junction_states,
                [(b"Z1", msgspec.json.encode(r)) for r in reports],
            )
        )
        return at

    def all(self) -> list[SignalDecision]:
        async def read() -> list[SignalDecision]:
            return [
                msgspec.json.decode(r.value, type=SignalDecision)
                async for r in records(
                    connection(self.s.bootstrap), self.s.topics.decisions, to_end=True
                )
                if r.value is not None
            ]

        return asyncio.run(read())

    def until(self, junction: str, want: str, timeout_s: float = 90) -> SignalDecision:
        """Send states of ``junction`` until one is answered by the controller ``want``."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            at = self.send(junction)
            time.sleep(0.5)
            for d in self.all():
                if (d.junction_id, d.observed_at, d.controller) == (junction, at, want):
                    return d
        raise AssertionError(f"no {want} decision for {junction} after {timeout_s} s")


def test_live_control_follows_approvals_and_falls_back_on_a_stop(stack: Stack) -> None:
    c = "/api/communes/alpha"
    d = Decisions(stack)
    # an operator proposes and approves envelopes for J1 and J2 through the lifecycle
    proposals = _post(stack, f"{c}/envelopes/proposals", {"junctions": ["J1", "J2"]})
    assert isinstance(proposals, list)
    approved = {
        p["junction_id"]: _post(stack, f"{c}/recommendations/{p['id']}/approve", {"reason": "go"})
        for p in proposals
    }
    live = d.until("J1", "adaptive")
    assert live.envelope_approved_by == "ada@alpha"
    assert isinstance(approved["J1"], dict)
    assert live.envelope_id == approved["J1"]["approved_id"]
    assert live.suspension == ""
    # J1's programme on record: a plan an operator approved
    plan = msgspec.structs.replace(
        plans(1, "alpha", int(time.time()) // 60 * 60_000)[0], junction_id="J1", zone_id="Z1"
    )
    stack.publish_plans([plan])
    _post(stack, f"{c}/recommendations/{plan.plan_id}/approve", {"reason": "programme"})
    # an operator stops live control for the zone: the approved plan plays instead
    _post(stack, f"{c}/suspensions", {"scope": "zone", "target": "Z1", "reason": "works"})
    fallback = d.until("J1", "programme")
    assert (fallback.suspension, fallback.programme_plan_id) == ("zone:Z1", plan.plan_id)
    assert "live control suspended (zone:Z1 by ada@alpha)" in fallback.reason
    greens = {p.index: p.green_s for p in plan.phases}
    # phase 0 has run 12 s: the programme holds it for the rest of its approved green, or ends it
    if greens[0] > 12:
        assert (fallback.phase_index, fallback.next_decision_in_s) == (0, greens[0] - 12)
    else:
        assert fallback.phase_index == 1
    # J2 has no approved plan: nothing to play, no decision while the stop holds
    at = d.send("J2", "J1")
    time.sleep(2)
    answered = {(x.junction_id, x.observed_at) for x in d.all()}
    deadline = time.monotonic() + 30
    while ("J1", at) not in answered and time.monotonic() < deadline:
        time.sleep(0.5)
        answered = {(x.junction_id, x.observed_at) for x in d.all()}
    assert ("J1", at) in answered
    assert ("J2", at) not in answered  # J2's state came first on the same partition
    # resumed: the live controller again
    r = httpx.delete(
        f"{stack.url}{c}/suspensions/zone/Z1",
        headers=stack.headers("ada@alpha", "alpha:operator"),
        timeout=30,
    )
    assert r.status_code == 200
    d.until("J1", "adaptive")
    # withdrawn: no envelope, no decision
    r = httpx.delete(
        f"{stack.url}{c}/envelopes/J1",
        headers=stack.headers("ada@alpha", "alpha:operator"),
        timeout=30,
    )
    assert r.status_code == 200
    deadline = time.monotonic() + 60
    while True:
        at = d.send("J1", "J2")
        time.sleep(1)
        got = {(x.junction_id, x.observed_at) for x in d.all()}
        if ("J2", at) in got and ("J1", at) not in got:
            break
        assert time.monotonic() < deadline, "J1 still decided after its envelope was withdrawn"
