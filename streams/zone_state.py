"""Per-zone aggregation state, pure and serialisable: one Faust table row per zone.

Counts are stored per (detector, interval end) and *overwritten*, never added: a detector reports
one count per
interval, so a reading replayed after a worker restart (Kafka's at-least-once delivery) changes
nothing. That makes
restarts lose no count and double no count, without transactions.

Time is event time. Each detector has its own clock, the latest interval end it reported; the
zone's watermark is the lower median of the clocks of its detectors that still report, and it
never goes back. One detector with a wrong clock (a reading dated 9999, or 1970) therefore cannot
move its zone's time, nor hold it back. A control period closes when the watermark passes its end
plus the allowed lateness; replayed or simulated feeds therefore behave exactly like live ones
(Faust's own windowed tables expire windows on the wall clock, which breaks replays).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import msgspec

from streams.events import ZoneReading

DEFAULT_HORIZON_MS = 3_600_000
"""How far behind the second most advanced detector a detector's clock may be and still count in
its zone's watermark (the zone stage passes window + lateness + period)."""


class ZoneState(msgspec.Struct, kw_only=True):
    """Readings of one zone's detectors, its watermark and the last control period it planned."""

    zone_id: str
    counts: dict[str, dict[int, tuple[int, int]]] = msgspec.field(default_factory=dict)
    """detector id -> interval end (ms) -> (count, interval length s)."""
    watermark_ms: int = 0
    planned_until_ms: int = 0
    """End of the last control period planned (0: none yet). State written while it also held
    the last published plans (``running``) still decodes: the field is ignored, the guardrails
    bound from the approved plans now (:mod:`streams.oversight`)."""
    clocks: dict[str, int] = msgspec.field(default_factory=dict)
    """detector id (vehicle classes merged) -> the latest interval end it reported (ms). Absent
    from state written before per-detector clocks: decodes as empty, and the watermark kept."""
    occupancy: dict[str, dict[int, float]] = msgspec.field(default_factory=dict)
    """detector id -> interval end (ms) -> time occupancy (0..1), for readings that have one.
    Absent from state written before: decodes as empty."""

    def upsert(
        self,
        readings: Iterable[ZoneReading],
        *,
        quorum: int = 1,
        horizon_ms: int = DEFAULT_HORIZON_MS,
    ) -> int:
        """Store readings (last write wins per detector and interval), move the detectors' clocks
        and the watermark (see :meth:`advance`); return how many readings were new."""
        new = 0
        for r in readings:
            per = self.counts.setdefault(r.detector_id, {})
            if r.interval_end_ms not in per:
                new += 1
            per[r.interval_end_ms] = (r.count, r.interval_s)
            det = r.detector_id.split("#", 1)[0]
            if r.interval_end_ms > self.clocks.get(det, 0):
                self.clocks[det] = r.interval_end_ms
            if r.occupancy is not None:
                self.occupancy.setdefault(r.detector_id, {})[r.interval_end_ms] = r.occupancy
            elif r.interval_end_ms in self.occupancy.get(r.detector_id, {}):
                del self.occupancy[r.detector_id][r.interval_end_ms]  # last write wins here too
        self.advance(quorum, horizon_ms)
        return new

    def late(self, readings: Iterable[ZoneReading]) -> list[ZoneReading]:
        """The readings whose interval ends in a control period already planned: too late for it."""
        if self.planned_until_ms == 0:
            return []
        return [r for r in readings if r.interval_end_ms <= self.planned_until_ms]

    def advance(self, quorum: int = 1, horizon_ms: int = DEFAULT_HORIZON_MS) -> int:
        """Move the watermark to the lower median of the clocks of the detectors still reporting;
        return it.

        A detector still reports when its clock is within ``horizon_ms`` of the second most
        advanced clock: one clock far ahead cannot make every other detector look silent, and a
        detector that stopped (or whose clock is stuck in the past) drops out instead of holding
        the zone back. Nothing moves while fewer than ``quorum`` detectors report (the zone stage
        asks for two when the zone has two or more detectors), so no single detector moves its
        zone's clock. The watermark never goes back.
        """
        if not self.clocks:
            return self.watermark_ms
        ordered = sorted(self.clocks.values())
        reference = ordered[-2] if len(ordered) > 1 else ordered[-1]
        active = [t for t in ordered if t >= reference - horizon_ms]
        if len(active) >= max(1, quorum):
            self.watermark_ms = max(self.watermark_ms, active[(len(active) - 1) // 2])
        return self.watermark_ms

    def due_periods(
        self, period_ms: int, lateness_ms: int, window_ms: int | None = None
    ) -> list[int]:
        """Ends of the control periods that can be planned now (closed and not planned yet), oldest
        first. With ``window_ms``, only periods whose window holds a reading: after a long gap
        (a feed that stopped for a day) the empty periods are not enumerated one by one."""
        if self.watermark_ms == 0:
            return []
        closed_until = ((self.watermark_ms - lateness_ms) // period_ms) * period_ms
        if self.planned_until_ms == 0:
            # First period seen: plan only the period that just closed, not the whole history.
            return (
                [closed_until] if closed_until > 0 and self._has_data_before(closed_until) else []
            )
        first = self.planned_until_ms + period_ms
        if window_ms is None:
            return list(range(first, closed_until + 1, period_ms))
        ends: set[int] = set()
        for per in self.counts.values():
            for t in per:
                # period ends e (multiples of the period) with t in (e - window, e]
                e = -(-t // period_ms) * period_ms
                while e < t + window_ms:
                    if first <= e <= closed_until:
                        ends.add(e)
                    e += period_ms
        return sorted(ends)

    def closable_periods(self, period_ms: int, lateness_ms: int) -> int:
        """How many control periods closed since the last planned one (with data or not)."""
        if self.watermark_ms == 0 or self.planned_until_ms == 0:
            return 0
        closed_until = ((self.watermark_ms - lateness_ms) // period_ms) * period_ms
        return max(0, (closed_until - self.planned_until_ms) // period_ms)

    def _has_data_before(self, end_ms: int) -> bool:
        return any(t <= end_ms for per in self.counts.values() for t in per)

    def window(self, detector_id: str, start_ms: int, end_ms: int) -> tuple[int, int, int]:
        """(vehicles, seconds covered, readings) of a detector for intervals ending in (start, end].

        An interval counted for all vehicles is used as is; otherwise its per-class counts
        (``detector#class`` keys) are added up.
        """
        by_interval: dict[int, tuple[int, int]] = {}
        for t, (count, length) in self.counts.get(detector_id, {}).items():
            if start_ms < t <= end_ms:
                by_interval[t] = (count, length)
        prefix = detector_id + "#"
        for key, per in self.counts.items():
            if not key.startswith(prefix):
                continue
            for t, (count, length) in per.items():
                if start_ms < t <= end_ms and t not in self.counts.get(detector_id, {}):
                    prev = by_interval.get(t, (0, length))
                    by_interval[t] = (prev[0] + count, length)
        vehicles = sum(c for c, _ in by_interval.values())
        seconds = sum(length for _, length in by_interval.values())
        return vehicles, seconds, len(by_interval)

    def window_occupancy(self, detector_id: str, start_ms: int, end_ms: int) -> float | None:
        """Mean time occupancy of a detector over its intervals ending in (start, end], weighted
        by interval length; ``None`` when none of them reported occupancy."""
        occ = self.occupancy.get(detector_id, {})
        counts = self.counts.get(detector_id, {})
        weighted = 0.0
        seconds = 0
        for t, value in occ.items():
            if start_ms < t <= end_ms and t in counts:
                length = counts[t][1]
                weighted += value * length
                seconds += length
        return weighted / seconds if seconds else None

    def prune(self, keep_after_ms: int) -> int:
        """Forget intervals ending at or before ``keep_after_ms``; return how many were dropped."""
        dropped = 0
        for det in list(self.counts):
            per = self.counts[det]
            for t in [t for t in per if t <= keep_after_ms]:
                del per[t]
                dropped += 1
            if not per:
                del self.counts[det]
        for det in list(self.occupancy):
            kept = {t: v for t, v in self.occupancy[det].items() if t > keep_after_ms}
            if kept:
                self.occupancy[det] = kept
            else:
                del self.occupancy[det]
        return dropped

    def total_vehicles(self) -> int:
        """All vehicles currently held (for tests and metrics)."""
        return sum(c for per in self.counts.values() for c, _ in per.values())


@dataclass(frozen=True, slots=True)
class ZoneStep:
    """What one batch of readings did to a zone's state (:meth:`ZoneClock.receive`)."""

    late: list[ZoneReading]
    """Readings of a period already planned (counted and kept, used by later windows)."""
    due: list[int]
    """Ends of the periods to plan now, oldest first."""
    closable: int
    """Periods closed since the last planned one, with data or not."""


@dataclass(frozen=True, slots=True)
class ZoneClock:
    """How a zone's event time closes control periods: the zone stage's rules, in one place for
    the worker and the twin's in-process pipeline (``aiguilleur.twin_product``)."""

    period_ms: int
    lateness_ms: int
    window_ms: int
    """How far back a period's plans read (the longest window of the planning)."""

    @property
    def horizon_ms(self) -> int:
        """How far behind a detector's clock may be and still count (:meth:`ZoneState.advance`)."""
        return self.window_ms + self.lateness_ms + self.period_ms

    @staticmethod
    def quorum(detectors: int) -> int:
        """Detectors whose clocks must agree before a zone's time moves: two, so that no single
        detector moves it (one in a zone of one detector)."""
        return min(2, detectors)

    def receive(self, state: ZoneState, readings: list[ZoneReading], quorum: int) -> ZoneStep:
        """Store ``readings`` and say which periods they close."""
        late = state.late(readings)
        state.upsert(readings, quorum=quorum, horizon_ms=self.horizon_ms)
        closable = state.closable_periods(self.period_ms, self.lateness_ms)
        due = state.due_periods(self.period_ms, self.lateness_ms, self.window_ms)
        return ZoneStep(late, due, closable)

    def planned(self, state: ZoneState, step: ZoneStep) -> None:
        """After the due periods were planned: every closed period counts as planned (the empty
        ones too), and what no later window reads is forgotten."""
        if step.due:
            state.planned_until_ms = max(state.planned_until_ms, step.due[-1])
        if step.closable:
            state.planned_until_ms = max(
                state.planned_until_ms,
                ((state.watermark_ms - self.lateness_ms) // self.period_ms) * self.period_ms,
            )
        if state.planned_until_ms:
            state.prune(state.planned_until_ms + self.period_ms - self.window_ms)


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(ZoneState)


def encode_state(state: ZoneState) -> bytes:
    """Bytes for the Faust table (msgpack)."""
    return _encoder.encode(state)


def decode_state(data: bytes) -> ZoneState:
    """Inverse of :func:`encode_state`."""
    return _decoder.decode(data)
