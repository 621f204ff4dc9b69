"""Pipeline throughput against a raw aiokafka consume loop on the same records, in the same run.

    .venv/bin/python -m benchmarks.streams_bench [--readings 200000] [--junctions 1000]
        [--batch 32] [--workers 1,2,4] [--profile] [--write docs/bench/streams.md]

1. A synthetic city (four-arm crossroads, one detector per approach, zones of 8 junctions) and N
   readings as single-reading JSON records, and the same N as gateway batches (one record per zone
   and minute: ``--batch`` readings), each on a 4-partition input topic of the local broker.
2. Baselines: a raw aiokafka ``getmany`` loop that decodes every record with msgspec (singles), or
   every batch and its readings (batches), and sums the counts.
3. The real worker (``aiguilleur worker`` processes) on the same records with planning ON (the
   default OR-Tools planner, 1,000 junctions each period; the period's plans are computed in a
   planning process): readings per second read from the workers' own Prometheus counters while
   they drain the topic, per worker and as a ratio to the raw loop; and the CPU time the worker
   processes used per reading meanwhile (their planning processes excluded), against the raw
   loop's: on a loaded machine the rates follow the CPU share each process gets, the CPU per
   reading much less. The same single-reading run
   with ``AIGUILLEUR_PLANNING_PROCESSES=0`` (plans computed in the worker's event loop, as before
   issue 15) shows what planning in the loop costs ingest.
4. Scaling: 1, 2 and 4 workers on single readings (4 partitions).

``--profile [single|batched|inline]`` samples that worker run (default: the in-loop one) with py-spy
and prints where its time goes.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
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

from benchmarks import provenance
from graph.synthetic import city, write_city
from streams.events import TrafficCount, TrafficCountBatch
from streams.topics import TopicNames

REPO = Path(__file__).resolve().parents[1]
PARTITIONS = 4
BATCHED_FACTOR = 4
BATCH_RECORDS = 500
T0 = datetime(2026, 3, 10, 6, 0, tzinfo=UTC)
POLL_S = 0.25


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _bootstrap() -> str:
    kafka = REPO / "scripts" / "kafka.sh"
    status = subprocess.run(["bash", str(kafka), "status"], capture_output=True, check=False)
    if status.returncode != 0:
        subprocess.run(["bash", str(kafka), "start"], check=True)
    return subprocess.run(
        ["bash", str(kafka), "bootstrap"], check=True, capture_output=True, text=True
    ).stdout.strip()


def kafka_clients(boot: str) -> tuple[AIOKafkaAdminClient, AIOKafkaProducer]:
    """The benchmark's own admin client and producer (plaintext local broker)."""
    return (
        AIOKafkaAdminClient(bootstrap_servers=boot),
        AIOKafkaProducer(
            bootstrap_servers=boot, linger_ms=50, max_batch_size=512 * 1024, compression_type=None
        ),
    )


