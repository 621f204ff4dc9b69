"""The targets summary counts what the bench measured, and says what it did not measure."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from benchmarks import twin_targets
from benchmarks.twin_targets import BEGIN, END, lines_of, markdown, target, with_block


def _row(scenario: str, control: str, delay: float) -> dict[str, Any]:
    return {
        "scenario": scenario,
        "control": control,
        "metrics": {"avg_delay_s": delay, "delay_by_seed": {"1": delay - 1, "2": delay + 1}},
    }


def _bench(product: dict[str, float]) -> list[dict[str, Any]]:
    """Programme 100 s and actuated 50 s everywhere targeted; the product as given."""
    rows = []
    for name in twin_targets.TARGETED:
        rows += [_row(name, "programme", 100.0), _row(name, "actuated", 50.0)]
    rows += [_row(name, "optimizer", d) for name, d in product.items()]
    return rows


def test_every_scenario_below_programme_and_half_below_actuated_meets_both() -> None:
    names = twin_targets.TARGETED
    product = {n: 40.0 if i < 3 else 90.0 for i, n in enumerate(names)}
    by = {ln.scenario: ln for ln in lines_of(_bench(product))}
    assert target(by, "programme", len(names)) == ("met", 6, [], [])
    assert target(by, "actuated", 3) == ("met", 3, list(names[3:]), [])
    text = markdown(list(by.values()))
    assert "on every one: **met** (6 of 6" in text
    assert "at least half: **met** (3 of 6" in text


def test_one_loss_misses_the_programme_target_and_names_the_scenario() -> None:
    product = dict.fromkeys(twin_targets.TARGETED, 90.0) | {"cologne3": 120.0}
    by = {ln.scenario: ln for ln in lines_of(_bench(product))}
    status, won, lost, unmeasured = target(by, "programme", 6)
    assert (status, won, lost, unmeasured) == ("missed", 5, ["cologne3"], [])
    # a tie is not a win
    assert target(by, "actuated", 3)[0] == "missed"
    assert "not on cologne3" in markdown(list(by.values()))


def test_an_unmeasured_scenario_is_neither_won_nor_lost() -> None:
    product = dict.fromkeys(twin_targets.TARGETED[:-1], 40.0)  # the demo city not measured
    by = {ln.scenario: ln for ln in lines_of(_bench(product))}
    assert by[twin_targets.DEMO].beats("programme") is None
    status, won, lost, unmeasured = target(by, "programme", 6)
    assert (status, won, lost, unmeasured) == ("not measured", 5, [], [twin_targets.DEMO])
    # already five of six below actuated: met whatever the demo city gives
    assert target(by, "actuated", 3)[0] == "met"
    assert "not measured on " + twin_targets.DEMO in markdown(list(by.values()))


def test_the_mean_and_the_seeds_are_read_and_halves_declared() -> None:
    rows = [
        _row("cologne1", "programme", 43.0),
        _row("cologne1", "optimizer", 30.5),
        _row("cologne3", "programme", 35.8),
        _row("cologne3", "optimizer", 43.8),
    ]
    by = {ln.scenario: ln for ln in lines_of(rows)}
    assert by["cologne1"].delays["optimizer"] == 30.5
    assert by["cologne1"].delays["actuated"] is None
    assert by["cologne1"].seeds["optimizer"] == {"1": 29.5, "2": 31.5}
    assert (by["cologne1"].half, by["cologne3"].half) == ("design", "held out")
    text = markdown(list(by.values()))
    assert "| cologne1 | design | 43.0 | – | 30.5 | – | – | yes | – |" in text
    assert "| cologne3 | held out | 35.8 | – | 43.8 | – | – | **no** | – |" in text
    assert "The design half (1 scenarios measured): below the programme on 1" in text
    assert "The held out half (1 scenarios measured): below the programme on 0" in text


def test_the_block_replaces_an_earlier_one_and_keeps_the_rest() -> None:
    first = with_block("## Notes\n\ntext\n", "old\n")
    assert first.startswith(BEGIN)
    assert first.endswith("## Notes\n\ntext\n")
    again = with_block(first, "new\n")
    assert again.count(BEGIN) == 1
    assert "old" not in again
    assert "new\n" + END in again
    assert again.endswith("## Notes\n\ntext\n")


def test_main_writes_the_notes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    results, notes = tmp_path / "twin.json", tmp_path / "twin_notes.md"
    results.write_text(json.dumps(_bench(dict.fromkeys(twin_targets.TARGETED, 40.0))))
    notes.write_text("kept\n")
    monkeypatch.setattr(
        "sys.argv", ["twin_targets", "--results", str(results), "--notes", str(notes)]
    )
    twin_targets.main()
    written = notes.read_text()
    assert written.endswith("kept\n")
    assert "on every one: **met**" in written
