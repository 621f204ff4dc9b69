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
from typing import Any, Protocol, TypeVar

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
        await consume_pipelined(
            consumer,
            stage.prepare,
            stage.deliver,
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
            await handle(_records(batch))
        except KafkaError as e:
            await _read_again(consumer, stage, e, batch)
            continue
        await _commit(consumer, batch, stage, progress)


class Prepared(Protocol):
    """A batch validated and regrouped, its output not sent yet."""

    def discard(self) -> None:
        """Drop the output: the batch will be read again."""


P = TypeVar("P", bound=Prepared)


async def consume_pipelined(
    consumer: AIOKafkaConsumer,
    prepare: Callable[[list[Any]], Awaitable[P]],
    deliver: Callable[[P], Awaitable[object]],
    *,
    max_records: int,
    timeout_ms: int,
    stage: str,
    check: Callable[[], None] = lambda: None,
    progress: OffsetProgress | None = None,
) -> None:
    """:func:`consume_in_batches` with the next batch fetched and prepared (validated and
    regrouped: the CPU part) while the previous batch's output travels to the broker and back.

    What is sent and committed, and in what order, is as in :func:`consume_in_batches`: a batch's
    output is queued only once the previous batch's output is delivered, and its offsets are
    committed only once its own output is delivered. When an output cannot be delivered, both
    batches are read again from their first records."""
    progress = progress or OffsetProgress()
    inflight: tuple[Batch, asyncio.Future[object]] | None = None
    try:
        while True:
            check()
            # With a batch in flight, take only what is already fetched: its commit must not wait.
            batch = await consumer.getmany(
                timeout_ms=0 if inflight else timeout_ms, max_records=max_records
            )
            prepared = await prepare(_records(batch)) if batch else None
            if inflight is not None:
                sent, delivery = inflight
                inflight = None
                try:
                    await delivery
                except KafkaError as e:
                    if prepared is not None:
                        prepared.discard()
                    await _read_again(consumer, stage, e, sent, batch)
                    continue
                await _commit(consumer, sent, stage, progress)
            if prepared is not None:
                inflight = (batch, asyncio.ensure_future(deliver(prepared)))
    finally:
        if inflight is not None:
            inflight[1].cancel()


Batch = dict[Any, list[Any]]
"""What ``getmany`` returns: records by topic partition."""


def _records(batch: Batch) -> list[Any]:
    return [m for msgs in batch.values() for m in msgs]


async def _read_again(
    consumer: AIOKafkaConsumer, stage: str, e: KafkaError, *batches: Batch
) -> None:
    """The output could not be delivered (broker unreachable, timed out): read the batches
    again from their first records once the broker answers; nothing is committed past them."""
    log.warning(
        "event=%s_send_failed records_again=%d reason=%r",
        stage,
        sum(len(msgs) for b in batches for msgs in b.values()),
        e,
    )
    first: dict[Any, int] = {}
    for b in batches:
        for tp, msgs in b.items():
            first.setdefault(tp, msgs[0].offset)
    for tp, offset in first.items():
        consumer.seek(tp, offset)
    await asyncio.sleep(RETRY_AFTER_S)


async def _commit(
    consumer: AIOKafkaConsumer, batch: Batch, stage: str, progress: OffsetProgress
) -> None:
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