def _reading(det: str, k: int, n_dets: int) -> TrafficCount:
    end = T0 + timedelta(minutes=1 + k // n_dets)
    return TrafficCount(detector_id=det, interval_end=end, interval_s=60, count=k % 23)


async def produce(
    boot: str, topic: str, dets: list[str], n: int, gateways: dict[str, list[str]] | None
) -> float:
    """Create ``topic`` and produce ``n`` readings minute by minute: one record each, or with
    ``gateways``, one batch record per gateway and minute. Readings per second."""
    admin, producer = kafka_clients(boot)
    await admin.start()
    await admin.create_topics([NewTopic(topic, PARTITIONS, 1)])
    await admin.close()
    await producer.start()
    enc = msgspec.json.Encoder()
    started = time.perf_counter()
    try:
        if gateways is None:
            for i in range(n):
                det = dets[i % len(dets)]
                await producer.send(
                    topic, key=det.encode(), value=enc.encode(_reading(det, i, len(dets)))
                )
        else:
            index = {d: i for i, d in enumerate(dets)}
            sent = 0
            minute = 0
            while sent < n:
                for gw, members in gateways.items():
                    rows = tuple(
                        _reading(d, minute * len(dets) + index[d], len(dets)) for d in members
                    )[: n - sent]
                    if not rows:
                        break
                    batch = TrafficCountBatch(gateway_id=gw, readings=rows)
                    await producer.send(topic, key=gw.encode(), value=enc.encode(batch))
                    sent += len(rows)
                minute += 1
        await producer.flush()
    finally:
        await producer.stop()
    return n / (time.perf_counter() - started)


async def raw_loop(boot: str, topic: str, n: int, batched: bool) -> tuple[float, float]:
    """Baseline: consume and decode every record (and every reading of a batch) with a plain
    aiokafka loop; readings per second, and CPU microseconds per reading."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=boot,
        group_id=None,
        enable_auto_commit=False,
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    await consumer.start()
    single = msgspec.json.Decoder(TrafficCount)
    batch = msgspec.json.Decoder(TrafficCountBatch)
    try:
        tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        seen = total = 0
        started, cpu = time.perf_counter(), time.process_time()
        while seen < n:
            got = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            for msgs in got.values():
                for m in msgs:
                    if batched:
                        readings = batch.decode(m.value).readings
                        total += sum(r.count for r in readings)
                        seen += len(readings)
                    else:
                        total += single.decode(m.value).count
                        seen += 1
        cpu_us = 1e6 * (time.process_time() - cpu) / seen
        return seen / (time.perf_counter() - started), cpu_us
    finally:
        await consumer.stop()


def _cpu_s(pids: list[int]) -> float:
    """CPU seconds (user + system) the processes have used so far (their children excluded: the
    planning processes are not counted)."""
    tick = os.sysconf("SC_CLK_TCK")
    used = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        used += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return used


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


def worker_run(  # noqa: C901  # start, sample, stop: one timeline
    boot: str,
    tag: str,
    net: Path,
    reg: Path,
    n: int,
    extra_env: dict[str, str],
    workers: int = 1,
    profile: Path | None = None,
    settle: bool = True,
) -> dict[str, float]:
    """Run ``workers`` real worker processes on the topic and time them from their counters, over
    the part of the drain when all of them had joined (10% to 95% of the readings at least)."""
    ports = [_free_port() for _ in range(workers)]
    logs = [tempfile.NamedTemporaryFile(suffix=".log", delete=False) for _ in range(workers)]  # noqa: SIM115
    procs = []
    for port, log in zip(ports, logs, strict=True):
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
            "AIGUILLEUR_EVENT_TIME_REPLAY": "true",
            "AIGUILLEUR_STATE_DIR": tempfile.mkdtemp(),
            **extra_env,
        }
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "aiguilleur", "worker"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
    spy: subprocess.Popen[bytes] | None = None

    def total(name: str = 'aiguilleur_readings_total{outcome="accepted"}') -> float:
        return sum(_metric(p, name) for p in ports)

    try:
        deadline = time.monotonic() + 900
        t_a = n_a = None
        done = 0.0
        while time.monotonic() < deadline:
            done = total()
            now = time.perf_counter()
            up = (
                sum(1 for p in ports if _metric(p, "aiguilleur_zone_batches_total") > 0)
                if t_a is None
                else workers
            )
            if t_a is None and done >= 0.1 * n and up == workers:
                t_a, n_a, cpu_a = now, done, _cpu_s([p.pid for p in procs])
                if profile is not None:
                    spy = subprocess.Popen(
                        [
                            str(Path(sys.executable).parent / "py-spy"),
                            "record",
                            "--format",
                            "raw",
                            "-o",
                            str(profile),
                            "-d",
                            "20",
                            "-r",
                            "200",
                            "-p",
                            str(procs[0].pid),
                        ],
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
            if done >= 0.95 * n:
                break
            for proc, log in zip(procs, logs, strict=True):
                if proc.poll() is not None:
                    raise RuntimeError(f"worker exited: {Path(log.name).read_text()[-2000:]}")
            # Each scrape renders every metric in the worker's process: a few a second, so that
            # the measurement does not slow what it measures (the rate is counter over time, read
            # together, whatever the polling interval).
            time.sleep(POLL_S)
        t_b, n_b, cpu_b = time.perf_counter(), done, _cpu_s([p.pid for p in procs])
        # Then, unless told not to, until the zone stage (planning included) has caught up.
        zones, last_change = -1.0, time.perf_counter()
        while settle and time.perf_counter() - last_change < 5 and time.monotonic() < deadline:
            now_zones = total("aiguilleur_zone_batches_total")
            if now_zones != zones:
                zones, last_change = now_zones, time.perf_counter()
            time.sleep(0.1)
        plans = total("aiguilleur_plans_published_total")
        plan_s = total("aiguilleur_plan_compute_seconds_sum")
        if spy is not None:
            spy.wait(60)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(60)
        for log in logs:
            os.unlink(log.name)
    if t_a is None or n_a is None or done < 0.95 * n:
        raise RuntimeError(f"workers processed {done} of {n} readings")
    rate = (n_b - n_a) / (t_b - t_a)
    return {
        "rate": rate,
        "cpu_us": 1e6 * (cpu_b - cpu_a) / (n_b - n_a),
        "per_worker": rate / workers,
        "zone_batches": zones,
        "plans": plans if settle else float("nan"),
        "plan_s": plan_s,
    }


def profile_summary(path: Path, run: str) -> list[str]:
    """Where the sampled worker spent its time: share of samples under a few known frames."""
    samples = 0
    under: collections.Counter[str] = collections.Counter()
    leaves: collections.Counter[str] = collections.Counter()
    marks = {
        "planning (plan_junction and below, on the event loop)": "plan_junction",
        "waiting for I/O (selector)": "select (selectors.py",
        "aiokafka consumer/producer": "aiokafka/",
        "faust / mode machinery": "faust/",
        "ingest stage (run_ingest and below)": "run_ingest (streams/ingest.py",
        "ingest validation and regrouping: Ingest.prepare": "Ingest.prepare",
        "ingest sends: Ingest.deliver": "Ingest.deliver",
        "ingest fetch: AIOKafkaConsumer.getmany": "AIOKafkaConsumer.getmany",
        "zone stage: Zones.handle": "Zones.handle",
        "msgspec decode": "decode (",
    }
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        k = int(count)
        samples += k
        for label, needle in marks.items():
            if needle in stack:
                under[label] += k
        leaves[stack.split(";")[-1].split(" (")[0]] += k
    out = [f"py-spy, {samples} samples of the worker ({run} run):"]
    for label, k in under.most_common():
        out.append(f"- {label}: {100 * k / max(1, samples):.0f}% of samples")
    out.append(
        "- hottest leaf frames: "
        + ", ".join(f"{name} {100 * k / max(1, samples):.0f}%" for name, k in leaves.most_common(5))
    )
    return out


def main() -> None:  # noqa: PLR0915, C901  # one report, written in order
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--readings", type=int, default=200_000)
    ap.add_argument("--junctions", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=32, help="readings per gateway batch record")
    ap.add_argument("--workers", default="1,2,4", help="worker counts for the scaling rows")
    ap.add_argument(
        "--runs", default="single,batched,inline,scaling", help="which worker runs to make"
    )
    ap.add_argument(
        "--profile",
        nargs="?",
        const="inline",
        choices=["single", "batched", "inline"],
        help="py-spy this worker run (default: inline, the in-loop planning run)",
    )
    ap.add_argument(
        "--no-settle",
        action="store_true",
        help="stop each worker once it has ingested, without waiting for its planning to catch up "
        "(quicker; no plans count)",
    )
    ap.add_argument("--write", type=Path, help="also write the report (Markdown) to this file")
    args = ap.parse_args()
    lines: list[str] = []

    def out(line: str) -> None:
        print(line, flush=True)
        lines.append(line)

    commit = provenance.commit()  # the code measured: read at the start
    boot = _bootstrap()
    tag = "bench" + uuid.uuid4().hex[:8]
    folder = Path(tempfile.mkdtemp())
    network = city(args.junctions)
    net, reg, mapping = write_city(network, folder)
    dets = list(mapping)
    zone_of = {j.id: j.zone_id for j in network.junctions}
    gateways: dict[str, list[str]] = {}
    for det, approach in mapping.items():
        gateways.setdefault(zone_of[approach.split(":")[0]], []).append(det)
    gateways = {
        f"{gw}-{k}": members[k : k + args.batch]
        for gw, members in gateways.items()
        for k in range(0, len(members), args.batch)
    }
    n = args.readings
    load_before = os.getloadavg()

    def topic(run: str, batched: bool) -> str:
        t = TopicNames(f"{tag}{run}")
        return t.count_batches if batched else t.counts

    wanted = set(args.runs.split(","))
    # Batches carry BATCHED_FACTOR times the readings, so that the drain lasts as long, and the
    # worker fetches 500 batch records at a time (16,000 readings of 32) rather than 5,000.
    nb = BATCHED_FACTOR * n
    prod_single = asyncio.run(produce(boot, topic("s", False), dets, n, None))
    raw_singles = asyncio.run(raw_loop(boot, topic("s", False), n, False))
    prod_batch = asyncio.run(produce(boot, topic("b", True), dets, nb, gateways))
    raw_batches = asyncio.run(raw_loop(boot, topic("b", True), nb, True))

    runs: dict[str, dict[str, float]] = {}
    settle = not args.no_settle
    spy_path = folder / "profile.txt" if args.profile else None

    def spy(run: str) -> Path | None:
        return spy_path if args.profile == run else None

    if "single" in wanted or "scaling" in wanted:
        runs["single"] = worker_run(
            boot, f"{tag}s", net, reg, n, {}, profile=spy("single"), settle=settle
        )
    if "batched" in wanted:
        runs["batched"] = worker_run(
            boot,
            f"{tag}b",
            net,
            reg,
            nb,
            {"AIGUILLEUR_INGEST_BATCH": str(BATCH_RECORDS)},
            profile=spy("batched"),
            settle=settle,
        )
    if "inline" in wanted:
        asyncio.run(produce(boot, topic("i", False), dets, n, None))
        runs["inline"] = worker_run(
            boot,
            f"{tag}i",
            net,
            reg,
            n,
            {"AIGUILLEUR_PLANNING_PROCESSES": "0"},
            profile=spy("inline"),
            settle=settle,
        )
    scaling: dict[int, dict[str, float]] = {1: runs["single"]} if "single" in runs else {}
    for k in (int(x) for x in args.workers.split(",") if "scaling" in wanted):
        if k == 1:
            continue
        asyncio.run(produce(boot, topic(f"w{k}", False), dets, 2 * n, None))
        scaling[k] = worker_run(boot, f"{tag}w{k}", net, reg, 2 * n, {}, workers=k, settle=settle)
    load_after = os.getloadavg()

    cpu = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        ),
        platform.processor(),
    )
    out(
        f"# streams benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, commit {commit}, "
        f"{os.cpu_count()} cores, {cpu}"
    )
    out(
        f"# {n} readings, {len(dets)} detectors, {args.junctions} junctions in "
        f"{len({j.zone_id for j in network.junctions})} zones, {PARTITIONS} partitions, "
        "same broker; "
        f"planning ON (OR-Tools planner, every junction each 5-minute period); load average "
        f"{load_before[0]:.1f} before, {load_after[0]:.1f} after"
    )
    out("")
    out(
        "| run | readings/s per worker | ratio to raw loop | CPU µs per reading | "
        "CPU ratio (raw / run) | plans | planning CPU s |"
    )
    out("|---|---:|---:|---:|---:|---:|---:|")
    (raw_single, raw_single_cpu), (raw_batch, raw_batch_cpu) = raw_singles, raw_batches
    out(
        f"| raw aiokafka getmany + msgspec decode, single readings | {raw_single:,.0f} | 1.00 | "
        f"{raw_single_cpu:.1f} | 1.00 | | |"
    )
    out(
        f"| raw loop, gateway batches of {args.batch} (baseline) | {raw_batch:,.0f} | 1.00 | "
        f"{raw_batch_cpu:.1f} | 1.00 | | |"
    )
    for key, label, raw, raw_cpu in (
        (
            "single",
            "worker, single readings, planning in a planning process (default)",
            raw_single,
            raw_single_cpu,
        ),
        (
            "batched",
            f"worker, gateway batches of {args.batch}, planning process",
            raw_batch,
            raw_batch_cpu,
        ),
        (
            "inline",
            "worker, single readings, planning in the event loop (before)",
            raw_single,
            raw_single_cpu,
        ),
    ):
        if key not in runs:
            continue
        r = runs[key]
        plans = f"{r['plans']:,.0f} | {r['plan_s']:.1f}" if settle else "not waited for | "
        out(
            f"| {label} | {r['per_worker']:,.0f} | {r['per_worker'] / raw:.2f} | "
            f"{r['cpu_us']:.1f} | {raw_cpu / r['cpu_us']:.2f} | {plans} |"
        )
    out(
        f"| (producer, single readings) | {prod_single:,.0f} | {prod_single / raw_single:.2f} "
        "| | | | |"
    )
    out(f"| (producer, batches) | {prod_batch:,.0f} | {prod_batch / raw_batch:.2f} | | | | |")
    out("")
    out(f"Scaling, single readings ({2 * n} readings each run), planning process per worker:")
    out("")
    out(
        "| workers | readings/s, all | per worker | ratio to 1 worker | ratio to raw loop | "
        "CPU µs per reading |"
    )
    out("|---:|---:|---:|---:|---:|---:|")
    base = scaling[1]["rate"] if 1 in scaling else float("nan")
    for k, r in sorted(scaling.items()):
        out(
            f"| {k} | {r['rate']:,.0f} | {r['per_worker']:,.0f} | {r['rate'] / base:.2f} | "
            f"{r['rate'] / raw_single:.2f} | {r['cpu_us']:.1f} |"
        )
    if spy_path is not None and spy_path.exists():
        print(f"(py-spy raw samples: {spy_path})", file=sys.stderr)
        out("")
        for line in profile_summary(spy_path, args.profile or ""):
            out(line)
    if args.write:
        args.write.write_text("# Streams pipeline benchmark\n\n" + "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
