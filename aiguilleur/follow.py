"""Read recommended plans (and dead letters) back from Kafka, for people and for tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import msgspec
from aiokafka import TopicPartition

from streams import kafka
from streams.events import SignalPlan
from streams.kafka import KafkaConnection

_plan_decoder = msgspec.json.Decoder(SignalPlan)


@dataclass(frozen=True, slots=True)
class Record:
    """One Kafka record, decoded only as far as bytes and headers."""

    key: bytes | None
    value: bytes | None
    headers: dict[str, bytes]
    partition: int
    offset: int


async def records(
    conn: KafkaConnection,
    topic: str,
    *,
    from_beginning: bool = True,
    to_end: bool = False,
    exists_timeout_s: float = 30.0,
) -> AsyncIterator[Record]:
    """Records of ``topic`` (all partitions, no consumer group), for ever; with ``to_end``, only
    those it holds when called (it stops at each partition's end offset of that moment). A topic
    that does not exist after ``exists_timeout_s`` yields nothing."""
    async with kafka.started_admin(conn, client_id="aiguilleur-reader") as admin:
        tps = await kafka.topic_partitions(admin, topic, timeout_s=exists_timeout_s)
    if not tps:
        return
    consumer = kafka.reader(conn, client_id="aiguilleur-reader", from_beginning=from_beginning)
    await kafka.start(consumer, conn)
    try:
        consumer.assign(tps)
        if from_beginning:
            await consumer.seek_to_beginning(*tps)
        else:
            await consumer.seek_to_end(*tps)
        ends: dict[TopicPartition, int] = await consumer.end_offsets(tps) if to_end else {}
        while True:
            # by position, not by the last offset seen: compaction may have removed the last ones
            if to_end and all([await consumer.position(tp) >= ends[tp] for tp in tps]):
                return
            batch = await consumer.getmany(timeout_ms=500)
            for msgs in batch.values():
                for m in msgs:
                    yield Record(m.key, m.value, dict(m.headers or ()), m.partition, m.offset)
    finally:
        await kafka.stop(consumer, conn)


def decode_plan(value: bytes) -> SignalPlan:
    """A plan record's value as a typed ``SignalPlan``."""
    return _plan_decoder.decode(value)


PLAN_HEADER = (
    f"{'from UTC':<8} {'zone':<22} {'junction':<18} {'cycle':>5}  {'greens':<26} "
    f"{'x max':>5}  {'delay s/veh':>11}"
)
"""Column titles for :func:`format_plan`."""


def format_plan(p: SignalPlan) -> str:
    """One line for the terminal: when, where, cycle, greens, saturation, delay."""
    greens = " ".join(f"P{ph.index}:{ph.green_s}s" for ph in p.phases)
    notes = []
    if p.expected_effect.oversaturated:
        notes.append("OVERSATURATED")
    unmeasured = sum(1 for a in p.explanation.approaches if not a.measured)
    if unmeasured:
        notes.append(f"{unmeasured} approach(es) unmeasured")
    return (
        f"{p.valid_from:%H:%M}    {p.zone_id:<22.22} {p.junction_id:<18.18} {p.cycle_s:>4}s  "
        f"{greens:<26} {p.expected_effect.max_degree_of_saturation:5.2f}  "
        f"{p.expected_effect.mean_delay_s_per_veh:11.1f}  {'; '.join(notes)}"
    ).rstrip()
