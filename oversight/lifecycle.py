"""The lifecycle of a recommendation, pure: proposed, then approved, rejected, expired or
superseded, and nothing after that.

Generic over the kind (a signal plan today; an envelope or rerouting advice use the same states):
a recommendation is a kind, an id, a subject (the junction), a validity window and a payload. What
an approval *activates* is the kind's business (:mod:`oversight.service`). Here: which transitions
are allowed, when a proposal expires, when an auto-approval policy may approve it, and whether an
operator's edited plan passes the same checks as a computed one.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo

import msgspec

from graph.model import Junction
from oversight.errors import InvalidEdit, NotPending
from streams.events import ActivePlan, SignalPlan

Status = Literal["proposed", "approved", "rejected", "expired", "superseded"]
FINAL: frozenset[str] = frozenset({"approved", "rejected", "expired", "superseded"})


def transition(current: str, to: str, recommendation_id: str) -> str:
    """``to`` if a recommendation in ``current`` may go there; ``NotPending`` otherwise (a
    decision is final: a second one, or one on an expired or superseded proposal, is refused)."""
    if current != "proposed" or to not in FINAL:
        raise NotPending(recommendation_id, current)
    return to


def expired(valid_until: datetime, now: datetime) -> bool:
    """A proposal nobody decided on before the end of its validity window expires."""
    return now >= valid_until


class AutoApproval(msgspec.Struct, frozen=True, kw_only=True):
    """An administrator's policy: recommendations for a junction (or every junction of a zone)
    within these bounds from the active plan are approved without a person, and logged so."""

    scope: Literal["junction", "zone"]
    target: str
    max_cycle_step_s: int = 0
    max_green_step_s: int = 0
    hours: tuple[int, int] = (0, 24)
    """Local hours [start, end) when it applies (``timezone``)."""
    timezone: str = "Europe/Paris"
    max_degree_of_saturation: float = 0.9


def policy_for(
    policies: Sequence[AutoApproval], junction_id: str, zone_id: str
) -> AutoApproval | None:
    """The junction's own policy, else its zone's, else none."""
    for scope, target in (("junction", junction_id), ("zone", zone_id)):
        for p in policies:
            if p.scope == scope and p.target == target:
                return p
    return None


def auto_approval_refusal(
    policy: AutoApproval, plan: SignalPlan, active: ActivePlan | None, now: datetime
) -> str | None:
    """Why ``policy`` may not approve ``plan`` (``None``: it may). A first plan, with nothing
    active to compare against, always goes to a person."""
    if active is None:
        return "no active plan to compare with: a person approves the first one"
    old = active.plan
    if [p.index for p in old.phases] != [p.index for p in plan.phases]:
        return "the phases differ from the active plan's"
    step = abs(plan.cycle_s - old.cycle_s)
    if step > policy.max_cycle_step_s:
        return f"cycle moves {step} s, the policy allows {policy.max_cycle_step_s} s"
    green = max(
        (abs(a.green_s - b.green_s) for a, b in zip(plan.phases, old.phases, strict=True)),
        default=0,
    )
    if green > policy.max_green_step_s:
        return f"a green moves {green} s, the policy allows {policy.max_green_step_s} s"
    x = plan.expected_effect.max_degree_of_saturation
    if x > policy.max_degree_of_saturation:
        return f"degree of saturation {x:.2f} above {policy.max_degree_of_saturation:.2f}"
    hour = now.astimezone(ZoneInfo(policy.timezone)).hour
    start, end = policy.hours
    if not (start <= hour < end):
        return f"{hour} h is outside the policy's hours {start}-{end} h ({policy.timezone})"
    return None


def edit_problems(
    plan: SignalPlan,
    cycle_s: int,
    greens_s: Sequence[int],
    junction: Junction,
    cycle_bounds: tuple[int, int],
) -> list[str]:
    """What an operator's edit of ``plan`` breaks: the same phases, greens plus intergreens
    filling the cycle, each green within its phase's bounds, the cycle within the bounds."""
    out: list[str] = []
    if len(greens_s) != len(plan.phases):
        return [f"{len(greens_s)} greens given, the plan has {len(plan.phases)} phases"]
    total = sum(greens_s) + sum(p.intergreen_s for p in plan.phases)
    if total != cycle_s:
        out.append(f"greens plus intergreens make {total} s, not the cycle's {cycle_s} s")
    lo, hi = cycle_bounds
    if not lo <= cycle_s <= hi:
        out.append(f"cycle {cycle_s} s outside {lo}-{hi} s")
    bounds = {p.index: p for p in junction.phases}
    for ph, g in zip(plan.phases, greens_s, strict=True):
        b = bounds.get(ph.index)
        if b is None:
            out.append(f"phase {ph.index} is not a phase of {junction.id} in the network model")
        elif not b.min_green_s <= g <= b.max_green_s:
            out.append(
                f"phase {ph.index}: green {g} s outside {b.min_green_s:g}-{b.max_green_s:g} s"
            )
    return out


def edited(plan: SignalPlan, cycle_s: int, greens_s: Sequence[int], by: str) -> SignalPlan:
    """The plan as the operator edited it: its own id, the operator's timing, a warning that its
    expected effect is the recommendation's (not recomputed)."""
    import hashlib

    phases = tuple(
        msgspec.structs.replace(p, green_s=int(g))
        for p, g in zip(plan.phases, greens_s, strict=True)
    )
    key = f"{plan.plan_id}|{cycle_s}|{','.join(str(g) for g in greens_s)}"
    ex = plan.explanation
    explanation = msgspec.structs.replace(
        ex,
        warnings=(
            *ex.warnings,
            f"modified by {by}: cycle {plan.cycle_s} -> {cycle_s} s; the expected effect is the "
            "recommendation's, not recomputed for the edit",
        ),
    )
    return msgspec.structs.replace(
        plan,
        plan_id=hashlib.sha256(key.encode()).hexdigest()[:20],
        cycle_s=cycle_s,
        phases=phases,
        explanation=explanation,
        strategy=f"{plan.strategy}+operator",
    )


def check_edit(
    plan: SignalPlan,
    cycle_s: int,
    greens_s: Sequence[int],
    junction: Junction,
    cycle_bounds: tuple[int, int],
) -> None:
    """``InvalidEdit`` listing what the edit breaks."""
    problems = edit_problems(plan, cycle_s, greens_s, junction, cycle_bounds)
    if problems:
        raise InvalidEdit(plan.plan_id, problems)
