"""Integration fixtures: the real local Kafka broker (scripts/kafka.sh) and real worker
processes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiokafka.structs import TopicPartition

from aiguilleur.follow import Record, records
from streams import kafka
from streams.kafka import KafkaConnection
from streams.topics import TopicNames

REPO = Path(__file__).resolve().parents[2]
KAFKA = REPO / "scripts" / "kafka.sh"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test under tests/integration says so (``pytestmark = pytest.mark.integration``), so
    that ``-m "not integration"`` leaves out exactly what needs a broker, SUMO or the ops tools."""
    here = Path(__file__).parent
    unmarked = sorted(
        {
            str(item.path.relative_to(REPO))
            for item in items
            if here in item.path.parents and item.get_closest_marker("integration") is None
        }
    )
    if unmarked:
        raise pytest.UsageError(
            f"integration tests without pytestmark = pytest.mark.integration: {', '.join(unmarked)}"
        )


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """host:port of a running broker: AIGUILLEUR_TEST_KAFKA_BOOTSTRAP, or the project's local
    broker."""
    given = os.environ.get("AIGUILLEUR_TEST_KAFKA_BOOTSTRAP")
    if given:
        yield given
        return
    running = (
        subprocess.run(["bash", str(KAFKA), "status"], capture_output=True, check=False).returncode
        == 0
    )
    if not running:
        subprocess.run(["bash", str(KAFKA), "start"], check=True)
    boot = subprocess.run(
        ["bash", str(KAFKA), "bootstrap"], check=True, capture_output=True, text=True
    )
    yield boot.stdout.strip()
    if not running:
        subprocess.run(["bash", str(KAFKA), "stop"], check=True)


@pytest.fixture(scope="session")
def kafka_sasl_env() -> Iterator[dict[str, str]]:
    """The ``AIGUILLEUR_KAFKA_*`` variables (bootstrap, SCRAM-SHA-512 user and password, CA file)
    of the local broker that speaks only SASL over TLS (``scripts/kafka.sh start --sasl``):
    scripts/test.sh starts it; started (and stopped) here otherwise."""
    sasl = ["bash", str(KAFKA)]
    running = (
        subprocess.run([*sasl, "status", "--sasl"], capture_output=True, check=False).returncode
        == 0
    )
    if not running:
        subprocess.run([*sasl, "start", "--sasl"], check=True)
    out = subprocess.run(
        [*sasl, "env", "--sasl"], check=True, capture_output=True, text=True
    ).stdout
    yield dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    if not running:
        subprocess.run([*sasl, "stop", "--sasl"], check=True)


def env_connection(env: dict[str, str], **override: str) -> KafkaConnection:
    """The connection the ``AIGUILLEUR_KAFKA_*`` variables of ``env`` describe, as a process
    started with ``env`` makes it (``override``: fields to change)."""
    fields: dict[str, str | None] = {
        "bootstrap": env["AIGUILLEUR_KAFKA_BOOTSTRAP"],
        "sasl_username": env.get("AIGUILLEUR_KAFKA_SASL_USERNAME"),
        "sasl_password": env.get("AIGUILLEUR_KAFKA_SASL_PASSWORD"),
        "sasl_mechanism": env.get("AIGUILLEUR_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512"),
        "ssl_cafile": env.get("AIGUILLEUR_KAFKA_SSL_CAFILE"),
        **override,
    }
    return KafkaConnection(**fields)  # type: ignore[arg-type]  # str, not the Literal


