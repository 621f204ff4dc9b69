"""Run the Faust worker: load the city, create the topics, serve metrics, process until stopped."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import threading
from typing import Any

import faust
from prometheus_client import start_http_server

from aiguilleur.settings import Settings
from aiguilleur.wiring import pipeline_context, streams_config
from streams import kafka
from streams.app import create_app
from streams.context import StreamsConfig
from streams.progress import OffsetProgress
from streams.topics import TopicNames

log = logging.getLogger("aiguilleur.worker")

EXIT_SHUTDOWN_TIMEOUT = 75
"""Exit status of a worker that had to give up a clean stop (EX_TEMPFAIL: start it again)."""


async def ensure_topics(
    cfg: StreamsConfig, topics: TopicNames, *, control: bool = False, reroute: bool = False
) -> None:
    """Create the topics (``cfg.partitions`` partitions, ``cfg.replication_factor`` replicas) if
    they do not exist yet, and wait until the broker leads every partition of them; with
    ``control``, the live-control topics too (the envelopes topic compacted); with ``reroute``,
    the incident and advice topics. Topics that exist are left as they are."""
    names = [
        topics.counts,
        topics.dead_letters,
        topics.zone_readings,
        topics.plans,
        topics.plan_inputs,
        topics.active_plans,
        topics.suspensions,
        topics.recommendation_decisions,
        topics.count_batches,
        topics.late_readings,
        # The zone-state table's changelog, which Faust would create itself: made here, it is
        # led before the zone stage joins (seen under load: the table's first write failed
        # with PartitionsMismatch, "the changelog topic has 0 partitions").
        zone_state_changelog(cfg.app_id),
    ]
    if reroute:
        names += [topics.incidents, topics.incident_dead_letters, topics.reroute_advice]
    if control:
        names += [
            topics.envelopes,
            topics.junction_states,
            topics.state_dead_letters,
            topics.decisions,
        ]
    compacted = {"cleanup.policy": "compact"}
    # What people decided is kept as long as the broker lives (the audit trail holds it too).
    kept = {"cleanup.policy": "delete", "retention.ms": "-1", "retention.bytes": "-1"}
    configs = {
        topics.envelopes: compacted,
        topics.active_plans: compacted,
        topics.suspensions: compacted,
        topics.recommendation_decisions: kept,
        zone_state_changelog(cfg.app_id): compacted,
    }
    specs = [
        kafka.TopicSpec(t, cfg.partitions, cfg.replication_factor, config=configs.get(t))
        for t in names
    ]
    await kafka.ensure_topics(cfg.kafka, specs)


def zone_state_changelog(app_id: str) -> str:
    """Name Faust gives the zone-state table's changelog topic (``<app id>-<table>-changelog``)."""
    return f"{app_id}-zone-state-changelog"


def run_worker(settings: Settings) -> None:
    """Blocking: run one worker until SIGINT/SIGTERM (Faust commits offsets and stops cleanly)."""
    logging.basicConfig(
        level=settings.log_level.upper().replace("WARN", "WARNING"),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    ctx = pipeline_context(settings)
    cfg = streams_config(settings)
    asyncio.run(
        ensure_topics(
            cfg, ctx.topics, control=bool(ctx.controller), reroute=ctx.reroute is not None
        )
    )
    if settings.metrics_port:
        start_http_server(settings.metrics_port, addr="0.0.0.0")
    app = create_app(cfg, ctx)
    freeze_startup_heap()
    worker = BoundedWorker(
        app,
        shutdown_timeout_s=settings.shutdown_timeout_s,
        progress=ctx.progress,
        loglevel=settings.log_level,
        quiet=True,
    )
    worker.execute_from_commandline()


def freeze_startup_heap() -> None:
    """Take what start-up made (the city, the planners, the libraries, the Faust app: it lives
    as long as the worker) out of the cyclic collector's sight. Ingest makes and drops a few
    objects per record: the collections this triggers then walk only young objects, not the
    whole heap each time (in the streams benchmark's profile, the collections showed on the
    lines that allocate a record's objects: a tenth of the worker's samples)."""
    gc.collect()
    gc.freeze()


class BoundedWorker(faust.Worker):
    """A Faust worker that stops within ``shutdown_timeout_s`` of SIGTERM or SIGINT, whatever the
    broker's state.

    Faust's own stop leaves the consumer group and commits first; with the broker unreachable it
    waits without end (seen: still running 60 s after SIGTERM, at ``Gathering all futures...``).
    A watchdog thread, armed by the signal, ends the process when the clean stop overruns, after
    logging what was handled but not committed: the next start reads it again (at-least-once, and
    the zone state's upserts make the second delivery harmless).
    """

    def __init__(
        self, app: faust.App, *, shutdown_timeout_s: float, progress: OffsetProgress, **kw: Any
    ) -> None:
        super().__init__(app, **kw)
        self.shutdown_timeout_s = shutdown_timeout_s
        self.progress = progress
        self._watchdog: threading.Timer | None = None

    def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
        """No terminal spinner. At ``warn`` and above Faust's spinner sets the root logger to
        DEBUG, to advance on every record: every library's debug call (aiokafka and Faust log one
        per record sent) then built a record that the output handler dropped; 5% of the worker's
        samples in the streams benchmark's profile."""
        self.spinner = None
        super().on_setup_root_logger(logger, level)

    def _schedule_shutdown(self, sig: signal.Signals) -> None:
        if self._watchdog is None:
            log.info(
                "event=shutdown_started signal=%s timeout_s=%g", sig.name, self.shutdown_timeout_s
            )
            self._watchdog = threading.Timer(self.shutdown_timeout_s, self._give_up)
            self._watchdog.daemon = True
            self._watchdog.start()
        super()._schedule_shutdown(sig)

    def _give_up(self) -> None:
        for (topic, partition), (committed, handled) in sorted(self.progress.uncommitted().items()):
            log.warning(
                "event=uncommitted stage=ingest topic=%s partition=%d committed=%s handled=%d "
                "note=the next start reads these offsets again",
                topic,
                partition,
                committed,
                handled,
            )
        for (topic, partition), (committed, acked) in sorted(faust_uncommitted(self.app).items()):
            log.warning(
                "event=uncommitted stage=zones topic=%s partition=%d committed=%s acked=%d "
                "note=the next start reads these offsets again",
                topic,
                partition,
                committed,
                acked,
            )
        log.error(
            "event=shutdown_timeout timeout_s=%g exit_status=%d note=the clean stop did not finish "
            "(is the broker reachable?)",
            self.shutdown_timeout_s,
            EXIT_SHUTDOWN_TIMEOUT,
        )
        for handler in logging.getLogger().handlers:
            handler.flush()
        os._exit(EXIT_SHUTDOWN_TIMEOUT)


def faust_uncommitted(app: Any) -> dict[tuple[str, int], tuple[int | None, int]]:
    """``{(topic, partition): (committed, highest acked + 1)}`` of the Faust consumer's partitions
    with acknowledged but uncommitted records (read from its bookkeeping; best effort, from
    another thread at give-up time)."""
    out: dict[tuple[str, int], tuple[int | None, int]] = {}
    try:
        consumer: Any = app.consumer
        acked = dict(consumer._acked)  # faust keeps no public view of it
        committed = dict(consumer._committed_offset)
    except (AttributeError, RuntimeError):
        return out
    for tp, offsets in acked.items():
        if offsets:
            top = max(offsets) + 1
            done = committed.get(tp)
            if done is None or done < top:
                out[(tp.topic, tp.partition)] = (done, top)
    return out
