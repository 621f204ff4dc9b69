"""The product against each network's programme and SUMO's actuated control, from a twin bench.

Reads the JSON results of ``aiguilleur twin bench`` (``docs/bench/twin.json`` by default) and
writes, between markers in ``docs/bench/twin_notes.md`` (which ``twin bench`` appends to
``twin.md``), one line per scenario: which half it belongs to (designs were chosen on the
``design`` half only), the mean delay over the seeds of the programme, SUMO's actuated control, the
product's plans (``optimizer``, the default planner), the zone planner (``coordinated``) and the
``oracle`` upper bound, and whether the product beats the programme and actuated. Then the targets
of issue 10, met or missed, counted from the same lines.

A target is ``met``, ``missed`` or ``not measured`` (too few of its scenarios measured to tell).
Run it after the bench, then ``aiguilleur twin bench`` again with the same scenarios (every row
is already in the results, nothing re-runs) to rewrite ``twin.md`` with the new notes.

Usage: .venv/bin/python -m benchmarks.twin_targets [--results docs/bench/twin.json]
       [--notes docs/bench/twin_notes.md]
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.adaptive_bench import DESIGN_SHARED
from benchmarks.twin_unseen import EVAL_NETWORKS

REPO = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- targets: benchmarks/twin_targets.py -->", "<!-- end of targets -->"
PRODUCT = "optimizer"
RESCO = ("arterial4x4", "cologne1", "cologne3", "grid4x4", "ingolstadt1")
DEMO = "lyon-villeurbanne"
TARGETED = (*RESCO, DEMO)
COLUMNS = ("programme", "actuated", PRODUCT, "coordinated", "oracle")


@dataclass(frozen=True)
class Line:
    """One scenario's figures (mean delay over the seeds, s; ``None``: not measured)."""

    scenario: str
    half: str
    delays: dict[str, float | None]
    seeds: dict[str, dict[str, float]]

    def beats(self, other: str) -> bool | None:
        """Whether the product's mean delay is below ``other``'s (``None``: one is missing)."""
        mine, theirs = self.delays.get(PRODUCT), self.delays.get(other)
        if mine is None or theirs is None:
            return None
        return mine < theirs


def half_of(name: str) -> str:
    """``design`` or ``held out``, as declared before any design was chosen."""
    design = {spec.name for spec in EVAL_NETWORKS if spec.design} | set(DESIGN_SHARED)
    return "design" if name in design else "held out"


def lines_of(rows: list[dict[str, Any]]) -> list[Line]:
    """One line per scenario of the bench results."""
    by: dict[str, dict[str, dict[str, Any]]] = {}
    for r in rows:
        by.setdefault(r["scenario"], {})[r["control"]] = r["metrics"]
    out = []
    for name, res in sorted(by.items(), key=lambda kv: _order(kv[0])):
        delays = {c: _delay(res.get(c)) for c in COLUMNS}
        seeds = {c: res[c].get("delay_by_seed", {}) for c in COLUMNS if c in res}
        out.append(Line(name, half_of(name), delays, seeds))
    return out


def _order(name: str) -> tuple[int, str]:
    generated = {spec.name for spec in EVAL_NETWORKS}
    group = 0 if name in RESCO else 1 if name == DEMO else 3 if name in generated else 2
    return group, name


def _delay(metrics: dict[str, Any] | None) -> float | None:
    return None if metrics is None else float(metrics["avg_delay_s"])


def _cell(v: float | None) -> str:
    return "–" if v is None else f"{v:.1f}"


def _yes(v: bool | None) -> str:
    return "–" if v is None else "yes" if v else "**no**"


