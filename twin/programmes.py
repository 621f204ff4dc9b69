"""The scenario's signal programmes: their green sequence, and an actuated copy of them for SUMO."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from graph.sumo import ProgramPhase, SumoSignal

ACTUATED_MIN_GREEN_S = 5.0
ACTUATED_MAX_GREEN_S = 60.0


def actuated_bounds(ph: ProgramPhase) -> tuple[float, float]:
    """Minimum and maximum green SUMO's actuated copy gives a green phase: the programme's own
    ``minDur``/``maxDur`` when it has them, else 5 s (or less) to 60 s (or its duration)."""
    bounded = ph.min_dur_s is not None and ph.max_dur_s is not None and ph.max_dur_s > ph.min_dur_s
    if bounded and ph.min_dur_s is not None and ph.max_dur_s is not None:
        return ph.min_dur_s, ph.max_dur_s
    return min(ACTUATED_MIN_GREEN_S, ph.duration_s), max(ACTUATED_MAX_GREEN_S, ph.duration_s)


def actuated_green_bounds(signal: SumoSignal) -> dict[int, tuple[float, float]]:
    """Per model phase (index into ``green_states``), the bounds SUMO's actuated copy runs it
    with (the loosest over the programme's phases showing that state)."""
    out: dict[int, tuple[float, float]] = {}
    for ph in signal.program:
        if ph.is_green() and ph.state in signal.green_states:
            k = signal.green_states.index(ph.state)
            lo, hi = actuated_bounds(ph)
            if k in out:
                lo, hi = min(lo, out[k][0]), max(hi, out[k][1])
            out[k] = (lo, hi)
    return out


def write_actuated_programmes(signals: dict[str, SumoSignal], path: Path) -> str:
    """An additional file turning every programme actuated (same phases); returns its programID."""
    program_id = "aiguilleur-actuated"
    root = ET.Element("additional")
    for sig in signals.values():
        tl = ET.SubElement(
            root,
            "tlLogic",
            id=sig.tls_id,
            type="actuated",
            programID=program_id,
            offset=f"{sig.offset_s:g}",
        )
        for ph in sig.program:
            attrs = {"duration": f"{ph.duration_s:g}", "state": ph.state}
            if ph.is_green():
                lo, hi = actuated_bounds(ph)
                attrs |= {"minDur": f"{lo:g}", "maxDur": f"{hi:g}"}
            ET.SubElement(tl, "phase", attrs)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
    return program_id


def programme_greens(signal: SumoSignal) -> list[tuple[int, float]]:
    """The scenario programme's green sequence as ``(model phase, green s)``."""
    seq: list[tuple[int, float]] = []
    for i, ph in enumerate(signal.program):
        if not ph.is_green():
            continue
        k = signal.green_states.index(ph.state)
        if seq and seq[-1][0] == k and signal.program[i - 1].state == ph.state:
            seq[-1] = (k, seq[-1][1] + ph.duration_s)
        else:
            seq.append((k, ph.duration_s))
    return seq
