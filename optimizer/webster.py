"""Webster's optimal cycle and green split (Webster 1958), as a pure function."""

from __future__ import annotations

import math

from optimizer._evaluate import assemble_plan, evaluate, integer_bounds, validate_demand
from optimizer.errors import InvalidDemand
from optimizer.model import Explanation, JunctionDemand, Plan

OVERSATURATION_Y = 0.95
"""Above this sum of critical flow ratios Webster's cycle diverges: the maximum cycle is used."""


def webster_cycle_s(lost_time_s: float, total_flow_ratio: float) -> float:
    """Webster's optimal cycle C0 = (1.5 L + 5) / (1 - Y); infinite when Y >= 1."""
    if total_flow_ratio >= 1:
        return math.inf
    return (1.5 * lost_time_s + 5) / (1 - total_flow_ratio)


def split_integer(
    total: int, weights: list[float], minimum: list[int], maximum: list[int]
) -> list[int]:
    """Share ``total`` into integers proportional to ``weights`` within per-item bounds.

    Largest-remainder rounding keeps the sum exact; items pinned to a bound drop out and the rest is
    re-shared, so bounds hold whenever ``sum(minimum) <= total <= sum(maximum)``.
    """
    n = len(weights)
    out = [0] * n
    free = list(range(n))
    remaining = total
    while True:
        w = sum(weights[i] for i in free)
        ideal = {i: (remaining * weights[i] / w if w > 0 else remaining / len(free)) for i in free}
        low = [i for i in free if ideal[i] < minimum[i]]
        high = [i for i in free if ideal[i] > maximum[i]]
        pinned = low or high
        if not pinned:
            break
        for i in pinned:
            out[i] = minimum[i] if i in low else maximum[i]
            remaining -= out[i]
            free.remove(i)
        if not free:
            # Pinning one side first can strand seconds (a low pin, then the rest hits its maximum):
            # only then re-share by water-filling, so every correct earlier result is unchanged.
            return out if sum(out) == total else _water_fill(total, weights, minimum, maximum)
    floors = {i: math.floor(ideal[i]) for i in free}
    left = remaining - sum(floors.values())
    # Ties broken by index so the result is deterministic.
    order = sorted(free, key=lambda i: (-(ideal[i] - floors[i]), i))
    for i in order[:left]:
        floors[i] += 1
    for i in free:
        out[i] = floors[i]
    return out


def _water_fill(
    total: int, weights: list[float], minimum: list[int], maximum: list[int]
) -> list[int]:
    """Integers ``clamp(lam * w, min, max)`` summing to ``total`` (largest remainder, by index)."""
    w = [max(x, 1e-12) for x in weights]

    def shares(lam: float) -> list[float]:
        return [min(max(lam * wi, lo), hi) for wi, lo, hi in zip(w, minimum, maximum, strict=True)]

    lo_lam, hi_lam = 0.0, 1.0
    while sum(shares(hi_lam)) < total and hi_lam < 1e18:
        hi_lam *= 2
    for _ in range(200):
        mid = (lo_lam + hi_lam) / 2
        if sum(shares(mid)) < total:
            lo_lam = mid
        else:
            hi_lam = mid
    ideal = shares(hi_lam)
    out = [
        min(max(math.floor(x), lo), hi) for x, lo, hi in zip(ideal, minimum, maximum, strict=True)
    ]
    left = total - sum(out)
    up = sorted(range(len(out)), key=lambda i: (-(ideal[i] - out[i]), i))
    while left > 0:
        i = next(i for i in up if out[i] < maximum[i])
        out[i] += 1
        left -= 1
        up.remove(i)
        up.append(i)
    while left < 0:
        i = next(i for i in reversed(up) if out[i] > minimum[i])
        out[i] -= 1
        left += 1
    return out


