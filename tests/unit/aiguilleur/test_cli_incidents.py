"""``aiguilleur incidents preview``: the advice computed without Kafka, and clear errors."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from aiguilleur.cli import app
from aiguilleur.settings import DEMO_DIR


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    monkeypatch.setenv("AIGUILLEUR_NETWORK_FILE", str(DEMO_DIR / "lyon-villeurbanne.osm.gz"))
    monkeypatch.setenv("AIGUILLEUR_CACHE_DIR", str(tmp_path))


def test_preview_prints_the_advice(env: None) -> None:
    r = CliRunner().invoke(
        app, ["incidents", "preview", "--way", "119440078", "--from-node", "1637473438"]
    )
    assert r.exit_code == 0, r.output
    assert "Rue Anatole France is closed" in r.output
    assert "via Rue Francis de Pressensé" in r.output


def test_preview_says_what_does_not_match(env: None) -> None:
    r = CliRunner().invoke(app, ["incidents", "preview", "--way", "119440078", "--from-node", "1"])
    assert r.exit_code == 2
    assert "no direction of travel leaving node 1" in r.output
    r = CliRunner().invoke(app, ["incidents", "preview", "--kind", "flood"])
    assert r.exit_code == 2
    assert "kind" in r.output
