"""What-if: the same scenario before and after a change, compared in a report an operator can read.

Changes: closed edges (vehicles planning to use them reroute), a demand factor (an event, a
heatwave evening), candidate fixed-time plans, and a time window. Both runs use the same seed,
control and window, so the difference is the change.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, replace
from pathlib import Path

import msgspec

from optimizer.model import Plan
from twin.errors import ScenarioError
from twin.metrics import RunMetrics
from twin.options import RunOptions, RunResult
from twin.runner import run_twin
from twin.scenario import Scenario, open_xml

WHATIF_TELEPORT_S = 300.0
"""SUMO's default jam teleport: a closure may gridlock a network, and an operator wants to see it
as teleports rather than as a simulation that never ends."""

FIGURES = (
    ("avg_delay_s", "Average delay per vehicle", "s"),
    ("avg_trip_time_s", "Average trip time", "s"),
    ("avg_waiting_time_s", "Average time stopped", "s"),
    ("avg_queue_veh", "Average queue per junction", "veh"),
    ("stops_per_veh", "Stops per vehicle", ""),
    ("vehicles_arrived", "Vehicles that arrived", ""),
    ("vehicles_never_inserted", "Vehicles that could not enter", ""),
    ("teleports", "Vehicles teleported out of a jam", ""),
    ("co2_kg", "CO2 emitted", "kg"),
)


@dataclass(frozen=True, kw_only=True)
class Changes:
    """What the operator wants to try."""

    closed_edges: tuple[str, ...] = ()
    demand_factor: float = 1.0
    plans: dict[str, Plan] | None = None

    def describe(self, names: dict[str, str] | None = None) -> str:
        """The changes in words (street names where the network gives them)."""
        parts = []
        if self.closed_edges:
            shown = [
                f"{names[e]} (`{e}`)" if names and names.get(e) else f"`{e}`"
                for e in self.closed_edges
            ]
            parts.append("road closed: " + ", ".join(shown))
        if self.demand_factor != 1.0:
            parts.append(f"demand × {self.demand_factor:g}")
        if self.plans:
            parts.append("candidate plans for " + ", ".join(f"`{j}`" for j in sorted(self.plans)))
        return "; ".join(parts) or "no change"


@dataclass(frozen=True, kw_only=True)
class WhatIfResult:
    """The two runs."""

    scenario: Scenario
    changes: Changes
    control: str
    before: RunResult
    after: RunResult


def read_plans(path: Path) -> dict[str, Plan]:
    """Candidate plans from JSON: one Plan, a list of Plans, or ``{junction_id: Plan}``."""
    try:
        raw = msgspec.json.decode(path.read_bytes())
    except (OSError, msgspec.DecodeError) as e:
        raise ScenarioError(str(path), f"cannot read plans: {e}") from e
    items = (
        raw if isinstance(raw, list) else list(raw.values()) if "junction_id" not in raw else [raw]
    )
    try:
        plans = [msgspec.convert(p, Plan) for p in items]
    except msgspec.ValidationError as e:
        raise ScenarioError(str(path), f"not a plan: {e}") from e
    return {p.junction_id: p for p in plans}


def run_whatif(
    scenario: Scenario,
    changes: Changes,
    *,
    control: str = "programme",
    options: RunOptions | None = None,
) -> WhatIfResult:
    """Run ``scenario`` as it is, then with ``changes``."""
    base = options or RunOptions(time_to_teleport_s=WHATIF_TELEPORT_S, progress=False)
    before = run_twin(scenario, control, base)
    after_opts = replace(
        base,
        closed_edges=changes.closed_edges,
        demand_factor=changes.demand_factor,
        plans=changes.plans,
    )
    after = run_twin(scenario, "plan" if changes.plans else control, after_opts)
    return WhatIfResult(
        scenario=scenario, changes=changes, control=control, before=before, after=after
    )


def _change(b: float, a: float) -> str:
    if b == 0:
        return "–" if a == 0 else "new"
    return f"{(a - b) / b:+.0%}"


def _headline(b: RunMetrics, a: RunMetrics) -> str:
    d = (a.avg_delay_s - b.avg_delay_s) / b.avg_delay_s if b.avg_delay_s else 0.0
    word = "raises" if d > 0.02 else "lowers" if d < -0.02 else "barely changes"
    return (
        f"The change {word} the average delay per vehicle: {b.avg_delay_s:.1f} s before, "
        f"{a.avg_delay_s:.1f} s after ({d:+.0%})."
    )


def write_report(result: WhatIfResult, out_dir: Path) -> Path:
    """``report.md`` and ``figures.png`` in ``out_dir``; returns the Markdown path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    b, a = result.before.metrics, result.after.metrics
    sc = result.scenario
    names = edge_names(sc.net, result.changes.closed_edges)
    minutes = (sc.end_s - sc.begin_s) / 60
    then = " then the candidate plans" if result.changes.plans else ""
    lines = [
        f"# What-if: {sc.name}",
        "",
        f"**Change:** {result.changes.describe(names)}.  ",
        f"**Window:** {sc.begin_s:g} s to {sc.end_s:g} s of simulation ({minutes:.0f} min); "
        f"signals: `{result.control}`{then}.",
        "",
        _headline(b, a),
        "",
        "| figure | before | after | change |",
        "|---|---|---|---|",
    ]
    for key, label, unit in FIGURES:
        vb, va = float(getattr(b, key)), float(getattr(a, key))
        u = f" {unit}" if unit else ""
        lines.append(f"| {label} | {vb:g}{u} | {va:g}{u} | {_change(vb, va)} |")
    lines += [
        "",
        "Delay counts the time lost to congestion and signals (SUMO `timeLoss`), the wait before "
        "entering the network, and the wait of vehicles that never could enter. Same demand "
        "seed in both runs: the difference is the change.",
        "",
        "![figures](figures.png)",
        "",
    ]
    _plot(result, out_dir / "figures.png", result.changes.describe(names).replace("`", ""))
    path = out_dir / "report.md"
    path.write_text("\n".join(lines))
    return path


def edge_names(net: Path, edges: tuple[str, ...]) -> dict[str, str]:
    """Street names of ``edges`` from the SUMO network (missing ones left out)."""
    if not edges or not net.is_file():
        return {}
    wanted = set(edges)
    out: dict[str, str] = {}
    with open_xml(net) as f:
        for _, el in ET.iterparse(f):
            if el.tag == "edge" and el.attrib.get("id") in wanted and el.attrib.get("name"):
                out[el.attrib["id"]] = el.attrib["name"]
                if len(out) == len(wanted):
                    break
    return out


def _plot(result: WhatIfResult, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    b, a = result.before.metrics, result.after.metrics
    keys = [k for k, _, _ in FIGURES[:5]] + ["co2_kg"]
    labels = [lbl for k, lbl, _ in FIGURES if k in keys]
    vb = [float(getattr(b, k)) for k in keys]
    va = [float(getattr(a, k)) for k in keys]
    fig, axes = plt.subplots(1, len(keys), figsize=(2.4 * len(keys), 3.2))
    for ax, lbl, x, y in zip(axes, labels, vb, va, strict=True):
        ax.bar(["before", "after"], [x, y], color=["#888", "#c53" if y > x else "#2a7"])
        ax.set_title(lbl, fontsize=8)
        ax.tick_params(labelsize=7)
    fig.suptitle(f"{result.scenario.name}: {title}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
