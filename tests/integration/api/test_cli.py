"""The operator CLI against a real ``aiguilleur api`` (PostgreSQL, the broker): list, show,
approve, reject, modify, history; suspend and resume; policies; envelopes through the lifecycle;
the token from the environment or a file; refusals explained in words."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import msgspec
import pytest
from typer.testing import CliRunner, Result

from aiguilleur.cli import app
from aiguilleur.follow import records
from streams.events import ActivePlan, SignalEnvelope, SignalPlan, Suspension
from tests.fixtures import identity
from tests.integration.api.conftest import MIN, Stack, plans
from tests.integration.conftest import connection

pytestmark = pytest.mark.integration

Cli = Callable[..., Result]


def _now_ms() -> int:
    return int(time.time() // 60 * 60_000)


_offset = iter(range(0, 10_000, 60))


def fresh(n: int = 1) -> list[SignalPlan]:
    """Plans for J whose windows start in the coming minutes (not expired), never seen before."""
    return plans(n, "alpha", _now_ms() + next(_offset) * MIN)


@pytest.fixture
def cli(operator_api: Stack) -> Cli:
    """``aiguilleur ARGS`` in process, as ``sub`` with ``roles`` (AIGUILLEUR_TOKEN), or with the
    ``env`` given."""

    def run(
        *args: str,
        sub: str = "ada@alpha",
        roles: tuple[str, ...] = ("alpha:operator",),
        env: dict[str, str] | None = None,
    ) -> Result:
        base = {
            k: v
            for k, v in operator_api.env.items()
            if k.startswith("AIGUILLEUR_") and k != "AIGUILLEUR_TOKEN_FILE"
        }
        base["AIGUILLEUR_TOKEN"] = identity.token(sub, list(roles))
        return CliRunner().invoke(app, list(args), env={**base, **(env or {})})

    return run


def _last(
    bootstrap: str,
    topic: str,
    key: bytes,
    tombstone: bool = False,
    timeout_s: float = 30,
    until: Callable[[bytes | None], bool] = lambda _v: True,
) -> bytes | None:
    """The value of the last record of ``key`` once the API's outbox has shipped it: a value,
    or with ``tombstone`` none; with ``until``, one it accepts (an earlier test's record of the
    same key may still be the last one when the new one is on its way)."""

    async def last() -> tuple[bool, bytes | None]:
        found, value = False, None
        async for rec in records(connection(bootstrap), topic, to_end=True):
            if rec.key == key:
                found, value = True, rec.value
        return found, value

    deadline = time.monotonic() + timeout_s
    while True:
        found, value = asyncio.run(last())
        if found and (value is None) == tombstone and (tombstone or until(value)):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"no {'tombstone' if tombstone else 'value'} for {key!r}")
        time.sleep(0.3)


def test_list_show_approve_and_the_active_plan_on_its_topic(operator_api: Stack, cli: Cli) -> None:
    (plan,) = fresh()
    operator_api.publish_plans([plan])
    listed = cli("recommendations", "list")
    assert listed.exit_code == 0, listed.output
    assert plan.plan_id in listed.stdout
    shown = cli("recommendations", "show", plan.plan_id)
    assert shown.exit_code == 0, shown.output
    assert f"cycle: none -> {plan.cycle_s} s" in shown.stdout  # nothing active yet
    assert "why: " in shown.stdout
    assert "expected mean delay" in shown.stdout
    fr = cli("recommendations", "show", plan.plan_id, "--lang", "fr")
    assert plan.explanation.text_fr.split(" ")[0] in fr.stdout
    ok = cli("recommendations", "approve", plan.plan_id, "--reason", "counts look right")
    assert ok.exit_code == 0, ok.output
    assert ok.stdout.strip() == f"approved {plan.plan_id} by ada@alpha"
    value = _last(operator_api.bootstrap, operator_api.topics.active_plans, b"J")
    active = msgspec.json.decode(value or b"", type=ActivePlan)
    assert (active.plan.plan_id, active.approved_by) == (plan.plan_id, "ada@alpha")
    assert plan.plan_id not in cli("recommendations", "list").stdout
    again = cli("recommendations", "approve", plan.plan_id)
    assert again.exit_code == 1
    assert "refused, the state on record does not allow it" in again.stderr
    assert "approved, not proposed" in again.stderr
    history = cli("recommendations", "history", "J")
    assert history.exit_code == 0, history.output
    assert "decision approved by ada@alpha: counts look right" in history.stdout


def test_reject_needs_a_reason_and_an_edit_passes_the_checks(operator_api: Stack, cli: Cli) -> None:
    first, second = fresh(2)
    operator_api.publish_plans([first])
    assert cli("recommendations", "reject", first.plan_id).exit_code == 2  # --reason missing
    blank = cli("recommendations", "reject", first.plan_id, "--reason", " ")
    assert blank.exit_code == 2
    assert "on record" in blank.stderr
    r = cli("recommendations", "reject", first.plan_id, "--reason", "road works on the N arm")
    assert r.exit_code == 0, r.output
    operator_api.publish_plans([second])
    greens = [p.green_s for p in second.phases]
    bad = cli(
        "recommendations",
        "modify",
        second.plan_id,
        "--cycle",
        str(second.cycle_s + 7),
        "--greens",
        ",".join(str(g) for g in greens),
    )
    assert bad.exit_code == 1
    assert "invalid: edit of plan" in bad.stderr
    assert "\n  - greens plus intergreens make" in bad.stderr
    not_a_number = cli(
        "recommendations", "modify", second.plan_id, "--cycle", "60", "--greens", "x,2"
    )
    assert not_a_number.exit_code == 2
    assert "'x' is not a whole number" in not_a_number.stderr
    edited = [greens[0] + 4, *greens[1:]]
    good = cli(
        "recommendations",
        "modify",
        second.plan_id,
        "--cycle",
        str(second.cycle_s + 4),
        "--greens",
        ",".join(str(g) for g in edited),
        "--reason",
        "more green for the main road",
    )
    assert good.exit_code == 0, good.output
    assert good.stdout.startswith(f"approved {second.plan_id} as ")
    approved_id = good.stdout.split(" as ", 1)[1].split()[0]
    value = _last(
        operator_api.bootstrap,
        operator_api.topics.active_plans,
        b"J",
        until=lambda v: msgspec.json.decode(v or b"", type=ActivePlan).plan.plan_id == approved_id,
    )
    active = msgspec.json.decode(value or b"", type=ActivePlan)
    assert [p.green_s for p in active.plan.phases] == edited
    assert active.plan.cycle_s == second.cycle_s + 4
    history = cli("recommendations", "history", "J").stdout
    assert "decision rejected by ada@alpha: road works on the N arm" in history


def test_tokens_and_refusals_are_explained(operator_api: Stack, cli: Cli, tmp_path: Path) -> None:
    (plan,) = fresh()
    operator_api.publish_plans([plan])
    none = cli("recommendations", "list", env={"AIGUILLEUR_TOKEN": ""})
    assert none.exit_code == 2
    assert "AIGUILLEUR_TOKEN" in none.stderr
    assert "AIGUILLEUR_TOKEN_FILE" in none.stderr
    assert "shell's history" in none.stderr
    token_file = tmp_path / "token"
    token_file.write_text(identity.token("vic@alpha", ["alpha:viewer"]) + "\n")
    token_file.chmod(0o600)
    by_file = {"AIGUILLEUR_TOKEN": "", "AIGUILLEUR_TOKEN_FILE": str(token_file)}
    listed = cli("recommendations", "list", env=by_file)
    assert listed.exit_code == 0, listed.output
    assert plan.plan_id in listed.stdout
    assert "warning" not in listed.stderr
    token_file.chmod(0o644)
    assert "can be read by other users" in cli("recommendations", "list", env=by_file).stderr
    token_file.chmod(0o600)
    # a viewer may read but not approve
    viewer = cli("recommendations", "approve", plan.plan_id, env=by_file)
    assert viewer.exit_code == 1
    assert "not allowed: vic@alpha may not decide in commune 'alpha'" in viewer.stderr
    assert "an operator decides" in viewer.stderr
    expired = identity.token("ada@alpha", ["alpha:operator"], expires_in=-120)
    old = cli("recommendations", "list", env={"AIGUILLEUR_TOKEN": expired})
    assert old.exit_code == 1
    assert "refused the token" in old.stderr
    assert "expired" in old.stderr
    unknown = cli("recommendations", "show", "no-such-plan")
    assert unknown.exit_code == 1
    assert "not found: no recommendation 'no-such-plan'" in unknown.stderr
    assert "`aiguilleur recommendations list`" in unknown.stderr
    # another commune's operator: no role there
    beta = cli("recommendations", "list", roles=("beta:operator",))
    assert beta.exit_code == 1
    assert "not allowed" in beta.stderr
    gone = cli("recommendations", "list", env={"AIGUILLEUR_API_URL": "http://127.0.0.1:9"})
    assert gone.exit_code == 1
    assert "cannot reach the operator API at http://127.0.0.1:9" in gone.stderr
    # the real entry point, token from the environment
    env = {k: v for k, v in operator_api.env.items() if k != "AIGUILLEUR_TOKEN_FILE"}
    env["AIGUILLEUR_TOKEN"] = identity.token("ada@alpha", ["alpha:operator"])
    proc = subprocess.run(
        [sys.executable, "-m", "aiguilleur", "recommendations", "list", "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert plan.plan_id in proc.stdout
    assert env["AIGUILLEUR_TOKEN"] not in proc.stdout + proc.stderr
    assert os.environ.get("AIGUILLEUR_TOKEN") is None  # nothing leaked into this process


def test_suspend_and_resume_from_the_cli(operator_api: Stack, cli: Cli) -> None:
    (plan,) = fresh()
    operator_api.publish_plans([plan])
    assert cli("suspend", "zone").exit_code == 2  # which zone?
    s = cli("suspend", "junction", "J", "--reason", "works on the junction")
    assert s.exit_code == 0, s.output
    assert s.stdout.strip() == (
        "suspended recommendations and control for junction J (by ada@alpha)"
    )
    value = _last(operator_api.bootstrap, operator_api.topics.suspensions, b"junction:J")
    stop = msgspec.json.decode(value or b"", type=Suspension)
    assert (stop.suspended_by, stop.reason, stop.control) == (
        "ada@alpha",
        "works on the junction",
        True,
    )
    assert "works on the junction" in cli("suspensions").stdout
    refused = cli("recommendations", "approve", plan.plan_id)
    assert refused.exit_code == 1
    assert "suspended" in refused.stderr
    viewer = cli("resume", "junction", "J", roles=("alpha:viewer",))
    assert viewer.exit_code == 1
    r = cli("resume", "junction", "J")
    assert r.exit_code == 0, r.output
    _last(operator_api.bootstrap, operator_api.topics.suspensions, b"junction:J", tombstone=True)
    assert cli("resume", "junction", "J").exit_code == 1  # nothing to resume
    assert cli("recommendations", "approve", plan.plan_id).exit_code == 0
    only = cli("suspend", "commune", "--only", "control")
    assert only.stdout.strip() == "suspended control for commune alpha (by ada@alpha)"
    assert cli("resume", "commune").exit_code == 0


def test_policies_are_for_administrators(operator_api: Stack, cli: Cli) -> None:
    args = ("policies", "set", "junction", "J", "--max-cycle-step", "4", "--max-green-step", "4")
    op = cli(*args)
    assert op.exit_code == 1
    assert "may not set auto-approval policies" in op.stderr
    admin = ("alpha:administrator",)
    assert cli(*args, "--hours", "7-25", roles=admin).exit_code == 2
    ok = cli(*args, "--hours", "7-20", roles=admin)
    assert ok.exit_code == 0, ok.output
    listed = cli("policies", "list")
    assert "cycle step <= 4 s, green step <= 4 s, x <= 0.9, 7-20 h Europe/Paris" in listed.stdout
    assert cli("policies", "remove", "junction", "J", roles=admin).exit_code == 0
    assert "every recommendation goes to a person" in cli("policies", "list").stdout


def test_envelopes_approve_is_an_operators_decision_on_record(
    operator_api: Stack, cli: Cli
) -> None:
    by = cli("envelopes", "approve", "--junction", "J1", "--by", "someone")
    assert by.exit_code == 2
    assert "token's subject" in by.stderr
    viewer = cli("envelopes", "approve", "--junction", "J1", roles=("alpha:viewer",))
    assert viewer.exit_code == 1
    ok = cli("envelopes", "approve", "--junction", "J1", "--cycle-max", "100", "--note", "trial")
    assert ok.exit_code == 0, ok.output
    assert ok.stdout.strip() == "1 envelope(s) approved by 'ada@alpha'"
    value = _last(operator_api.bootstrap, operator_api.topics.envelopes, b"J1")
    event = msgspec.json.decode(value or b"", type=SignalEnvelope)
    assert (event.approved_by, event.cycle_max_s, event.note) == ("ada@alpha", 100.0, "trial")
    listed = cli("envelopes", "list")
    assert event.envelope_id in listed.stdout
    history = cli("recommendations", "history", "J1").stdout
    assert "recommendation by ada@alpha" in history
    assert "decision approved by ada@alpha: trial" in history
    # proposed by one operator, approved by another, from the list
    p = cli("envelopes", "propose", "--junction", "J2")
    assert p.exit_code == 0, p.output
    rid = p.stdout.split()[-1]
    pending = cli("recommendations", "list", "--kind", "envelope")
    assert rid in pending.stdout
    assert "P0:" in pending.stdout
    assert "live-control envelope" in cli("recommendations", "show", rid).stdout
    assert cli("recommendations", "approve", rid, sub="bea@alpha").exit_code == 0
    second = _last(operator_api.bootstrap, operator_api.topics.envelopes, b"J2")
    assert msgspec.json.decode(second or b"", type=SignalEnvelope).approved_by == "bea@alpha"
    w = cli("envelopes", "withdraw", "--junction", "J1", "--reason", "trial over")
    assert w.exit_code == 0, w.output
    _last(operator_api.bootstrap, operator_api.topics.envelopes, b"J1", tombstone=True)
    again = cli("envelopes", "withdraw", "--junction", "J1")
    assert again.exit_code == 1
    assert "`aiguilleur envelopes list`" in again.stderr
