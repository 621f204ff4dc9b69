"""Read back the signal states SUMO applied and check them against what the control intended.

The twin sets states through :class:`~twin.driver.SignalDriver` (or lets SUMO run a programme);
this module records what ``trafficlight.getRedYellowGreenState`` answers after every step (only
the changes are kept), rebuilds the sequence SUMO showed — greens of model phases and the
yellow / red between them — and checks it:

- **every driven control**: the states between two greens are the transition the scenario's
  programme times (:meth:`twin.mapping.TlsMapping.transition`), state by state and second by second;
- **planners and fixed plans**: cycles follow the plan in force (its phases with a green, in
  order); in steady cycles each green is the plan's and the cycle is the plan's ``cycle_s``. A plan
  is applied from the next cycle boundary after it is issued, and one cycle around each plan change
  (the last under the old plan or the first under the new one) may differ: the transition cycle a
  coordinated plan needs to reach its offset;
- **controllers**: every complete green lies within the envelope's minimum and maximum green
  (RESCO's reference baseline has no such bounds by design and is checked for transitions only);
- **built-in programmes**: every state shown is a state of the programme the network model read
  (a wrong programme choice shows up here).

Durations are compared to within one simulation step.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import msgspec

from graph.sumo import SumoSignal
from optimizer.model import Plan
from twin.mapping import TlsMapping
from twin.programmes import programme_greens

_EPS = 1e-6
MAX_EXAMPLES = 5
"""Violations described in :class:`AuditResult` (all are counted)."""
ENVELOPE_EXEMPT = frozenset({"resco-max-pressure"})
"""Controllers that do not claim to honour the envelope's greens (RESCO's baseline re-decides every
10 s with no minimum or maximum green): only their transitions are checked."""

AuditKind = Literal["builtin", "planner", "plan", "controller"]
ViolationKind = Literal["state", "order", "green", "intergreen", "cycle", "min_green", "max_green"]


class Shown(msgspec.Struct, frozen=True):
    """One signal state as SUMO showed it, from ``start_s`` to ``end_s``."""

    state: str
    start_s: float
    end_s: float

    @property
    def duration_s(self) -> float:
        """How long it was shown."""
        return self.end_s - self.start_s


class Green(msgspec.Struct, frozen=True, kw_only=True):
    """A green of one model phase, with the states shown since the previous green."""

    phase: int
    start_s: float
    end_s: float
    before: tuple[Shown, ...] = ()
    at_begin: bool = False
    """Shown from the first record (its real start is not known)."""
    open_end: bool = False
    """Still shown when the run ended."""

    @property
    def duration_s(self) -> float:
        """Green time shown."""
        return self.end_s - self.start_s

    @property
    def switch_s(self) -> float:
        """When the previous green ended (the instant the control decided to change)."""
        return self.before[0].start_s if self.before else self.start_s


class Violation(msgspec.Struct, frozen=True, kw_only=True):
    """One difference between what SUMO showed and what the control intended."""

    tls_id: str
    time_s: float
    kind: ViolationKind
    detail: str

    def describe(self) -> str:
        """One line naming the signal, the time and what differed."""
        return f"{self.tls_id} t={self.time_s:g}s {self.kind}: {self.detail}"


class AuditResult(msgspec.Struct, frozen=True, kw_only=True):
    """What the audit of one run found."""

    signals: int
    state_changes: int
    checked_greens: int
    checked_cycles: int
    """Cycles checked against their plan (planners) or completed (programmes)."""
    transition_cycles: int = 0
    """Cycles that differed from their plan next to a plan change (allowed, one per change)."""
    violations: int = 0
    first_violations: tuple[str, ...] = ()


class Regime(msgspec.Struct, frozen=True, kw_only=True):
    """A green sequence a plan policy was told to run from ``issued_s`` on."""

    issued_s: float
    sequence: tuple[tuple[int, float], ...]
    cycle_s: float | None = None
    """The plan's cycle; ``None`` for the scenario programme's greens (before the first plan)."""


def plan_sequence(plan: Plan) -> tuple[tuple[int, float], ...]:
    """The greens a plan asks for: its phases with a green, in the plan's order."""
    return tuple((p.index, float(p.green_s)) for p in plan.phases if p.green_s > 0)


def cyclic_sequence(seq: Sequence[tuple[int, float]]) -> tuple[tuple[int, float], ...]:
    """``seq`` as SUMO shows it: the same phase twice in a row (across the cycle's end too) is
    one green."""
    out: list[tuple[int, float]] = []
    for p, g in seq:
        if out and out[-1][0] == p:
            out[-1] = (p, out[-1][1] + g)
        else:
            out.append((p, g))
    if len(out) > 1 and out[-1][0] == out[0][0]:
        last = out.pop()
        out[0] = (last[0], last[1] + out[0][1])
    return tuple(out)


