"""The controls the twin can run, by name: built-ins, registered planners and controllers.

- ``programme``: the scenario's own signal programme, untouched (fixed-time in most scenarios);
- ``actuated``: the same phases switched to SUMO's gap-based actuated control;
- a registered **Planner** or **ZonePlanner** (``webster``, ``optimizer``, ``coordinated``…): demand
  measured by the twin's loops over the last period, planned, and applied at the next cycle
  boundary (:mod:`twin.plan_policy`);
- a registered **Controller** (``max-pressure``, ``adaptive``…): asked every few seconds with a
  junction state built from the simulation (:mod:`twin.live_policy`);
- ``plan``: candidate fixed-time plans given by the caller (what-if runs).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from optimizer.strategy import Planner, ZonePlanner, controllers, planners, zone_planners
from optimizer.strategy import planner as make_planner
from optimizer.strategy import zone_planner as make_zone_planner
from twin.errors import UnknownControl

BUILTIN = ("programme", "actuated")

ControlKind = Literal["builtin", "planner", "controller", "plan"]


@dataclass(frozen=True, slots=True)
class Control:
    """A control resolved from its name: what kind of policy runs it, and the registered name."""

    kind: ControlKind
    name: str

    @property
    def sets_phases(self) -> bool:
        """True when aiguilleur sets the signal states itself (SUMO's programme does otherwise)."""
        return self.kind in {"planner", "controller", "plan"}

    @property
    def actuated(self) -> bool:
        """True for SUMO's gap-based actuated control of the scenario's own phases."""
        return self.kind == "builtin" and self.name == "actuated"


PLAN = Control("plan", "plan")
"""The caller's candidate plans (``RunOptions.plans``)."""


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
    elif name in (*planners(), *zone_planners()):
        return Control("planner", name)
    elif name in controllers():
        return Control("controller", name)
    known = (
        *BUILTIN,
        *planners(),
        *zone_planners(),
        *(f"controller:{c}" for c in controllers()),
    )
    raise UnknownControl(name, known)


def available_controls() -> tuple[str, ...]:
    """Every control the twin can run now (built-ins, registered planners and controllers)."""
    out = list(BUILTIN) + list(planners()) + list(zone_planners())
    out += [c if c not in planners() else f"controller:{c}" for c in controllers()]
    return tuple(out)


def make_planner_for(control: Control) -> Planner | ZonePlanner:
    """The Planner (or ZonePlanner) instance of a planner control."""
    if control.kind != "planner":
        raise ValueError(f"{control.name!r} is a {control.kind} control, not a planner")
    if control.name in zone_planners():
        return make_zone_planner(control.name)
    return make_planner(control.name)