@dataclass
class WorkerProcess:
    """A real ``aiguilleur worker`` process with its own app id and topic namespace."""

    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    logs: list[Path] = field(default_factory=list)

    def start(self) -> None:
        n = len(self.logs)
        path = self.log_path.with_suffix(f".{n}.log")
        self.logs.append(path)
        with path.open("wb") as log:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "aiguilleur", "worker"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout)
        self.proc = None
        return code

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_text(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in self.logs if p.exists())

    async def wait_ready(self, timeout_s: float = 120) -> None:
        """Until this start's log says the worker is ready and its ingest group has joined."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            text = self.logs[-1].read_text(errors="replace") if self.logs[-1].exists() else ""
            if "]: Ready" in text and "event=ingest_started" in text:
                return
            if not self.alive():
                raise RuntimeError(f"worker exited: {text[-2000:]}")
            await asyncio.sleep(0.2)
        raise TimeoutError(f"worker not ready after {timeout_s:g} s")


def isolated_pipeline(tmp_path: Path, kafka_env: dict[str, str], tag: str) -> dict[str, str]:
    """Environment of one isolated pipeline: app id and namespace ``tag``, the small fixture
    network, Webster plans, and ``kafka_env`` (how to reach the broker)."""
    from tests.fixtures.networks import write_fixture

    net, reg, _ = write_fixture(tmp_path)
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("AIGUILLEUR_KAFKA_")}
    return {
        **inherited,
        **kafka_env,
        "AIGUILLEUR_APP_ID": tag,
        "AIGUILLEUR_TOPIC_NAMESPACE": tag,
        "AIGUILLEUR_NETWORK_FILE": str(net),
        "AIGUILLEUR_DETECTOR_REGISTRY": str(reg),
        "AIGUILLEUR_METRICS_PORT": "0",
        "AIGUILLEUR_STATE_DIR": str(tmp_path / "state"),
        "AIGUILLEUR_LATENESS_S": "60",
        "AIGUILLEUR_CONTROL_PERIOD_S": "300",
        "AIGUILLEUR_SESSION_TIMEOUT_S": "6",
        "AIGUILLEUR_PARTITIONS": "4",
        "AIGUILLEUR_LOG_LEVEL": "info",
        "AIGUILLEUR_PLANNER": "webster",  # the tests recompute Webster independently
        # Fixed past dates make the expected plans reproducible; tests of the bounds unset it.
        "AIGUILLEUR_EVENT_TIME_REPLAY": "true",
    }


@pytest.fixture
def pipeline_env(kafka_bootstrap: str, tmp_path: Path) -> dict[str, str]:
    """Settings for one isolated pipeline on the plaintext broker."""
    tag = "t" + uuid.uuid4().hex[:10]
    return isolated_pipeline(tmp_path, {"AIGUILLEUR_KAFKA_BOOTSTRAP": kafka_bootstrap}, tag)


@pytest.fixture
def worker(pipeline_env: dict[str, str], tmp_path: Path) -> Iterator[WorkerProcess]:
    """A started worker; stopped (and its log printed on failure) at the end of the test."""
    w = WorkerProcess(pipeline_env, tmp_path / "worker")
    w.start()
    yield w
    if w.alive():
        w.stop(signal.SIGKILL)
    sys.stderr.write(w.log_text()[-4000:])


def connection(bootstrap: str | KafkaConnection) -> KafkaConnection:
    """A plaintext connection to ``bootstrap``, or the connection given."""
    return bootstrap if isinstance(bootstrap, KafkaConnection) else KafkaConnection(bootstrap)


async def produce(
    bootstrap: str | KafkaConnection, topic: str, items: list[tuple[bytes | None, bytes | None]]
) -> None:
    """Produce raw (key, value) records and wait for the broker's acknowledgement."""
    conn = connection(bootstrap)
    producer = kafka.producer(conn, client_id="aiguilleur-tests", acks="all")
    await kafka.start(producer, conn)
    try:
        for key, value in items:
            await producer.send(topic, key=key, value=value)
        await producer.flush()
    finally:
        await kafka.stop(producer, conn)


async def collect(
    bootstrap: str | KafkaConnection,
    topic: str,
    n: int,
    timeout_s: float = 90,
    until: Callable[[list[Record]], bool] | None = None,
) -> list[Record]:
    """Records of ``topic`` from the beginning: the first ``n``, or until ``until(records)`` holds,
    or whatever came before ``timeout_s``."""
    out: list[Record] = []
    done = until or (lambda recs: len(recs) >= n)

    async def take() -> None:
        async with contextlib.aclosing(records(connection(bootstrap), topic)) as recs:
            async for rec in recs:
                out.append(rec)
                if done(out):
                    return

    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(take(), timeout_s)
    return out


async def read_all(
    bootstrap: str | KafkaConnection, topic: str, timeout_s: float = 60
) -> list[Record]:
    """Every record ``topic`` holds now (up to each partition's end offset at the call)."""

    async def take() -> list[Record]:
        return [r async for r in records(connection(bootstrap), topic, to_end=True)]

    return await asyncio.wait_for(take(), timeout_s)


async def feed(env: dict[str, str], items: list[tuple[bytes | None, bytes | None]]) -> None:
    """Produce records to the counts topic and wait until both stages have consumed them."""
    boot = env["AIGUILLEUR_KAFKA_BOOTSTRAP"]
    app_id = env["AIGUILLEUR_APP_ID"]
    topics = TopicNames(env["AIGUILLEUR_TOPIC_NAMESPACE"])
    await produce(boot, topics.counts, items)
    await wait_consumed(boot, f"{app_id}-ingest", [topics.counts])
    await wait_consumed(boot, app_id, [topics.zone_readings])


