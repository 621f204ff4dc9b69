"""Guardrails: move a junction from its running plan towards a recommendation in bounded steps.

A recommendation is never applied in one jump larger than the operator allows. Each cycle the cycle
may change by at most ``max_cycle_step_s`` and each green by at most ``max_green_step_s``; greens
plus intergreens always fill the cycle and every phase keeps its minimum and maximum green. The
first step is the plan to apply now; the transition lists every step up to the recommendation.
"""

from __future__ import annotations

import msgspec

from optimizer._evaluate import evaluate, integer_bounds
from optimizer.errors import InvalidDemand
from optimizer.model import JunctionDemand, Plan
from optimizer.webster import split_integer

MAX_STEPS = 100
"""Transitions longer than this are cut (the steps still all hold their bounds)."""


class GuardrailConfig(msgspec.Struct, frozen=True, kw_only=True):
    """How far one cycle may move from the previous one."""

    max_cycle_step_s: int = 10
    max_green_step_s: int = 8


class TransitionStep(msgspec.Struct, frozen=True, kw_only=True):
    """The timing of one cycle: a cycle and its greens in the plan's phase order (a step of a
    transition, or the plan a junction runs)."""

    cycle_s: int
    greens_s: tuple[int, ...]

    @classmethod
    def of(cls, plan: Plan) -> TransitionStep:
        """The timing of ``plan``."""
        return cls(cycle_s=plan.cycle_s, greens_s=tuple(p.green_s for p in plan.phases))


class Transition(msgspec.Struct, frozen=True, kw_only=True):
    """What to apply now, and how the junction reaches the recommendation."""

    junction_id: str
    apply_now: Plan
    steps: tuple[TransitionStep, ...]
    """One entry per cycle, the last equal to the recommendation (unless cut at MAX_STEPS)."""
    cycles_to_target: int
    clamped: bool
    """True when the recommendation could not be applied at once."""
    reached: bool
    """False only when the bounds stop the transition short of the recommendation."""
    text_en: str
    text_fr: str


def _step(
    current: TransitionStep,
    target: TransitionStep,
    ig_total: int,
    min_g: list[int],
    max_g: list[int],
    cfg: GuardrailConfig,
) -> TransitionStep:
    """The timing closest to ``target`` that lies within one guarded step of ``current``."""
    box_lo = [
        max(lo, g - cfg.max_green_step_s) for lo, g in zip(min_g, current.greens_s, strict=True)
    ]
    box_hi = [
        min(hi, g + cfg.max_green_step_s) for hi, g in zip(max_g, current.greens_s, strict=True)
    ]
    cycle = min(
        max(target.cycle_s, current.cycle_s - cfg.max_cycle_step_s),
        current.cycle_s + cfg.max_cycle_step_s,
    )
    # The greens' boxes may not stretch to the cycle's green time: the cycle moves no further.
    cycle = min(max(cycle, sum(box_lo) + ig_total), sum(box_hi) + ig_total)
    total = cycle - ig_total
    if cycle == target.cycle_s and all(
        lo <= g <= hi for g, lo, hi in zip(target.greens_s, box_lo, box_hi, strict=True)
    ):
        return target
    scale = total / max(1, target.cycle_s - ig_total)
    weights = [max(1e-9, g * scale) for g in target.greens_s]
    greens = split_integer(total, weights, box_lo, box_hi)
    return TransitionStep(cycle_s=cycle, greens_s=tuple(greens))


def guard_transition(
    running: TransitionStep,
    recommended: Plan,
    demand: JunctionDemand,
    config: GuardrailConfig | None = None,
) -> Transition:
    """Bound the change from the ``running`` timing (greens in ``recommended``'s phase order) to
    ``recommended`` and describe the transition."""
    cfg = config or GuardrailConfig()
    if len(running.greens_s) != len(recommended.phases) or [p.index for p in demand.phases] != [
        p.index for p in recommended.phases
    ]:
        raise InvalidDemand(demand.junction_id, "running and recommended plans time other phases")
    min_g, max_g, intergreens = integer_bounds(demand)
    ig_total = sum(intergreens)
    current = running
    target = TransitionStep(
        cycle_s=recommended.cycle_s, greens_s=tuple(p.green_s for p in recommended.phases)
    )
    steps: list[TransitionStep] = []
    while current != target and len(steps) < MAX_STEPS:
        nxt = _step(current, target, ig_total, min_g, max_g, cfg)
        if nxt == current:
            break
        steps.append(nxt)
        current = nxt
    reached = current == target
    first = steps[0] if steps else target
    clamped = first != target
    apply_now = recommended if not clamped else _plan_for(first, recommended, demand, intergreens)
    n = len(steps)
    en = (
        f"Junction {demand.junction_id}: recommendation applied at once."
        if not clamped
        else f"Junction {demand.junction_id}: cycle {running.cycle_s} s -> {recommended.cycle_s} s "
        f"in {n} cycles (at most {cfg.max_cycle_step_s} s of cycle and {cfg.max_green_step_s} s of "
        f"green per phase per cycle); now {first.cycle_s} s."
    )
    fr = (
        f"Carrefour {demand.junction_id} : recommandation appliquée d'un coup."
        if not clamped
        else f"Carrefour {demand.junction_id} : cycle {running.cycle_s} s -> "
        f"{recommended.cycle_s} s "
        f"en {n} cycles (au plus {cfg.max_cycle_step_s} s de cycle et {cfg.max_green_step_s} s de "
        f"vert par phase et par cycle) ; maintenant {first.cycle_s} s."
    )
    if not reached:
        en += f" The recommendation is not reached within {MAX_STEPS} cycles."
        fr += f" La recommandation n'est pas atteinte en {MAX_STEPS} cycles."
    return Transition(
        junction_id=demand.junction_id,
        apply_now=apply_now,
        steps=tuple(steps),
        cycles_to_target=n,
        clamped=clamped,
        reached=reached,
        text_en=en,
        text_fr=fr,
    )


def timing_delay_s_per_veh(timing: TransitionStep, demand: JunctionDemand) -> float:
    """Flow-weighted mean delay (s/veh) that ``timing`` gives under ``demand`` (greens in the
    demand's phase order): what a plan running now costs against a recommendation."""
    if len(timing.greens_s) != len(demand.phases):
        raise InvalidDemand(demand.junction_id, "the timing and the demand have other phases")
    _, _, intergreens = integer_bounds(demand)
    _, _, mean = evaluate(demand, timing.cycle_s, list(timing.greens_s), intergreens)
    return round(mean, 2)


def _plan_for(
    step: TransitionStep, recommended: Plan, demand: JunctionDemand, intergreens: list[int]
) -> Plan:
    timings, effects, mean = evaluate(demand, step.cycle_s, list(step.greens_s), intergreens)
    rec = recommended.explanation
    explanation = msgspec.structs.replace(
        rec,
        binding_constraints=(*rec.binding_constraints, "guardrail"),
        text_en=f"{rec.text_en} Guardrail: first step {step.cycle_s} s towards "
        f"{recommended.cycle_s} s.",
        text_fr=f"{rec.text_fr} Garde-fou : première étape {step.cycle_s} s vers "
        f"{recommended.cycle_s} s.",
        max_degree_of_saturation=max((t.degree_of_saturation for t in timings), default=0.0),
    )
    return Plan(
        junction_id=recommended.junction_id,
        cycle_s=step.cycle_s,
        offset_s=recommended.offset_s,
        phases=timings,
        effects=effects,
        expected_delay_s_per_veh=round(mean, 2),
        explanation=explanation,
        strategy=f"{recommended.strategy}+guardrails",
    )
