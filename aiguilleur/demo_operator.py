"""The operator's side of the demo: PostgreSQL (scripts/postgres.sh), the operator API with a
throwaway identity provider and checkpoint key, and an operator who approves one recommendation:
the pending list and the recommendation as the CLI shows them, the approval, the active plan read
back from its topic, the next recommendation bounded from it, and the audit trail verified."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import msgspec
from cryptography.hazmat.primitives.asymmetric import rsa

from aiguilleur.cli_recommendations import format_pending, format_plan
from aiguilleur.follow import records
from aiguilleur.operator_client import OperatorClient, Refused
from aiguilleur.settings import REPO_ROOT
from audit import chain, signing
from audit import store as audit_store
from streams.events import ActivePlan
from streams.kafka import KafkaConnection
from streams.topics import TopicNames

PG_SCRIPT = REPO_ROOT / "scripts" / "postgres.sh"
ISSUER = "https://identity.demo.invalid/aiguilleur"
OPERATOR = "demo-operator"
CHECKPOINT_S = 10
Out = Callable[[str], None]


def postgres(command: str) -> str:
    """Run ``scripts/postgres.sh COMMAND`` and return its standard output."""
    done = subprocess.run(
        ["bash", str(PG_SCRIPT), command], check=True, capture_output=True, text=True
    )
    return done.stdout.strip()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class OperatorSide:
    """The API process, its database and the demo operator's token."""

    url: str
    token: str
    dsn: str
    key_file: Path
    commune: str
    api: subprocess.Popen[bytes]
    log_path: Path
    pg_started: bool

    def client(self) -> OperatorClient:
        """The operator's client, as `aiguilleur recommendations ...` makes it."""
        return OperatorClient(self.url, self.token, self.commune)

    def stop(self) -> None:
        """Stop the API, and PostgreSQL if the demo started it."""
        if self.api.poll() is None:
            self.api.terminate()
            try:
                self.api.wait(30)
            except subprocess.TimeoutExpired:
                self.api.kill()
                self.api.wait()
        if self.pg_started:
            postgres("stop")


