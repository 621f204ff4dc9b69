"""Soak: a large city's live feed for half an hour, watched by a real Prometheus.

    .venv/bin/python -m benchmarks.soak [--minutes 30] [--junctions 4000] [--write FILE]

- A synthetic city of ``--junctions`` four-arm crossroads (4 lanes per arm), 16 detectors each
  (one per lane), zones of 8 junctions, and a worker (``aiguilleur worker``, default settings:
  live event-time bounds, OR-Tools planner in a planning process) on the local broker.
- Every 30 s, every detector's count for the 30 s just ended, dated by the wall clock: half the
  junctions send one record per detector, the other half one gateway batch per junction.
- Debian's ``prometheus`` (started here on a loopback port, stopped after) scrapes the worker
  every 5 s and evaluates ``deploy/prometheus/rules.yml``.
- Every 10 s: the worker's memory (its own and its planning process's resident set), the ingest
  group's lag (records not yet committed) and the worker's watermark lag.
- At the end: every query of ``deploy/grafana/aiguilleur.json`` is run against Prometheus and must
  return data; no alert may have fired; memory and lag figures are printed.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from datetime import UTC, datetime
from pathlib import Path

import msgspec
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from benchmarks import provenance
from benchmarks.streams_bench import REPO, _bootstrap, _free_port
from graph.model import Network
from graph.synthetic import ARMS, crossroads
from streams.events import TrafficCount, TrafficCountBatch
from streams.topics import TopicNames

INTERVAL_S = 30
DETECTORS_PER_ARM = 4
WRONG_CLOCK_PER_INTERVAL = 5


def soak_city(junctions: int, folder: Path) -> tuple[Path, Path, dict[str, list[str]]]:
    """Network JSON, registry CSV (by approach id), and the detectors of each junction."""
    net = Network(
        source="synthetic-soak",
        source_sha256="5" * 64,
        junctions=tuple(
            crossroads(
                f"J{i:05d}",
                f"Z{i // 8:04d}",
                i * 10 + 1,
                45.0 + i * 1e-4,
                4.8,
                lanes=dict.fromkeys(ARMS, DETECTORS_PER_ARM),
            )
            for i in range(junctions)
        ),
    )
    net_path = folder / "network.json"
    net_path.write_bytes(msgspec.json.encode(net))
    reg_path = folder / "detectors.csv"
    dets: dict[str, list[str]] = {}
    with reg_path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["detector_id", "junction_id", "approach_id", "lanes"])
        for j in net.junctions:
            for a in j.approaches:
                for lane in range(DETECTORS_PER_ARM):
                    det = f"D-{a.id.replace(':', '-')}-{lane}"
                    w.writerow([det, j.id, a.id, 1])
                    dets.setdefault(j.id, []).append(det)
    return net_path, reg_path, dets


async def feed(
    boot: str, topics: TopicNames, dets: dict[str, list[str]], until: float, stop: asyncio.Event
) -> int:
    """Every 30 s until ``until`` (monotonic), every detector's count; readings sent."""
    producer = AIOKafkaProducer(bootstrap_servers=boot, linger_ms=20, acks="all")
    await producer.start()
    enc = msgspec.json.Encoder()
    sent = 0
    junctions = sorted(dets)
    try:
        while time.monotonic() < until and not stop.is_set():
            now = time.time()
            end = datetime.fromtimestamp(now // INTERVAL_S * INTERVAL_S, tz=UTC)
            for k, jid in enumerate(junctions):
                readings = [
                    TrafficCount(
                        detector_id=d,
                        interval_end=end,
                        interval_s=INTERVAL_S,
                        count=(hash((d, end)) % 9),
                    )
                    for d in dets[jid]
                ]
                if k % 2:
                    batch = TrafficCountBatch(gateway_id=f"GW-{jid}", readings=tuple(readings))
                    await producer.send(
                        topics.count_batches, key=batch.gateway_id.encode(), value=enc.encode(batch)
                    )
                else:
                    for r in readings:
                        await producer.send(
                            topics.counts, key=r.detector_id.encode(), value=enc.encode(r)
                        )
                sent += len(readings)
            # A few readings from a sensor whose clock says 9999: refused, dead-lettered, counted.
            wrong = TrafficCount(
                detector_id=dets[junctions[0]][0],
                interval_end=datetime(9999, 1, 1, tzinfo=UTC),
                interval_s=INTERVAL_S,
                count=1,
            )
            for _ in range(WRONG_CLOCK_PER_INTERVAL):
                await producer.send(
                    topics.counts, key=wrong.detector_id.encode(), value=enc.encode(wrong)
                )
            await producer.flush()
            next_at = (now // INTERVAL_S + 1) * INTERVAL_S + 1
            with_stop = asyncio.create_task(stop.wait())
            await asyncio.wait({with_stop}, timeout=max(0.0, next_at - time.time()))
            with_stop.cancel()
    finally:
        await producer.stop()
    return sent


async def ingest_lag(boot: str, group: str, topics: list[str]) -> int:
    """Records of ``topics`` not yet committed by ``group``."""
    admin = AIOKafkaAdminClient(bootstrap_servers=boot)
    consumer = AIOKafkaConsumer(bootstrap_servers=boot)
    await admin.start()
    await consumer.start()
    try:
        tps = [TopicPartition(t, p) for t in topics for p in consumer.partitions_for_topic(t) or ()]
        ends = await consumer.end_offsets(tps) if tps else {}
        committed = await admin.list_consumer_group_offsets(group)
        return sum(
            end - (committed[tp].offset if tp in committed else 0) for tp, end in ends.items()
        )
    finally:
        await consumer.stop()
        await admin.close()


def rss_kb(pid: int) -> int:
    """Resident set of ``pid`` and its children (kB)."""
    total = 0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(c) for c in children.read_text().split()]
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total


def metric(port: int, name: str) -> float:
    try:
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
    except OSError:
        return float("nan")
    values = [
        float(line.rsplit(" ", 1)[1])
        for line in body.splitlines()
        if line.startswith(name) and not line.startswith("#")
    ]
    return sum(values) if values else float("nan")


def prom_query(port: int, query: str) -> list[dict[str, object]]:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": query})
    try:
        body = json.loads(urllib.request.urlopen(url, timeout=10).read())
    except urllib.error.HTTPError as e:
        raise RuntimeError(f"Prometheus refused {query!r}: {e.read()[:300]!r}") from e
    assert body["status"] == "success", body
    return list(body["data"]["result"])


def dashboard_queries() -> list[tuple[str, str]]:
    """(panel title, expression) of every Grafana query, variables set for this run."""
    board = json.loads((REPO / "deploy" / "grafana" / "aiguilleur.json").read_text())
    out = []
    for panel in board["panels"]:
        for target in panel.get("targets", []):
            expr = (
                target["expr"]
                .replace('"$namespace"', '".*"')
                .replace('"$job"', '"aiguilleur"')
                .replace("$__rate_interval", "1m")
            )
            out.append((panel.get("title", ""), expr))
    return out


def start_prometheus(folder: Path, target: str) -> tuple[subprocess.Popen[bytes], int]:
    port = _free_port()
    rules = folder / "rules.yml"
    shutil.copy(REPO / "deploy" / "prometheus" / "rules.yml", rules)
    (folder / "prometheus.yml").write_text(
        "global:\n  scrape_interval: 5s\n  evaluation_interval: 15s\n"
        f"rule_files:\n  - {rules}\n"
        "scrape_configs:\n  - job_name: aiguilleur\n"
        f"    static_configs:\n      - targets: ['{target}']\n"
    )
    proc = subprocess.Popen(
        [
            "prometheus",
            f"--config.file={folder / 'prometheus.yml'}",
            f"--storage.tsdb.path={folder / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=(folder / "prometheus.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    return proc, port


async def soak(args: argparse.Namespace, out: list[str]) -> bool:  # noqa: PLR0915  # one timeline
    commit = provenance.commit()  # the code measured: read at the start, not 30 minutes later
    boot = _bootstrap()
    tag = "soak" + uuid.uuid4().hex[:6]
    folder = Path(tempfile.mkdtemp(prefix="aiguilleur-soak-"))
    net, reg, dets = soak_city(args.junctions, folder)
    topics = TopicNames(tag)
    metrics_port = _free_port()
    env = {
        **os.environ,
        "AIGUILLEUR_KAFKA_BOOTSTRAP": boot,
        "AIGUILLEUR_APP_ID": tag,
        "AIGUILLEUR_TOPIC_NAMESPACE": tag,
        "AIGUILLEUR_NETWORK_FILE": str(net),
        "AIGUILLEUR_DETECTOR_REGISTRY": str(reg),
        "AIGUILLEUR_METRICS_PORT": str(metrics_port),
        "AIGUILLEUR_STATE_DIR": str(folder / "state"),
        "AIGUILLEUR_LOG_LEVEL": "warn",
    }
    log = (folder / "worker.log").open("wb")
    worker = subprocess.Popen(
        [sys.executable, "-m", "aiguilleur", "worker"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    prom, prom_port = start_prometheus(folder, f"127.0.0.1:{metrics_port}")
    samples: list[tuple[float, int, int, float, float]] = []
    ok = True
    try:
        while metric(metrics_port, "aiguilleur_zone_batches_total") != 0.0:  # NaN: not up yet
            if worker.poll() is not None:
                raise RuntimeError("the worker exited: " + (folder / "worker.log").read_text())
            await asyncio.sleep(1)
        t0 = time.monotonic()
        stop = asyncio.Event()
        feeding = asyncio.create_task(feed(boot, topics, dets, t0 + args.minutes * 60, stop))
        while not feeding.done():
            await asyncio.sleep(10)
            if worker.poll() is not None:
                stop.set()
                raise RuntimeError(
                    "the worker exited: " + (folder / "worker.log").read_text()[-2000:]
                )
            lag = await ingest_lag(boot, f"{tag}-ingest", [topics.counts, topics.count_batches])
            samples.append(
                (
                    time.monotonic() - t0,
                    rss_kb(worker.pid),
                    lag,
                    metric(metrics_port, "aiguilleur_zone_watermark_lag_seconds"),
                    metric(metrics_port, 'aiguilleur_readings_total{outcome="accepted"}'),
                )
            )
        sent = await feeding
        await asyncio.sleep(20)  # the last scrapes and rule evaluations
        results = [
            (title, expr, prom_query(prom_port, expr)) for title, expr in dashboard_queries()
        ]
        fired = prom_query(
            prom_port, f'max_over_time(ALERTS{{alertstate="firing"}}[{int(args.minutes) + 5}m])'
        )
        pending = prom_query(
            prom_port, f'max_over_time(ALERTS{{alertstate="pending"}}[{int(args.minutes) + 5}m])'
        )
        rules_body = json.loads(
            urllib.request.urlopen(f"http://127.0.0.1:{prom_port}/api/v1/rules", timeout=10).read()
        )
        rules = [r for g in rules_body["data"]["groups"] for r in g["rules"]]
        plans = metric(metrics_port, "aiguilleur_plans_published_total")
        dead = metric(metrics_port, "aiguilleur_dead_letters_total")
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(60)
        prom.terminate()
        prom.wait(30)
    warm = [s for s in samples if s[0] >= 300] or samples
    first = [s[1] for s in warm[: max(1, len(warm) // 5)]]
    last = [s[1] for s in warm[-max(1, len(warm) // 5) :]]
    rate = (samples[-1][4] - samples[0][4]) / (samples[-1][0] - samples[0][0])
    out.append(
        f"# soak, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, commit {commit}, {os.cpu_count()} cores, "
        f"load average {os.getloadavg()[0]:.1f} at the end"
    )
    out.append(
        f"# {args.minutes} min; {args.junctions} junctions x 16 detectors = "
        f"{sum(map(len, dets.values())):,} detectors every {INTERVAL_S} s (half one record per "
        "reading, half one gateway batch per junction); one worker, default settings; "
        "Prometheus 5 s scrapes"
    )
    out.append("")
    out.append("| figure | value |")
    out.append("|---|---:|")
    out.append(f"| readings sent | {sent:,} |")
    out.append(f"| readings accepted per second (mean) | {rate:,.0f} |")
    out.append(f"| plans published | {plans:,.0f} |")
    out.append(f"| dead letters | {dead:,.0f} |")
    out.append(
        f"| worker + planning process resident memory, first fifth after 5 min (MB, mean) | "
        f"{sum(first) / len(first) / 1024:,.0f} |"
    )
    out.append(f"| same, last fifth (MB, mean) | {sum(last) / len(last) / 1024:,.0f} |")
    out.append(f"| ingest lag, max (records) | {max(s[2] for s in samples):,} |")
    out.append(f"| ingest lag, last sample (records) | {samples[-1][2]:,} |")
    out.append(f"| watermark lag, max (s) | {max(s[3] for s in samples if s[3] == s[3]):,.0f} |")
    out.append("")
    empty = [(t, e) for t, e, r in results if not r]
    out.append(
        f"Grafana queries returning data: {len(results) - len(empty)} of {len(results)}"
        + ("" if not empty else "; empty: " + "; ".join(t for t, _ in empty))
    )
    unhealthy = [r["name"] for r in rules if r.get("health") != "ok"]
    fired_names = ", ".join(sorted({str(a["metric"]["alertname"]) for a in fired}))  # type: ignore[index]
    pending_names = ", ".join(sorted({str(a["metric"]["alertname"]) for a in pending}))  # type: ignore[index]
    out.append(
        f"Alert rules evaluated: {len(rules)} (unhealthy: {', '.join(unhealthy) or 'none'}); "
        f"fired during the run: {fired_names or 'none'}; "
        f"pending at some point: {pending_names or 'none'}"
    )
    if empty or fired or unhealthy:
        ok = False
    if last and first and sum(last) / len(last) > 1.2 * sum(first) / len(first):
        out.append("memory grew by more than 20% between the first and the last fifth")
        ok = False
    (folder / "samples.csv").write_text(
        "t_s,rss_kb,ingest_lag,watermark_lag_s,accepted\n"
        + "\n".join(",".join(str(v) for v in s) for s in samples)
    )
    out.append(f"samples: {folder / 'samples.csv'}")
    return ok


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--junctions", type=int, default=4000)
    ap.add_argument("--write", type=Path)
    args = ap.parse_args()
    lines: list[str] = []
    ok = asyncio.run(soak(args, lines))
    for line in lines:
        print(line)
    if args.write:
        args.write.write_text("# Soak\n\n" + "\n".join(lines) + "\n")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
