"""The demo: local broker, a worker, the demo counts replayed, plans printed as they arrive; with
the operator's side (PostgreSQL, the operator API), one plan approved and the active plan
published."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from aiguilleur.demo_operator import OperatorSide, operator_round, summary
from aiguilleur.demo_operator import start as start_operator
from aiguilleur.follow import PLAN_HEADER, decode_plan, format_plan, records
from aiguilleur.operator_client import OperatorClientError
from aiguilleur.replay import BadRow, read_counts, rebase_to_now, replay
from aiguilleur.settings import DEMO_DIR, REPO_ROOT, Settings
from aiguilleur.wiring import kafka_connection, load_network, streams_config
from aiguilleur.worker import ensure_topics

KAFKA_SCRIPT = REPO_ROOT / "scripts" / "kafka.sh"
COMMUNE = "villeurbanne"
"""The demo city's commune: the operator's role is ``villeurbanne:operator``."""


def kafka(command: str) -> str:
    """Run ``scripts/kafka.sh COMMAND`` and return its standard output."""
    out = subprocess.run(
        ["bash", str(KAFKA_SCRIPT), command], check=True, capture_output=True, text=True
    )
    return out.stdout.strip()


def start_worker(env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """A worker in its own process (its own process group, so Ctrl-C reaches it through us only)."""
    with log_path.open("wb") as log:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "aiguilleur", "worker"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """SIGTERM, then SIGKILL if it does not exit in time."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def _run(
    settings: Settings,
    counts: Path,
    speed: float,
    out: Callable[[str], None],
    worker: subprocess.Popen[bytes],
    quiet_after_s: float,
    operator: OperatorSide | None = None,
) -> int:
    bad: list[BadRow] = []
    readings = read_counts(counts, bad)
    for b in bad:
        out(f"skipped {counts}:{b.line}: {b.reason}")
    # the last period ends at the next boundary: its plans stay pending for the operator's turn
    # (at least one period), whenever the demo starts
    readings = rebase_to_now(
        readings, settings.control_period_s, ahead_periods=1 if operator else 0
    )
    from streams.topics import TopicNames

    topics = TopicNames(settings.topic_namespace)
    await ensure_topics(streams_config(settings), topics)
    n_plans = 0

    async def show_plans() -> None:
        nonlocal n_plans
        async for rec in records(kafka_connection(settings), topics.plans, from_beginning=False):
            if rec.value is not None:
                n_plans += 1
                out(format_plan(decode_plan(rec.value)))

    out(PLAN_HEADER)
    follower = asyncio.create_task(show_plans())
    await asyncio.sleep(2.0)  # let the follower position itself at the end of the topic
    out(f"replaying {len(readings)} readings from {counts.name} at {speed:g}x ...")
    last_report = [0.0]

    def progress(done: int, total: int) -> None:
        if time.monotonic() - last_report[0] > 5:
            last_report[0] = time.monotonic()
            out(f"  replayed {done}/{total} readings")

    round_ = (
        None
        if operator is None
        else asyncio.create_task(operator_round(operator, kafka_connection(settings), topics, out))
    )
    await replay(readings, kafka_connection(settings), topics.counts, speed, progress)
    out("replay finished; waiting for the last plans ...")
    seen = -1
    while seen != n_plans:
        seen = n_plans
        await asyncio.sleep(quiet_after_s)
        if worker.poll() is not None:
            out(f"the worker stopped (exit code {worker.returncode}); see its log")
            break
    follower.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await follower
    if round_ is not None:
        await round_  # its error, if any, ends the demo with it
    return n_plans


DemoSource = Literal["counts", "twin"]


def twin_counts(path: Path, out: Callable[[str], None]) -> Path:
    """Run the demo city's twin for its hour and write its counts, as the demo's detectors, to
    ``path`` (the replay CSV): the demo's sensor feed from SUMO instead of the recorded file."""
    from twin.demo import demo_feed
    from twin.export import write_counts_csv

    out("running the demo city's twin (SUMO, one hour, netconvert's signal programmes) ...")
    feed = demo_feed(DEMO_DIR / "twin", DEMO_DIR / "counts.csv.gz")
    n = write_counts_csv(feed.counts, path)
    if feed.unmeasured:
        missing = " ".join(feed.unmeasured)
        out(f"the twin has no loop for {len(feed.unmeasured)} detector(s): {missing}")
    out(f"wrote {n} twin counts to {path.relative_to(REPO_ROOT)}")
    return path


