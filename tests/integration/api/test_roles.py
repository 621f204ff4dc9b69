"""The role x commune matrix: unauthenticated refused, a viewer cannot approve, an operator cannot
change a policy, one commune neither sees nor decides on another's junctions."""

from __future__ import annotations

import msgspec
import pytest

from tests.fixtures import identity
from tests.integration.api.conftest import Api, plans

pytestmark = pytest.mark.integration


def _propose(api: Api) -> tuple[str, str]:
    a = plans(1, "alpha")[0]
    b = msgspec.structs.replace(plans(2, "beta")[1], plan_id="beta-only")
    api.service.propose("alpha", msgspec.json.encode(a), api.clock())
    api.service.propose("beta", msgspec.json.encode(b), api.clock())
    return a.plan_id, b.plan_id


def test_unauthenticated_and_bad_tokens_are_refused(api: Api) -> None:
    rid, _ = _propose(api)
    url = "/api/communes/alpha/recommendations"
    assert api.client.get(url).status_code == 401
    for bad in (
        identity.token("eve", ["alpha:operator"], forged=True),
        identity.token("eve", ["alpha:operator"], expires_in=-120),
        identity.token("eve", ["alpha:operator"], issuer="https://other.idp"),
        identity.token("eve", ["alpha:operator"], audience="someone-else"),
        "not-a-jwt",
    ):
        r = api.client.get(url, headers={"Authorization": f"Bearer {bad}"})
        assert r.status_code == 401, bad
        r = api.client.post(
            f"{url}/{rid}/approve", json={}, headers={"Authorization": f"Bearer {bad}"}
        )
        assert r.status_code == 401
    assert api.service.get("alpha", rid).status == "proposed"


ROLE_CASES = [
    # (role, read, approve, suspend, set policy, verify the trail)
    ("viewer", 200, 403, 403, 403, 403),
    ("operator", 200, 200, 200, 403, 403),
    ("administrator", 200, 200, 200, 200, 200),
    ("auditor", 200, 403, 403, 403, 200),
]


@pytest.mark.parametrize(("role", "read", "approve", "suspend", "policy", "audit"), ROLE_CASES)
def test_each_role_may_do_what_it_is_for_and_nothing_more(
    api: Api, role: str, read: int, approve: int, suspend: int, policy: int, audit: int
) -> None:
    rid, _ = _propose(api)
    h = api.as_(f"{role}@alpha", f"alpha:{role}")
    c = api.client
    assert c.get("/api/communes/alpha/recommendations", headers=h).status_code == read
    got = c.post(f"/api/communes/alpha/recommendations/{rid}/approve", json={}, headers=h)
    assert got.status_code == approve, got.text
    assert api.service.get("alpha", rid).status == ("approved" if approve == 200 else "proposed")
    stop = {"scope": "junction", "target": "J", "reason": "works"}
    assert c.post("/api/communes/alpha/suspensions", json=stop, headers=h).status_code == suspend
    body = {"max_cycle_step_s": 4, "max_green_step_s": 4}
    r = c.put("/api/communes/alpha/policies/junction/J", json=body, headers=h)
    assert r.status_code == policy
    assert len(api.service.policies("alpha")) == (1 if policy == 200 else 0)
    assert c.get("/api/audit/verify", headers=h).status_code == audit


def test_one_commune_neither_sees_nor_decides_on_anothers_junctions(api: Api) -> None:
    a_id, b_id = _propose(api)
    alpha_op = api.as_("op@alpha", "alpha:operator")
    c = api.client
    # beta's routes are closed to alpha's operator
    assert c.get("/api/communes/beta/recommendations", headers=alpha_op).status_code == 403
    assert c.get(f"/api/communes/beta/recommendations/{b_id}", headers=alpha_op).status_code == 403
    r = c.post(f"/api/communes/beta/recommendations/{b_id}/approve", json={}, headers=alpha_op)
    assert r.status_code == 403
    assert c.get("/api/communes/beta/junctions/J/history", headers=alpha_op).status_code == 403
    stop = {"scope": "commune", "reason": "x"}
    assert c.post("/api/communes/beta/suspensions", json=stop, headers=alpha_op).status_code == 403
    # and beta's recommendation cannot be reached through alpha's routes either
    r = c.get(f"/api/communes/alpha/recommendations/{b_id}", headers=alpha_op)
    assert r.status_code == 404
    r = c.post(f"/api/communes/alpha/recommendations/{b_id}/approve", json={}, headers=alpha_op)
    assert r.status_code == 404
    listed = c.get("/api/communes/alpha/recommendations", headers=alpha_op).json()
    assert [x["id"] for x in listed] == [a_id]
    assert api.service.get("beta", b_id).status == "proposed"
    me = c.get("/api/me", headers=alpha_op).json()
    assert [x["id"] for x in me["communes"]] == ["alpha"]
    # a role in every commune
    both = api.as_("chief", "*:viewer")
    assert c.get("/api/communes/beta/recommendations", headers=both).status_code == 200
