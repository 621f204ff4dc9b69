"""What a consumer has handled and what it has committed, per partition: what a worker that must
stop before it can commit says it leaves behind (the next start reads it again)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any


@dataclass
class OffsetProgress:
    """Next offset to handle and next offset committed, per (topic, partition). Written by the
    event loop, read by the shutdown watchdog's thread: guarded by a lock."""

    handled: dict[tuple[str, int], int] = field(default_factory=dict)
    committed: dict[tuple[str, int], int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def mark_handled(self, offsets: dict[Any, int]) -> None:
        """Record ``{tp: next offset}`` as handled (output delivered, commit pending)."""
        with self._lock:
            for tp, off in offsets.items():
                self.handled[(tp.topic, tp.partition)] = off

    def mark_committed(self, offsets: dict[Any, int]) -> None:
        """Record ``{tp: next offset}`` as committed."""
        with self._lock:
            for tp, off in offsets.items():
                self.committed[(tp.topic, tp.partition)] = off

    def forget(self) -> None:
        """After a rebalance: the partitions may be another worker's now."""
        with self._lock:
            self.handled.clear()
            self.committed.clear()

    def uncommitted(self) -> dict[tuple[str, int], tuple[int | None, int]]:
        """``{(topic, partition): (committed, handled)}`` where handled records are not committed;
        ``committed`` is ``None`` when nothing was committed by this worker yet."""
        with self._lock:
            return {
                tp: (self.committed.get(tp), off)
                for tp, off in self.handled.items()
                if self.committed.get(tp, -1) < off
            }
