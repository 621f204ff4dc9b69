"""Pipeline throughput against a raw aiokafka consume loop on the same topic, in the same run.

    .venv/bin/python -m benchmarks.streams_bench [--readings 200000] [--junctions 1000]

1. A synthetic city (four-arm junctions, one detector per approach, zones of 8) and N
   single-reading JSON records on a 4-partition input topic of the local broker.
2. Baseline: a raw aiokafka ``getmany`` loop that decodes every record with msgspec and sums the
   counts.
3. The real worker (``aiguilleur worker``, a separate process) on the same records: its rate is
   read from its own Prometheus counter ``aiguilleur_readings_total`` while it drains the topic;
   the zone stage and plans are counted too.

Prints rates and ratios to the baseline; the table goes to docs/benchmarks.md by hand."""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from graph.synthetic import city, write_city
from streams.events import TrafficCount
from streams.topics import TopicNames

REPO = Path(__file__).resolve().parents[1]
PARTITIONS = 4


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _bootstrap() -> str:
    kafka = REPO / "scripts" / "kafka.sh"
    if (
        subprocess.run(["bash", str(kafka), "status"], capture_output=True, check=False).returncode
        != 0
    ):
        subprocess.run(["bash", str(kafka), "start"], check=True)
    return subprocess.run(
        ["bash", str(kafka), "bootstrap"], check=True, capture_output=True, text=True
    ).stdout.strip()


