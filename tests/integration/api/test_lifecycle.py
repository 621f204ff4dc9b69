"""The lifecycle on record: supersession, expiry, approval (as is and modified), rejection,
suspension, auto-approval within an administrator's bounds, and the trail behind it all."""

from __future__ import annotations

from datetime import timedelta

import msgspec
import pytest

from audit import store
from audit.chain import verify
from streams.events import ActivePlan, RecommendationDecision
from tests.integration.api.conftest import Api, plans

pytestmark = pytest.mark.integration


def _outbox(api: Api, topic_part: str) -> list[bytes | None]:
    return [v for _, t, _, v in api.service.unpublished() if topic_part in t]


def test_a_newer_proposal_supersedes_and_an_undecided_one_expires(api: Api) -> None:
    first, second = plans(2, "alpha")
    api.service.propose("alpha", msgspec.json.encode(first), api.clock())
    assert api.service.propose("alpha", msgspec.json.encode(first), api.clock()) is None
    api.service.propose("alpha", msgspec.json.encode(second), api.clock())
    assert api.service.get("alpha", first.plan_id).status == "superseded"
    d = api.service.get("alpha", first.plan_id).decision
    assert d is not None
    assert (d.decided_by, d.superseded_by) == ("system", second.plan_id)
    assert [r.id for r in api.service.pending("alpha")] == [second.plan_id]
    h = api.as_("op", "alpha:operator")
    r = api.client.post(
        f"/api/communes/alpha/recommendations/{first.plan_id}/approve", json={}, headers=h
    )
    assert r.status_code == 409  # a superseded proposal cannot be approved
    assert api.service.expire(second.valid_until - timedelta(seconds=1)) == 0
    assert api.service.expire(second.valid_until) == 1
    assert api.service.get("alpha", second.plan_id).status == "expired"
    assert api.service.active("alpha") == {}  # nothing became active without an approval
    statuses = [
        msgspec.json.decode(v or b"", type=RecommendationDecision).status
        for v in _outbox(api, "recommendation-decisions")
    ]
    assert statuses == ["superseded", "expired"]


