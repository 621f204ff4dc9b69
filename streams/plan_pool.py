"""Planning in processes beside the worker's event loop, at a lower CPU priority.

Planning a period costs milliseconds per junction with the OR-Tools planner and seconds per zone
with the coordinated one: run in the worker's own thread, it held the event loop (and with it
ingest) for as long as a city's zones took (issue 15: ingest fell from ~44k to ~7k readings/s with
1,000 junctions planned in the same process). Each planning process gets the city once, at start
(``spawn``: no copy of the worker's threads and sockets), then one zone period's inputs record
(``PlanInputs``, what the zone stage puts on record before planning) per task, and calls the same
``streams.plan_inputs.compute`` the worker would; the plans come back to the zone stage, which
publishes them in period order, as before. The processes are ``nice``: on a busy machine ingest
goes first, and planning, which has minutes of slack per period, waits.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

from graph.model import Junction, Network
from optimizer.strategy import Planner, ZonePlanner
from streams.events import PlanInputs
from streams.plan_inputs import Computed, compute

PLANNING_NICENESS = 10
"""How much lower a planning process's CPU priority is than the worker's."""


@dataclass(frozen=True, slots=True)
class PoolSpec:
    """What a planning process is given once, at start (picklable)."""

    network: Network
    """The network model, pickled as it is: a msgpack or JSON round trip would turn an int held
    in a float field into a float, and change the inputs digests (``7`` vs ``7.0``)."""
    planner: str
    """Registered planner name (``optimizer.strategy``)."""
    zone_planner: str = ""
    """Registered zone planner name, or empty."""


@dataclass(frozen=True, slots=True)
class _City:
    network: Network
    junctions_by_zone: dict[str, tuple[Junction, ...]]
    planner: Planner
    zone_planner: ZonePlanner | None


_city: _City | None = None


def _start(spec: PoolSpec, worker_pid: int) -> None:
    """Initialiser of a planning process (``worker_pid``: the worker that started it)."""
    global _city  # noqa: PLW0603  # one per process, set once
    _die_with_parent(worker_pid)
    os.nice(PLANNING_NICENESS)
    import optimizer  # noqa: F401  # registers the planners
    import optimizer.strategy as strategies

    _city = _City(
        network=spec.network,
        junctions_by_zone=spec.network.zones(),
        planner=strategies.planner(spec.planner),
        zone_planner=strategies.zone_planner(spec.zone_planner) if spec.zone_planner else None,
    )


def _die_with_parent(worker_pid: int) -> None:
    """End this process when the worker dies, even by SIGKILL: Linux's parent-death signal, and a
    watcher thread that exits when the process is orphaned (seen: planning processes outliving a
    SIGKILLed worker in the test runs, with the death signal alone). A worker killed while this
    process was still starting (a spawn imports for a second or two) is gone before either is
    set up: the process was adopted already, the signal never comes and the watcher would watch
    its adopter; so it first checks that its parent is still ``worker_pid`` (seen: planning
    processes of SIGKILLed workers idle for hours under PID 1)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass
    parent = os.getppid()
    if parent != worker_pid:
        os._exit(0)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(ORPHAN_CHECK_S)
        os._exit(0)

    threading.Thread(target=watch, name="die-with-worker", daemon=True).start()


ORPHAN_CHECK_S = 1.0


PR_SET_PDEATHSIG = 1


def _compute(inputs: PlanInputs) -> tuple[Computed, list[float]]:
    assert _city is not None, "planning process not initialised"
    seconds: list[float] = []
    computed = compute(
        inputs,
        _city.junctions_by_zone.get(inputs.zone_id, ()),
        _city.network.links,
        _city.planner,
        _city.zone_planner,
        seconds.append,
    )
    return computed, seconds


class PlanPool:
    """``processes`` planning processes; :meth:`compute` awaits one zone period's plans."""

    def __init__(self, spec: PoolSpec, processes: int) -> None:
        self._executor = ProcessPoolExecutor(
            max_workers=processes,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start,
            initargs=(spec, os.getpid()),
        )

    async def compute(self, inputs: PlanInputs) -> tuple[Computed, list[float]]:
        """The plans of ``inputs`` (one zone period) and each junction's planning time (s),
        computed in a planning process."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, _compute, inputs)

    def close(self) -> None:
        """Stop the processes (pending tasks are dropped: their periods are planned again by
        the next start, as their zone state was not written)."""
        self._executor.shutdown(wait=False, cancel_futures=True)


def pool_spec(network: Network, planner: str, zone_planner: str = "") -> PoolSpec:
    """A pool's start-up payload."""
    return PoolSpec(network, planner, zone_planner)
