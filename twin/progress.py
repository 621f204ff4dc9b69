"""Progress of a long run: a bar on a terminal, plain lines in a log.

A tqdm bar redraws itself with carriage returns; in a log file or CI output each redraw becomes one
more line of noise. So the bar is drawn only when the stream is a terminal. Elsewhere a line is
written each time another tenth of the work is done, with the elapsed time, and one at the end.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Protocol, TextIO

from tqdm import tqdm


class Progress(Protocol):
    """What a loop tells about its progress."""

    def update(self, n: float) -> None:
        """``n`` more units done."""

    def close(self) -> None:
        """The loop is over (also when it stops early)."""


class _Silent:
    def update(self, n: float) -> None:
        pass

    def close(self) -> None:
        pass


class PlainProgress:
    """One line per ``step`` of the total (a tenth by default), then one at the end."""

    def __init__(
        self,
        total: float,
        desc: str,
        unit: str,
        stream: TextIO,
        *,
        step: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total = total
        self.desc = desc
        self.unit = unit
        self.stream = stream
        self.step = step
        self._clock = clock
        self._start = self._clock()
        self._done = 0.0
        self._next = step
        self._closed = False

    def _line(self, what: str) -> None:
        elapsed = self._clock() - self._start
        self.stream.write(
            f"{self.desc}: {what} ({self._done:g}/{self.total:g} {self.unit}), "
            f"{elapsed:.0f} s elapsed\n"
        )
        self.stream.flush()

    def update(self, n: float) -> None:
        self._done += n
        if self.total <= 0:
            return
        share = self._done / self.total
        if share >= self._next and share < 1.0:
            self._line(f"{int(share * 100)}%")
            while self._next <= share:
                self._next += self.step

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._line("done" if self._done >= self.total else "stopped")


def progress(
    total: float, desc: str, unit: str, *, enabled: bool = True, stream: TextIO | None = None
) -> Progress:
    """A tqdm bar when ``stream`` (standard error by default) is a terminal, plain lines
    otherwise, nothing when not ``enabled``."""
    if not enabled:
        return _Silent()
    out = stream if stream is not None else sys.stderr
    if out.isatty():
        bar: Progress = tqdm(total=total, unit=unit, desc=desc, leave=False, file=out)
        return bar
    return PlainProgress(total, desc, unit, out)
