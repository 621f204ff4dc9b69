"""What people decided, as every worker holds it: the active (approved) plan of each junction and
the operators' stops, read from two compacted topics.

``aiguilleur.signal-plans.active.v1`` (key = junction id) and ``aiguilleur.suspensions.v1``
(key = ``<scope>:<target>``) are written by the operator API only. Every worker reads both from
the beginning, with no consumer group (each needs every junction of its zones), and keeps
following them; a restart rebuilds the same view. The zone stage waits until the records present
at start are applied before it plans (:meth:`Oversight.wait_ready`), so a restarted worker never
plans from "nothing approved" by mistake.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import msgspec
from aiokafka import AIOKafkaConsumer, TopicPartition

from streams import kafka
from streams.context import StreamsConfig
from streams.events import ActivePlan, Suspension
from streams.kafka import KafkaConnection

log = logging.getLogger("aiguilleur.streams")

_active_decoder = msgspec.json.Decoder(ActivePlan)
_suspension_decoder = msgspec.json.Decoder(Suspension)


def suspension_key(scope: str, target: str) -> str:
    """The record key of a suspension."""
    return f"{scope}:{target}"


class Oversight:
    """Junction id -> active plan; ``<scope>:<target>`` -> suspension."""

    def __init__(self, commune: str = "") -> None:
        self.commune = commune
        self.active: dict[str, ActivePlan] = {}
        self.suspensions: dict[str, Suspension] = {}
        self.ready = asyncio.Event()

    def apply_active(self, key: bytes | None, value: bytes | None) -> str:
        """Apply one record of the active-plans topic; return its outcome (metric label)."""
        junction = (key or b"").decode("utf-8", "replace")
        if value is None:
            self.active.pop(junction, None)
            return "withdrawn"
        try:
            event = _active_decoder.decode(value)
        except (msgspec.ValidationError, msgspec.DecodeError) as e:
            log.error("event=active_plan_invalid junction=%s reason=%r", junction, str(e))
            return "invalid"
        self.active[event.junction_id] = event
        log.info(
            "event=active_plan junction=%s plan_id=%s approved_by=%r auto=%s",
            event.junction_id,
            event.plan.plan_id,
            event.approved_by,
            event.auto,
        )
        return "approved"

    def apply_suspension(self, key: bytes | None, value: bytes | None) -> str:
        """Apply one record of the suspensions topic; return its outcome."""
        name = (key or b"").decode("utf-8", "replace")
        if value is None:
            self.suspensions.pop(name, None)
            log.info("event=resumed key=%s", name)
            return "resumed"
        try:
            event = _suspension_decoder.decode(value)
        except (msgspec.ValidationError, msgspec.DecodeError) as e:
            log.error("event=suspension_invalid key=%s reason=%r", name, str(e))
            return "invalid"
        self.suspensions[suspension_key(event.scope, event.target)] = event
        log.info("event=suspended key=%s by=%r", name, event.suspended_by)
        return "suspended"

    def active_of(self, junction_ids: Iterable[str]) -> dict[str, ActivePlan]:
        """The active plans of these junctions (those that have one)."""
        return {j: self.active[j] for j in junction_ids if j in self.active}

    def suspended(self, junction_id: str, zone_id: str, what: str) -> Suspension | None:
        """The suspension stopping ``what`` (``recommendations`` or ``control``) for the junction,
        by the junction, its zone or the whole commune; ``None`` when nothing stops it."""
        for key in (
            suspension_key("junction", junction_id),
            suspension_key("zone", zone_id),
            suspension_key("commune", self.commune),
        ):
            s = self.suspensions.get(key)
            if s is not None and getattr(s, what):
                return s
        return None

    async def wait_ready(self) -> None:
        """Return once the records present at start have been applied."""
        await self.ready.wait()


def oversight_consumer(cfg: StreamsConfig, name: str) -> AIOKafkaConsumer:
    """A consumer with no group that reads a compacted topic from the beginning."""
    return kafka.reader(cfg.kafka, client_id=f"{cfg.app_id}-{name}")


async def follow_compacted(
    conn: KafkaConnection,
    consumer: AIOKafkaConsumer,
    topics: Mapping[str, Callable[[bytes | None, bytes | None], str]],
    ready: asyncio.Event,
    on_batch: Callable[[], None] = lambda: None,
    on_outcome: Callable[[str, str], None] = lambda _t, _o: None,
) -> None:
    """Read ``topics`` from the beginning, ``apply`` each record (the mapping's function), set
    ``ready`` once the records present at start are applied, then follow until cancelled."""
    tps: list[TopicPartition] = []
    async with kafka.started_admin(conn) as admin:
        for topic in topics:
            tps += await kafka.topic_partitions(admin, topic, timeout_s=None)
    await kafka.start(consumer, conn)
    try:
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends: dict[TopicPartition, int] = await consumer.end_offsets(tps)
        behind = {tp for tp, end in ends.items() if end > 0}
        if not behind:
            ready.set()
        while True:
            batch = await consumer.getmany(timeout_ms=500)
            for tp, msgs in batch.items():
                apply = topics[tp.topic]
                for m in msgs:
                    on_outcome(tp.topic, apply(m.key, m.value))
            # by position, not by the last offset seen: compaction may have removed the last ones
            for tp in list(behind):
                if await consumer.position(tp) >= ends[tp]:
                    behind.discard(tp)
            on_batch()
            if not ready.is_set() and not behind:
                ready.set()
    finally:
        await kafka.stop(consumer, conn)


async def follow_oversight(cfg: StreamsConfig, topics: Any, oversight: Oversight) -> None:
    """Keep ``oversight`` up to date with the active-plans and suspensions topics."""
    await follow_compacted(
        cfg.kafka,
        oversight_consumer(cfg, "oversight"),
        {
            topics.active_plans: oversight.apply_active,
            topics.suspensions: oversight.apply_suspension,
        },
        oversight.ready,
    )
    log.info("event=oversight_stopped")
