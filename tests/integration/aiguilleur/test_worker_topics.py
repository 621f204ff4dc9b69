"""The worker creates its topics and waits until the broker leads every partition of them."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from aiguilleur.worker import ensure_topics
from streams.context import StreamsConfig
from streams.kafka import KafkaConnection, wait_topics_ready
from streams.topics import TopicNames

pytestmark = pytest.mark.integration


async def _described(admin: AIOKafkaAdminClient, names: list[str]) -> dict[str, dict[str, object]]:
    return {d["topic"]: d for d in await admin.describe_topics(names)}


def _led(d: dict[str, object], partitions: int) -> bool:
    parts = d["partitions"]
    assert isinstance(parts, list)
    return (
        d["error_code"] == 0
        and len(parts) == partitions
        and all(p["error_code"] == 0 and p["leader"] >= 0 for p in parts)
    )


async def test_waiting_returns_only_once_new_topics_are_led(kafka_bootstrap: str) -> None:
    # Right after create_topics the broker may still answer UNKNOWN_TOPIC_OR_PARTITION for a new
    # topic; a consumer group joining then gets none of its partitions (seen on a fresh broker).
    names = [f"ready-{uuid.uuid4().hex[:8]}-{k}" for k in range(4)]
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(n, 3, 1) for n in names])
        await wait_topics_ready(admin, names)
        described = await _described(admin, names)
        assert all(_led(described[n], 3) for n in names), described
    finally:
        await admin.delete_topics(names)
        await admin.close()


async def test_ensure_topics_leaves_every_topic_led(kafka_bootstrap: str, tmp_path: Path) -> None:
    topics = TopicNames(f"ready-{uuid.uuid4().hex[:8]}")
    cfg = StreamsConfig(
        app_id="ready",
        kafka=KafkaConnection(kafka_bootstrap),
        partitions=3,
        replication_factor=1,
        state_dir=str(tmp_path),
        ingest_batch=100,
        ingest_within_s=0.1,
        lateness_s=60,
        session_timeout_s=30.0,
    )
    await ensure_topics(cfg, topics, control=True)
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        names = [topics.counts, topics.zone_readings, topics.plans, topics.decisions]
        described = await _described(admin, names)
        assert all(_led(described[n], 3) for n in names), described
    finally:
        await admin.close()
