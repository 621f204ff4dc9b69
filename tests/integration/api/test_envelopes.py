"""Envelopes of the adaptive mode go through the same lifecycle as plans: proposed from the network
model, approved (then published for the control stage) or rejected with a reason, superseded,
refused while live control is suspended, withdrawn; each step on the trail."""

from __future__ import annotations

from datetime import timedelta

import msgspec
import pytest

from audit import store
from audit.chain import verify
from streams.events import RecommendationDecision, SignalEnvelope
from tests.integration.api.conftest import Api

pytestmark = pytest.mark.integration

PROPOSE = "/api/communes/alpha/envelopes/proposals"


def _outbox(api: Api, topic_part: str) -> list[tuple[bytes, bytes | None]]:
    return [(k, v) for _, t, k, v in api.service.unpublished() if t.endswith(topic_part)]


def test_an_envelope_is_active_only_once_an_operator_approves_it(api: Api) -> None:
    h = api.as_("ada@alpha", "alpha:operator")
    c = api.client
    got = c.post(PROPOSE, json={"cycle_max_s": 100, "note": "trial"}, headers=h)
    assert got.status_code == 200, got.text
    (proposal,) = got.json()
    assert (proposal["kind"], proposal["status"], proposal["proposed_by"]) == (
        "signal-envelope",
        "proposed",
        "ada@alpha",
    )
    assert [p["index"] for p in proposal["phases"]] == [0, 1]
    # proposed, not published: the control stage has nothing to follow yet
    assert _outbox(api, "signal-envelopes.v1") == []
    assert api.service.active_envelopes("alpha") == {}
    listed = c.get("/api/communes/alpha/recommendations?kind=signal-envelope", headers=h).json()
    assert [r["id"] for r in listed] == [proposal["id"]]
    plans = c.get("/api/communes/alpha/recommendations", headers=h).json()
    assert plans == []  # the default list is of signal plans
    r = c.post(
        f"/api/communes/alpha/recommendations/{proposal['id']}/approve",
        json={"reason": "trial on J"},
        headers=h,
    )
    assert r.status_code == 200, r.text
    decision = msgspec.json.decode(r.content, type=RecommendationDecision)
    assert (decision.kind, decision.status, decision.decided_by) == (
        "signal-envelope",
        "approved",
        "ada@alpha",
    )
    ((key, value),) = _outbox(api, "signal-envelopes.v1")
    event = msgspec.json.decode(value or b"", type=SignalEnvelope)
    assert key == b"J"
    assert (event.approved_by, event.cycle_max_s, event.note) == ("ada@alpha", 100.0, "trial")
    assert event.envelope_id == decision.approved_id
    assert api.service.active_envelopes("alpha") == {"J": event}
    shown = c.get("/api/communes/alpha/envelopes", headers=h).json()
    assert [(e["junction_id"], e["envelope_id"]) for e in shown] == [("J", event.envelope_id)]
    # a decision is final
    again = c.post(
        f"/api/communes/alpha/recommendations/{proposal['id']}/approve", json={}, headers=h
    )
    assert again.status_code == 409
    # withdrawn: a tombstone for the control stage, and it is on record
    w = c.delete("/api/communes/alpha/envelopes/J?reason=works", headers=h)
    assert w.status_code == 200, w.text
    assert _outbox(api, "signal-envelopes.v1")[-1] == (b"J", None)
    assert api.service.active_envelopes("alpha") == {}
    assert c.delete("/api/communes/alpha/envelopes/J", headers=h).status_code == 404
    with api.service.connect() as conn:
        kinds = [msgspec.json.decode(s.text)["kind"] for s in store.rows(conn)]
        report = verify(store.rows(conn), None, now=api.clock(), max_checkpoint_age=timedelta(1))
    assert kinds == ["recommendation", "decision", "envelope-withdrawn"]
    assert report.ok


def test_envelope_proposals_supersede_refuse_edits_and_wait_for_a_resume(api: Api) -> None:
    h = api.as_("ada@alpha", "alpha:operator")
    c = api.client
    (first,) = c.post(PROPOSE, json={}, headers=h).json()
    api.clock.now = api.clock.now.replace(second=45)
    (second,) = c.post(PROPOSE, json={"cycle_max_s": 90}, headers=h).json()
    assert api.service.get("alpha", first["id"]).status == "superseded"
    # modify is for plans: an envelope is approved as proposed
    m = c.post(
        f"/api/communes/alpha/recommendations/{second['id']}/modify",
        json={"cycle_s": 60, "greens_s": [20, 30]},
        headers=h,
    )
    assert m.status_code == 422
    assert "propose another" in m.json()["detail"]
    # live control suspended for the zone: no envelope approval until it is resumed
    stop = {"scope": "zone", "target": "Z", "recommendations": False, "reason": "works"}
    assert c.post("/api/communes/alpha/suspensions", json=stop, headers=h).status_code == 200
    r = c.post(f"/api/communes/alpha/recommendations/{second['id']}/approve", json={}, headers=h)
    assert r.status_code == 409
    assert "suspended" in r.json()["detail"]
    assert c.delete("/api/communes/alpha/suspensions/zone/Z", headers=h).status_code == 200
    r = c.post(
        f"/api/communes/alpha/recommendations/{second['id']}/reject",
        json={"reason": "detectors of the north arm down"},
        headers=h,
    )
    assert r.status_code == 200
    assert api.service.active_envelopes("alpha") == {}
    assert _outbox(api, "signal-envelopes.v1") == []


def test_roles_and_communes_hold_for_envelopes(api: Api) -> None:
    viewer = api.as_("vic@alpha", "alpha:viewer")
    assert api.client.post(PROPOSE, json={}, headers=viewer).status_code == 403
    other = api.as_("bob@beta", "beta:operator")
    assert api.client.post(PROPOSE, json={}, headers=other).status_code == 403
    op = api.as_("ada@alpha", "alpha:operator")
    (p,) = api.client.post(PROPOSE, json={}, headers=op).json()
    # beta's operator can neither see nor decide on alpha's proposal
    assert (
        api.client.get(f"/api/communes/beta/recommendations/{p['id']}", headers=other).status_code
        == 404
    )
    r = api.client.post(
        f"/api/communes/beta/recommendations/{p['id']}/approve", json={}, headers=other
    )
    assert r.status_code == 404
    unknown = api.client.post(PROPOSE, json={"junctions": ["K9"]}, headers=op)
    assert unknown.status_code == 404
    assert "K9" in unknown.json()["detail"]
    impossible = api.client.post(
        PROPOSE,
        json={"cycle_min_s": 20, "cycle_max_s": 20, "may_skip_phases": False},
        headers=op,
    )
    assert impossible.status_code == 422
