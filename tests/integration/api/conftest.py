"""An operator API on the real PostgreSQL, two communes with the same fixture junction ids."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from fastapi.testclient import TestClient

from api.app import ApiConfig, create_app
from api.auth import TokenVerifier
from graph.model import Network
from graph.synthetic import write_city
from optimizer.strategy import planner
from oversight.service import Commune, Oversight
from streams.events import SignalPlan
from streams.kafka import KafkaConnection
from streams.planning import PlanningConfig, plan_junction
from streams.topics import TopicNames
from streams.zone_state import ZoneState
from tests.fixtures import identity
from tests.fixtures.networks import small_network
from tests.integration.conftest import WorkerProcess, env_connection, produce
from tests.unit.streams.test_guarding import BOUNDS, HIGH, LOW, SITES, J, approved, period

MIN = 60_000
NET = Network(source="test", source_sha256="abc", junctions=(J,))
CFG = PlanningConfig(period_s=300, window_s=300, guardrails=BOUNDS)


def plans(n: int, commune: str, start_ms: int = 0) -> list[SignalPlan]:
    """``n`` successive plans for junction J (alternating light and heavy traffic), each bounded
    by the guardrails from the one before it; the first period ends ``start_ms`` + 5 min."""
    state = ZoneState(zone_id="Z")
    out: list[SignalPlan] = []
    for k in range(1, n + 1):
        end = start_ms + 5 * k * MIN
        period(state, end, LOW if k % 2 else HIGH)
        active = approved(out[-1]) if out else None
        p = plan_junction(J, SITES, state, end, CFG, planner("webster"), "abc", active)
        out.append(msgspec.structs.replace(p, commune=commune))
    return out


@dataclass
class Clock:
    now: datetime = datetime(1970, 1, 1, 0, 5, 30, tzinfo=UTC)  # inside the first plan's window

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Api:
    client: TestClient
    service: Oversight
    clock: Clock

    def as_(self, sub: str, *roles: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {identity.token(sub, list(roles))}"}


@pytest.fixture
def api(pg_dsn: str) -> Iterator[Api]:
    communes = [
        Commune("alpha", "alpha", {J.id: J}, name="Alpha"),
        Commune("beta", "beta", {J.id: J}, name="Beta"),
    ]
    service = Oversight(pg_dsn, communes)
    service.create_schema()
    verifier = TokenVerifier(
        identity.ISSUER, identity.AUDIENCE, identity.jwks(), "aiguilleur_roles"
    )
    clock = Clock()
    app = create_app(service, verifier, ApiConfig({"alpha": NET, "beta": NET}, clock=clock))
    with TestClient(app) as client:
        yield Api(client, service, clock)


# --- a real operator API process on the real PostgreSQL and broker ------------------------------

STACK_NETWORK = Network(
    source="tests/stack", source_sha256="5" * 64, junctions=(J, *small_network().junctions)
)
"""J (the plans of :func:`plans`) and the small network's J1, J2 (zone Z1), J3 (zone Z2)."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Stack:
    """``aiguilleur api`` (and, on demand, a worker) on one topic namespace, commune ``alpha``."""

    env: dict[str, str]
    folder: Path
    api: subprocess.Popen[bytes] | None = None
    workers: list[WorkerProcess] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.env["AIGUILLEUR_API_URL"]

    @property
    def topics(self) -> TopicNames:
        return TopicNames(self.env["AIGUILLEUR_TOPIC_NAMESPACE"])

    @property
    def bootstrap(self) -> str:
        return self.env["AIGUILLEUR_KAFKA_BOOTSTRAP"]

    @property
    def kafka(self) -> KafkaConnection:
        """How the API and its worker reach Kafka (SASL and TLS included)."""
        return env_connection(self.env)

    def start_api(self) -> None:
        log = (self.folder / "api.log").open("ab")
        self.api = subprocess.Popen(
            [sys.executable, "-m", "aiguilleur", "api"],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{self.url}/api/ready", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.api.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the API did not start:\n" + self.api_log()[-3000:])
            time.sleep(0.3)

    def start_worker(self, **extra: str) -> WorkerProcess:
        w = WorkerProcess({**self.env, **extra}, self.folder / f"worker{len(self.workers)}")
        w.start()
        self.workers.append(w)
        return w

    def api_log(self) -> str:
        path = self.folder / "api.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def headers(self, sub: str, *roles: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {identity.token(sub, list(roles))}"}

    def get(self, path: str, sub: str = "ada@alpha", role: str = "alpha:operator") -> Any:
        r = httpx.get(f"{self.url}{path}", headers=self.headers(sub, role), timeout=30)
        r.raise_for_status()
        return r.json()

    def publish_plans(self, items: list[SignalPlan], timeout_s: float = 60) -> None:
        """Put plans on the plans topic (what a worker does) and wait until the API recorded the
        last one."""
        asyncio.run(
            produce(
                self.kafka,
                self.topics.plans,
                [(p.junction_id.encode(), msgspec.json.encode(p)) for p in items],
            )
        )
        deadline = time.monotonic() + timeout_s
        last = items[-1].plan_id
        while time.monotonic() < deadline:
            try:
                self.get(f"/api/communes/alpha/recommendations/{last}")
                return
            except httpx.HTTPStatusError:
                time.sleep(0.3)
        raise AssertionError(f"plan {last} not recorded after {timeout_s} s:\n{self.api_log()}")

    def stop(self) -> None:
        for w in self.workers:
            if w.alive():
                w.stop()
        if self.api is not None and self.api.poll() is None:
            self.api.terminate()
            self.api.wait(30)


