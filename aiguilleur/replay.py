"""Replay a counts file onto the input topic, paced by event time, optionally moved to now."""

from __future__ import annotations

import asyncio
import csv
import gzip
import io
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec

from streams import kafka
from streams.events import TrafficCount
from streams.kafka import KafkaConnection

log = logging.getLogger("aiguilleur.replay")

REQUIRED = ("detector_id", "interval_end", "interval_s", "count")
OPTIONAL = ("occupancy", "mean_speed_kmh", "vehicle_class")


class ReplayFileError(ValueError):
    """The replay file cannot be read at all (missing, no header, wrong columns)."""


@dataclass(frozen=True, slots=True)
class BadRow:
    """A row that was skipped, with where and why."""

    line: int
    reason: str


def _open(path: Path) -> io.TextIOBase:
    if not path.exists():
        raise ReplayFileError(f"{path}: file not found")
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return path.open(encoding="utf-8", newline="")


def read_counts(path: Path, bad: list[BadRow]) -> list[TrafficCount]:
    """Valid rows of a counts CSV, by time; invalid ones go to ``bad`` with line and reason."""
    with _open(path) as f:
        reader = csv.DictReader(f)
        missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
        if missing:
            raise ReplayFileError(
                f"{path}:1: missing column(s) {', '.join(missing)}; "
                f"expected {','.join(REQUIRED)}[,{','.join(OPTIONAL)}]"
            )
        out = []
        for line, row in enumerate(reader, start=2):
            record: dict[str, object] = {k: row[k] for k in REQUIRED}
            for k in OPTIONAL:
                if row.get(k):
                    record[k] = row[k]
            try:
                out.append(msgspec.convert(record, TrafficCount, strict=False))
            except msgspec.ValidationError as e:
                bad.append(BadRow(line, str(e)))
    out.sort(key=lambda r: (r.interval_end, r.detector_id))
    return out


def rebase(readings: list[TrafficCount], start: datetime) -> list[TrafficCount]:
    """Shift every interval end so that the earliest one lies at ``start``."""
    if not readings:
        return readings
    delta = start - readings[0].interval_end
    return [msgspec.structs.replace(r, interval_end=r.interval_end + delta) for r in readings]


def batches(readings: list[TrafficCount]) -> Iterator[tuple[datetime, list[TrafficCount]]]:
    """Readings grouped by interval end, in time order."""
    current: list[TrafficCount] = []
    for r in readings:
        if current and r.interval_end != current[0].interval_end:
            yield current[0].interval_end, current
            current = []
        current.append(r)
    if current:
        yield current[0].interval_end, current


async def replay(
    readings: list[TrafficCount],
    conn: KafkaConnection,
    topic: str,
    speed: float,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Produce readings keyed by detector id, ``speed`` x real time (0: as fast as possible)."""
    producer = kafka.producer(
        conn, client_id="aiguilleur-replay", acks="all", linger_ms=20, enable_idempotence=True
    )
    await kafka.start(producer, conn)
    encoder = msgspec.json.Encoder()
    sent = 0
    try:
        started = time.monotonic()
        first: datetime | None = None
        for end, group in batches(readings):
            first = first or end
            if speed > 0:
                due = started + (end - first).total_seconds() / speed
                await asyncio.sleep(max(0.0, due - time.monotonic()))
            for r in group:
                await producer.send(topic, key=r.detector_id.encode(), value=encoder.encode(r))
            sent += len(group)
            if progress:
                progress(sent, len(readings))
        await producer.flush()
    finally:
        await kafka.stop(producer, conn)
    return sent


def rebase_to_now(
    readings: list[TrafficCount], period_s: int, ahead_periods: int = 0
) -> list[TrafficCount]:
    """Move the readings by a whole number of periods so that the last one ends at or before the
    current period boundary, the first on a boundary: the recorded hour reads as the hour just
    gone, which a worker's event-time bounds accept (a feed dated ahead of its clock is refused
    beyond ``AIGUILLEUR_EVENT_TIME_MAX_AHEAD_S``), whatever the replay speed.

    ``ahead_periods`` moves it that many periods later, so that the last period ends at a
    boundary still to come. The plans of the last period are then valid for at least that many
    periods from now: an operator can still approve them (those of the hour just gone expire on
    arrival, and at the next boundary even the last period's would, a race for a demo that
    reaches its operator's turn near a boundary). Keep ``ahead_periods * period_s`` below the
    worker's ``AIGUILLEUR_EVENT_TIME_MAX_AHEAD_S``."""
    if not readings:
        return readings
    span_s = (readings[-1].interval_end - readings[0].interval_end).total_seconds()
    periods = -(-int(span_s) // period_s) - ahead_periods
    return rebase(readings, floor_now(period_s) - timedelta(seconds=periods * period_s))


def floor_now(period_s: int) -> datetime:
    """The current time rounded down to a multiple of ``period_s`` (UTC)."""
    now = datetime.now(UTC)
    epoch = int(now.timestamp())
    return datetime.fromtimestamp(epoch - epoch % period_s, tz=UTC) + timedelta(seconds=0)