def identity(folder: Path, commune: str) -> tuple[Path, str]:
    """A throwaway identity provider: its JWKS file, and an operator's token for ``commune``."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update({"kid": "demo", "use": "sig", "alg": "RS256"})
    jwks = folder / "jwks.json"
    jwks.write_text(json.dumps({"keys": [jwk]}))
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": "aiguilleur",
        "sub": OPERATOR,
        "name": "Demo Operator",
        "iat": now,
        "exp": now + 4 * 3600,
        "aiguilleur_roles": [f"{commune}:operator"],
    }
    return jwks, jwt.encode(claims, key, algorithm="RS256", headers={"kid": "demo"})


def start(env: dict[str, str], run: str, commune: str, out: Out) -> OperatorSide:
    """Start PostgreSQL (unless running), a schema of this run, and the API; wait until ready."""
    import psycopg

    pg_started = False
    status = subprocess.run(["bash", str(PG_SCRIPT), "status"], capture_output=True, check=False)
    if status.returncode != 0:
        out("starting the local PostgreSQL (first run installs Debian's postgresql) ...")
        postgres("start")
        pg_started = True
    base = postgres("dsn")
    schema = run.replace("-", "_")
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(
            psycopg.sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(psycopg.sql.Identifier(schema))
        )
    dsn = f"{base}?options=-csearch_path%3D{schema}"
    folder = REPO_ROOT / ".cache" / "demo" / run
    folder.mkdir(parents=True, exist_ok=True)
    key_file = folder / "audit.pem"
    key_file.write_bytes(signing.private_pem(signing.generate()))
    key_file.chmod(0o600)
    jwks, token = identity(folder, commune)
    port = _free_port()
    api_env = {
        **env,
        "AIGUILLEUR_COMMUNE": commune,
        "AIGUILLEUR_DATABASE_URL": dsn,
        "AIGUILLEUR_OIDC_ISSUER": ISSUER,
        "AIGUILLEUR_OIDC_JWKS_FILE": str(jwks),
        "AIGUILLEUR_AUDIT_SIGNING_KEY_FILE": str(key_file),
        "AIGUILLEUR_AUDIT_CHECKPOINT_S": str(CHECKPOINT_S),
        "AIGUILLEUR_API_PORT": str(port),
    }
    log_path = REPO_ROOT / ".cache" / "demo-api.log"
    with log_path.open("wb") as log:
        api = subprocess.Popen(
            [sys.executable, "-m", "aiguilleur", "api"],
            env=api_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    side = OperatorSide(
        f"http://127.0.0.1:{port}", token, dsn, key_file, commune, api, log_path, pg_started
    )
    out(f"starting the operator API on {side.url} (log: {log_path.relative_to(REPO_ROOT)}) ...")
    deadline = time.monotonic() + 180
    while True:
        try:
            if httpx.get(f"{side.url}/api/ready", timeout=2).status_code == 200:
                return side
        except httpx.HTTPError:
            pass
        if api.poll() is not None or time.monotonic() > deadline:
            side.stop()
            raise RuntimeError(f"the operator API did not start; see {log_path}")
        time.sleep(0.5)


def _choose(pending: list[dict[str, Any]]) -> dict[str, Any]:
    """The recommendation the demo operator looks at: a junction named by its streets, the one
    with the longest expected delay."""
    named = [r for r in pending if " × " in r["junction"]] or pending
    return max(named, key=lambda r: (r["expected_effect"]["mean_delay_s_per_veh"], r["id"]))


async def _poll(what: str, fetch: Callable[[], Any], timeout_s: float = 120) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        got = await asyncio.to_thread(fetch)
        if got:
            return got
        await asyncio.sleep(1.0)
    raise TimeoutError(f"no {what} after {timeout_s:g} s")


async def operator_round(
    side: OperatorSide, conn: KafkaConnection, topics: TopicNames, out: Out
) -> str:
    """Wait for recommendations, approve one as the demo operator, show the active plan on its
    topic and the next recommendation bounded from it. Returns the approved plan's id."""
    c = side.client()
    pending: list[dict[str, Any]] = await _poll("recommendation on record", c.pending)
    for _ in range(5):  # until the period's recommendations are on record (or enough of them)
        await asyncio.sleep(2.0)
        got = await _poll("recommendation on record", c.pending)
        if len(got) == len(pending):
            break
        pending = got
    chosen = _choose(pending)
    block = [
        "",
        "--- the operator's view: `aiguilleur recommendations list` (the page shows the same) ---",
        *format_pending(pending)[:6],
        f"... {len(pending)} pending",
    ]
    for _ in range(5):
        rid, junction = chosen["id"], chosen["junction_id"]
        block += [
            f"--- `aiguilleur recommendations show {rid}` ---",
            *format_plan(await asyncio.to_thread(c.get, rid), "en"),
            f"--- {OPERATOR} approves it: "
            f"`aiguilleur recommendations approve {rid} --reason 'counts look right'` ---",
        ]
        try:
            decision = await asyncio.to_thread(
                c.decide, rid, "approve", {"reason": "counts look right (demo)"}
            )
            break
        except Refused as e:
            if e.status != 409:
                raise
            # a newer period's proposal superseded it while the operator read it
            block.append(f"refused: {e.detail}")
            # take the junction's newest one; none left pending (the last period's were
            # superseded or expired meanwhile): look at what is pending now
            now_pending = await _poll("pending recommendation", c.pending, timeout_s=30)
            newer = [r for r in now_pending if r["junction_id"] == junction]
            chosen = newer[0] if newer else _choose(now_pending)
    else:
        raise TimeoutError("every proposal was superseded before it could be approved")
    block.append(f"approved {rid} by {decision['decided_by']}")
    out("\n".join(block))
    active = await _active_on_topic(conn, topics.active_plans, junction, rid)
    greens = " ".join(f"P{p.index}:{p.green_s}s" for p in active.plan.phases)
    out(
        f"active plan published on {topics.active_plans}: {chosen['junction']} plan "
        f"{active.plan.plan_id}, cycle {active.plan.cycle_s}s {greens}, approved by "
        f"{active.approved_by}; the worker bounds this junction's next plans from it"
    )

    def bounded() -> dict[str, Any] | None:
        # computed by the worker from the approved plan (not merely shown against it)
        for r in c.pending():
            t = r["explanation"]["transition"]
            if r["junction_id"] == junction and t is not None and t["active_plan_id"] == rid:
                return r
        return None

    nxt = await _poll(f"next recommendation for {junction}", bounded)
    out(
        f"next recommendation for {nxt['junction']}, computed from the approved plan: cycle "
        f"{nxt['changes']['cycle_s'][0]} -> {nxt['cycle_s']} s; "
        f"{nxt['explanation']['transition']['text_en']}\n"
    )
    return str(rid)


async def _active_on_topic(
    conn: KafkaConnection, topic: str, junction: str, plan_id: str, timeout_s: float = 60
) -> ActivePlan:
    """The approved plan, once the API's outbox has published it."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        async for rec in records(conn, topic, to_end=True):
            if rec.key == junction.encode() and rec.value is not None:
                active = msgspec.json.decode(rec.value, type=ActivePlan)
                if active.plan.plan_id == plan_id:
                    return active
        await asyncio.sleep(0.5)
    raise TimeoutError(f"the approved plan {plan_id} is not on {topic} after {timeout_s:g} s")


def summary(side: OperatorSide, published: int, timeout_s: float = 120) -> list[str]:
    """What is on record at the end (once the API recorded the ``published`` plans):
    recommendations by status, the trail verified."""
    import psycopg

    with psycopg.connect(side.dsn) as conn:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            row = conn.execute("SELECT count(*) FROM recommendations").fetchone()
            if row is not None and int(row[0]) >= published:
                break
            time.sleep(1.0)
        rows = conn.execute(
            "SELECT status, count(*) FROM recommendations GROUP BY status ORDER BY 2 DESC"
        ).fetchall()
        report = chain.verify(
            audit_store.rows(conn),
            signing.load_public(side.key_file),
            now=datetime.now(UTC),
            max_checkpoint_age=timedelta(seconds=3 * CHECKPOINT_S),
        )
    total = sum(int(n) for _, n in rows)
    statuses = ", ".join(f"{n} {s}" for s, n in rows)
    verdict = "chain intact" if report.problem is None else f"FAIL: {report.problem.reason}"
    return [
        f"on record: {total} recommendations ({statuses}); pending ones expire at the end of "
        "their window, a newer one supersedes an older one",
        f"audit trail: {report.records} records, {report.checkpoints} signed checkpoints, "
        f"{verdict} (`aiguilleur audit verify`)",
    ]
