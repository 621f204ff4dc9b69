"""Expected diverted flow per approach, for the signal planner: junctions on a diversion get plans
for the traffic that is about to arrive.

Every worker follows the reroute-advice topic into a :class:`DiversionBoard`; when the zone stage
plans a junction, the flow the advice sends onto each of its approaches (the alternatives'
``flow_vph``, which already counts only the drivers assumed to follow) is added to the measured
flow, and the plan's explanation says so. An advice counts from its ``valid_from`` to its
``valid_until``; a ``no_diversion`` advice for an incident (cleared, or nothing possible any more)
removes what that incident's earlier advice added.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import msgspec

from streams.events import RerouteAdvice

_decoder = msgspec.json.Decoder(RerouteAdvice)


@dataclass(frozen=True, slots=True)
class ExpectedFlow:
    """Extra flow expected on one approach, and the advice that sends it."""

    vph: float
    advice_ids: tuple[str, ...]


@dataclass
class DiversionBoard:
    """The advice in force, by incident and decision point."""

    advice: dict[tuple[str, int], RerouteAdvice] = field(default_factory=dict)

    def apply(self, advice: RerouteAdvice) -> None:
        """Take one advice into account (a ``no_diversion`` clears its incident)."""
        if advice.kind == "no_diversion" or advice.decision_point is None:
            for key in [k for k in self.advice if k[0] == advice.incident_id]:
                del self.advice[key]
            return
        self.advice[(advice.incident_id, advice.decision_point.node)] = advice

    def apply_record(self, value: bytes | None) -> bool:
        """Apply a record of the advice topic; False when it is not an advice."""
        try:
            self.apply(_decoder.decode(value or b""))
        except (msgspec.DecodeError, msgspec.ValidationError):
            return False
        return True

    def expected(self, approach_ids: Iterable[str], at_ms: int) -> dict[str, ExpectedFlow]:
        """Extra flow on each of ``approach_ids`` from the advice valid at ``at_ms``."""
        wanted = set(approach_ids)
        vph: dict[str, float] = {}
        ids: dict[str, list[str]] = {}
        for a in self.advice.values():
            if not a.valid_from.timestamp() * 1000 <= at_ms < a.valid_until.timestamp() * 1000:
                continue
            for alt in a.alternatives:
                for approach in set(alt.signal_approaches) & wanted:
                    vph[approach] = vph.get(approach, 0.0) + alt.flow_vph
                    ids.setdefault(approach, []).append(a.advice_id)
        return {k: ExpectedFlow(round(v, 1), tuple(ids[k])) for k, v in vph.items()}
