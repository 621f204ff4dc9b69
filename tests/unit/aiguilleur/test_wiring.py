"""The composition root picks a per-junction planner or a zone planner from AIGUILLEUR_PLANNER."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from aiguilleur.settings import Settings
from aiguilleur.wiring import pipeline_context, planners_for
from streams.metrics import create_metrics
from tests.fixtures.networks import write_corridor


def test_a_zone_planner_name_selects_zone_planning() -> None:
    name, zp = planners_for("coordinated")
    assert zp is not None
    assert zp.name == "coordinated"
    assert name == "optimizer"
    assert planners_for("webster") == ("webster", None)


def test_an_unknown_planner_is_refused_naming_the_variable_and_both_registries() -> None:
    with pytest.raises(ValueError, match="AIGUILLEUR_PLANNER='nope'") as err:
        planners_for("nope")
    assert "webster" in str(err.value)
    assert "coordinated" in str(err.value)


def test_pipeline_context_carries_the_zone_planner(tmp_path: Path) -> None:
    net, reg, _ = write_corridor(tmp_path)
    settings = Settings(network_file=net, detector_registry=reg, planner="coordinated")
    ctx = pipeline_context(settings, create_metrics(CollectorRegistry()))
    assert ctx.zone_planner is not None
    assert ctx.zone_planner.name == "coordinated"
    assert len(ctx.network.links) == 4
    plain = pipeline_context(
        Settings(network_file=net, detector_registry=reg, planner="webster"),
        create_metrics(CollectorRegistry()),
    )
    assert plain.zone_planner is None
    assert plain.planner.name == "webster"
