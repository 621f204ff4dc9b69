"""Envelope approval: build envelopes from the network model, publish them with the approver's
name, read back what is on record. The topic is the record; nothing here keeps state."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from aiguilleur.follow import records
from graph.model import Network
from streams import kafka
from streams.context import StreamsConfig
from streams.envelopes import approve, decode_envelope, envelope_from_junction
from streams.events import SignalEnvelope
from streams.kafka import KafkaConnection

WITHDRAWN_BY_HEADER = "aiguilleur.withdrawn-by"
"""Header of a withdrawal tombstone: who withdrew the approval."""


def approvals(
    network: Network,
    junction_ids: Sequence[str] | None,
    *,
    approved_by: str,
    approved_at: datetime,
    cycle_min_s: float | None = None,
    cycle_max_s: float = 120.0,
    may_skip_phases: bool = True,
    note: str = "",
) -> list[SignalEnvelope]:
    """One envelope event per junction (all of ``network``'s when ``junction_ids`` is None), from
    the network model's phases and bounds, no minimum cycle unless ``cycle_min_s`` sets one.
    ``KeyError`` names an unknown junction; ``InvalidEnvelope`` one whose bounds cannot hold."""
    if junction_ids is None:
        junctions = list(network.junctions)
    else:
        known = {j.id: j for j in network.junctions}
        missing = [j for j in junction_ids if j not in known]
        if missing:
            raise KeyError(
                f"junction(s) {', '.join(missing)} not in the network model {network.source}"
            )
        junctions = [known[j] for j in junction_ids]
    return [
        approve(
            j,
            envelope_from_junction(j, cycle_min_s, cycle_max_s, may_skip_phases=may_skip_phases),
            approved_by=approved_by,
            approved_at=approved_at,
            network_sha256=network.source_sha256,
            note=note,
        )
        for j in junctions
    ]


async def publish(
    cfg: StreamsConfig,
    topic: str,
    envelopes: Iterable[SignalEnvelope] = (),
    withdraw: Iterable[tuple[str, str]] = (),
) -> int:
    """Publish approvals (key = junction id) and withdrawals (``(junction id, by whom)``:
    tombstones); returns once the broker acknowledged them all."""
    import msgspec

    producer = kafka.producer(cfg.kafka, client_id="aiguilleur-envelopes", acks="all")
    await kafka.start(producer, cfg.kafka)
    n = 0
    try:
        for ev in envelopes:
            await producer.send(topic, key=ev.junction_id.encode(), value=msgspec.json.encode(ev))
            n += 1
        for junction, by in withdraw:
            await producer.send(
                topic,
                key=junction.encode(),
                value=None,
                headers=[(WITHDRAWN_BY_HEADER, by.encode())],
            )
            n += 1
        await producer.flush()
    finally:
        await kafka.stop(producer, cfg.kafka)
    return n


async def on_record(conn: KafkaConnection, topic: str) -> dict[str, SignalEnvelope]:
    """The approvals on record: the last envelope of each junction, withdrawn ones left out."""
    out: dict[str, SignalEnvelope] = {}
    async for rec in records(conn, topic, to_end=True):
        key = (rec.key or b"").decode()
        if rec.value is None:
            out.pop(key, None)
        else:
            out[key] = decode_envelope(rec.value)
    return out