def test_approve_modify_reject_and_the_active_plan(api: Api) -> None:
    first, second, third = plans(3, "alpha")
    h = api.as_("ada@alpha", "alpha:operator")
    c = api.client
    api.service.propose("alpha", msgspec.json.encode(first), api.clock())
    listed = c.get("/api/communes/alpha/recommendations", headers=h).json()
    assert listed[0]["changes"]["active_plan_id"] is None
    r = c.post(
        f"/api/communes/alpha/recommendations/{first.plan_id}/approve",
        json={"reason": "ok"},
        headers=h,
    )
    assert r.status_code == 200, r.text
    assert r.json()["decided_by"] == "ada@alpha"
    assert api.service.active("alpha")["J"].plan == first
    # a second decision on the same recommendation is refused
    r = c.post(
        f"/api/communes/alpha/recommendations/{first.plan_id}/reject",
        json={"reason": "x"},
        headers=h,
    )
    assert r.status_code == 409
    api.clock.now += timedelta(seconds=1)  # the history lists newest first
    api.service.propose("alpha", msgspec.json.encode(second), api.clock())
    shown = c.get(f"/api/communes/alpha/recommendations/{second.plan_id}", headers=h).json()
    assert shown["changes"]["active_plan_id"] == first.plan_id
    assert shown["changes"]["cycle_s"] == [first.cycle_s, second.cycle_s]
    # modify: an edit breaking the cycle is refused, one that holds is approved
    greens = [p.green_s for p in second.phases]
    bad = {"cycle_s": second.cycle_s + 5, "greens_s": greens, "reason": "longer"}
    r = c.post(f"/api/communes/alpha/recommendations/{second.plan_id}/modify", json=bad, headers=h)
    assert r.status_code == 422
    assert "cycle" in r.json()["problems"][0]
    good = {
        "cycle_s": second.cycle_s - 4,
        "greens_s": [greens[0] - 4, *greens[1:]],
        "reason": "bus lane",
    }
    r = c.post(f"/api/communes/alpha/recommendations/{second.plan_id}/modify", json=good, headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["modified"]
    active = api.service.active("alpha")["J"]
    assert active.plan.cycle_s == second.cycle_s - 4
    assert active.plan.plan_id == r.json()["approved_id"] != second.plan_id
    api.clock.now += timedelta(seconds=1)  # the history lists newest first
    api.service.propose("alpha", msgspec.json.encode(third), api.clock())
    r = c.post(
        f"/api/communes/alpha/recommendations/{third.plan_id}/reject",
        json={"reason": ""},
        headers=h,
    )
    assert r.status_code == 422  # a rejection needs a reason
    r = c.post(
        f"/api/communes/alpha/recommendations/{third.plan_id}/reject",
        json={"reason": "event downtown"},
        headers=h,
    )
    assert r.status_code == 200
    assert api.service.active("alpha")["J"] == active  # a rejection changes nothing
    published = [msgspec.json.decode(v or b"", type=ActivePlan) for v in _outbox(api, "active")]
    assert [a.plan.plan_id for a in published] == [first.plan_id, active.plan.plan_id]
    hist = c.get("/api/communes/alpha/junctions/J/history", headers=h).json()
    assert [x["status"] for x in hist["recommendations"]] == ["rejected", "approved", "approved"]
    kinds = [t["kind"] for t in hist["trail"]]
    assert kinds.count("decision") == 3
    assert kinds.count("recommendation") == 3


def test_a_suspension_stops_approvals_and_auto_approval_logs_itself(api: Api) -> None:
    first, second, third, fourth = plans(4, "alpha")
    op = api.as_("op", "alpha:operator")
    admin = api.as_("root", "alpha:administrator")
    c = api.client
    api.service.propose("alpha", msgspec.json.encode(first), api.clock())
    c.post(f"/api/communes/alpha/recommendations/{first.plan_id}/approve", json={}, headers=op)
    # the administrator allows small steps without a person
    policy = {"max_cycle_step_s": 10, "max_green_step_s": 8, "max_degree_of_saturation": 2.0}
    assert (
        c.put("/api/communes/alpha/policies/zone/Z", json=policy, headers=admin).status_code == 200
    )
    api.service.propose("alpha", msgspec.json.encode(second), api.clock())
    rec = api.service.get("alpha", second.plan_id)
    assert rec.status == "approved"
    assert rec.decision is not None
    assert rec.decision.auto
    assert rec.decision.decided_by == "policy:zone:Z"
    assert api.service.active("alpha")["J"].auto
    # a stop of the zone: no auto-approval, no approval, until resumed
    stop = {"scope": "zone", "target": "Z", "reason": "road works"}
    assert c.post("/api/communes/alpha/suspensions", json=stop, headers=op).status_code == 200
    api.service.propose("alpha", msgspec.json.encode(third), api.clock())
    assert api.service.get("alpha", third.plan_id).status == "proposed"
    r = c.post(f"/api/communes/alpha/recommendations/{third.plan_id}/approve", json={}, headers=op)
    assert r.status_code == 409
    assert "suspended" in r.json()["detail"]
    assert c.delete("/api/communes/alpha/suspensions/zone/Z", headers=op).status_code == 200
    r = c.post(f"/api/communes/alpha/recommendations/{third.plan_id}/approve", json={}, headers=op)
    assert r.status_code == 200
    # outside the policy's bounds: a person decides
    tight = {"max_cycle_step_s": 0, "max_green_step_s": 0}
    c.put("/api/communes/alpha/policies/zone/Z", json=tight, headers=admin)
    api.service.propose("alpha", msgspec.json.encode(fourth), api.clock())
    assert api.service.get("alpha", fourth.plan_id).status == "proposed"
    # everything is on the trail, in one chain
    with api.service.connect() as conn:
        report = verify(store.rows(conn), None, now=api.clock(), max_checkpoint_age=timedelta(1))
        kinds = [r.text for r in store.rows(conn)]
    assert report.ok, report.problem
    assert sum('"kind":"policy"' in k for k in kinds) == 2
    assert sum('"kind":"suspension"' in k for k in kinds) == 1
    assert sum('"kind":"resume"' in k for k in kinds) == 1
    assert any('"auto":true' in k for k in kinds)
