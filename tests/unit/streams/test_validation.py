"""Input validation: every rejection has a code and says what and where."""

from __future__ import annotations

import pytest

from streams.errors import RejectedReading
from streams.events import ZoneReading
from streams.validation import (
    MAX_BATCH_BYTES,
    MAX_RECORD_BYTES,
    EventTimeBounds,
    check_event_time,
    decode_batch,
    decode_reading,
    to_zone_reading,
)

GOOD = b'{"detector_id":"D1","interval_end":"2026-03-10T08:00:00+01:00","interval_s":60,"count":12}'


def test_good_reading_decodes_and_keeps_its_instant() -> None:
    r = decode_reading(b"D1", GOOD)
    assert r.count == 12
    z = to_zone_reading(r)
    assert z.interval_end_ms == 1_773_126_000_000  # 07:00 UTC
    assert z.detector_id == "D1"
    assert z.occupancy is None
    with_occupancy = GOOD.replace(b'"count":12', b'"count":12,"occupancy":0.25')
    assert to_zone_reading(decode_reading(b"D1", with_occupancy)).occupancy == 0.25


@pytest.mark.parametrize(
    ("key", "value", "code", "where"),
    [
        (b"D1", None, "empty", "tombstone"),
        (b"D1", b"{", "malformed", "JSON"),
        (b"D1", GOOD.replace(b"12", b"-1"), "invalid", "$.count"),
        (b"D1", GOOD.replace(b"+01:00", b""), "invalid", "$.interval_end"),
        (b"D1", GOOD.replace(b'"count":12', b'"count":12,"colour":"red"'), "invalid", "colour"),
        (b"D1", GOOD.replace(b'"interval_s":60', b'"interval_s":0'), "invalid", "$.interval_s"),
        (b"D2", GOOD, "key_mismatch", "D2"),
        (b"D1", b" " * (MAX_RECORD_BYTES + 1), "too_large", "bytes"),
    ],
)
def test_rejections_say_what_and_where(
    key: bytes, value: bytes | None, code: str, where: str
) -> None:
    with pytest.raises(RejectedReading) as info:
        decode_reading(key, value)
    assert info.value.code == code
    assert where in info.value.reason


def test_class_counts_are_kept_apart() -> None:
    r = decode_reading(None, GOOD.replace(b'"count":12', b'"count":12,"vehicle_class":"hgv"'))
    assert to_zone_reading(r).detector_id == "D1#hgv"


# --- Event-time bounds and gateway batches ---------------------------------------------------

NOW_MS = 1_773_126_000_000  # 2026-03-10 07:00 UTC
BOUNDS = EventTimeBounds(max_ahead_ms=900_000, max_behind_ms=7 * 86_400_000)


@pytest.mark.parametrize(
    ("offset_ms", "code"),
    [
        (0, None),
        (900_000, None),
        (900_001, "event_time_ahead"),
        (-7 * 86_400_000, None),
        (-7 * 86_400_000 - 1, "event_time_behind"),
        (253_402_300_000_000 - NOW_MS, "event_time_ahead"),  # year 9999
        (-NOW_MS + 60_000, "event_time_behind"),  # 1970
    ],
)
def test_event_time_is_bounded_by_the_worker_clock(offset_ms: int, code: str | None) -> None:
    reading = ZoneReading("D1", NOW_MS + offset_ms, 60, 3)
    if code is None:
        check_event_time(reading, NOW_MS, BOUNDS)
        return
    with pytest.raises(RejectedReading) as e:
        check_event_time(reading, NOW_MS, BOUNDS)
    assert e.value.code == code
    assert "D1" in e.value.reason
    assert "AIGUILLEUR_EVENT_TIME_" in e.value.reason, "the reason names the setting"


def test_replays_accept_any_date() -> None:
    check_event_time(ZoneReading("D1", 60_000, 60, 3), NOW_MS, None)


def _batch(*parts: bytes, gateway: str = "G1") -> bytes:
    return b'{"gateway_id":"%s","readings":[%s]}' % (gateway.encode(), b",".join(parts))


def test_a_batch_decodes_every_reading() -> None:
    gateway, parts = decode_batch(b"G1", _batch(GOOD, GOOD.replace(b"D1", b"D2")))
    assert gateway == "G1"
    assert [p.reading.detector_id for p in parts if p.reading] == ["D1", "D2"]
    assert all(p.error is None for p in parts)


def test_a_bad_reading_of_a_batch_is_rejected_alone_with_its_index() -> None:
    bad = GOOD.replace(b"12", b"-1")
    _, parts = decode_batch(None, _batch(GOOD, bad, GOOD))
    assert [p.error is None for p in parts] == [True, False, True]
    err = parts[1].error
    assert err is not None
    assert err.code == "invalid"
    assert "$.readings[1].count" in err.reason
    assert parts[1].raw == bad, "the rejected reading's own bytes go to the dead letters"


@pytest.mark.parametrize(
    ("key", "value", "code"),
    [
        (b"G1", None, "empty"),
        (b"G1", b"{", "malformed"),
        (b"G1", b'{"gateway_id":"G1","readings":[{"detector_id":', "malformed"),
        (b"G1", b"[1]", "invalid"),
        (b"G1", b'{"gateway_id":"G1","readings":[]}', "invalid"),
        (b"G1", b'{"gateway_id":"G1"}', "invalid"),
        (b"G2", _batch(GOOD), "key_mismatch"),
        (b"G1", _batch(GOOD) + b" " * MAX_BATCH_BYTES, "too_large"),
    ],
)
def test_an_unusable_batch_is_rejected_whole(key: bytes, value: bytes | None, code: str) -> None:
    with pytest.raises(RejectedReading) as e:
        decode_batch(key, value)
    assert e.value.code == code