def target(
    lines: dict[str, Line], other: str, needed: int
) -> tuple[str, int, list[str], list[str]]:
    """A target on the targeted scenarios: ``met``, ``missed`` or ``not measured`` (too few
    scenarios measured to tell), with how many were won, which were lost and which unmeasured."""
    verdicts = {name: lines[name].beats(other) if name in lines else None for name in TARGETED}
    won = sum(v is True for v in verdicts.values())
    lost = [n for n, v in verdicts.items() if v is False]
    unmeasured = [n for n, v in verdicts.items() if v is None]
    if won >= needed:
        status = "met"
    elif won + len(unmeasured) < needed:
        status = "missed"
    else:
        status = "not measured"
    return status, won, lost, unmeasured


def _target(lines: dict[str, Line], other: str, needed: int) -> str:
    status, won, lost, unmeasured = target(lines, other, needed)
    text = f"**{status}** ({won} of {len(TARGETED)}, {needed} needed"
    if lost:
        text += f"; not on {', '.join(lost)}"
    if unmeasured:
        text += f"; not measured on {', '.join(unmeasured)}"
    return text + ")."


def markdown(lines: list[Line]) -> str:
    """The summary table and the targets, met or missed."""
    out = [
        "## The product against the programme and SUMO's actuated control",
        "",
        "Mean average delay over the seeds (s). `optimizer` is the product's plans (the default "
        "planner, through the worker's own code); `coordinated` the zone planner; `oracle` the "
        "same estimator and optimiser on exact turning counts (an upper bound, not the product). "
        "Half: designs were chosen on the `design` half only (declared before: the generated "
        "networks marked `design` in `benchmarks/twin_unseen.py` and "
        + ", ".join(DESIGN_SHARED)
        + "); the others are held out. Each seed's delay is in the scenario's own table above.",
        "",
        "| scenario | half | " + " | ".join(COLUMNS) + " | beats programme | beats actuated |",
        "|---|---|" + "---|" * len(COLUMNS) + "---|---|",
    ]
    for ln in lines:
        cells = [ln.scenario, ln.half, *(_cell(ln.delays[c]) for c in COLUMNS)]
        cells += [_yes(ln.beats("programme")), _yes(ln.beats("actuated"))]
        out.append("| " + " | ".join(cells) + " |")
    targeted = {ln.scenario: ln for ln in lines if ln.scenario in TARGETED}
    out += ["", "**Targets** (issue 10), on the five RESCO scenarios and the demo city:", ""]
    out.append(
        "- The product beats the network's programme on every one: "
        + _target(targeted, "programme", len(TARGETED))
    )
    out.append(
        "- The product beats SUMO's actuated control on at least half: "
        + _target(targeted, "actuated", (len(TARGETED) + 1) // 2)
    )
    every = [ln for ln in lines if ln.beats("programme") is not None]
    for half in ("design", "held out"):
        mine = [ln for ln in every if ln.half == half]
        if mine:
            won = sum(bool(ln.beats("programme")) for ln in mine)
            act = sum(bool(ln.beats("actuated")) for ln in mine)
            out.append(
                f"- The {half} half ({len(mine)} scenarios measured): below the programme on "
                f"{won}, below actuated on {act}."
            )
    return "\n".join(out) + "\n"


def with_block(notes: str, text: str) -> str:
    """``notes`` with ``text`` between the markers: replaces an earlier block, else comes first
    (the rest of the notes is kept as it was)."""
    block = f"{BEGIN}\n{text}{END}"
    if BEGIN in notes and END in notes:
        head, rest = notes.split(BEGIN, 1)
        return head + block + rest.split(END, 1)[1]
    return block + "\n\n" + notes


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--results", type=Path, default=REPO / "docs" / "bench" / "twin.json")
    ap.add_argument("--notes", type=Path, default=REPO / "docs" / "bench" / "twin_notes.md")
    args = ap.parse_args()
    text = markdown(lines_of(json.loads(args.results.read_text())))
    notes = args.notes.read_text() if args.notes.is_file() else ""
    args.notes.write_text(with_block(notes, text))
    print(text)


if __name__ == "__main__":
    main()
