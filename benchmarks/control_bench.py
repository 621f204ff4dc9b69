"""Live-control decisions through Kafka against the same decisions in process, in the same run.

    .venv/bin/python -m benchmarks.control_bench [--states 20000] [--junctions 200] [--pings 200]

1. A synthetic city (four-arm junctions, zones of 8), an approved envelope for every junction,
   and N junction states (random queues and approaching vehicles) on a 4-partition topic.
2. Baseline: the control stage's own work in this process, without Kafka: decode each state,
   decide with the adaptive controller, check the decision against the envelope, encode it.
3. The real worker (``AIGUILLEUR_CONTROLLER=adaptive``, a separate process) on the same states:
   its rate is read from its Prometheus counter ``aiguilleur_decisions_published_total``.
4. Round trip, the twin's lockstep: one state sent, wait for its decision, ``--pings`` times.

Prints rates, the ratio to the baseline, and round-trip percentiles.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from aiguilleur.approval import approvals, publish
from aiguilleur.worker import ensure_topics
from benchmarks.streams_bench import PARTITIONS, _bootstrap, _free_port, _metric
from graph.model import Network
from graph.synthetic import city, write_city
from optimizer.strategy import JunctionState, MovementState, PhaseState
from streams.context import StreamsConfig
from streams.control import decision_event, envelope_violations, to_report, to_state
from streams.envelopes import EnvelopeTable
from streams.events import JunctionStateReport, SignalDecision
from streams.kafka import KafkaConnection
from streams.topics import TopicNames

T0 = datetime(2026, 3, 10, 8, 0, tzinfo=UTC)


def states(network: Network, n: int, seed: int = 3) -> list[tuple[bytes, bytes]]:
    """``n`` junction-state records (key = zone), junction after junction, 2 s apart."""
    rng = random.Random(seed)
    enc = msgspec.json.Encoder()
    out = []
    js = list(network.junctions)
    for i in range(n):
        j = js[i % len(js)]
        k = i // len(js)
        st = JunctionState(
            junction_id=j.id,
            time_s=0.0,
            current_phase=k % len(j.phases),
            phase_elapsed_s=float(rng.choice((3, 7, 15, 30, 60))),
            cycle_elapsed_s=float(rng.choice((10, 40, 80))),
            phases=tuple(
                PhaseState(
                    index=p.index,
                    movements=tuple(
                        MovementState(
                            id=m,
                            queue_veh=float(rng.randint(0, 15)),
                            approaching_veh=tuple(
                                sorted(
                                    round(rng.uniform(0, 40), 1) for _ in range(rng.randint(0, 6))
                                )
                            ),
                        )
                        for m in p.movement_ids
                    ),
                )
                for p in j.phases
            ),
        )
        report = to_report(st, j.zone_id, T0 + timedelta(seconds=2 * k))
        out.append((j.zone_id.encode(), enc.encode(report)))
    return out


def in_process(
    network: Network, envelopes: EnvelopeTable, recs: list[tuple[bytes, bytes]]
) -> float:
    """Baseline: the stage's work per state without Kafka; decisions per second."""
    dec = msgspec.json.Decoder(JunctionStateReport)
    enc = msgspec.json.Encoder()
    del network
    t0 = time.perf_counter()
    for _, value in recs:
        report = dec.decode(value)
        approved = envelopes.get(report.junction_id)
        assert approved is not None
        state = to_state(report)
        d = approved.controller.decide(state)
        assert not envelope_violations(approved.envelope, state, d)
        enc.encode(decision_event(report, d, approved))
    return len(recs) / (time.perf_counter() - t0)


