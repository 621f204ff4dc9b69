"""Link state: travel time per road link from what detectors see, and congestion signatures.

Pure: readings and the link's free-flow time and capacity in, a typed state out.

- **Travel time**: the BPR function of the US Bureau of Public Roads,
  ``t = t0 (1 + alpha (v/c)^beta)`` (alpha 0.15, beta 4), with the capacity ``c`` from the
  network model and the measured flow ``v``. BPR reads a falling flow as a faster road, which is
  wrong once the link is jammed (flow falls *because* of the queue), so where a speed is known the
  time is at least ``length / speed``: the detector's mean speed, else the speed implied by flow
  and occupancy (``speed = flow / density``, density = occupancy / effective vehicle length).
- **Congestion**: occupancy above a critical value and rising while the flow falls (the
  signature of a queue growing over the detector), or occupancy at jam level whatever the trend.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import msgspec

TimeSource = Literal["free_flow", "bpr", "measured_speed", "flow_occupancy"]


class BprParams(msgspec.Struct, frozen=True, kw_only=True):
    """The BPR curve (the Bureau of Public Roads' 1964 values)."""

    alpha: float = 0.15
    beta: float = 4.0


class CongestionParams(msgspec.Struct, frozen=True, kw_only=True):
    """Thresholds of the congestion signature."""

    critical_occupancy: float = 0.25
    """Above this time occupancy, a loop sees a queue rather than free-flowing traffic (urban
    loops: 20-30 %)."""
    jam_occupancy: float = 0.5
    rise: float = 0.05
    """Least rise of the occupancy over the readings for the signature (0.05 = 5 points)."""
    fall: float = 0.10
    """Least relative fall of the flow over the readings for the signature."""
    effective_vehicle_m: float = 6.5
    """Vehicle plus detector length, to turn occupancy into density."""


class LinkReading(msgspec.Struct, frozen=True, kw_only=True):
    """What the detectors of one link saw over one interval (oldest first in a sequence)."""

    flow_vph: float
    occupancy: float | None = None
    speed_kmh: float | None = None


@dataclass(frozen=True, slots=True)
class LinkState:
    """The state of one link the rerouting works with."""

    flow_vph: float
    capacity_vph: float
    free_time_s: float
    time_s: float
    source: TimeSource
    congested: bool = False
    reason: str = ""
    """What the congestion signature saw (empty when not congested)."""


def bpr_time_s(free_time_s: float, flow_vph: float, capacity_vph: float, bpr: BprParams) -> float:
    """BPR travel time of a link carrying ``flow_vph``."""
    if capacity_vph <= 0:
        return float("inf") if flow_vph > 0 else free_time_s
    return free_time_s * (1.0 + bpr.alpha * float((flow_vph / capacity_vph) ** bpr.beta))


def marginal_time_s(
    free_time_s: float, flow_vph: float, capacity_vph: float, bpr: BprParams
) -> float:
    """What one more vehicle adds to the link's total travel time, its own included:
    ``d(v t(v))/dv = t0 (1 + alpha (1 + beta) (v/c)^beta)``."""
    if capacity_vph <= 0:
        return float("inf")
    return free_time_s * (
        1.0 + bpr.alpha * (1.0 + bpr.beta) * float((flow_vph / capacity_vph) ** bpr.beta)
    )


def system_cost_veh_s_per_h(
    free_time_s: float,
    background_vph: float,
    added_vph: float,
    capacity_vph: float,
    bpr: BprParams,
) -> float:
    """Extra vehicle-seconds per hour on a link when ``added_vph`` joins ``background_vph``."""
    after = background_vph + added_vph
    before = background_vph
    return after * bpr_time_s(free_time_s, after, capacity_vph, bpr) - before * bpr_time_s(
        free_time_s, before, capacity_vph, bpr
    )


def speed_from_flow_occupancy(
    flow_vph: float, occupancy: float, params: CongestionParams
) -> float | None:
    """Space-mean speed (km/h) from flow and time occupancy (single-loop estimate)."""
    if occupancy <= 0:
        return None
    density_veh_km = occupancy * 1000.0 / params.effective_vehicle_m
    return flow_vph / density_veh_km


def _trend(values: Sequence[float]) -> float:
    """Least-squares slope per reading times the span (the fitted change over the readings)."""
    n = len(values)
    if n < 2:
        return 0.0
    mx = (n - 1) / 2
    my = sum(values) / n
    num = sum((i - mx) * (v - my) for i, v in enumerate(values))
    den = sum((i - mx) ** 2 for i in range(n))
    return num / den * (n - 1)


def congestion_signature(
    readings: Sequence[LinkReading], params: CongestionParams
) -> tuple[bool, str]:
    """Whether the readings show congestion, and what was seen."""
    occ = [r.occupancy for r in readings if r.occupancy is not None]
    if not occ:
        return False, ""
    last = occ[-1]
    if last >= params.jam_occupancy:
        return True, f"occupancy {last:.2f} at jam level (>= {params.jam_occupancy:g})"
    if last < params.critical_occupancy or len(occ) < 2:
        return False, ""
    flows = [r.flow_vph for r in readings if r.occupancy is not None]
    rise = _trend(occ)
    fall = -_trend(flows)
    first_flow = max(flows[0], 1.0)
    if rise >= params.rise and fall / first_flow >= params.fall:
        return True, (
            f"occupancy {occ[0]:.2f} -> {last:.2f} rising while flow fell "
            f"{flows[0]:.0f} -> {flows[-1]:.0f} veh/h"
        )
    return False, ""


def link_state(
    free_time_s: float,
    length_m: float,
    capacity_vph: float,
    readings: Sequence[LinkReading],
    *,
    bpr: BprParams | None = None,
    congestion: CongestionParams | None = None,
    assumed_flow_vph: float = 0.0,
) -> LinkState:
    """State of one link from its readings (oldest first); without readings, the BPR time at
    ``assumed_flow_vph``."""
    bpr = bpr or BprParams()
    congestion = congestion or CongestionParams()
    if not readings:
        source: TimeSource = "bpr" if assumed_flow_vph > 0 else "free_flow"
        time = bpr_time_s(free_time_s, assumed_flow_vph, capacity_vph, bpr)
        return LinkState(assumed_flow_vph, capacity_vph, free_time_s, time, source)
    last = readings[-1]
    flow = last.flow_vph
    time = bpr_time_s(free_time_s, flow, capacity_vph, bpr)
    source = "bpr"
    speed = last.speed_kmh
    speed_source: TimeSource = "measured_speed"
    if (speed is None or speed <= 0) and last.occupancy is not None:
        speed = speed_from_flow_occupancy(flow, last.occupancy, congestion)
        speed_source = "flow_occupancy"
    if speed is not None and speed > 0:
        by_speed = max(free_time_s, length_m / (speed / 3.6))
        if by_speed > time:
            time, source = by_speed, speed_source
    congested, reason = congestion_signature(readings, congestion)
    return LinkState(flow, capacity_vph, free_time_s, time, source, congested, reason)
