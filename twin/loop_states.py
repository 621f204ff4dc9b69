"""Junction states from induction loops only: what a city with loops, and no cameras, can give.

Every signalised approach lane gets a **stop-line loop** (2 m before the stop line) and an
**advance loop** (:data:`ADVANCE_M` upstream, or the lane's start on a shorter lane); every exit
lane a loop at its **start** and one at its **end**. From their pulses alone (a vehicle arriving
on a loop, leaving it, a loop occupied, the time since the last vehicle), per lane:

- vehicles between the advance and the stop-line loop: arrivals on the advance loop minus
  departures from the stop-line loop (a vehicle standing on the stop-line loop is still queued),
  bounded by the storage between them, reset to zero once both loops have been free for the
  distance between them at :data:`RESET_SPEED_MPS` (and at least :data:`RESET_GAP_S`); at least
  that storage when the advance loop stays occupied (the queue reaches it);
- approaching vehicles: those that crossed the advance loop and would not yet have reached the
  stop line from the speed the loop measured, accelerating to the lane's speed limit (point-queue
  arrival estimates); the rest are queued;
- the wait at the stop line: how long the stop-line loop has been occupied without a break;
- the gap: time since a vehicle last crossed the stop-line or the advance loop (gap logic);
- per exit lane: vehicles on it (arrivals on its start loop minus departures from its end loop,
  bounded by its storage; all of it when its start loop stays occupied: the queue reaches back to
  the junction).

Lane changes between two loops of one lane make counts drift; the bounds and resets keep them in
range. No vehicle route or position is read: loops do not see them (SUMO's vehicle ids only tell
one pulse from the next when a vehicle stays on a loop over several steps).
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

ADVANCE_M = 60.0
"""Distance of the advance loop from the stop line."""
STOP_SETBACK_M = 2.0
VEH_SPACING_M = 7.5
"""Road a queued car takes (its length and the gap to the next)."""
OCCUPIED_QUEUE_S = 2.0
"""A loop occupied this long without a break has a queued vehicle on it."""
RESET_GAP_S = 5.0
RESET_SPEED_MPS = 5.0
"""A vehicle past the advance loop reaches the stop-line loop at least this fast on average, or
queues behind one standing on it: counts between the two loops are reset only after both have
been free for the distance at this speed (and :data:`RESET_GAP_S`)."""

ACCEL_MPS2 = 2.6
"""A passenger car's acceleration (SUMO's default), for arrival estimates."""


def travel_time(dist_m: float, speed_mps: float, vmax_mps: float) -> float:
    """Seconds to cover ``dist_m`` from ``speed_mps``, accelerating at :data:`ACCEL_MPS2` up to
    ``vmax_mps`` (a vehicle pulling away from a queue is not stuck at its current speed)."""
    v0 = max(speed_mps, 0.0)
    vmax = max(vmax_mps, v0, 0.1)
    t_acc = (vmax - v0) / ACCEL_MPS2
    d_acc = (v0 + vmax) / 2.0 * t_acc
    if dist_m <= d_acc:
        return (math.sqrt(v0 * v0 + 2.0 * ACCEL_MPS2 * dist_m) - v0) / ACCEL_MPS2
    return t_acc + (dist_m - d_acc) / vmax


LiveInputs = Literal["full", "loops", "gaps"]
"""What the twin's live controllers are given: ``full`` (SUMO's halting vehicles and arrival
times, what video or radar tracking gives), ``loops`` (states built here from loops only),
``gaps`` (queues not measured, only the loops' gaps: the controllers' fall-back)."""


@dataclass(frozen=True)
class ControlLoops:
    """The loops of a run: per lane its loop ids, and the distances the estimates need."""

    approach: dict[str, tuple[str, str, float]]
    """Approach lane -> (stop-line loop id, advance loop id, metres between them)."""
    exits: dict[str, tuple[str, str, float]]
    """Exit lane -> (start loop id, end loop id, lane length)."""


def write_control_loops(
    approach_lanes: dict[str, float], exit_lanes: dict[str, float], path: Path
) -> ControlLoops:
    """Write the loops of :class:`ControlLoops` (lane -> length) into an additional file."""
    root = ET.Element("additional")
    out = str(path.with_suffix(".out.xml"))
    approach: dict[str, tuple[str, str, float]] = {}
    exits: dict[str, tuple[str, str, float]] = {}

    def loop(det: str, lane: str, pos: float) -> str:
        ET.SubElement(
            root,
            "inductionLoop",
            id=det,
            lane=lane,
            pos=f"{pos:.2f}",
            period="86400",
            file=out,
            friendlyPos="true",
        )
        return det

    for lane, length in sorted(approach_lanes.items()):
        stop = max(0.1, length - STOP_SETBACK_M)
        adv = max(0.1, length - ADVANCE_M)
        approach[lane] = (
            loop(f"ctl_stop_{lane}", lane, stop),
            loop(f"ctl_adv_{lane}", lane, adv),
            max(0.0, stop - adv),
        )
    for lane, length in sorted(exit_lanes.items()):
        exits[lane] = (
            loop(f"ctl_in_{lane}", lane, min(3.0, length / 2)),
            loop(f"ctl_out_{lane}", lane, max(0.1, length - STOP_SETBACK_M)),
            length,
        )
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
    return ControlLoops(approach=approach, exits=exits)


@dataclass
class _Loop:
    """What one loop has said so far."""

    entries: int = 0
    """Vehicles that entered it during the last step."""
    leaves: int = 0
    """Vehicles that left it during the last step."""
    seen: set[str] = field(default_factory=set)
    gone: set[str] = field(default_factory=set)
    occupied_since: float | None = None
    gap_s: float = 0.0
    speed_mps: float = -1.0


@dataclass
class _Approach:
    between: float = 0.0
    transit: list[float] = field(default_factory=list)
    """Expected stop-line arrival times of vehicles past the advance loop."""


class LoopStates:
    """Per-lane estimates from the loops of a run, updated once per simulation step."""

    def __init__(self, api: Any, loops: ControlLoops) -> None:
        self._api = api
        self.loops = loops
        self._loop: dict[str, _Loop] = {}
        for stop, adv, _ in loops.approach.values():
            self._loop[stop] = _Loop()
            self._loop[adv] = _Loop()
        for start, end, _ in loops.exits.values():
            self._loop[start] = _Loop()
            self._loop[end] = _Loop()
        self._approach = {lane: _Approach() for lane in loops.approach}
        self._vmax = {lane: float(api.lane.getMaxSpeed(lane)) for lane in loops.approach}
        """Speed limit of each approach lane (the network's, not a measurement)."""
        self._exit = dict.fromkeys(loops.exits, 0.0)
        self._now = 0.0

    def _read(self, det: str, now: float, step: float) -> _Loop:
        il = self._api.inductionloop
        st = self._loop[det]
        data = il.getVehicleData(det)
        # A loop's pulse: a vehicle arriving on it, and leaving it. SUMO lists a vehicle in two
        # steps when it crosses at a step boundary (or stands on the loop): each counts once.
        # The ids only tell one pulse from the next; no estimate reads them.
        on = {str(d[0]) for d in data}
        left = {str(d[0]) for d in data if float(d[3]) >= 0}
        st.entries = len(on - st.seen)
        st.leaves = len(left - st.gone)
        st.seen, st.gone = on, left
        del step
        occupied = any(float(d[3]) < 0 for d in data)
        if occupied and st.occupied_since is None:
            entry = [float(d[2]) for d in data if float(d[3]) < 0]
            st.occupied_since = min(entry) if entry else now
        elif not occupied:
            st.occupied_since = None
        st.gap_s = float(il.getTimeSinceDetection(det))
        st.speed_mps = float(il.getLastStepMeanSpeed(det))
        return st

    def _held(self, st: _Loop, now: float) -> float:
        """How long the loop has been occupied without a break (0 when free)."""
        return 0.0 if st.occupied_since is None else now - st.occupied_since

    def tick(self, now: float, step: float) -> None:
        """Read every loop once (after each simulation step)."""
        self._now = now
        for lane, (stop_id, adv_id, dist) in self.loops.approach.items():
            stop, adv = self._read(stop_id, now, step), self._read(adv_id, now, step)
            a = self._approach[lane]
            storage = max(1.0, dist / VEH_SPACING_M)
            # Point-queue arrival at the stop line: the loop's speed, accelerating to the limit.
            eta = travel_time(dist, max(adv.speed_mps, 0.0), self._vmax[lane])
            a.transit += [now + eta] * adv.entries
            a.between = min(storage + 1.0, max(0.0, a.between + adv.entries - stop.leaves))
            a.transit = [t for t in a.transit if t > now][: int(a.between)]
            if self._held(adv, now) >= OCCUPIED_QUEUE_S:
                a.between = max(a.between, storage)
            free = stop.occupied_since is None and stop.gap_s >= RESET_GAP_S
            if free and adv.gap_s >= max(RESET_GAP_S, dist / RESET_SPEED_MPS):
                a.between, a.transit = 0.0, []
        for lane, (in_id, out_id, length) in self.loops.exits.items():
            start, end = self._read(in_id, now, step), self._read(out_id, now, step)
            storage = max(1.0, length / VEH_SPACING_M)
            n = min(storage, max(0.0, self._exit[lane] + start.entries - end.leaves))
            if self._held(start, now) >= OCCUPIED_QUEUE_S:
                n = storage
            elif min(start.gap_s, end.gap_s) >= RESET_GAP_S and end.occupied_since is None:
                n = 0.0
            self._exit[lane] = n

    def queue(self, lane: str) -> float:
        """Vehicles believed queued on an approach lane (between its loops, not in transit)."""
        a = self._approach[lane]
        return max(0.0, a.between - len(a.transit))

    def arrivals(self, lane: str) -> list[float]:
        """Seconds until each vehicle in transit on an approach lane reaches the stop line."""
        return [t - self._now for t in self._approach[lane].transit]

    def waiting_s(self, lane: str) -> float:
        """How long a vehicle has stood on the lane's stop-line loop."""
        st = self._loop[self.loops.approach[lane][0]]
        held = self._held(st, self._now)
        return held if held >= OCCUPIED_QUEUE_S else 0.0

    def gap_s(self, lane: str) -> float:
        """Seconds since a vehicle last crossed the lane's stop-line or advance loop (0 while one
        is on either): a queue discharging over the stop line keeps the gap short even when no
        vehicle passes the advance loop, which stands between two stopped cars."""
        stop, adv = self.loops.approach[lane][:2]
        return min(self._loop[stop].gap_s, self._loop[adv].gap_s)

    def on_exit(self, lane: str) -> float:
        """Vehicles believed on an exit lane."""
        return self._exit[lane]

    def exit_storage(self, lane: str) -> float:
        """Vehicles an exit lane holds."""
        return max(1.0, self.loops.exits[lane][2] / VEH_SPACING_M)
