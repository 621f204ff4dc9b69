"""Phase index to SUMO signal states, and the yellow / all-red a phase change needs."""

from __future__ import annotations

import msgspec

from graph.sumo import DEFAULT_YELLOW_S, SumoSignal

__all__ = ["DEFAULT_YELLOW_S", "Step", "TlsMapping"]


class Step(msgspec.Struct, frozen=True):
    """One signal state shown for a duration."""

    state: str
    duration_s: float


class TlsMapping(msgspec.Struct, frozen=True, kw_only=True):
    """What the twin needs to drive one SUMO traffic light through model phases."""

    tls_id: str
    green_states: tuple[str, ...]
    yellow_s: tuple[float, ...]
    red_s: tuple[float, ...]
    incoming_lanes: tuple[tuple[str, ...], ...]
    """Per link index: the incoming lane (one element) or nothing for unused indices."""
    outgoing_lanes: tuple[tuple[str, ...], ...]
    crossings: tuple[bool, ...] = ()
    """Per link index: a pedestrian crossing (SUMO shows it no yellow: it goes straight to red)."""

    @classmethod
    def from_signal(cls, signal: SumoSignal) -> TlsMapping:
        """Mapping of a signal read by :func:`graph.sumo.network_from_sumo`."""
        return cls(
            tls_id=signal.tls_id,
            green_states=signal.green_states,
            yellow_s=signal.yellow_s,
            red_s=signal.red_s,
            incoming_lanes=tuple((i,) if i else () for i, _ in signal.link_lanes),
            outgoing_lanes=tuple((o,) if o else () for _, o in signal.link_lanes),
            crossings=tuple(i.startswith(":") for i, _ in signal.link_lanes),
        )

    @property
    def n_phases(self) -> int:
        """Number of model phases."""
        return len(self.green_states)

    def green(self, phase: int) -> str:
        """SUMO state string of a model phase."""
        return self.green_states[phase]

    def transition(self, from_phase: int, to_phase: int) -> tuple[Step, ...]:
        """Yellow then all-red between two phases, as the scenario's programme times them.

        Links green in both phases stay green; links losing green show yellow then red, except
        pedestrian crossings, which go to red at once (as SUMO's own programmes do): when only
        crossings lose green, only the programme's all-red after ``from_phase`` is shown (the
        walkers' clearance; nothing when it has none).
        """
        if from_phase == to_phase:
            return ()
        a, b = self.green_states[from_phase], self.green_states[to_phase]
        losing = [ca in "Gg" and cb not in "Gg" for ca, cb in zip(a, b, strict=True)]
        if not any(losing):
            return ()
        crossing = [i < len(self.crossings) and self.crossings[i] for i in range(len(a))]
        red = "".join(
            "r" if lose else (ca if ca in "Gg" else "r") for ca, lose in zip(a, losing, strict=True)
        )
        if not any(lose and not c for lose, c in zip(losing, crossing, strict=True)):
            return (Step(red, self.red_s[from_phase]),) if self.red_s[from_phase] > 0 else ()
        yellow = "".join(
            ("r" if c else "y") if lose else (ca if ca in "Gg" else "r")
            for ca, lose, c in zip(a, losing, crossing, strict=True)
        )
        y_s = self.yellow_s[from_phase] or DEFAULT_YELLOW_S
        steps = [Step(yellow, y_s)]
        if self.red_s[from_phase] > 0:
            steps.append(Step(red, self.red_s[from_phase]))
        return tuple(steps)

    def intergreen_s(self, from_phase: int, to_phase: int) -> float:
        """Total yellow plus red between two phases."""
        return sum(s.duration_s for s in self.transition(from_phase, to_phase))
