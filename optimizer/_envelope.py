"""Keep every live decision inside an operator-approved envelope.

Controllers say what they would like (keep the current phase for a while, or switch to a
phase) and :class:`EnvelopeGuard` turns that wish into a :class:`Decision` that respects the minimum
and maximum greens, the phase order and the cycle bounds, adding to the reason whenever the envelope
overrode the wish. Envelope tuples are indexed by phase index (``min_green_s[i]`` belongs to
phase ``i``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from optimizer.errors import InvalidEnvelope
from optimizer.model import JunctionDemand
from optimizer.strategy import Decision, Envelope, JunctionState

EPS = 1e-6
"""Tolerance (s) when comparing elapsed times with bounds."""


class EnvelopeGuard:
    """Clamp wishes to an envelope; all arithmetic on times in seconds."""

    def __init__(self, envelope: Envelope) -> None:
        validate_envelope(envelope)
        self.envelope = envelope
        self.order = envelope.phase_order
        self._pos = {p: i for i, p in enumerate(self.order)}

    def successor(self, phase: int) -> int:
        """The phase that follows ``phase`` in the order (the first one for a phase not in it)."""
        if phase not in self._pos:
            return self.order[0]
        return self.order[(self._pos[phase] + 1) % len(self.order)]

    def allowed_targets(self, phase: int, state: JunctionState | None = None) -> tuple[int, ...]:
        """Phases a switch may go to: the successor or, when skipping is allowed, any later phase.

        Skipping is the operator's permission; the controller chooses what to skip (max-pressure
        may pass over a called phase of lower pressure, the adaptive mode only passes over phases
        without traffic). With a ``state``, a later phase whose minimum green no longer fits before
        the maximum cycle is left out; the next cycle's first phase always stays. Never ``phase``,
        except when it is the only phase in the order (see :meth:`decide`, which then keeps it).
        """
        succ = self.successor(phase)
        if not self.envelope.may_skip_phases or phase not in self._pos:
            return (succ,)
        env = self.envelope
        first = self.order[0]
        rest = self.order[self._pos[phase] + 1 :]
        if state is not None:
            spent = state.cycle_elapsed_s + env.intergreen_s[phase]
            rest = tuple(
                p
                for p in rest
                if spent + env.min_green_s[p] + env.intergreen_s[p] <= env.cycle_max_s
            )
        targets = (*rest, first) if first != phase else rest
        # The first phase itself with nothing that fits after it: its successor still has to come.
        return targets or (succ,)

    def keep_limit_s(self, state: JunctionState) -> float:
        """How much longer the current phase may stay green (max green and maximum cycle)."""
        env = self.envelope
        cur = state.current_phase
        limit = env.max_green_s[cur] - state.phase_elapsed_s
        remaining = env.intergreen_s[cur]
        later = self.order[self._pos[cur] + 1 :]
        spans = [env.min_green_s[p] + env.intergreen_s[p] for p in later]
        if not env.may_skip_phases:
            remaining += sum(spans)
        elif cur == self.order[0] and spans:
            # Even when skipping, the first phase cannot follow itself: one other phase must fit.
            remaining += min(spans)
        return min(limit, env.cycle_max_s - state.cycle_elapsed_s - remaining)

    def decide(self, state: JunctionState, *, want: int, hold_s: float, reason: str) -> Decision:
        """The decision closest to the wish (``want`` == current phase means keep it ``hold_s``)."""
        env = self.envelope
        cur = state.current_phase
        if cur not in self._pos:
            first = self.order[0]
            return self._switch(
                state, first, f"phase {cur} is not in the approved order: go to {first}"
            )
        elapsed = state.phase_elapsed_s
        if elapsed + EPS < env.min_green_s[cur]:
            wait = env.min_green_s[cur] - elapsed
            return self._keep(
                state,
                wait,
                f"minimum green of phase {cur} not reached ({elapsed:.0f}/"
                f"{env.min_green_s[cur]:.0f} s); {reason}",
            )
        limit = self.keep_limit_s(state)
        if want == cur and len(self.order) == 1:
            # The only phase in the order: there is nothing to switch to, so its maximum green
            # cannot be enforced; keep it, and say so.
            return self._keep(
                state,
                hold_s,
                f"{reason}; phase {cur} is the only phase in the approved order: kept",
            )
        if want == cur:
            if limit <= EPS:
                succ = self.allowed_targets(cur, state)[0]
                return self._switch(
                    state,
                    succ,
                    f"{reason}; overridden: maximum green or maximum cycle "
                    f"reached, switch to {succ}",
                )
            return self._keep(state, min(hold_s, limit), reason)
        targets = self.allowed_targets(cur, state)
        if want not in targets:
            reason = f"{reason}; phase {want} is not next in the order, serve {targets[0]} instead"
            want = targets[0]
        ends_cycle = want == self.order[0]
        short = env.cycle_min_s - state.cycle_elapsed_s - env.intergreen_s[cur]
        if ends_cycle and short > EPS and limit > EPS:
            return self._keep(
                state,
                min(short, limit),
                f"{reason}; held: the cycle would end before its "
                f"minimum of {env.cycle_min_s:.0f} s",
            )
        return self._switch(state, want, reason)

    def _keep(self, state: JunctionState, hold_s: float, reason: str) -> Decision:
        return Decision(
            junction_id=state.junction_id,
            time_s=state.time_s,
            phase_index=state.current_phase,
            next_decision_in_s=max(hold_s, EPS),
            reason=reason,
        )

    def _switch(self, state: JunctionState, target: int, reason: str) -> Decision:
        env = self.envelope
        cur = state.current_phase
        clearance = env.intergreen_s[cur] if cur < len(env.intergreen_s) else 0.0
        return Decision(
            junction_id=state.junction_id,
            time_s=state.time_s,
            phase_index=target,
            next_decision_in_s=clearance + env.min_green_s[target],
            reason=reason,
        )


class SteppedController:
    """Shared shape of live controllers: an envelope, its guard, and a re-decision step."""

    def __init__(self, envelope: Envelope, step_s: float) -> None:
        if step_s <= 0:
            raise ValueError(f"step_s must be > 0, got {step_s}")
        self.envelope = envelope
        self.step_s = step_s
        self._guard = EnvelopeGuard(envelope)


def validate_envelope(envelope: Envelope) -> None:
    """Raise :class:`InvalidEnvelope` when the envelope's bounds cannot all hold."""
    jid = envelope.junction_id
    n = len(envelope.min_green_s)
    if not envelope.phase_order:
        raise InvalidEnvelope(jid, "phase_order is empty")
    if len(envelope.max_green_s) != n or len(envelope.intergreen_s) != n:
        raise InvalidEnvelope(
            jid, "min_green_s, max_green_s and intergreen_s must have one entry per phase"
        )
    if len(set(envelope.phase_order)) != len(envelope.phase_order):
        raise InvalidEnvelope(jid, f"phase_order {envelope.phase_order} repeats a phase")
    for p in envelope.phase_order:
        if not 0 <= p < n:
            raise InvalidEnvelope(
                jid, f"phase_order names phase {p} but bounds cover phases 0..{n - 1}"
            )
    for p in range(n):
        if envelope.min_green_s[p] > envelope.max_green_s[p] or envelope.min_green_s[p] < 0:
            raise InvalidEnvelope(jid, f"phase {p}: need 0 <= min_green_s <= max_green_s")
        if envelope.intergreen_s[p] < 0:
            raise InvalidEnvelope(jid, f"phase {p}: intergreen_s must be >= 0")
    shortest = shortest_cycle_s(
        envelope.phase_order,
        envelope.min_green_s,
        envelope.intergreen_s,
        may_skip_phases=envelope.may_skip_phases,
    )
    if shortest > envelope.cycle_max_s or envelope.cycle_min_s > envelope.cycle_max_s:
        raise InvalidEnvelope(
            jid,
            f"minimum greens and intergreens ({shortest:.0f} s) or cycle_min_s exceed "
            f"cycle_max_s ({envelope.cycle_max_s:.0f} s)",
        )


