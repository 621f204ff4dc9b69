"""Per-lane and turning counts from the twin's control loops, between two plans."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from twin.detectors import (
    DetectorSpec,
)


class LoopCounter:
    """Per-lane and turning counts from the control loops since the last plan.

    Turning counts come from the route of each vehicle the loop saw (its next edge after the
    approach): the ground truth a turning-movement camera would give.
    """

    def __init__(self, api: Any, specs: list[DetectorSpec]) -> None:
        self.sumo_api = api
        self._specs = specs
        self.lanes: dict[str, int] = {}
        self.turns: dict[tuple[str, str], int] = {}
        self.occupied: dict[str, list[float]] = {}

    def read(self, occupancy: Mapping[str, float] | None = None) -> None:
        """Take the loops' last interval; ``occupancy`` (0..1 by loop id) replaces SUMO's interval
        occupancy when given (:class:`twin.detectors.OccupancySampler`)."""
        for d in self._specs:
            edge = d.lane.rsplit("_", 1)[0]
            sampled = (occupancy or {}).get(d.id)
            occ = (
                sampled
                if sampled is not None
                else float(self.sumo_api.inductionloop.getLastIntervalOccupancy(d.id)) / 100.0
            )
            self.occupied.setdefault(d.lane, []).append(occ)
            for v in self.sumo_api.inductionloop.getLastIntervalVehicleIDs(d.id):
                self.lanes[d.lane] = self.lanes.get(d.lane, 0) + 1
                try:
                    route = list(self.sumo_api.vehicle.getRoute(v))
                    nxt = route[route.index(edge) + 1]
                except Exception:  # vehicle gone or edge not on its route: lane count only
                    continue
                self.turns[(d.lane, nxt)] = self.turns.get((d.lane, nxt), 0) + 1

    def take(self) -> tuple[dict[str, int], dict[tuple[str, str], int]]:
        out = (self.lanes, self.turns)
        self.lanes, self.turns = {}, {}
        return out

    def take_occupancy(self) -> dict[str, float]:
        """Mean loop occupancy (0..1) per lane since the last call."""
        out = {lane: sum(v) / len(v) for lane, v in self.occupied.items() if v}
        self.occupied = {}
        return out
