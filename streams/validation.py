"""Validate raw input records: bytes in, a typed reading or a :class:`RejectedReading` out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import msgspec

from streams.errors import RejectedReading
from streams.events import (
    DLQ_HEADER_CODE,
    DLQ_HEADER_INDEX,
    DLQ_HEADER_OFFSET,
    DLQ_HEADER_PARTITION,
    DLQ_HEADER_REASON,
    DLQ_HEADER_TIME,
    DLQ_HEADER_TOPIC,
    TrafficCount,
    TrafficCountBatch,
    ZoneReading,
)

_decoder = msgspec.json.Decoder(TrafficCount)
_batch_decoder = msgspec.json.Decoder(TrafficCountBatch)


class _LooseBatch(msgspec.Struct, forbid_unknown_fields=True):
    """A batch whose readings are left undecoded, to check them one by one."""

    gateway_id: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
    readings: Annotated[list[msgspec.Raw], msgspec.Meta(min_length=1, max_length=10_000)]
    schema_version: Literal[1] = 1


_loose_decoder = msgspec.json.Decoder(_LooseBatch)

MAX_RECORD_BYTES = 64 * 1024
MAX_BATCH_BYTES = 1024 * 1024
"""A batch record's limit: Kafka's default largest message (``message.max.bytes``) is about 1 MB."""


@dataclass(frozen=True, slots=True)
class EventTimeBounds:
    """How far a reading's interval end may lie from the worker's clock (ms)."""

    max_ahead_ms: int
    max_behind_ms: int


def check_event_time(reading: ZoneReading, now_ms: int, bounds: EventTimeBounds | None) -> None:
    """Refuse a reading dated too far ahead of or behind the worker's clock (``None``: replays,
    any date accepted). A sensor with a wrong clock reports 9999 or 1970: refused here, it can
    move no zone's time."""
    if bounds is None:
        return
    t = reading.interval_end_ms
    if t > now_ms + bounds.max_ahead_ms:
        raise RejectedReading(
            "event_time_ahead",
            f"interval_end {_iso(t)} of detector {reading.detector_id!r} is "
            f"{(t - now_ms) / 1000:.0f} s ahead of the worker's clock ({_iso(now_ms)}); the limit "
            f"is AIGUILLEUR_EVENT_TIME_MAX_AHEAD_S={bounds.max_ahead_ms // 1000}: set the "
            "detector's clock right (or replay recorded data with "
            "AIGUILLEUR_EVENT_TIME_REPLAY=true)",
        )
    if t < now_ms - bounds.max_behind_ms:
        raise RejectedReading(
            "event_time_behind",
            f"interval_end {_iso(t)} of detector {reading.detector_id!r} is "
            f"{(now_ms - t) / 1000:.0f} s behind the worker's clock ({_iso(now_ms)}); the limit "
            f"is AIGUILLEUR_EVENT_TIME_MAX_BEHIND_S={bounds.max_behind_ms // 1000}: set the "
            "detector's clock right (or replay recorded data with "
            "AIGUILLEUR_EVENT_TIME_REPLAY=true)",
        )


def _iso(ms: int) -> str:
    try:
        return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat()
    except (OverflowError, OSError, ValueError):
        return f"{ms} ms since 1970"


@dataclass(frozen=True, slots=True)
class BatchPart:
    """One reading of a batch: decoded, or rejected with its raw bytes and index."""

    index: int
    reading: TrafficCount | None
    raw: bytes
    error: RejectedReading | None = None


def decode_batch(key: bytes | None, value: bytes | None) -> tuple[str, list[BatchPart]]:
    """Decode a gateway batch: its gateway id and its readings, each decoded or rejected alone.

    Raises ``RejectedReading`` when the batch itself is unusable (no value, too large, not JSON,
    no ``readings`` list, a key other than its gateway id): the whole record goes to the dead
    letters then.
    """
    gateway, readings, parts = decode_gateway_batch(key, value)
    return gateway, parts or [BatchPart(i, r, b"") for i, r in enumerate(readings)]


