"""A Planner whose plans come from outside the process (the Kafka closed loop)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from optimizer.model import JunctionDemand, Plan
from twin.errors import ScenarioError


class SourcedPlanner:
    """A Planner whose plans come from :attr:`RunOptions.plan_source`, asked once per period."""

    def __init__(
        self,
        name: str,
        source: Callable[[float], Mapping[str, Plan]],
        clock: Callable[[], float],
    ) -> None:
        self.name = name
        self._source = source
        self._clock = clock
        self._asked_at: float | None = None
        self._plans: Mapping[str, Plan] = {}

    def plan(self, demand: JunctionDemand) -> Plan:
        """The source's plan for this junction (the source is asked on the period's first call)."""
        now = float(self._clock())
        if self._asked_at != now:
            self._plans = self._source(now)
            self._asked_at = now
        found = self._plans.get(demand.junction_id)
        if found is None:
            raise ScenarioError(
                self.name,
                f"the plan source gave no plan for junction {demand.junction_id!r} at t={now:g} s",
                "it must return one for every signalised junction of the scenario",
            )
        return found
