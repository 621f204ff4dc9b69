"""Control delay of a signalised lane group: HCM uniform plus incremental delay."""

from __future__ import annotations

import math

ANALYSIS_PERIOD_H = 0.25
"""HCM analysis period T (hours) used by the incremental delay term."""


def degree_of_saturation(
    flow_vph: float, saturation_flow_vph: float, effective_green_s: float, cycle_s: float
) -> float:
    """x = q / c with capacity c = s * g / C."""
    capacity = saturation_flow_vph * effective_green_s / cycle_s
    if capacity <= 0:
        return math.inf if flow_vph > 0 else 0.0
    return flow_vph / capacity


def control_delay_s(
    flow_vph: float, saturation_flow_vph: float, effective_green_s: float, cycle_s: float
) -> float:
    """Average control delay per vehicle (s): HCM d1 + d2 with k=0.5, I=1, T=0.25 h.

    Valid for undersaturated and oversaturated lane groups alike (d2 grows with the queue that
    builds during the analysis period when x > 1).
    """
    if flow_vph <= 0:
        return 0.0
    g_ratio = max(0.0, min(1.0, effective_green_s / cycle_s))
    capacity = saturation_flow_vph * g_ratio
    if capacity <= 0:
        return (
            900.0 * ANALYSIS_PERIOD_H * 4
        )  # no green at all: a full analysis period of waiting, capped
    x = flow_vph / capacity
    # Green all cycle long: no red to wait through (and the formula would divide by zero at x >= 1).
    d1 = 0.0 if g_ratio >= 1 else 0.5 * cycle_s * (1 - g_ratio) ** 2 / (1 - min(1.0, x) * g_ratio)
    t = ANALYSIS_PERIOD_H
    d2 = 900 * t * ((x - 1) + math.sqrt((x - 1) ** 2 + 8 * 0.5 * 1.0 * x / (capacity * t)))
    return d1 + d2


CRITICAL_HEADWAY_S = 4.5
"""Gap a permitted left turn accepts in the opposing flow (HCM's permitted left, 4.5 s)."""
FOLLOW_UP_HEADWAY_S = 2.5
"""Headway between left turners using the same gap (HCM, 2.5 s)."""
SNEAKERS_PER_CYCLE = 2.0
"""Left turners that clear the junction at the end of each green whatever the opposing flow (HCM;
a simulator may show none: SUMO's left turners wait at the stop line, not inside the junction)."""


def permitted_left_saturation_vph(
    opposing_vph: float, green_s: float, cycle_s: float, saturation_flow_vph: float = 1800.0
) -> float:
    """Rate (veh/h of green) at which left turners yielding to ``opposing_vph`` can leave.

    Every opposing vehicle passes during the green, so the opposing rate while the green shows is
    ``opposing_vph * cycle / green``; the left turners take the gaps in it longer than the
    critical headway (Drew's gap-acceptance capacity with a follow-up headway), never faster than
    the lane's saturation flow.
    """
    if green_s <= 0 or cycle_s <= 0:
        return 0.0
    rate = max(0.0, opposing_vph) * cycle_s / green_s / 3600.0  # veh/s while the green shows
    if rate <= 1e-9:
        return saturation_flow_vph
    return min(
        saturation_flow_vph,
        3600.0
        * rate
        * math.exp(-rate * CRITICAL_HEADWAY_S)
        / (1.0 - math.exp(-rate * FOLLOW_UP_HEADWAY_S)),
    )


def permitted_left_capacity_vph(
    opposing_vph: float,
    green_s: float,
    cycle_s: float,
    saturation_flow_vph: float = 1800.0,
    sneakers_per_cycle: float = SNEAKERS_PER_CYCLE,
) -> float:
    """Capacity (veh/h) of a left turn that must yield to ``opposing_vph`` during its green: its
    gap-acceptance rate (:func:`permitted_left_saturation_vph`) over the green, plus the sneakers
    that clear at the end of each green (none without opposing flow: nothing to sneak past)."""
    if green_s <= 0 or cycle_s <= 0:
        return 0.0
    rate = permitted_left_saturation_vph(opposing_vph, green_s, cycle_s, saturation_flow_vph)
    if opposing_vph <= 0:
        return rate * green_s / cycle_s
    return rate * green_s / cycle_s + sneakers_per_cycle * 3600.0 / cycle_s
