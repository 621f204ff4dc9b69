"""One interface for every way of timing signals, so the twin can compare them side by side.

Two shapes exist, because controllers act at two paces:

- a **Planner** returns a fixed-time plan for a control period (fixed-time, Webster, the OR-Tools
  optimiser);
- a **Controller** re-decides every few seconds from live detector data (max-pressure, the adaptive
  mode), always inside an operator-approved :class:`Envelope`.

Both are pure: the caller passes the time (simulation or stream time) in the state; nothing here
reads a clock.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import msgspec

from optimizer.model import JunctionDemand, Plan

if TYPE_CHECKING:
    from optimizer.coordination import ZoneDemand, ZonePlan


class Envelope(msgspec.Struct, frozen=True, kw_only=True):
    """Bounds an operator approved once; an adaptive controller may decide anything inside them."""

    junction_id: str
    phase_order: tuple[int, ...]
    min_green_s: tuple[float, ...]
    max_green_s: tuple[float, ...]
    intergreen_s: tuple[float, ...]
    cycle_min_s: float = 40.0
    cycle_max_s: float = 120.0
    may_skip_phases: bool = False


class MovementState(msgspec.Struct, frozen=True, kw_only=True):
    """Live view of one movement (or lane group) as detectors see it."""

    id: str
    queue_veh: float
    downstream_queue_veh: float = 0.0
    arrivals_vph: float = 0.0
    saturation_flow_vph: float = 1800.0
    approaching_veh: tuple[float, ...] = ()
    """Estimated arrival times (s from now) of vehicles seen upstream (schedule-driven control)."""
    downstream_capacity_veh: float = 0.0
    """Vehicles the exit lanes can hold (0: unknown). With it, the adaptive mode expects no more
    discharge than the exit has room for (capacity - downstream queue), gives no green to a
    movement whose exit is full, and serves elsewhere (spill-back)."""
    downstream_vehicles: float | None = None
    """Vehicles on the exit lanes, moving or not (None: unknown, ``downstream_queue_veh`` stands
    in). The exit's room is its capacity less these: a creeping jam leaves no room either."""
    waiting_s: float = 0.0
    """How long the first vehicle of the movement's queue has waited at the stop line (s; 0: none
    waiting, or unknown). The adaptive mode serves next a movement that waited the envelope's
    maximum cycle."""
    detector_gap_s: float | None = None
    """Seconds since a vehicle last crossed the movement's approach detector, the gap actuated
    control extends a green on (None: no such detector). Used when queues are not measured."""
    queue_age_s: float | None = 0.0
    """Age of ``queue_veh``, ``approaching_veh`` and ``downstream_queue_veh`` (s); None: not
    measured (sensor down). Missing or stale queues make the adaptive mode fall back to gap
    logic."""


class PhaseState(msgspec.Struct, frozen=True, kw_only=True):
    """The movements one phase serves."""

    index: int
    movements: tuple[MovementState, ...]


class JunctionState(msgspec.Struct, frozen=True, kw_only=True):
    """What a controller knows at one decision instant."""

    junction_id: str
    time_s: float
    current_phase: int
    phase_elapsed_s: float
    """Green time already given to the current phase (0 during its intergreen)."""
    phases: tuple[PhaseState, ...]
    cycle_elapsed_s: float = 0.0


class Decision(msgspec.Struct, frozen=True, kw_only=True):
    """What to do now: keep or switch to ``phase_index``, and when to ask again."""

    junction_id: str
    time_s: float
    phase_index: int
    next_decision_in_s: float
    reason: str


@runtime_checkable
class Planner(Protocol):
    """Produces a plan for a control period from aggregated demand."""

    name: str

    def plan(self, demand: JunctionDemand) -> Plan:
        """Return the plan for this junction and demand."""
        ...


@runtime_checkable
class Controller(Protocol):
    """Decides the next phase from live state, inside the envelope it was built with."""

    name: str
    envelope: Envelope

    def decide(self, state: JunctionState) -> Decision:
        """Return the decision for this instant."""
        ...


@runtime_checkable
class ZonePlanner(Protocol):
    """Produces coordinated plans (common cycle, offsets) for a zone's junctions at once."""

    name: str

    def plan_zone(self, zone: ZoneDemand) -> ZonePlan:
        """Return the zone's plans, one per junction, with their offsets."""
        ...


PlannerFactory = Callable[[], Planner]
ControllerFactory = Callable[[Envelope], Controller]
ZonePlannerFactory = Callable[[], ZonePlanner]

_PLANNERS: dict[str, PlannerFactory] = {}
_CONTROLLERS: dict[str, ControllerFactory] = {}
_ZONE_PLANNERS: dict[str, ZonePlannerFactory] = {}


def register_planner(name: str, factory: PlannerFactory) -> None:
    """Make a planner available by name (``planner(name)``)."""
    _PLANNERS[name] = factory


def register_controller(name: str, factory: ControllerFactory) -> None:
    """Make a controller available by name (``controller(name, envelope)``)."""
    _CONTROLLERS[name] = factory


def register_zone_planner(name: str, factory: ZonePlannerFactory) -> None:
    """Make a zone planner available by name (``zone_planner(name)``)."""
    _ZONE_PLANNERS[name] = factory


def zone_planner(name: str) -> ZonePlanner:
    """A new zone planner registered under ``name``; ``KeyError`` lists the known names."""
    try:
        return _ZONE_PLANNERS[name]()
    except KeyError:
        known = ", ".join(sorted(_ZONE_PLANNERS))
        raise KeyError(f"unknown zone planner {name!r}; known: {known}") from None


def zone_planners() -> tuple[str, ...]:
    """Names of the registered zone planners."""
    return tuple(sorted(_ZONE_PLANNERS))


def planner(name: str) -> Planner:
    """A new planner registered under ``name``; ``KeyError`` lists the known names."""
    try:
        return _PLANNERS[name]()
    except KeyError:
        raise KeyError(f"unknown planner {name!r}; known: {', '.join(sorted(_PLANNERS))}") from None


def controller(name: str, envelope: Envelope) -> Controller:
    """A new controller registered under ``name`` for this envelope."""
    try:
        return _CONTROLLERS[name](envelope)
    except KeyError:
        raise KeyError(
            f"unknown controller {name!r}; known: {', '.join(sorted(_CONTROLLERS))}"
        ) from None


def planners() -> tuple[str, ...]:
    """Names of the registered planners."""
    return tuple(sorted(_PLANNERS))


def controllers() -> tuple[str, ...]:
    """Names of the registered controllers."""
    return tuple(sorted(_CONTROLLERS))


class WebsterPlanner:
    """Webster's closed form as a Planner."""

    name = "webster"

    def plan(self, demand: JunctionDemand) -> Plan:
        """Webster's plan for ``demand``."""
        from optimizer.webster import webster_plan

        return webster_plan(demand)


register_planner("webster", WebsterPlanner)