def stack_env(
    kafka_bootstrap: str,
    postgres_server: str,
    folder: Path,
    network: Network | None = STACK_NETWORK,
    commune: str = "alpha",
) -> dict[str, str]:
    """Settings of an isolated API (and worker): own schema, namespace, keys, port; ``network``
    written to ``folder`` (``None``: the settings' default, the demo city)."""
    import psycopg

    from audit import signing

    schema = "t" + uuid.uuid4().hex[:12]
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")  # type: ignore[arg-type]  # generated name
    key = signing.generate()
    (folder / "audit.pem").write_bytes(signing.private_pem(key))
    (folder / "jwks.json").write_text(msgspec.json.encode(identity.jwks()).decode())
    files = {}
    if network is not None:
        net, reg, _ = write_city(network, folder)
        files = {"AIGUILLEUR_NETWORK_FILE": str(net), "AIGUILLEUR_DETECTOR_REGISTRY": str(reg)}
    tag = "t" + uuid.uuid4().hex[:10]
    sep = "&" if "?" in postgres_server else "?"
    mine = {k: v for k, v in os.environ.items() if not k.startswith("AIGUILLEUR_TOKEN")}
    return {
        **mine,
        "AIGUILLEUR_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "AIGUILLEUR_APP_ID": tag,
        "AIGUILLEUR_TOPIC_NAMESPACE": tag,
        "AIGUILLEUR_COMMUNE": commune,
        **files,
        "AIGUILLEUR_METRICS_PORT": "0",
        "AIGUILLEUR_STATE_DIR": str(folder / "state"),
        "AIGUILLEUR_SESSION_TIMEOUT_S": "6",
        "AIGUILLEUR_DATABASE_URL": f"{postgres_server}{sep}options=-csearch_path%3D{schema}",
        "AIGUILLEUR_OIDC_ISSUER": identity.ISSUER,
        "AIGUILLEUR_OIDC_JWKS_FILE": str(folder / "jwks.json"),
        "AIGUILLEUR_AUDIT_SIGNING_KEY_FILE": str(folder / "audit.pem"),
        "AIGUILLEUR_AUDIT_CHECKPOINT_S": "5",
        "AIGUILLEUR_API_PORT": str(_free_port()),
        "AIGUILLEUR_API_URL": "",
    }


@contextlib.contextmanager
def running_stack(
    kafka_bootstrap: str,
    postgres_server: str,
    folder: Path,
    network: Network | None = STACK_NETWORK,
    commune: str = "alpha",
    **worker: str,
) -> Iterator[Stack]:
    """An API (and, given worker settings, a worker) until the block ends; their logs on stderr."""
    env = stack_env(kafka_bootstrap, postgres_server, folder, network, commune)
    env["AIGUILLEUR_API_URL"] = f"http://127.0.0.1:{env['AIGUILLEUR_API_PORT']}"
    stack = Stack(env, folder)
    try:
        stack.start_api()
        if worker:
            stack.start_worker(**worker)
        yield stack
    finally:
        stack.stop()
        sys.stderr.write(stack.api_log()[-3000:])
        for w in stack.workers:
            sys.stderr.write(w.log_text()[-3000:])


@pytest.fixture(scope="module")
def operator_api(
    kafka_bootstrap: str, postgres_server: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """A running ``aiguilleur api`` for a test module."""
    with running_stack(kafka_bootstrap, postgres_server, tmp_path_factory.mktemp("stack")) as s:
        yield s
