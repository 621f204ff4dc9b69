"""``aiguilleur envelopes approve --dry-run``: envelopes from the network model, refused when the
junction is unknown or the bounds cannot hold; and the controller setting is checked at start."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
from typer.testing import CliRunner

from aiguilleur.cli import app
from aiguilleur.settings import Settings
from aiguilleur.wiring import pipeline_context
from streams.events import SignalEnvelope
from tests.fixtures.networks import write_fixture


@pytest.fixture
def network_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    net, reg, _ = write_fixture(tmp_path)
    monkeypatch.setenv("AIGUILLEUR_NETWORK_FILE", str(net))
    monkeypatch.setenv("AIGUILLEUR_DETECTOR_REGISTRY", str(reg))
    return net


def test_dry_run_prints_one_approval_per_junction(network_env: Path) -> None:
    res = CliRunner().invoke(
        app,
        [
            "envelopes",
            "approve",
            "--by",
            "Ada",
            "--junction",
            "J1",
            "--cycle-max",
            "100",
            "--dry-run",
        ],
    )
    assert res.exit_code == 0, res.output
    (line,) = res.stdout.strip().splitlines()
    ev = msgspec.json.decode(line, type=SignalEnvelope)
    assert (ev.junction_id, ev.zone_id, ev.approved_by, ev.cycle_max_s) == (
        "J1",
        "Z1",
        "Ada",
        100.0,
    )
    assert ev.phase_order == (0, 1)
    everyone = CliRunner().invoke(app, ["envelopes", "approve", "--by", "Ada", "--dry-run"])
    assert len(everyone.stdout.strip().splitlines()) == 3


def test_unknown_junction_and_impossible_bounds_are_refused(network_env: Path) -> None:
    res = CliRunner().invoke(
        app, ["envelopes", "approve", "--by", "Ada", "--junction", "J9", "--dry-run"]
    )
    assert res.exit_code == 2
    assert "J9" in res.stderr
    # two phases of at least 7 s green and 5 s intergreen cannot fit in a 20 s cycle
    res = CliRunner().invoke(
        app,
        [
            "envelopes",
            "approve",
            "--by",
            "Ada",
            "--cycle-min",
            "20",
            "--cycle-max",
            "20",
            "--no-skip",
            "--dry-run",
        ],
    )
    assert res.exit_code == 2
    assert "cycle_max_s" in res.stderr


def test_unknown_controller_is_refused_at_start(
    network_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIGUILLEUR_CONTROLLER", "nope")
    with pytest.raises(ValueError, match="AIGUILLEUR_CONTROLLER"):
        pipeline_context(Settings())