def webster_plan(demand: JunctionDemand) -> Plan:
    """Time a junction with Webster's formula: cycle from lost time and flow ratios, greens by y.

    Greens are integers; greens plus intergreens equal the cycle exactly; minimum and maximum greens
    and the cycle bounds hold. Above Y = 0.95 the cycle is the maximum and the plan is flagged
    oversaturated.
    """
    validate_demand(demand)
    min_g, max_g, intergreens = integer_bounds(demand)
    ys = [p.flow_ratio() for p in demand.phases]
    y_total = sum(ys)
    lost = demand.lost_time_s()
    oversaturated = y_total >= OVERSATURATION_Y
    c0 = webster_cycle_s(lost, y_total) if not oversaturated else math.inf
    binding: list[str] = []
    cycle = c0
    if cycle > demand.cycle_max_s:
        cycle = demand.cycle_max_s
        binding.append("cycle_max")
    elif cycle < demand.cycle_min_s:
        cycle = demand.cycle_min_s
        binding.append("cycle_min")
    cycle_i = round(cycle)
    green_total = cycle_i - sum(intergreens)
    if green_total < sum(min_g):
        cycle_i = sum(min_g) + sum(intergreens)
        green_total = sum(min_g)
        binding.append("min_greens_force_cycle")
        if cycle_i > demand.cycle_max_s:
            raise InvalidDemand(
                demand.junction_id,
                f"minimum greens plus intergreens ({cycle_i} s) exceed the maximum cycle "
                f"({demand.cycle_max_s} s)",
            )
    if green_total > sum(max_g):
        # Shorter than Webster's cycle, but every phase at its maximum green is the best that holds.
        cycle_i = sum(max_g) + sum(intergreens)
        green_total = sum(max_g)
        binding.append("max_greens_force_cycle")
        if cycle_i < demand.cycle_min_s:
            raise InvalidDemand(demand.junction_id, "cycle too long for the maximum greens")
    # Effective green shared by y, then start-up lost time added back to get displayed greens.
    effective_total = green_total - sum(p.lost_time_s for p in demand.phases)
    weights = [
        effective_total * y / y_total + p.lost_time_s if y_total > 0 else 1.0
        for y, p in zip(ys, demand.phases, strict=True)
    ]
    greens = split_integer(green_total, weights, min_g, max_g)
    for i, (p, g) in enumerate(zip(demand.phases, greens, strict=True)):
        if g == min_g[i]:
            binding.append(f"min_green[{p.index}]")
        if g == max_g[i]:
            binding.append(f"max_green[{p.index}]")
    timings, effects, mean_delay = evaluate(demand, cycle_i, greens, intergreens)
    explanation = Explanation(
        method="webster",
        objective="minimise average delay (Webster's approximation)",
        binding_constraints=tuple(binding),
        solver_status="closed_form",
        parameters={
            "lost_time_s": round(lost, 2),
            "flow_ratio_sum": round(y_total, 4),
            "webster_cycle_s": round(c0, 2) if math.isfinite(c0) else "inf",
        },
        text_en=_text_en(demand.junction_id, cycle_i, y_total, oversaturated),
        text_fr=_text_fr(demand.junction_id, cycle_i, y_total, oversaturated),
        oversaturated=oversaturated,
    )
    return assemble_plan(demand, cycle_i, (timings, effects, mean_delay), explanation, "webster")


def _text_en(jid: str, cycle: int, y: float, over: bool) -> str:
    if over:
        return (
            f"Junction {jid} is oversaturated (sum of flow ratios {y:.2f} >= {OVERSATURATION_Y}): "
            f"maximum cycle {cycle} s, greens shared in proportion to demand."
        )
    return (
        f"Junction {jid}: sum of critical flow ratios {y:.2f}; "
        f"Webster's optimal cycle gives {cycle} s, "
        "greens shared in proportion to each phase's critical flow ratio."
    )


def _text_fr(jid: str, cycle: int, y: float, over: bool) -> str:
    if over:
        return (
            f"Carrefour {jid} sursaturé "
            f"(somme des rapports de débit {y:.2f} >= {OVERSATURATION_Y}) : "
            f"cycle maximal de {cycle} s, verts répartis selon la demande."
        )
    return (
        f"Carrefour {jid} : somme des rapports de débit critiques {y:.2f} ; "
        "le cycle optimal de Webster "
        f"est de {cycle} s, verts répartis selon le rapport de débit critique de chaque phase."
    )
