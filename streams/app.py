"""The Faust application object, its topics and its table. Agents live beside it in
``streams.agents``.

Stage 1, ``ingest`` (input partitions): validates readings in batches, sends rejects to the
dead-letter
topic, maps each detector to its zone and forwards the zone's readings as ONE record per zone and
batch.
It holds no state.

Stage 2, ``zones`` (zone partitions): upserts readings into the zone's state (one table write per
zone
batch, not per reading), and when a control period closes in event time, plans every junction of the
zone and publishes the plans. A zone lives on exactly one worker, so a coordinated group is always
planned together; more zones and partitions spread a bigger city over more workers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import faust

from streams import kafka
from streams.context import PipelineContext, StreamsConfig


@dataclass(frozen=True, slots=True)
class Channels:
    """The app's topics and table."""

    counts: Any
    dead_letters: Any
    zone_readings: Any
    plans: Any
    zone_state: Any
    plan_inputs: Any
    count_batches: Any = None
    late_readings: Any = None


def create_faust_app(cfg: StreamsConfig) -> faust.App:
    """A Faust app configured for aiguilleur (raw bytes on the wire: validation is ours)."""
    return faust.App(
        cfg.app_id,
        **kafka.faust_settings(cfg.kafka),  # broker and credentials, as every other client's
        store="memory://",  # state is rebuilt from the table's changelog topic on start
        datadir=cfg.state_dir,
        topic_partitions=cfg.partitions,
        topic_replication_factor=cfg.replication_factor,
        key_serializer="raw",
        value_serializer="raw",
        web_enabled=cfg.web_port > 0,
        web_port=cfg.web_port or 6066,
        broker_session_timeout=cfg.session_timeout_s,
        broker_heartbeat_interval=min(3.0, cfg.session_timeout_s / 3),
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        table_standby_replicas=0,
        autodiscover=False,
    )


def declare_channels(app: faust.App, cfg: StreamsConfig, ctx: PipelineContext) -> Channels:
    """Declare the topics and the zone-state table (co-partitioned with the zone topic)."""
    t = ctx.topics
    n = cfg.partitions
    return Channels(
        counts=app.topic(t.counts, key_type=bytes, value_type=bytes, partitions=n),
        dead_letters=app.topic(t.dead_letters, key_type=bytes, value_type=bytes, partitions=n),
        zone_readings=app.topic(t.zone_readings, key_type=bytes, value_type=bytes, partitions=n),
        plans=app.topic(t.plans, key_type=bytes, value_type=bytes, partitions=n),
        plan_inputs=app.topic(t.plan_inputs, key_type=bytes, value_type=bytes, partitions=n),
        zone_state=app.Table("zone-state", key_type=bytes, value_type=bytes, partitions=n),
        count_batches=app.topic(t.count_batches, key_type=bytes, value_type=bytes, partitions=n),
        late_readings=app.topic(t.late_readings, key_type=bytes, value_type=bytes, partitions=n),
    )


def create_app(cfg: StreamsConfig, ctx: PipelineContext) -> faust.App:
    """A configured Faust app with its topics, table and agents registered."""
    from streams.agents import register_agents

    app = create_faust_app(cfg)
    register_agents(app, declare_channels(app, cfg, ctx), cfg, ctx)
    return app
