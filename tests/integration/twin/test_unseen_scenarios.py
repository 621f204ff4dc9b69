"""The twin on SUMO scenarios generated at test time, none of which it was written against: every
control runs, vehicles are inserted, and SUMO shows what the control intended (signal audit)."""

from __future__ import annotations

from pathlib import Path

import pytest

from aiguilleur.twin_product import run_control
from benchmarks.twin_unseen import GENERATORS
from twin import RunOptions, available_controls, load_scenario, run_twin
from twin.audit import ENVELOPE_EXEMPT
from twin.controls import resolve_control

pytestmark = pytest.mark.integration

WINDOW_S = 600.0
SCENARIOS = ("crossings", "three_leg_actuated", "subfolder_flows", "multi_programme")
"""Pedestrian crossings with buses and bicycles; 3-leg actuated junctions; relative paths in a
sub-folder with flows only and no end time; several programmes and a WAUT."""


@pytest.fixture(scope="module")
def unseen(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("unseen")
    return {name: GENERATORS[name](out, WINDOW_S) for name in SCENARIOS}


@pytest.mark.parametrize("name", SCENARIOS)
def test_every_control_runs_as_intended_on_an_unseen_scenario(
    unseen: dict[str, Path], name: str
) -> None:
    sc = load_scenario(unseen[name])
    sc = sc.with_window(end_s=sc.begin_s + WINDOW_S)
    failures = []
    # controls other test modules register (named test-…) are theirs to check
    for control in [c for c in available_controls() if not c.split(":")[-1].startswith("test-")]:
        res = run_control(sc, control, RunOptions(progress=False, plan_period_s=300))
        audit = res.audit
        assert audit is not None
        ctl = resolve_control(control)
        kind, bare = ctl.kind, ctl.name
        assert res.metrics.vehicles_inserted > 50, control
        if audit.violations:
            failures.append(f"{control}: {audit.violations} {audit.first_violations}")
        # the audit looked at something: cycles of plans, greens of controllers and programmes
        if kind in ("planner", "oracle"):
            assert audit.checked_cycles > 0, control
        elif kind == "builtin" or bare not in ENVELOPE_EXEMPT:
            assert audit.checked_greens > 0, control
    assert failures == []


def test_the_audit_sees_a_control_that_ignores_its_envelope(
    unseen: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """RESCO's baseline has no minimum or maximum green; held to the envelope, it is caught."""
    import twin.runner

    sc = load_scenario(unseen["crossings"])
    sc = sc.with_window(end_s=sc.begin_s + WINDOW_S)
    monkeypatch.setattr(twin.runner, "ENVELOPE_EXEMPT", frozenset())
    res = run_twin(sc, "resco-max-pressure", RunOptions(progress=False))
    assert res.audit is not None
    assert res.audit.violations > 0
    assert any("min_green" in v or "max_green" in v for v in res.audit.first_violations)
