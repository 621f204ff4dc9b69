"""`aiguilleur demo` shows the loop: plans proposed, one approved by an operator through the API,
the active plan published on its topic, the next plan computed from it, the trail verified."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[3]


def test_the_demo_shows_the_operators_loop(kafka_bootstrap: str, postgres_server: str) -> None:
    # the demo uses this worktree's broker and PostgreSQL (scripts/kafka.sh, scripts/postgres.sh),
    # which the fixtures have started; it must leave them running since it did not start them
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIGUILLEUR_TOKEN")}
    proc = subprocess.run(
        [sys.executable, "-m", "aiguilleur", "demo", "--speed", "240"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    out = proc.stdout
    assert proc.returncode == 0, out[-3000:] + proc.stderr[-3000:]
    approved = re.search(r"^approved (\w+) by demo-operator$", out, re.M)
    assert approved, out[-3000:]
    plan_id = approved.group(1)
    assert f"`aiguilleur recommendations show {plan_id}`" in out
    assert re.search(
        rf"^active plan published on \S+\.aiguilleur\.signal-plans\.active\.v1: .+ plan {plan_id}, "
        r"cycle \d+s .*approved by demo-operator",
        out,
        re.M,
    )
    assert "computed from the approved plan" in out
    got = re.search(r"^(\d+) plans received\.$", out, re.M)
    assert got, out[-2000:]
    received = int(got.group(1))
    assert received > 100
    recorded = re.search(r"^on record: (\d+) recommendations \((.*)\)", out, re.M)
    assert recorded, out[-2000:]
    assert int(recorded.group(1)) == received
    assert "1 approved" in recorded.group(2)
    assert re.search(
        r"^audit trail: \d+ records, [1-9]\d* signed checkpoints, chain intact", out, re.M
    )
    assert out.rstrip().endswith("Done.")
    for script in ("kafka.sh", "postgres.sh"):
        status = subprocess.run(
            ["bash", str(REPO / "scripts" / script), "status"], capture_output=True, check=False
        )
        assert status.returncode == 0, f"the demo stopped {script}'s server it did not start"