def ensure_broker(out: Callable[[str], None]) -> bool:
    """Start the local broker unless it runs; True when this call started it."""
    status = subprocess.run(
        ["bash", str(KAFKA_SCRIPT), "status"], capture_output=True, text=True, check=False
    )
    if status.returncode == 0:
        return False
    out("starting the local Kafka broker (first run downloads it from Maven Central) ...")
    kafka("start")
    return True


def run_env(bootstrap: str, run: str) -> dict[str, str]:
    """The environment of the run's worker and API: its own topics, app id, the demo commune."""
    return {
        **os.environ,
        "AIGUILLEUR_KAFKA_BOOTSTRAP": bootstrap,
        "AIGUILLEUR_APP_ID": f"aiguilleur-{run}",
        "AIGUILLEUR_TOPIC_NAMESPACE": run,
        "AIGUILLEUR_COMMUNE": COMMUNE,
        "AIGUILLEUR_METRICS_PORT": os.environ.get("AIGUILLEUR_METRICS_PORT", "0"),
    }


def run_demo(
    speed: float,
    out: Callable[[str], None],
    keep_broker: bool,
    source: DemoSource = "counts",
    operator: bool = True,
) -> int:
    """Start everything, replay, print plans; stop what we started on exit or Ctrl-C.

    ``source`` is the feed replayed: the recorded demo counts, or a run of the demo city's twin
    (``twin_counts``). With ``operator``, PostgreSQL and the operator API run too, and a demo
    operator approves one recommendation (:mod:`aiguilleur.demo_operator`). Returns the number of
    plans printed, or -1 when interrupted."""
    counts = DEMO_DIR / "counts.csv.gz"
    if source == "twin":
        (REPO_ROOT / ".cache").mkdir(exist_ok=True)
        counts = twin_counts(REPO_ROOT / ".cache" / "demo-twin-counts.csv", out)
    started_broker = ensure_broker(out)
    bootstrap = kafka("bootstrap")
    # Each run gets its own topics and consumer groups, so that the zone state of an earlier run
    # (which may already have planned the same hour) does not hide this run's periods.
    run = f"demo-{time.strftime('%Y%m%d-%H%M%S')}"
    env = run_env(bootstrap, run)
    settings = Settings(kafka_bootstrap=bootstrap, app_id=f"aiguilleur-{run}", topic_namespace=run)
    out(f"topics: {run}.aiguilleur.* (reset the local broker's data with `scripts/kafka.sh reset`)")
    if operator:
        # parsed once here, so that the worker and the API both find it in the cache
        out("loading the demo city's network model ...")
        load_network(settings.network_file, settings.cache_dir)
    log_path = REPO_ROOT / ".cache" / "demo-worker.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    out(f"starting a worker (log: {log_path.relative_to(REPO_ROOT)}) ...")
    worker = start_worker(env, log_path)
    side: OperatorSide | None = None
    n = 0

    def terminate(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt  # SIGTERM stops the demo as Ctrl-C does: worker and broker too

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        if operator:
            side = start_operator(env, run, COMMUNE, out)
        n = asyncio.run(
            _run(settings, counts, speed, out, worker, quiet_after_s=8.0, operator=side)
        )
        out(f"{n} plans received.")
        if side is not None:
            for line in summary(side, n):
                out(line)
        out("Done.")
    except KeyboardInterrupt:
        out("interrupted: stopping ...")
        n = -1
    except (OperatorClientError, RuntimeError, TimeoutError) as e:
        out(f"error: {e}")
        n = 0
    finally:
        signal.signal(signal.SIGTERM, previous)
        stop_process(worker)
        if side is not None:
            side.stop()
        if started_broker and not keep_broker:
            kafka("stop")
    return n