def shown_states(changes: Sequence[tuple[float, str]], end_s: float) -> list[Shown]:
    """The states shown, from ``(time, state)`` changes and the end of the run."""
    out = []
    for (t, s), (t_next, _) in zip(changes, [*changes[1:], (end_s, "")], strict=True):
        if t_next > t + _EPS:
            out.append(Shown(s, t, t_next))
    return out


def greens_of(shown: Sequence[Shown], green_states: Sequence[str], end_s: float) -> list[Green]:
    """The greens of model phases in ``shown``; other states are the transitions between them."""
    phase_of = {s: k for k, s in enumerate(green_states)}
    out: list[Green] = []
    between: list[Shown] = []
    for i, seg in enumerate(shown):
        k = phase_of.get(seg.state)
        if k is None:
            between.append(seg)
            continue
        out.append(
            Green(
                phase=k,
                start_s=seg.start_s,
                end_s=seg.end_s,
                before=tuple(between) if out else (),
                at_begin=i == 0,
                open_end=seg.end_s >= end_s - _EPS,
            )
        )
        between = []
    return out


def check_transition(
    mapping: TlsMapping, prev: Green, green: Green, tol_s: float
) -> Violation | None:
    """The states between two greens must be the programme's transition, durations within
    ``tol_s``."""
    want = [(s.state, s.duration_s) for s in mapping.transition(prev.phase, green.phase)]
    got = [(s.state, s.duration_s) for s in green.before]
    same = len(want) == len(got) and all(
        ws == gs and abs(wd - gd) <= tol_s for (ws, wd), (gs, gd) in zip(want, got, strict=True)
    )
    if same:
        return None
    return Violation(
        tls_id=mapping.tls_id,
        time_s=green.switch_s,
        kind="intergreen",
        detail=f"phase {prev.phase}->{green.phase}: shown {_steps(got)}, expected {_steps(want)}",
    )


def _steps(steps: Sequence[tuple[str, float]]) -> str:
    return "[" + ", ".join(f"{s} {d:g}s" for s, d in steps) + "]"


def check_envelope(
    tls_id: str,
    greens: Sequence[Green],
    min_green_s: Sequence[float],
    max_green_s: Sequence[float],
    tol_s: float,
) -> tuple[int, list[Violation]]:
    """Greens against a controller's bounds: complete greens against both, the green still shown
    at the end against the maximum only. A signal with a single phase has nothing to switch to:
    its green has no maximum. Returns (greens checked, violations)."""
    checked = 0
    out = []
    bounded = len(max_green_s) > 1
    for g in greens:
        d = g.duration_s
        if not g.open_end:
            checked += 1
            if d < min_green_s[g.phase] - tol_s:
                out.append(_bound(tls_id, g, "min_green", f"< minimum {min_green_s[g.phase]:g}s"))
        if bounded and d > max_green_s[g.phase] + tol_s:
            out.append(_bound(tls_id, g, "max_green", f"> maximum {max_green_s[g.phase]:g}s"))
    return checked, out


def _bound(tls_id: str, g: Green, kind: ViolationKind, what: str) -> Violation:
    return Violation(
        tls_id=tls_id,
        time_s=g.start_s,
        kind=kind,
        detail=f"phase {g.phase} green {g.duration_s:g}s {what}",
    )


@dataclass
class _Cycle:
    regime: int
    sequence: tuple[tuple[int, float], ...]
    greens: list[Green] = field(default_factory=list)
    broken: bool = False

    @property
    def complete(self) -> bool:
        return not self.broken and len(self.greens) == len(self.sequence)


@dataclass
class PlanCheck:
    """What checking one signal's greens against its plans found."""

    cycles: int = 0
    transition_cycles: int = 0
    greens: int = 0
    violations: list[Violation] = field(default_factory=list)


def _regime_at(regimes: Sequence[Regime], t: float) -> int:
    found = 0
    for i, r in enumerate(regimes):
        if r.issued_s <= t + _EPS:
            found = i
    return found


