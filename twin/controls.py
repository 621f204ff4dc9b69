"""The controls the twin can run, by name: built-ins, registered planners and controllers.

- ``programme``: the scenario's own signal programme, untouched (fixed-time in most scenarios);
- ``actuated``: the same phases switched to SUMO's gap-based actuated control;
- a registered **Planner** or **ZonePlanner** (``webster``, ``optimizer``, ``coordinated``…): the
  product's plans. Its plans come from outside the twin (``RunOptions.plan_source``): the Kafka
  pipeline (``aiguilleur twin live``) or the same pipeline in process (``aiguilleur.twin_product``,
  what ``aiguilleur twin run`` and ``twin bench`` use); each is applied at the next cycle boundary
  (:mod:`twin.plan_policy`);
- ``oracle``: an upper bound, not the product: the optimiser planning every period on what no
  detector gives, each counted vehicle's next edge (exact turning counts per lane), over the
  period just ended (:mod:`twin.oracle`);
- a registered **Controller** (``max-pressure``, ``adaptive``…): asked every few seconds with a
  junction state built from the simulation (:mod:`twin.live_policy`);
- ``plan``: candidate fixed-time plans given by the caller (what-if runs).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from optimizer.strategy import controllers, planners, zone_planners
from twin.errors import UnknownControl

BUILTIN = ("programme", "actuated")

ControlKind = Literal["builtin", "planner", "controller", "plan", "oracle"]


@dataclass(frozen=True, slots=True)
class Control:
    """A control resolved from its name: what kind of policy runs it, and the registered name."""

    kind: ControlKind
    name: str

    @property
    def sets_phases(self) -> bool:
        """True when aiguilleur sets the signal states itself (SUMO's programme does otherwise)."""
        return self.kind in {"planner", "controller", "plan", "oracle"}

    @property
    def actuated(self) -> bool:
        """True for SUMO's gap-based actuated control of the scenario's own phases."""
        return self.kind == "builtin" and self.name == "actuated"


PLAN = Control("plan", "plan")
"""The caller's candidate plans (``RunOptions.plans``)."""
ORACLE = Control("oracle", "oracle")
"""The optimiser on exact turning counts: an upper bound for the product's plans."""


def resolve_control(name: str) -> Control:
    """The control called ``name``; the prefixes ``planner:`` and ``controller:`` disambiguate a
    name registered as both."""
    kind, _, bare = name.partition(":")
    if bare:
        if kind == "planner" and bare in (*planners(), *zone_planners()):
            return Control("planner", bare)
        if kind == "controller" and bare in controllers():
            return Control("controller", bare)
    elif name in BUILTIN:
        return Control("builtin", name)
    elif name == PLAN.name:
        return PLAN
    elif name == ORACLE.name:
        return ORACLE
    elif name in (*planners(), *zone_planners()):
        return Control("planner", name)
    elif name in controllers():
        return Control("controller", name)
    known = (
        *BUILTIN,
        ORACLE.name,
        *planners(),
        *zone_planners(),
        *(f"controller:{c}" for c in controllers()),
    )
    raise UnknownControl(name, known)


def available_controls() -> tuple[str, ...]:
    """Every control the twin can run now (built-ins, registered planners and controllers)."""
    out = [*BUILTIN, ORACLE.name, *planners(), *zone_planners()]
    out += [c if c not in planners() else f"controller:{c}" for c in controllers()]
    return tuple(out)