def decode_gateway_batch(
    key: bytes | None, value: bytes | None
) -> tuple[str, tuple[TrafficCount, ...], list[BatchPart]]:
    """:func:`decode_batch` for the ingest stage: ``(gateway id, readings, ())`` when every
    reading is valid (no object per reading besides the reading), ``(gateway id, (), parts)``
    when one is not (each reading decoded or rejected alone, with its index and bytes).

    Raises ``RejectedReading`` as :func:`decode_batch` does.
    """
    if value is None:
        raise RejectedReading(
            "empty", "record has no value (tombstone); send a JSON TrafficCountBatch"
        )
    if len(value) > MAX_BATCH_BYTES:
        raise RejectedReading(
            "too_large",
            f"batch record is {len(value)} bytes, limit {MAX_BATCH_BYTES}: split it",
        )
    readings: tuple[TrafficCount, ...] = ()
    parts: list[BatchPart] = []
    try:
        batch = _batch_decoder.decode(value)
        gateway, readings = batch.gateway_id, batch.readings
    except msgspec.ValidationError:
        gateway, parts = _decode_parts(value)
    except msgspec.DecodeError as e:
        raise RejectedReading("malformed", f"not JSON: {e}") from e
    if key is not None and key.decode("utf-8", "replace") != gateway:
        raise RejectedReading(
            "key_mismatch",
            f"batch key {key.decode('utf-8', 'replace')!r} differs from gateway_id {gateway!r}; "
            "key the record by its gateway id",
        )
    return gateway, readings, parts


def _decode_parts(value: bytes) -> tuple[str, list[BatchPart]]:
    try:
        loose = _loose_decoder.decode(value)
    except msgspec.ValidationError as e:
        raise RejectedReading(
            "invalid", f"{e}; see schemas/aiguilleur.traffic-counts-batch.v1.json"
        ) from e
    except msgspec.DecodeError as e:
        raise RejectedReading("malformed", f"not JSON: {e}") from e
    parts = []
    for i, raw in enumerate(loose.readings):
        part = bytes(raw)
        try:
            parts.append(BatchPart(i, _decoder.decode(part), part))
        except msgspec.ValidationError as e:
            parts.append(
                BatchPart(
                    i,
                    None,
                    part,
                    RejectedReading(
                        "invalid",
                        f"{str(e).replace('$', f'$.readings[{i}]', 1)}; "
                        "see schemas/aiguilleur.traffic-counts.v1.json",
                    ),
                )
            )
    return loose.gateway_id, parts


def decode_reading(key: bytes | None, value: bytes | None) -> TrafficCount:
    """Decode and check one record of the counts topic.

    Raises ``RejectedReading`` with a code and a message that says what is wrong and where
    (msgspec gives the JSON path, e.g. ``Expected `int` >= 0 - at `$.count```).
    """
    if value is None:
        raise RejectedReading("empty", "record has no value (tombstone); send a JSON TrafficCount")
    if len(value) > MAX_RECORD_BYTES:
        raise RejectedReading(
            "too_large", f"record is {len(value)} bytes, limit {MAX_RECORD_BYTES}"
        )
    try:
        reading = _decoder.decode(value)
    except msgspec.ValidationError as e:
        raise RejectedReading("invalid", f"{e}; see schemas/traffic-counts.v1.json") from e
    except msgspec.DecodeError as e:
        raise RejectedReading("malformed", f"not JSON: {e}") from e
    if key is not None and key.decode("utf-8", "replace") != reading.detector_id:
        raise RejectedReading(
            "key_mismatch",
            f"record key {key.decode('utf-8', 'replace')!r} differs from detector_id "
            f"{reading.detector_id!r}; "
            "key the record by its detector id",
        )
    return reading


def to_zone_reading(reading: TrafficCount) -> ZoneReading:
    """The compact form kept in zone state.

    A count by vehicle class is kept under ``detector#class`` so that a detector reporting cars and
    lorries
    separately for the same interval does not overwrite itself.
    """
    cls = reading.vehicle_class
    return ZoneReading(
        reading.detector_id if cls == "all" else f"{reading.detector_id}#{cls}",
        int(reading.interval_end.timestamp() * 1000),
        reading.interval_s,
        reading.count,
        reading.occupancy,
    )


def dead_letter_headers(
    record: Any, err: RejectedReading, index: int | None = None
) -> list[tuple[str, bytes]]:
    """Headers of a dead letter: why (code, reason), where from (topic, partition, offset, and the
    reading's ``index`` in a batch), when. ``record`` is the Kafka record (``topic``,
    ``partition``, ``offset``)."""
    extra = [] if index is None else [(DLQ_HEADER_INDEX, str(index).encode())]
    return [
        *extra,
        (DLQ_HEADER_REASON, err.reason.encode()),
        (DLQ_HEADER_CODE, err.code.encode()),
        (DLQ_HEADER_TOPIC, str(record.topic).encode()),
        (DLQ_HEADER_PARTITION, str(record.partition).encode()),
        (DLQ_HEADER_OFFSET, str(record.offset).encode()),
        (DLQ_HEADER_TIME, datetime.now(UTC).isoformat().encode()),
    ]
