"""Stage 1 on a plain aiokafka consumer group: the fast path for the input topic.

Ingest is stateless, so it does not need Faust's per-event machinery, which costs about 100 µs a
record on this class of machine. A consumer of group ``<app id>-ingest`` fetches up to
``ingest_batch`` records, the shared :class:`~streams.agents.Ingest` logic validates and regroups
them, and the batch's offsets are committed only once its zone records are delivered: at-least-
once, and the zone state's upserts make a redelivered record harmless. Zone state, plans and their
partitioning stay in Faust.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import CommitFailedError, KafkaError

from streams import kafka
from streams.context import PipelineContext, StreamsConfig
from streams.progress import OffsetProgress

log = logging.getLogger("aiguilleur.streams")

RETRY_AFTER_S = 1.0
"""Pause before a batch whose output could not be delivered is read again."""


def consumer_for(cfg: StreamsConfig, *topics: str) -> AIOKafkaConsumer:
    """The ingest group's consumer for ``topics``."""
    session_ms = int(cfg.session_timeout_s * 1000)
    return kafka.consumer(
        cfg.kafka,
        *topics,
        group_id=f"{cfg.app_id}-ingest",
        client_id=f"{cfg.app_id}-ingest",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=4 * 1024 * 1024,
        session_timeout_ms=session_ms,
        heartbeat_interval_ms=max(1000, session_ms // 3),
    )


async def run_ingest(cfg: StreamsConfig, ctx: PipelineContext, stage: Any) -> None:
    """Consume, validate, forward and commit until cancelled (the worker's shutdown cancels it)."""
    consumer = consumer_for(cfg, ctx.topics.counts, ctx.topics.count_batches)
    await kafka.start(consumer, cfg.kafka)
    log.info(
        "event=ingest_started group=%s-ingest topics=%s,%s",
        cfg.app_id,
        ctx.topics.counts,
        ctx.topics.count_batches,
    )
    try:
        await consume_in_batches(
            consumer,
            stage.handle,
            max_records=cfg.ingest_batch,
            timeout_ms=int(cfg.ingest_within_s * 1000),
            stage="ingest",
            progress=ctx.progress,
        )
    finally:
        await kafka.stop(consumer, cfg.kafka)


async def consume_in_batches(
    consumer: AIOKafkaConsumer,
    handle: Callable[[list[Any]], Awaitable[object]],
    *,
    max_records: int,
    timeout_ms: int,
    stage: str,
    check: Callable[[], None] = lambda: None,
    progress: OffsetProgress | None = None,
) -> None:
    """Fetch, ``handle`` (which returns once its output is delivered), then commit the batch's
    offsets; forever. ``check`` runs before each fetch and may raise to stop. ``progress`` learns
    what was handled and what committed (logged by a worker that cannot stop cleanly)."""
    progress = progress or OffsetProgress()
    while True:
        check()
        batch = await consumer.getmany(timeout_ms=timeout_ms, max_records=max_records)
        if not batch:
            continue
        try:
            await handle([m for msgs in batch.values() for m in msgs])
        except KafkaError as e:
            # The output could not be delivered (broker unreachable, timed out): read the batch
            # again from its first record once the broker answers; nothing is committed past it.
            log.warning("event=%s_send_failed records_again=%d reason=%r", stage, len(batch), e)
            for tp, msgs in batch.items():
                consumer.seek(tp, msgs[0].offset)
            await asyncio.sleep(RETRY_AFTER_S)
            continue
        offsets = {tp: msgs[-1].offset + 1 for tp, msgs in batch.items()}
        progress.mark_handled(offsets)
        try:
            await consumer.commit(offsets)
            progress.mark_committed(offsets)
        except CommitFailedError as e:
            # The group rebalanced meanwhile: the new owner re-reads the batch (idempotent
            # downstream).
            log.warning("event=%s_commit_failed reason=%r", stage, str(e))
            progress.forget()
        except KafkaError as e:
            # Broker or coordinator unreachable: the next batch's commit covers these offsets;
            # if the worker stops first, the next start reads them again.
            log.warning("event=%s_commit_deferred reason=%r", stage, e)