async def produce(boot: str, topic: str, recs: list[tuple[bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=boot, linger_ms=50, max_batch_size=256 * 1024)
    await producer.start()
    try:
        for key, value in recs:
            await producer.send(topic, key=key, value=value)
        await producer.flush()
    finally:
        await producer.stop()


async def pings(boot: str, topics: TopicNames, recs: list[tuple[bytes, bytes]]) -> list[float]:
    """Send one state at a time and wait for its decision; round trips in seconds."""
    dec = msgspec.json.Decoder(SignalDecision)
    sdec = msgspec.json.Decoder(JunctionStateReport)
    producer = AIOKafkaProducer(bootstrap_servers=boot, acks="all")
    consumer = AIOKafkaConsumer(bootstrap_servers=boot, group_id=None, enable_auto_commit=False)
    await producer.start()
    await consumer.start()
    try:
        tps = [TopicPartition(topics.decisions, p) for p in range(PARTITIONS)]
        consumer.assign(tps)
        await consumer.seek_to_end(*tps)
        for tp in tps:  # resolve the end positions now, not at the first fetch
            await consumer.position(tp)
        out = []
        for key, value in recs:
            want = sdec.decode(value)
            t0 = time.perf_counter()
            await (await producer.send(topics.junction_states, key=key, value=value))
            got = False
            while not got:
                batch = await consumer.getmany(timeout_ms=1000)
                for msgs in batch.values():
                    for m in msgs:
                        d = dec.decode(m.value or b"")
                        got |= (d.junction_id, d.observed_at) == (
                            want.junction_id,
                            want.observed_at,
                        )
            out.append(time.perf_counter() - t0)
        return out
    finally:
        await consumer.stop()
        await producer.stop()


def worker_run(
    boot: str,
    topics: TopicNames,
    net: Path,
    reg: Path,
    n: int,
    later: list[tuple[bytes, bytes]],
) -> tuple[float, list[float]]:
    """The real worker on the states already produced (its rate, from its own counter), then the
    round trips of ``later``, sent one at a time."""
    tag = topics.namespace
    port = _free_port()
    env = {
        **os.environ,
        "AIGUILLEUR_KAFKA_BOOTSTRAP": boot,
        "AIGUILLEUR_APP_ID": tag,
        "AIGUILLEUR_TOPIC_NAMESPACE": tag,
        "AIGUILLEUR_NETWORK_FILE": str(net),
        "AIGUILLEUR_DETECTOR_REGISTRY": str(reg),
        "AIGUILLEUR_METRICS_PORT": str(port),
        "AIGUILLEUR_PARTITIONS": str(PARTITIONS),
        "AIGUILLEUR_CONTROLLER": "adaptive",
        "AIGUILLEUR_LOG_LEVEL": "warn",
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
            done = 0.0
            deadline = time.monotonic() + 600
            while done < n and time.monotonic() < deadline:
                done = _metric(port, "aiguilleur_decisions_published_total")
                if first_t is None and done > 0:
                    first_t, first_n = time.perf_counter(), done
                if proc.poll() is not None:
                    log.seek(0)
                    raise RuntimeError(f"worker exited: {log.read().decode()[-2000:]}")
                time.sleep(0.05)
            end_t = time.perf_counter()
            if first_t is None or first_n is None or done < n:
                raise RuntimeError(f"worker decided {done} of {n} states")
            rate = (n - first_n) / (end_t - first_t)
            rtt = asyncio.run(pings(boot, topics, later))
        finally:
            proc.terminate()
            proc.wait(60)
    return rate, rtt


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--states", type=int, default=20_000)
    ap.add_argument("--junctions", type=int, default=200)
    ap.add_argument("--pings", type=int, default=200)
    ap.add_argument("--write", type=Path, help="also write the report (Markdown) to this file")
    args = ap.parse_args()
    lines: list[str] = []

    def out(line: str) -> None:
        print(line)
        lines.append(line)

    boot = _bootstrap()
    tag = "cbench" + uuid.uuid4().hex[:8]
    folder = Path(tempfile.mkdtemp())
    network = city(args.junctions)
    net, reg, _ = write_city(network, folder)
    topics = TopicNames(tag)
    cfg = StreamsConfig(
        app_id=tag,
        kafka=KafkaConnection(boot),
        partitions=PARTITIONS,
        replication_factor=1,
        state_dir=str(folder / "state"),
        ingest_batch=5000,
        ingest_within_s=0.2,
        lateness_s=60,
        session_timeout_s=10,
    )
    asyncio.run(ensure_topics(cfg, topics, control=True))
    events = approvals(network, None, approved_by="bench", approved_at=datetime.now(UTC))
    asyncio.run(publish(cfg, topics.envelopes, events))
    table = EnvelopeTable("adaptive")
    for ev in events:
        table.apply(ev.junction_id.encode(), msgspec.json.encode(ev))
    recs = states(network, args.states)
    base = in_process(network, table, recs)
    asyncio.run(produce(boot, topics.junction_states, recs))

    later = [
        (k, v.replace(b"2026-03-10", b"2026-03-11"))
        for k, v in states(network, args.pings, seed=11)
    ]
    rate, rtt = worker_run(boot, topics, net, reg, args.states, later)
    cpu = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        ),
        "",
    )
    q = statistics.quantiles(rtt, n=20)
    now = datetime.now(UTC)
    out(f"# control benchmark, {now:%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, {cpu}")
    out(
        f"# {args.states} junction states, {args.junctions} junctions, adaptive controller, "
        f"{PARTITIONS} partitions, one worker process, same broker"
    )
    out("| run | decisions/s | ratio to in process |")
    out("|---|---:|---:|")
    out(f"| in process: decode, decide, check, encode (baseline) | {base:,.0f} | 1.00 |")
    out(f"| worker through Kafka (control stage) | {rate:,.0f} | {rate / base:.2f} |")
    out("")
    out(
        f"round trip, one state at a time ({len(rtt)}): "
        f"median {statistics.median(rtt) * 1000:.1f} ms, "
        f"p95 {q[18] * 1000:.1f} ms, max {max(rtt) * 1000:.1f} ms"
    )
    out(f"load average at the end: {os.getloadavg()[0]:.1f} (1 min)")
    if args.write:
        args.write.write_text("# Live-control benchmark\n\n" + "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