async def produce(boot: str, topic: str, detectors: list[str], n: int) -> float:
    """Create the topic and produce ``n`` readings, round-robin over detectors, minute by minute."""
    admin = AIOKafkaAdminClient(bootstrap_servers=boot)
    await admin.start()
    await admin.create_topics([NewTopic(topic, PARTITIONS, 1)])
    await admin.close()
    producer = AIOKafkaProducer(
        bootstrap_servers=boot, linger_ms=50, max_batch_size=256 * 1024, compression_type=None
    )
    await producer.start()
    enc = msgspec.json.Encoder()
    t0 = datetime(2026, 3, 10, 6, 0, tzinfo=UTC)
    started = time.perf_counter()
    try:
        for i in range(n):
            det = detectors[i % len(detectors)]
            end = t0 + timedelta(minutes=1 + i // len(detectors))
            r = TrafficCount(detector_id=det, interval_end=end, interval_s=60, count=i % 23)
            await producer.send(topic, key=det.encode(), value=enc.encode(r))
        await producer.flush()
    finally:
        await producer.stop()
    return n / (time.perf_counter() - started)


async def raw_loop(boot: str, topic: str, n: int) -> float:
    """Baseline: consume and decode every record with a plain aiokafka loop; records per second."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=boot,
        group_id=None,
        enable_auto_commit=False,
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    await consumer.start()
    dec = msgspec.json.Decoder(TrafficCount)
    try:
        tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        seen = total = 0
        started = time.perf_counter()
        while seen < n:
            batch = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            for msgs in batch.values():
                for m in msgs:
                    total += dec.decode(m.value).count
                seen += len(msgs)
        return seen / (time.perf_counter() - started)
    finally:
        await consumer.stop()


def _metric(port: int, name: str) -> float:
    try:
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
    except OSError:
        return 0.0
    total = 0.0
    for line in body.splitlines():
        if line.startswith(name) and not line.startswith("#"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def worker_run(
    boot: str, tag: str, net: Path, reg: Path, n: int, extra_env: dict[str, str]
) -> dict[str, float]:
    """Run the real worker on the topic and time it from its own counters."""
    port = _free_port()
    env = {
        **os.environ,
        "AIGUILLEUR_KAFKA_BOOTSTRAP": boot,
        "AIGUILLEUR_APP_ID": tag,
        "AIGUILLEUR_TOPIC_NAMESPACE": tag,
        "AIGUILLEUR_NETWORK_FILE": str(net),
        "AIGUILLEUR_DETECTOR_REGISTRY": str(reg),
        "AIGUILLEUR_METRICS_PORT": str(port),
        "AIGUILLEUR_LATENESS_S": "0",
        "AIGUILLEUR_PARTITIONS": str(PARTITIONS),
        "AIGUILLEUR_LOG_LEVEL": "warn",
        **extra_env,
    }
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "aiguilleur", "worker"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            first_t = first_n = None
            deadline = time.monotonic() + 600
            done = 0.0
            while time.monotonic() < deadline:
                done = _metric(port, 'aiguilleur_readings_total{outcome="accepted"}')
                now = time.perf_counter()
                if first_t is None and done > 0:
                    first_t, first_n = now, done
                if done >= n:
                    break
                if proc.poll() is not None:
                    log.seek(0)
                    raise RuntimeError(f"worker exited: {log.read().decode()[-2000:]}")
                time.sleep(0.05)
            end_t = time.perf_counter()
            # End to end: until the zone stage has applied every batch (its counter stops moving).
            zones, last_change = -1.0, time.perf_counter()
            while time.perf_counter() - last_change < 3 and time.monotonic() < deadline:
                now_zones = _metric(port, "aiguilleur_zone_batches_total")
                if now_zones != zones:
                    zones, last_change = now_zones, time.perf_counter()
                time.sleep(0.1)
            plans = _metric(port, "aiguilleur_plans_published_total")
        finally:
            proc.terminate()
            proc.wait(60)
    if first_t is None or first_n is None or done < n:
        raise RuntimeError(f"worker processed {done} of {n} readings")
    rate = (n - first_n) / (end_t - first_t)
    e2e = (n - first_n) / (last_change - first_t)
    return {"rate": rate, "e2e": e2e, "zone_batches": zones, "plans": plans}


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--readings", type=int, default=200_000)
    ap.add_argument("--junctions", type=int, default=1000)
    ap.add_argument("--write", type=Path, help="also write the report (Markdown) to this file")
    args = ap.parse_args()
    lines: list[str] = []

    def out(line: str) -> None:
        print(line)
        lines.append(line)

    boot = _bootstrap()
    tag = "bench" + uuid.uuid4().hex[:8]
    folder = Path(tempfile.mkdtemp())
    net, reg, mapping = write_city(city(args.junctions), folder)
    dets = list(mapping)
    topics = TopicNames(tag)
    prod_rate = asyncio.run(produce(boot, topics.counts, dets, args.readings))
    raw_rate = asyncio.run(raw_loop(boot, topics.counts, args.readings))
    runs = {}
    for engine in ("aiokafka", "faust"):
        run_tag = f"{tag}{engine[0]}"
        topics_e = TopicNames(run_tag)
        if engine != "aiokafka":  # each run reads its own copy of the same records
            asyncio.run(produce(boot, topics_e.counts, dets, args.readings))
        else:
            topics_e = topics
            run_tag = tag
        runs[engine] = worker_run(
            boot, run_tag, net, reg, args.readings, {"AIGUILLEUR_INGEST_ENGINE": engine}
        )
    cpu = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        ),
        platform.processor(),
    )
    out(
        f"# streams benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        f"{os.cpu_count()} cores, {cpu}"
    )
    out(
        f"# {args.readings} single-reading JSON records, {len(dets)} detectors, "
        f"{args.junctions} junctions, "
        f"{PARTITIONS} partitions, one process each, same broker"
    )
    out("| run | ingest records/s | ratio to raw loop | end to end records/s | ratio |")
    out("|---|---:|---:|---:|---:|")
    out(f"| raw aiokafka getmany + msgspec decode (baseline) | {raw_rate:,.0f} | 1.00 | | |")
    for engine, label in (
        ("aiokafka", "aiokafka consumer group (default)"),
        ("faust", "Faust agent"),
    ):
        r = runs[engine]
        out(
            f"| aiguilleur worker, ingest on {label} | {r['rate']:,.0f} "
            f"| {r['rate'] / raw_rate:.2f} "
            f"| {r['e2e']:,.0f} | {r['e2e'] / raw_rate:.2f} |"
        )
    out(f"| (producer, for reference) | {prod_rate:,.0f} | {prod_rate / raw_rate:.2f} | | |")
    for engine, r in runs.items():
        out(
            f"{engine}: zone batches applied {r['zone_batches']:.0f} "
            f"({args.readings / max(1.0, r['zone_batches']):.0f} readings per table write), "
            f"plans published {r['plans']:.0f}"
        )

    if args.write:
        args.write.write_text("# Streams pipeline benchmark\n\n" + "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
