"""Run the Faust worker: load the city, create the topics, serve metrics, process until stopped."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import faust
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from prometheus_client import start_http_server

from aiguilleur.settings import Settings
from aiguilleur.wiring import pipeline_context, streams_config
from streams.app import create_app
from streams.context import StreamsConfig
from streams.ingest import kafka_security
from streams.topics import TopicNames


async def ensure_topics(cfg: StreamsConfig, topics: TopicNames, *, control: bool = False) -> None:
    """Create the topics (``cfg.partitions`` partitions, ``cfg.replication_factor`` replicas) if
    they do not exist yet; with ``control``, the live-control topics too (the envelopes topic
    compacted). Topics that exist are left as they are."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=cfg.bootstrap, client_id="aiguilleur-admin", **kafka_security(cfg)
    )
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        names = [
            topics.counts,
            topics.dead_letters,
            topics.zone_readings,
            topics.plans,
            topics.plan_inputs,
            topics.active_plans,
            topics.suspensions,
            topics.recommendation_decisions,
        ]
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
        }
        wanted = [
            NewTopic(t, cfg.partitions, cfg.replication_factor, topic_configs=configs.get(t))
            for t in names
            if t not in existing
        ]
        if wanted:
            # Another worker may create them meanwhile.
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(wanted)
        await _wait_topics_ready(admin, names)
    finally:
        await admin.close()


TOPICS_READY_TIMEOUT_S = 30.0


async def _wait_topics_ready(admin: AIOKafkaAdminClient, names: list[str]) -> None:
    """Wait until every topic has all its partitions led: a topic created a moment ago is not yet
    in the broker's metadata, and a consumer group joining then is assigned none of its partitions
    (seen on a fresh broker: the zone stage never got the zone-readings topic)."""
    deadline = time.monotonic() + TOPICS_READY_TIMEOUT_S
    while True:
        described = await admin.describe_topics(names)
        pending = [
            d["topic"]
            for d in described
            if d["error_code"] != 0
            or not d["partitions"]
            or any(p["error_code"] != 0 or p["leader"] < 0 for p in d["partitions"])
        ]
        if not pending:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"topics {', '.join(sorted(pending))} have no leader after "
                f"{TOPICS_READY_TIMEOUT_S:g} s: is the Kafka cluster healthy?"
            )
        await asyncio.sleep(0.2)


def run_worker(settings: Settings) -> None:
    """Blocking: run one worker until SIGINT/SIGTERM (Faust commits offsets and stops cleanly)."""
    logging.basicConfig(
        level=settings.log_level.upper().replace("WARN", "WARNING"),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    ctx = pipeline_context(settings)
    cfg = streams_config(settings)
    asyncio.run(ensure_topics(cfg, ctx.topics, control=bool(ctx.controller)))
    if settings.metrics_port:
        start_http_server(settings.metrics_port, addr="0.0.0.0")
    app = create_app(cfg, ctx)
    worker = faust.Worker(app, loglevel=settings.log_level, quiet=True)
    worker.execute_from_commandline()
