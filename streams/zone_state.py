"""Per-zone aggregation state, pure and serialisable: one Faust table row per zone.

Counts are stored per (detector, interval end) and *overwritten*, never added: a detector reports
one count per
interval, so a reading replayed after a worker restart (Kafka's at-least-once delivery) changes
nothing. That makes
restarts lose no count and double no count, without transactions.

Time is event time: the zone's watermark is the latest interval end it has seen. A control period
closes when
the watermark passes its end plus the allowed lateness; replayed or simulated feeds therefore behave
exactly like
live ones (Faust's own windowed tables expire windows on the wall clock, which breaks replays).
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from streams.events import ZoneReading


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

    def upsert(self, readings: Iterable[ZoneReading]) -> int:
        """Store readings (last write wins per detector and interval); return how many were new."""
        new = 0
        for r in readings:
            per = self.counts.setdefault(r.detector_id, {})
            if r.interval_end_ms not in per:
                new += 1
            per[r.interval_end_ms] = (r.count, r.interval_s)
            self.watermark_ms = max(self.watermark_ms, r.interval_end_ms)
        return new

    def due_periods(self, period_ms: int, lateness_ms: int) -> list[int]:
        """Ends of the control periods that can be planned now (closed and not planned yet), oldest
        first."""
        if self.watermark_ms == 0:
            return []
        closed_until = ((self.watermark_ms - lateness_ms) // period_ms) * period_ms
        if self.planned_until_ms == 0:
            # First period seen: plan only the period that just closed, not the whole history.
            return (
                [closed_until] if closed_until > 0 and self._has_data_before(closed_until) else []
            )
        return list(range(self.planned_until_ms + period_ms, closed_until + 1, period_ms))

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
        return dropped

    def total_vehicles(self) -> int:
        """All vehicles currently held (for tests and metrics)."""
        return sum(c for per in self.counts.values() for c, _ in per.values())


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(ZoneState)


def encode_state(state: ZoneState) -> bytes:
    """Bytes for the Faust table (msgpack)."""
    return _encoder.encode(state)


def decode_state(data: bytes) -> ZoneState:
    """Inverse of :func:`encode_state`."""
    return _decoder.decode(data)