def _cycles(
    tls_id: str, greens: Sequence[Green], regimes: Sequence[Regime], out: PlanCheck
) -> list[_Cycle]:
    """Cut the greens into cycles of the plan in force at each cycle's start (positional walk:
    a cycle in progress finishes under its plan; the next starts with the newest plan's first
    phase). A green out of order breaks its cycle; greens before the first cycle are the policy
    bringing the signal onto its plan."""
    cycles: list[_Cycle] = []
    before_first: list[Green] = []
    cur: _Cycle | None = None
    for g in greens:
        if cur is not None and not cur.complete and not cur.broken:
            want = cur.sequence[len(cur.greens)][0]
            if g.phase == want:
                cur.greens.append(g)
                continue
        r = _regime_at(regimes, g.switch_s)
        seq = cyclic_sequence(regimes[r].sequence)
        if g.phase == seq[0][0]:
            cur = _Cycle(regime=r, sequence=seq, greens=[g])
            cycles.append(cur)
            continue
        if cur is None:  # the policy is still bringing the signal onto its first cycle
            before_first.append(g)
            continue
        cur.greens.append(g)
        cur.broken = True  # reported with the cycle (a transition cycle may be allowed)
    if not cycles and len([g for g in before_first if not g.open_end]) > len(regimes[0].sequence):
        out.violations.append(
            Violation(
                tls_id=tls_id,
                time_s=before_first[0].start_s,
                kind="order",
                detail=f"no cycle started: phase {regimes[0].sequence[0][0]} never shown",
            )
        )
    return cycles


def _deviation(
    tls_id: str,
    c: _Cycle,
    next_start: float,
    mapping: TlsMapping,
    cycle_s: float | None,
    tol: float,
) -> Violation | None:
    """How a closed cycle differs from its plan, or ``None``."""
    start = c.greens[0].start_s
    if not c.complete:
        shown = [g.phase for g in c.greens]
        return Violation(
            tls_id=tls_id,
            time_s=start,
            kind="order",
            detail=f"cycle showed phases {shown}, plan {[p for p, _ in c.sequence]}",
        )
    for g, (p, want) in zip(c.greens, c.sequence, strict=True):
        if abs(g.duration_s - want) > tol:
            return Violation(
                tls_id=tls_id,
                time_s=g.start_s,
                kind="green",
                detail=f"phase {p} green {g.duration_s:g}s, plan {want:g}s",
            )
    length = next_start - start
    if cycle_s is not None and abs(length - cycle_s) > tol:
        phases = [p for p, _ in c.sequence]
        shown_ig = sum(
            mapping.intergreen_s(a, b)
            for a, b in zip(phases, [*phases[1:], phases[0]], strict=True)
        )
        return Violation(
            tls_id=tls_id,
            time_s=start,
            kind="cycle",
            detail=(
                f"cycle {length:g}s, plan {cycle_s:g}s (greens {sum(g for _, g in c.sequence):g}s"
                f" + intergreens shown {shown_ig:g}s)"
            ),
        )
    return None


def check_plans(
    mapping: TlsMapping, greens: Sequence[Green], regimes: Sequence[Regime], tol_s: float
) -> PlanCheck:
    """Greens against the plans in force: steady cycles must match; at each plan change one of the
    two cycles next to it (the last under the old plan, the first under the new) may differ, and so
    may the run's first cycle."""
    tls_id = mapping.tls_id
    out = PlanCheck()
    cycles = _cycles(tls_id, greens, regimes, out)
    # allowance per change, keyed by the index of the first cycle under the new plan (0: the start)
    allowance = {0} | {i for i in range(1, len(cycles)) if cycles[i].regime != cycles[i - 1].regime}
    for i, c in enumerate(cycles[:-1]):  # the last one is still running: its length is unknown
        dev = _deviation(
            tls_id, c, cycles[i + 1].greens[0].start_s, mapping, regimes[c.regime].cycle_s, tol_s
        )
        if dev is None:
            out.cycles += 1
            out.greens += len(c.greens)
            continue
        used = next((b for b in (i, i + 1) if b in allowance), None)
        if used is None:
            out.violations.append(dev)
        else:
            allowance.discard(used)
            out.transition_cycles += 1
    return out


def check_programme(
    signal: SumoSignal, shown: Sequence[Shown], greens: Sequence[Green]
) -> tuple[int, int, list[Violation]]:
    """A programme SUMO runs itself: every state must be one of the programme's, or the scenario's
    signals switched off (``--tls.all-off``: links ``o`` or ``O``). Returns (greens, cycles,
    violations)."""
    states = {p.state for p in signal.program}
    out = [
        Violation(
            tls_id=signal.tls_id,
            time_s=s.start_s,
            kind="state",
            detail=f"state {s.state} is not in programme {signal.program_id!r}",
        )
        for s in shown
        if s.state not in states and not set(s.state) <= set("oO")
    ]
    first = signal.green_states[programme_greens(signal)[0][0]] if signal.program else ""
    cycles = sum(1 for g in greens[1:] if signal.green_states[g.phase] == first and not g.open_end)
    return sum(1 for g in greens if not g.open_end), cycles, out