def shortest_cycle_s(
    phase_order: Sequence[int],
    min_green_s: Sequence[float],
    intergreen_s: Sequence[float],
    *,
    may_skip_phases: bool,
) -> float:
    """The shortest cycle the minimum greens and intergreens allow: every phase in the order, or
    with skipping the first phase and the shortest other one (a cycle serves at least two)."""
    spans = [min_green_s[p] + intergreen_s[p] for p in phase_order]
    if not spans:
        return 0.0
    return spans[0] + min(spans[1:], default=0.0) if may_skip_phases else sum(spans)


NO_MINIMUM_CYCLE_S = 1.0
"""The floor of a "no minimum cycle" envelope whose greens and intergreens are all zero (an
approved minimum cycle must be positive)."""


class PhaseBounds(Protocol):
    """What an envelope needs of a phase (a demand's phase, or a network model's)."""

    @property
    def index(self) -> int: ...
    @property
    def min_green_s(self) -> float: ...
    @property
    def max_green_s(self) -> float: ...
    @property
    def intergreen_s(self) -> float: ...


def envelope_from_phases(
    junction_id: str,
    phases: Sequence[PhaseBounds],
    cycle_min_s: float | None,
    cycle_max_s: float,
    *,
    may_skip_phases: bool,
) -> Envelope:
    """The envelope of ``phases`` taken in the order given, with their greens and intergreens.

    ``cycle_min_s`` None: no minimum cycle beyond what the greens impose (the shortest cycle they
    allow, :func:`shortest_cycle_s`). A phase-by-phase controller has no cycle of its own to
    keep long: a minimum cycle only makes it hold a green nobody uses (docs/bench/adaptive.md)."""
    order = tuple(p.index for p in phases)
    min_green = tuple(p.min_green_s for p in phases)
    intergreen = tuple(p.intergreen_s for p in phases)
    if cycle_min_s is None:
        # Indexed by position here: phases are taken in the order given.
        shortest = shortest_cycle_s(
            range(len(phases)), min_green, intergreen, may_skip_phases=may_skip_phases
        )
        cycle_min_s = max(NO_MINIMUM_CYCLE_S, shortest)
    return Envelope(
        junction_id=junction_id,
        phase_order=order,
        min_green_s=min_green,
        max_green_s=tuple(p.max_green_s for p in phases),
        intergreen_s=intergreen,
        cycle_min_s=cycle_min_s,
        cycle_max_s=cycle_max_s,
        may_skip_phases=may_skip_phases,
    )


def envelope_from_demand(demand: JunctionDemand, *, may_skip_phases: bool = False) -> Envelope:
    """The envelope a demand's own bounds describe: phases in index order, greens, cycle."""
    phases = sorted(demand.phases, key=lambda p: p.index)
    if [p.index for p in phases] != list(range(len(phases))):
        raise InvalidEnvelope(
            demand.junction_id, "phase indices must be 0..n-1 to build an envelope"
        )
    return envelope_from_phases(
        demand.junction_id,
        phases,
        float(demand.cycle_min_s),
        float(demand.cycle_max_s),
        may_skip_phases=may_skip_phases,
    )
