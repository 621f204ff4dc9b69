"""What an import gives: the readings in the input topic's contract, and what was left out."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from streams.events import TrafficCount

REPLAY_COLUMNS = (
    "detector_id",
    "interval_end",
    "interval_s",
    "count",
    "occupancy",
    "mean_speed_kmh",
    "vehicle_class",
)
"""The counts CSV that ``aiguilleur replay`` reads."""


@dataclass(frozen=True, slots=True)
class Rejected:
    """A row or value that was not imported: where it was and why."""

    source: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.source}:{self.line}: {self.reason}"


@dataclass(slots=True)
class ImportResult:
    """Readings imported from one or more files, and the rows or values rejected."""

    readings: list[TrafficCount] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)

    def extend(self, other: ImportResult) -> None:
        """Add another file's result."""
        self.readings.extend(other.readings)
        self.rejected.extend(other.rejected)

    def sorted(self) -> list[TrafficCount]:
        """The readings in time order, then by detector (the order a replay sends them in)."""
        return sorted(self.readings, key=lambda r: (r.interval_end, r.detector_id))


def write_replay_csv(readings: Iterable[TrafficCount], path: Path) -> int:
    """Write readings as the counts CSV ``aiguilleur replay`` reads; returns the row count."""
    n = 0
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(REPLAY_COLUMNS)
        for r in readings:
            w.writerow(
                [
                    r.detector_id,
                    r.interval_end.isoformat(),
                    r.interval_s,
                    r.count,
                    "" if r.occupancy is None else f"{r.occupancy:.4f}",
                    "" if r.mean_speed_kmh is None else f"{r.mean_speed_kmh:.1f}",
                    r.vehicle_class,
                ]
            )
            n += 1
    return n