async def wait_consumed(
    bootstrap: str | KafkaConnection, group: str, topics: list[str], timeout_s: float = 60
) -> None:
    """Wait until ``group`` has committed every partition of ``topics`` up to its end offset."""
    conn = connection(bootstrap)
    deadline = time.monotonic() + timeout_s
    async with kafka.started_admin(conn, client_id="aiguilleur-tests") as admin:
        tps: list[TopicPartition] = []
        for t in topics:
            tps += await kafka.topic_partitions(admin, t, timeout_s=timeout_s)
        consumer = kafka.consumer(conn, client_id="aiguilleur-tests")
        await kafka.start(consumer, conn)
        try:
            while True:
                ends = await consumer.end_offsets(tps) if tps else {}
                # A broker that has just started may not have its group coordinator yet:
                # committed_offsets asks again until the deadline.
                committed = await kafka.committed_offsets(admin, group, deadline=deadline)
                behind = [
                    tp
                    for tp, end in ends.items()
                    if end > 0 and (committed.get(tp) is None or committed[tp] < end)
                ]
                if tps and not behind:
                    return
                if time.monotonic() > deadline:
                    raise TimeoutError(f"group {group} still behind on {behind}")
                await asyncio.sleep(0.5)
        finally:
            await kafka.stop(consumer, conn)


PG = REPO / "scripts" / "postgres.sh"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """DSN of a running PostgreSQL: AIGUILLEUR_TEST_PG_DSN, or the project's local one
    (scripts/postgres.sh), started here and stopped afterwards if it was not running."""
    given = os.environ.get("AIGUILLEUR_TEST_PG_DSN")
    if given:
        yield given
        return
    running = subprocess.run(["bash", str(PG), "status"], capture_output=True, check=False)
    if running.returncode != 0:
        subprocess.run(["bash", str(PG), "start"], check=True)
    dsn = subprocess.run(["bash", str(PG), "dsn"], check=True, capture_output=True, text=True)
    yield dsn.stdout.strip()
    if running.returncode != 0:
        subprocess.run(["bash", str(PG), "stop"], check=True)


@pytest.fixture
def pg_dsn(postgres_server: str) -> str:
    """A DSN whose tables live in a schema of their own (one per test)."""
    import psycopg

    schema = "t" + uuid.uuid4().hex[:12]
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")  # type: ignore[arg-type]  # generated name
    sep = "&" if "?" in postgres_server else "?"
    return f"{postgres_server}{sep}options=-csearch_path%3D{schema}"


@dataclass
class OwnBroker:
    """A broker of the test's own (scripts/kafka.sh with its own home and port), so that the test
    may stop and start it without disturbing the session's broker. The jars are shared."""

    home: Path
    port: int

    def _run(self, command: str) -> None:
        env = {
            **os.environ,
            "AIGUILLEUR_KAFKA_HOME": str(self.home),
            "AIGUILLEUR_KAFKA_PORT": str(self.port),
        }
        subprocess.run(["bash", str(KAFKA), command], env=env, check=True, capture_output=True)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        self._run("start")

    def stop(self) -> None:
        self._run("stop")


def _free_port_pair() -> int:
    """A port p with p and p + 1 free on 127.0.0.1 (the broker's and its controller's)."""
    import socket

    for _ in range(100):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            p = int(s.getsockname()[1])
        if p >= 65535:
            continue
        with socket.socket() as s2:
            try:
                s2.bind(("127.0.0.1", p + 1))
            except OSError:
                continue
        return p
    raise RuntimeError("no free pair of ports")


@pytest.fixture
def own_broker(tmp_path: Path, kafka_bootstrap: str) -> Iterator[OwnBroker]:
    """A started broker of this test's own; stopped at the end."""
    version = next(
        line.split(">")[1].split("<")[0]
        for line in (REPO / "scripts" / "kafka" / "pom.xml").read_text().splitlines()
        if "<kafka.version>" in line
    )
    shared_home = Path(os.environ.get("AIGUILLEUR_KAFKA_HOME", REPO / ".cache" / "kafka"))
    home = tmp_path / "kafka"
    home.mkdir()
    (home / f"libs-{version}").symlink_to(shared_home / f"libs-{version}")
    broker = OwnBroker(home, _free_port_pair())
    broker.start()
    yield broker
    broker.stop()