class SignalRecorder:
    """Keeps each traffic light's state changes, read back from SUMO after every step."""

    def __init__(self, api: Any, tls_ids: Sequence[str], now: float) -> None:
        self._get = api.trafficlight.getRedYellowGreenState
        self.changes: dict[str, list[tuple[float, str]]] = {
            t: [(now, str(self._get(t)))] for t in tls_ids
        }

    def observe(self, now: float) -> None:
        """Read every light once; keep the state when it changed."""
        get = self._get
        for tls, ch in self.changes.items():
            s = get(tls)
            if s != ch[-1][1]:
                ch.append((now, str(s)))


class SignalAudit:
    """The audit of one run: records what SUMO shows and checks it at the end."""

    def __init__(
        self,
        api: Any,
        signals: Mapping[str, SumoSignal],
        kind: AuditKind,
        now: float,
        step_s: float,
        *,
        plans: Callable[[], Mapping[str, Sequence[Plan]]] | None = None,
        envelopes: Mapping[str, tuple[Sequence[float], Sequence[float]]] | None = None,
    ) -> None:
        self._signals = dict(signals)
        self._kind = kind
        self._tol = step_s + _EPS
        self._plans = plans
        self._envelopes = envelopes
        self.recorder = SignalRecorder(api, list(self._signals), now)
        self.regimes: dict[str, list[Regime]] = {}
        self._seen: dict[str, int] = {}
        if kind in {"planner", "plan"}:
            current = plans() if plans is not None else {}
            for tls, sig in self._signals.items():
                issued = list(current.get(tls, ()))
                first = (
                    Regime(
                        issued_s=now, sequence=plan_sequence(issued[-1]), cycle_s=issued[-1].cycle_s
                    )
                    if issued
                    else Regime(issued_s=now, sequence=tuple(programme_greens(sig)))
                )
                self.regimes[tls] = [first]
                self._seen[tls] = len(issued)

    def observe(self, now: float) -> None:
        """Call after the control acted in a step: reads the states and notes new plans."""
        self.recorder.observe(now)
        if self._plans is None or not self.regimes:
            return
        current = self._plans()
        for tls, seen in self._seen.items():
            issued = current.get(tls, ())
            if len(issued) > seen:
                for plan in issued[seen:]:
                    self.regimes[tls].append(
                        Regime(issued_s=now, sequence=plan_sequence(plan), cycle_s=plan.cycle_s)
                    )
                self._seen[tls] = len(issued)

    def result(self, end_s: float) -> AuditResult:
        """Rebuild what was shown and check it."""
        violations: list[Violation] = []
        total = PlanCheck()
        n_changes = 0
        for tls, sig in self._signals.items():
            changes = self.recorder.changes[tls]
            n_changes += len(changes) - 1
            found = self._check(sig, shown_states(changes, end_s), end_s)
            total.greens += found.greens
            total.cycles += found.cycles
            total.transition_cycles += found.transition_cycles
            violations += found.violations
        violations.sort(key=lambda v: (v.time_s, v.tls_id))
        return AuditResult(
            signals=len(self._signals),
            state_changes=n_changes,
            checked_greens=total.greens,
            checked_cycles=total.cycles,
            transition_cycles=total.transition_cycles,
            violations=len(violations),
            first_violations=tuple(v.describe() for v in violations[:MAX_EXAMPLES]),
        )

    def _check(self, sig: SumoSignal, shown: list[Shown], end_s: float) -> PlanCheck:
        greens = greens_of(shown, sig.green_states, end_s)
        if self._kind == "builtin":
            n_greens, n_cycles, wrong = check_programme(sig, shown, greens)
            return PlanCheck(cycles=n_cycles, greens=n_greens, violations=wrong)
        mapping = TlsMapping.from_signal(sig)
        transitions = [
            v
            for prev, g in itertools.pairwise(greens)
            if (v := check_transition(mapping, prev, g, self._tol)) is not None
        ]
        if self._kind == "controller":
            out = PlanCheck(violations=transitions)
            if self._envelopes is not None and sig.tls_id in self._envelopes:
                lo, hi = self._envelopes[sig.tls_id]
                out.greens, bounds = check_envelope(sig.tls_id, greens, lo, hi, self._tol)
                out.violations += bounds
            return out
        out = check_plans(mapping, greens, self.regimes[sig.tls_id], self._tol)
        out.violations = transitions + out.violations
        return out
