"""The scenario's signal programmes: their green sequence, and an actuated copy of them for SUMO."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from graph.sumo import ProgramPhase, SumoSignal

DEFAULT_MIN_GREEN_S = 5.0
DEFAULT_MAX_GREEN_S = 60.0
"""The twin's safety bounds for a green whose programme phase states no ``minDur``/``maxDur``:
5 s minimum (or the programme's green when shorter), 60 s maximum (or the programme's green when
longer). Every control the twin compares runs under the same bounds: SUMO's actuated copy of the
programme and the live controllers (``twin.live_policy.live_envelopes``). SUMO's netconvert
makes actuated programmes with 5 s and 50 s; the network model (``graph.sumo``) proposes 7 s and
90 s to an operator, which on a corridor's main road leaves SUMO's actuated control at its
maximum green whenever traffic is continuous (docs/bench/adaptive.md)."""


def green_bounds(ph: ProgramPhase) -> tuple[float, float]:
    """Minimum and maximum green of a green programme phase: the programme's own
    ``minDur``/``maxDur`` when it has them, else :data:`DEFAULT_MIN_GREEN_S` (or less) to
    :data:`DEFAULT_MAX_GREEN_S` (or its duration)."""
    bounded = ph.min_dur_s is not None and ph.max_dur_s is not None and ph.max_dur_s > ph.min_dur_s
    if bounded and ph.min_dur_s is not None and ph.max_dur_s is not None:
        return ph.min_dur_s, ph.max_dur_s
    return min(DEFAULT_MIN_GREEN_S, ph.duration_s), max(DEFAULT_MAX_GREEN_S, ph.duration_s)


def programme_green_bounds(signal: SumoSignal) -> dict[int, tuple[float, float]]:
    """Per model phase (index into ``green_states``), the bounds :func:`green_bounds` gives it
    (the loosest over the programme's phases showing that state)."""
    out: dict[int, tuple[float, float]] = {}
    for ph in signal.program:
        if ph.is_green() and ph.state in signal.green_states:
            k = signal.green_states.index(ph.state)
            lo, hi = green_bounds(ph)
            if k in out:
                lo, hi = min(lo, out[k][0]), max(hi, out[k][1])
            out[k] = (lo, hi)
    return out


def write_actuated_programmes(signals: dict[str, SumoSignal], path: Path) -> str:
    """An additional file turning every programme actuated (same phases, greens within
    :func:`green_bounds`); returns its programID."""
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
                lo, hi = green_bounds(ph)
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
