"""Shows model phases on a SUMO traffic light, with the yellow and all-red of its programme."""

from __future__ import annotations

from typing import Any

from twin.mapping import Step, TlsMapping

_EPS = 1e-6


class SignalDriver:
    """Shows model phases on one SUMO traffic light, with yellow/all-red between them."""

    def __init__(self, api: Any, mapping: TlsMapping, phase: int, now: float) -> None:
        self._api = api
        self.mapping = mapping
        self.phase = phase
        self.target = phase
        self.green_since = now
        self._steps: list[Step] = []
        self._step_end: float | None = None
        self._set(mapping.green(phase))

    def _set(self, state: str) -> None:
        self._api.trafficlight.setRedYellowGreenState(self.mapping.tls_id, state)

    @property
    def in_transition(self) -> bool:
        """True while yellow or all-red is shown."""
        return self._step_end is not None

    def switch(self, to_phase: int, now: float) -> float:
        """Start the change to ``to_phase``; returns the time its green starts."""
        if self.in_transition:
            return self._step_end or now
        if to_phase == self.phase:
            return now
        self.target = to_phase
        self._steps = list(self.mapping.transition(self.phase, to_phase))
        if not self._steps:
            self._begin_green(now)
            return now
        self._show_next(now)
        return (self._step_end or now) + sum(s.duration_s for s in self._steps)

    def _show_next(self, now: float) -> None:
        step = self._steps.pop(0)
        self._set(step.state)
        self._step_end = now + step.duration_s

    def _begin_green(self, now: float) -> None:
        self.phase = self.target
        self._step_end = None
        self.green_since = now
        self._set(self.mapping.green(self.phase))

    def tick(self, now: float) -> None:
        """Advance the transition; call once per simulation step."""
        if self._step_end is not None and now >= self._step_end - _EPS:
            if self._steps:
                self._show_next(now)
            else:
                self._begin_green(now)

    def green_elapsed(self, now: float) -> float:
        """Green already given to the current phase (0 during a transition)."""
        return 0.0 if self.in_transition else now - self.green_since
