"""Input validation: every rejection has a code and says what and where."""

from __future__ import annotations

import pytest

from streams.errors import RejectedReading
from streams.validation import MAX_RECORD_BYTES, decode_reading, to_zone_reading

GOOD = b'{"detector_id":"D1","interval_end":"2026-03-10T08:00:00+01:00","interval_s":60,"count":12}'


def test_good_reading_decodes_and_keeps_its_instant() -> None:
    r = decode_reading(b"D1", GOOD)
    assert r.count == 12
    z = to_zone_reading(r)
    assert z.interval_end_ms == 1_773_126_000_000  # 07:00 UTC
    assert z.detector_id == "D1"


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
