"""The ingest stage's pipelined consume loop: what it sends and commits, in what order, and what it
reads again when the output cannot be delivered."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.errors import KafkaTimeoutError

from streams.ingest import consume_pipelined

TP = TopicPartition("in", 0)


@dataclass(frozen=True)
class Rec:
    offset: int


@dataclass
class FakeConsumer:
    """Serves offsets 0..n-1 of one partition in batches of ``size``; records commits and seeks."""

    n: int
    size: int
    position: int = 0
    commits: list[int] = field(default_factory=list)
    seeks: list[int] = field(default_factory=list)

    async def getmany(
        self, *, timeout_ms: int, max_records: int
    ) -> dict[TopicPartition, list[Rec]]:
        await asyncio.sleep(0 if timeout_ms == 0 else 0.001)
        if self.position >= self.n:
            return {}
        end = min(self.n, self.position + min(self.size, max_records))
        batch = [Rec(o) for o in range(self.position, end)]
        self.position = end
        return {TP: batch}

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.commits.append(offsets[TP])

    def seek(self, tp: TopicPartition, offset: int) -> None:
        assert tp == TP
        self.seeks.append(offset)
        self.position = offset


@dataclass
class Out:
    offsets: list[int]
    discarded: bool = False

    def discard(self) -> None:
        self.discarded = True


class Stop(Exception):
    pass


async def _run(consumer: FakeConsumer, fail_first_delivery_of: int | None) -> list[str]:
    events: list[str] = []
    failed = False
    in_flight = 0

    async def prepare(records: list[Any]) -> Out:
        events.append(f"prepare {records[0].offset}")
        return Out([r.offset for r in records])

    async def deliver(out: Out) -> None:
        nonlocal in_flight, failed
        in_flight += 1
        assert in_flight == 1, "one batch's output in flight at a time"
        events.append(f"send {out.offsets[0]}")
        await asyncio.sleep(0.01)
        in_flight -= 1
        if out.offsets[0] == fail_first_delivery_of and not failed:
            failed = True
            raise KafkaTimeoutError()
        events.append(f"delivered {out.offsets[0]}")

    def check() -> None:
        if consumer.commits and consumer.commits[-1] >= consumer.n:
            raise Stop

    with pytest.raises(Stop):
        await consume_pipelined(
            consumer,  # type: ignore[arg-type]  # the loop uses getmany, commit and seek only
            prepare,
            deliver,
            max_records=consumer.size,
            timeout_ms=10,
            stage="test",
            check=check,
        )
    return events


async def test_each_batch_is_committed_after_its_output_is_delivered_in_order() -> None:
    consumer = FakeConsumer(n=10, size=3)
    events = await _run(consumer, None)
    assert consumer.commits == [3, 6, 9, 10]
    sends = [e for e in events if e.startswith("send")]
    assert sends == ["send 0", "send 3", "send 6", "send 9"]
    # the next batch was prepared while the previous one's output was in flight
    assert events.index("prepare 3") < events.index("delivered 0")


async def test_a_batch_not_delivered_is_read_again_with_the_one_prepared_after_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("streams.ingest.RETRY_AFTER_S", 0.0)
    consumer = FakeConsumer(n=9, size=3)
    events = await _run(consumer, fail_first_delivery_of=3)
    assert consumer.seeks == [3], "back to the first record of the undelivered batch"
    assert consumer.commits == [3, 6, 9], "nothing committed past the undelivered batch"
    assert events.count("send 3") == 2
    assert events.count("send 6") == 1, "the batch prepared meanwhile was dropped, then read again"
    assert events.count("prepare 6") == 2
