"""The API's background work: record what the workers publish, ship the outbox to Kafka, expire
proposals, sign checkpoints.

- **Recorder**: a consumer group (``<app id>-oversight``) on every commune's plans and plan-inputs
  topics; each record goes to :class:`oversight.service.Oversight` (idempotent: a redelivered
  record changes nothing), then the offsets are committed.
- **Publisher**: outbox rows (decisions, active plans, suspensions) are produced with acks=all and
  marked published; a crash in between publishes them again (consumers key by junction and the
  topics are compacted or carry ids).
- **Expiry** every few seconds, **checkpoints** every ``checkpoint_s`` (the deployment's key).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import psycopg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit import store as audit_store
from oversight.service import Oversight
from streams import kafka
from streams.context import StreamsConfig

log = logging.getLogger("aiguilleur.api")


def _now() -> datetime:
    return datetime.now(UTC)


def kafka_clients(
    cfg: StreamsConfig, topics: list[str]
) -> tuple[AIOKafkaConsumer, AIOKafkaProducer]:
    """The recorder's consumer and the publisher's producer (the one place they are made)."""
    consumer = kafka.consumer(
        cfg.kafka,
        *topics,
        group_id=f"{cfg.app_id}-oversight",
        client_id=f"{cfg.app_id}-oversight",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    producer = kafka.producer(cfg.kafka, acks="all", client_id=f"{cfg.app_id}-oversight")
    return consumer, producer


async def record(
    service: Oversight,
    consumer: AIOKafkaConsumer,
    routes: dict[str, tuple[str, str]],
    clock: Callable[[], datetime] = _now,
) -> None:
    """Consume proposals and plan inputs into the lifecycle until cancelled."""
    while True:
        batch = await consumer.getmany(timeout_ms=500, max_records=500)
        for tp, msgs in batch.items():
            commune, what = routes[tp.topic]
            for m in msgs:
                if m.value is not None:
                    await _record_one(
                        service, what, commune, m.value, clock, f"{tp.topic}@{m.offset}"
                    )
        if batch:
            await consumer.commit()


async def _record_one(
    service: Oversight,
    what: str,
    commune: str,
    value: bytes,
    clock: Callable[[], datetime],
    where: str,
    retry_max_s: float = 5.0,
) -> None:
    """Put one record on record. When the database refuses for now (a deadlock victim, a
    serialisation failure, the connection lost, the server restarting), the same record is tried
    again, with a growing pause, until it is on record: it is never skipped, and the offsets after
    it are not committed before it is. A record the service cannot read is logged and skipped, so
    that it does not stop the recorder."""
    pause = 0.1
    while True:
        try:
            if what == "inputs":
                await asyncio.to_thread(service.record_inputs, commune, value, clock())
            else:
                await asyncio.to_thread(service.propose, commune, value, clock())
            return
        except psycopg.OperationalError as e:
            log.warning("event=record_retry record=%s pause_s=%.1f reason=%s", where, pause, e)
            await asyncio.sleep(pause)
            pause = min(2 * pause, retry_max_s)
        except Exception:
            log.exception("event=record_failed record=%s", where)
            return


async def publish(
    service: Oversight, producer: AIOKafkaProducer, clock: Callable[[], datetime] = _now
) -> None:
    """Ship the outbox until cancelled."""
    while True:
        rows = await asyncio.to_thread(service.unpublished)
        if rows:
            futures = [
                await producer.send(topic, key=key, value=value) for _, topic, key, value in rows
            ]
            for f in futures:
                await f
            await asyncio.to_thread(service.mark_published, [r[0] for r in rows], clock())
        else:
            await asyncio.sleep(0.3)


async def housekeeping(
    service: Oversight,
    key: Ed25519PrivateKey | None,
    checkpoint_s: float,
    clock: Callable[[], datetime] = _now,
) -> None:
    """Expire proposals every 5 s; sign a checkpoint every ``checkpoint_s``."""
    last_cp = 0.0
    loop = asyncio.get_running_loop()
    while True:
        n = await asyncio.to_thread(service.expire, clock())
        if n:
            log.info("event=expired count=%d", n)
        if key is not None and loop.time() - last_cp >= checkpoint_s:

            def sign() -> Any:
                with service.connect() as conn:
                    return audit_store.checkpoint(conn, key, clock())

            rec = await asyncio.to_thread(sign)
            last_cp = loop.time()
            log.info("event=checkpoint seq=%d", rec.seq)
        await asyncio.sleep(min(5.0, checkpoint_s))


async def run_background(
    service: Oversight, cfg: StreamsConfig, key: Ed25519PrivateKey | None, checkpoint_s: float
) -> None:
    """All background work until cancelled."""
    routes: dict[str, tuple[str, str]] = {}
    for c in service.communes.values():
        routes[c.topics.plans] = (c.id, "plans")
        routes[c.topics.plan_inputs] = (c.id, "inputs")
    consumer, producer = kafka_clients(cfg, sorted(routes))
    await kafka.start(producer, cfg.kafka)
    try:
        await kafka.start(consumer, cfg.kafka)
    except BaseException:
        await kafka.stop(producer, cfg.kafka)
        raise
    tasks = [
        asyncio.create_task(record(service, consumer, routes)),
        asyncio.create_task(publish(service, producer)),
        asyncio.create_task(housekeeping(service, key, checkpoint_s)),
    ]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for t in done:
            t.result()
    finally:
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        await kafka.stop(consumer, cfg.kafka)
        await kafka.stop(producer, cfg.kafka)
