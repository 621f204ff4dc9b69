"""Validate raw input records: bytes in, a typed reading or a :class:`RejectedReading` out."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec

from streams.errors import RejectedReading
from streams.events import (
    DLQ_HEADER_CODE,
    DLQ_HEADER_OFFSET,
    DLQ_HEADER_PARTITION,
    DLQ_HEADER_REASON,
    DLQ_HEADER_TIME,
    DLQ_HEADER_TOPIC,
    TrafficCount,
    ZoneReading,
)

_decoder = msgspec.json.Decoder(TrafficCount)

MAX_RECORD_BYTES = 64 * 1024


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
    key = (
        reading.detector_id
        if reading.vehicle_class == "all"
        else (f"{reading.detector_id}#{reading.vehicle_class}")
    )
    return ZoneReading(
        key, int(reading.interval_end.timestamp() * 1000), reading.interval_s, reading.count
    )


def dead_letter_headers(record: Any, err: RejectedReading) -> list[tuple[str, bytes]]:
    """Headers of a dead letter: why (code, reason), where from (topic, partition, offset), when.
    ``record`` is the Kafka record (``topic``, ``partition``, ``offset``)."""
    return [
        (DLQ_HEADER_REASON, err.reason.encode()),
        (DLQ_HEADER_CODE, err.code.encode()),
        (DLQ_HEADER_TOPIC, str(record.topic).encode()),
        (DLQ_HEADER_PARTITION, str(record.partition).encode()),
        (DLQ_HEADER_OFFSET, str(record.offset).encode()),
        (DLQ_HEADER_TIME, datetime.now(UTC).isoformat().encode()),
    ]
