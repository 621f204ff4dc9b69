"""Fuzz on the real broker (issue 15): 10,000 bad records mixed with good ones. Every bad record
reaches the dead letters with a code and a reason; the plans are those of the good records
alone; the worker stays up."""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pytest

from streams.events import DLQ_HEADER_CODE, DLQ_HEADER_INDEX, DLQ_HEADER_REASON
from streams.topics import TopicNames
from tests.integration.conftest import collect, feed, produce
from tests.integration.streams.test_event_time import at, check_plans, running_worker
from tests.integration.streams.test_pipeline import PER_MINUTE

pytestmark = pytest.mark.integration

BAD_RECORDS = 10_000
Item = tuple[bytes | None, bytes | None]


def _json(**fields: object) -> bytes:
    return msgspec.json.encode(fields)


def bad_makers(now: datetime) -> list[Callable[[random.Random, str], Item]]:
    """Ways a record goes wrong: wrong types, NaN, absurd counts, far timestamps, oversize, bad
    encodings, empty and mismatched keys, unknown detectors, unknown fields."""
    end = now.isoformat()

    def ok(det: str, **over: object) -> dict[str, object]:
        return {"detector_id": det, "interval_end": end, "interval_s": 60, "count": 3, **over}

    return [
        lambda r, d: (d.encode(), _json(**ok(d, count=str(r.randint(0, 99))))),
        lambda r, d: (d.encode(), _json(**ok(d, interval_s=60.5))),
        lambda r, d: (d.encode(), _json(**ok(d, detector_id=r.randint(0, 9)))),
        lambda r, d: (d.encode(), msgspec.json.encode(ok(d)).replace(b'"count":3', b'"count":NaN')),
        lambda r, d: (d.encode(), _json(**ok(d, occupancy=0.5)).replace(b"0.5", b"NaN")),
        lambda r, d: (d.encode(), _json(**ok(d, count=r.randint(100_001, 10**12)))),
        lambda r, d: (d.encode(), _json(**ok(d, count=-r.randint(1, 10**6)))),
        lambda r, d: (d.encode(), _json(**ok(d, interval_end="9999-12-31T23:59:00+00:00"))),
        lambda r, d: (d.encode(), _json(**ok(d, interval_end="1970-01-01T00:01:00+00:00"))),
        lambda r, d: (
            d.encode(),
            _json(**ok(d, interval_end=(now + timedelta(days=r.randint(1, 900))).isoformat())),
        ),
        lambda r, d: (
            d.encode(),
            _json(**ok(d, interval_end=(now - timedelta(days=r.randint(8, 900))).isoformat())),
        ),
        lambda r, d: (d.encode(), _json(**ok(d, interval_end="2026-13-45T99:00:00Z"))),
        lambda r, d: (d.encode(), _json(**ok(d, interval_end=end.replace("+00:00", "")))),
        lambda r, d: (d.encode(), _json(**ok(d, note="x" * 70_000))),
        lambda r, d: (d.encode(), b"\xff\xfe" + "é".encode("latin-1") * r.randint(1, 40)),
        lambda r, d: (d.encode(), msgspec.json.encode(ok(d)).decode().encode("utf-16")),
        lambda r, d: (d.encode(), b""),
        lambda r, d: (d.encode(), None),
        lambda r, d: (b"", _json(**ok(d))),
        lambda r, d: (b"D-J9-X", _json(**ok(d))),
        lambda r, d: _unknown(f"U{r.randint(0, 10**6)}", ok),
        lambda r, d: (d.encode(), _json(**ok(d, colour="red"))),
        lambda r, d: (d.encode(), _json(**ok(d, vehicle_class="tram"))),
        lambda r, d: (d.encode(), b"[" * r.randint(1, 500)),
    ]


def _unknown(det: str, ok: Callable[..., dict[str, object]]) -> Item:
    return det.encode(), _json(**ok(det))


async def test_ten_thousand_bad_records_change_no_plan(
    pipeline_env: dict[str, str], tmp_path: Path
) -> None:
    del pipeline_env["AIGUILLEUR_EVENT_TIME_REPLAY"]  # live bounds: far dates are refused too
    boot = pipeline_env["AIGUILLEUR_KAFKA_BOOTSTRAP"]
    topics = TopicNames(pipeline_env["AIGUILLEUR_TOPIC_NAMESPACE"])
    rng = random.Random(15)
    period = 300
    start = datetime.fromtimestamp(time.time() // period * period - 2 * period, tz=UTC)
    makers = bad_makers(start + timedelta(minutes=3))
    dets = list(PER_MINUTE)
    bad = [rng.choice(makers)(rng, rng.choice(dets)) for _ in range(BAD_RECORDS)]
    third = start + timedelta(minutes=3)
    in_batch = [d for d in dets if d.startswith(("D-J1", "D-J2"))]
    batched = [at(d, third, PER_MINUTE[d]) for d in in_batch]
    singles = [
        at(d, start + timedelta(minutes=m), c)
        for m in range(1, 6)
        for d, c in PER_MINUTE.items()
        if m != 3 or d not in in_batch
    ]
    broken = _json(detector_id="D-J1-N", interval_end=start.isoformat(), interval_s=60, count=-1)
    batch_value = b'{"gateway_id":"GW-1","readings":[%s]}' % b",".join(
        [v for _, v in batched[:4]] + [broken] + [v for _, v in batched[4:]]
    )
    mixed: list[Item] = list(singles)
    for item in bad:
        mixed.insert(rng.randrange(len(mixed) + 1), item)
    with running_worker(pipeline_env, tmp_path) as worker:
        await worker.wait_ready()
        await produce(boot, topics.count_batches, [(b"GW-1", batch_value)])
        await feed(pipeline_env, mixed)
        closing = [at(d, start + timedelta(minutes=6), 0) for d in PER_MINUTE]
        await produce(boot, topics.counts, closing)
        plans = await collect(boot, topics.plans, 3)
        check_plans(plans, start + timedelta(minutes=5), worker)
        dead = await collect(boot, topics.dead_letters, BAD_RECORDS + 1, timeout_s=120)
        assert worker.alive()
    assert len(dead) == BAD_RECORDS + 1
    assert all(r.headers.get(DLQ_HEADER_REASON) for r in dead), "a dead letter without a reason"
    codes = Counter(r.headers[DLQ_HEADER_CODE].decode() for r in dead)
    assert set(codes) >= {
        "malformed",
        "invalid",
        "too_large",
        "empty",
        "key_mismatch",
        "unknown_detector",
        "event_time_ahead",
        "event_time_behind",
    }, codes
    from_batch = [r for r in dead if DLQ_HEADER_INDEX in r.headers]
    assert [(r.headers[DLQ_HEADER_INDEX], r.value) for r in from_batch] == [(b"4", broken)]
    # The single bad records come back with their original bytes (the broker drops none).
    assert Counter(v for _, v in bad) == Counter(r.value for r in dead if r not in from_batch)
