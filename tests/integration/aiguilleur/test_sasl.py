"""Every command against the local broker that speaks only SASL over TLS (``scripts/kafka.sh start
--sasl``): with the credentials each one works; without them, with a wrong password or without the
CA that signed the broker's certificate, each is refused at once, exits with status 3 and says
what to check."""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pytest

from aiguilleur.approval import approvals
from aiguilleur.cli import KAFKA_EXIT_CODE
from aiguilleur.follow import decode_plan
from aiguilleur.settings import Settings
from aiguilleur.twin_live import PipelineBridge
from aiguilleur.wiring import streams_config
from streams import kafka
from streams.errors import KafkaRefused
from streams.events import SignalDecision
from streams.topics import TopicNames
from tests.fixtures.networks import small_network
from tests.integration.conftest import (
    WorkerProcess,
    collect,
    env_connection,
    isolated_pipeline,
    produce,
    wait_consumed,
)
from tests.integration.streams.test_control import _report_json, _state
from twin import CountRecord

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 10, 7, 55, tzinfo=UTC)  # a period boundary (multiple of 300 s)
PERIOD_END = T0 + timedelta(minutes=5)
JUNCTIONS = ["J1", "J2", "J3"]
DETECTORS = [f"D-{j}-{a}" for j in JUNCTIONS for a in "NSEW"]
DATEX = Path(__file__).resolve().parents[2] / "fixtures" / "datex2"
IMPORT_DATEX2 = [
    "datex2",
    str(DATEX / "measured.xml"),
    "--interval",
    "60",
    "--site-table",
    str(DATEX / "site-table.xml"),
    "--publish",
]
INCIDENT = [
    "incidents",
    "declare",
    "--by",
    "PC",
    "--id",
    "sasl-1",
    "--way",
    "1",
    "--from-node",
    "2",
]
CREDENTIALS = ("AIGUILLEUR_KAFKA_SASL_USERNAME", "AIGUILLEUR_KAFKA_SASL_PASSWORD")

# How a client can get it wrong, as changes to the right environment (None: unset), and what the
# error must then tell the operator to look at.
WRONG = {
    "no credentials": (dict.fromkeys((*CREDENTIALS, "AIGUILLEUR_KAFKA_SSL_CAFILE")), "SASL"),
    "wrong password": ({"AIGUILLEUR_KAFKA_SASL_PASSWORD": "not-the-password"}, "credentials"),
    "unknown user": ({"AIGUILLEUR_KAFKA_SASL_USERNAME": "mallory"}, "credentials"),
    "no CA file": ({"AIGUILLEUR_KAFKA_SSL_CAFILE": None}, "AIGUILLEUR_KAFKA_SSL_CAFILE"),
}


@pytest.fixture
def secured_env(kafka_sasl_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """One isolated pipeline on the secured broker, with the adaptive live controller on."""
    tag = "s" + uuid.uuid4().hex[:10]
    return {
        **isolated_pipeline(tmp_path, kafka_sasl_env, tag),
        "AIGUILLEUR_PARTITIONS": "2",
        "AIGUILLEUR_CONTROLLER": "adaptive",
    }


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aiguilleur", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def _ok(env: dict[str, str], *args: str) -> str:
    done = _cli(env, *args)
    assert done.returncode == 0, f"aiguilleur {' '.join(args)}: {done.stderr[-2000:]}"
    return done.stdout


def _counts_csv(path: Path) -> Path:
    """Minutes 1-5 of the first period on every detector, and one row of a detector nobody
    registered (the worker dead-letters it)."""
    rows = ["detector_id,interval_end,interval_s,count"]
    for m in range(1, 6):
        end = (T0 + timedelta(minutes=m)).isoformat()
        rows += [f"{d},{end},60,{3 + m + i % 5}" for i, d in enumerate(DETECTORS)]
    rows.append(f"D-NOBODY,{(T0 + timedelta(minutes=2)).isoformat()},60,4")
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.fixture
def secured_worker(secured_env: dict[str, str], tmp_path: Path) -> Iterator[WorkerProcess]:
    w = WorkerProcess(secured_env, tmp_path / "worker")
    w.start()
    yield w
    if w.alive():
        w.stop()
    sys.stderr.write(w.log_text()[-4000:])


def test_every_command_works_with_the_credentials(
    secured_env: dict[str, str], secured_worker: WorkerProcess, tmp_path: Path
) -> None:
    env = secured_env
    conn = env_connection(env)
    topics = TopicNames(env["AIGUILLEUR_TOPIC_NAMESPACE"])
    app_id = env["AIGUILLEUR_APP_ID"]

    # replay: the first period's counts, with one unregistered detector
    counts = _counts_csv(tmp_path / "counts.csv")
    sent = _ok(env, "replay", str(counts), "--speed", "0", "--no-rebase")
    assert sent.startswith(f"{len(DETECTORS) * 5 + 1} readings sent")
    # J1's envelope approved, as the operator API publishes it (`aiguilleur envelopes` talks to the
    # API over HTTP, not to Kafka; the API itself is tested below)
    events = approvals(small_network(), ["J1"], approved_by="Ada Operator", approved_at=T0)
    envelopes = [(ev.junction_id.encode(), msgspec.json.encode(ev)) for ev in events]
    asyncio.run(produce(conn, topics.envelopes, envelopes))

    # twin live's bridge closes the period once the worker has consumed the replay, and gets the
    # period's plans back; it also counts the dead letters
    asyncio.run(wait_consumed(conn, f"{app_id}-ingest", [topics.counts], timeout_s=120))
    settings = Settings(
        kafka_bootstrap=env["AIGUILLEUR_KAFKA_BOOTSTRAP"],
        kafka_sasl_username=env["AIGUILLEUR_KAFKA_SASL_USERNAME"],
        kafka_sasl_password=env["AIGUILLEUR_KAFKA_SASL_PASSWORD"],
        kafka_ssl_cafile=Path(env["AIGUILLEUR_KAFKA_SSL_CAFILE"]),
        app_id=app_id,
        topic_namespace=env["AIGUILLEUR_TOPIC_NAMESPACE"],
        partitions=2,
    )
    closing = [
        CountRecord(
            detector_id=d, interval_end=PERIOD_END + timedelta(minutes=1), interval_s=60, count=0
        )
        for d in DETECTORS  # a zone's clock moves with a quorum of its detectors
    ]
    with PipelineBridge(
        streams_config(settings),
        topics,
        f"{app_id}-ingest",
        timeout_s=120,
        alive=lambda: None if secured_worker.alive() else "the worker exited",
    ) as bridge:
        bridge.send(closing, settle_first=True)
        bridge.settle()
        by_junction = bridge.plans(PERIOD_END, JUNCTIONS)
        assert sorted(by_junction) == JUNCTIONS
        assert bridge.dead_letters() == 1

    # plans: the same plans through the command
    printed = [decode_plan(line.encode()) for line in _ok(env, "plans", "--json").splitlines()]
    assert sorted(p.junction_id for p in printed) == JUNCTIONS
    assert all(p.valid_from == PERIOD_END for p in printed)
    # dead-letters: the unregistered detector, with its reason
    dead = _ok(env, "dead-letters")
    assert "[unknown_detector]" in dead
    assert "D-NOBODY" in dead

    # decisions: junction states in, the control stage decides for the approved junctions
    rng = random.Random(3)
    states = [_state("J1", k, rng) for k in range(3)] + [_state("J2", 0, rng)]
    zone = {"J1": "Z1", "J2": "Z1"}
    items = [(zone[s.junction_id].encode(), _report_json(s, zone[s.junction_id])) for s in states]
    asyncio.run(produce(conn, topics.junction_states, items))
    asyncio.run(wait_consumed(conn, f"{app_id}-control", [topics.junction_states], 120))
    decided = asyncio.run(collect(conn, topics.decisions, 3, timeout_s=60))
    assert len(decided) == 3
    printed_decisions = [
        msgspec.json.decode(line, type=SignalDecision)
        for line in _ok(env, "decisions").splitlines()
    ]
    assert [d.junction_id for d in printed_decisions] == ["J1"] * 3  # J2 has no envelope
    assert secured_worker.alive(), secured_worker.log_text()[-3000:]

    # incidents: declared, then listed (no rerouting stage here: its own test is in streams/)
    assert "declared sasl-1" in _ok(env, *INCIDENT)
    assert "sasl-1" in _ok(env, "incidents", "list")

    # import --publish (on a namespace of its own: its detectors are not this city's)
    other = {**env, "AIGUILLEUR_TOPIC_NAMESPACE": env["AIGUILLEUR_TOPIC_NAMESPACE"] + "-import"}
    done = _cli(other, "import", *IMPORT_DATEX2)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "4 readings published" in done.stderr


def _commands(tmp_path: Path) -> dict[str, list[str]]:
    csv_file = _counts_csv(tmp_path / "counts.csv")
    return {
        "replay": ["replay", str(csv_file), "--speed", "0", "--no-rebase"],
        "plans": ["plans"],
        "dead-letters": ["dead-letters"],
        "decisions": ["decisions"],
        "import --publish": ["import", *IMPORT_DATEX2],
        "incidents declare": INCIDENT,
        "incidents list": ["incidents", "list"],
        "incidents advice": ["incidents", "advice"],
    }


def _wrong_env(env: dict[str, str], changes: dict[str, str | None]) -> dict[str, str]:
    out = {k: v for k, v in env.items() if k not in changes}
    out.update({k: v for k, v in changes.items() if v is not None})
    return out


@pytest.mark.parametrize("wrong", sorted(WRONG))
def test_every_command_is_refused_with_a_clear_error(
    wrong: str,
    secured_env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # In this process, through the console entry point: a new interpreter per command and case
    # would cost more than the test. The worker (whose metrics live in the process's registry)
    # runs as its own process below.
    from aiguilleur.cli import main

    changes, hint = WRONG[wrong]
    env = _wrong_env(secured_env, changes)
    for key in [k for k in os.environ if k.startswith("AIGUILLEUR_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        if key.startswith("AIGUILLEUR_"):
            monkeypatch.setenv(key, value)
    for name, args in _commands(tmp_path).items():
        monkeypatch.setattr(sys, "argv", ["aiguilleur", *args])
        with pytest.raises(SystemExit) as exit_:
            main()
        err = capsys.readouterr().err
        assert exit_.value.code == KAFKA_EXIT_CODE, f"{name}: {err[-2000:]}"
        line = next(x for x in err.splitlines() if x.startswith("error: "))
        assert env["AIGUILLEUR_KAFKA_BOOTSTRAP"] in line, f"{name}: {line}"
        assert hint in line, f"{name}: {line}"


@pytest.mark.parametrize("wrong", sorted(WRONG))
def test_a_refused_worker_stops_at_once_and_says_why(
    wrong: str, secured_env: dict[str, str]
) -> None:
    changes, hint = WRONG[wrong]
    done = _cli(_wrong_env(secured_env, changes), "worker")
    assert done.returncode == KAFKA_EXIT_CODE, done.stderr[-2000:]
    line = next(x for x in done.stderr.splitlines() if x.startswith("error: "))
    assert hint in line


@pytest.mark.parametrize("mechanism", kafka.SASL_MECHANISMS)
async def test_each_mechanism_reaches_the_broker_and_a_wrong_password_does_not(
    mechanism: str, kafka_sasl_env: dict[str, str]
) -> None:
    topic = f"mech-{uuid.uuid4().hex[:8]}"
    conn = env_connection(kafka_sasl_env, sasl_mechanism=mechanism)
    await kafka.ensure_topics(conn, [kafka.TopicSpec(topic, 1, 1)])
    await produce(conn, topic, [(b"k", mechanism.encode())])
    got = await collect(conn, topic, 1, timeout_s=30)
    assert [r.value for r in got] == [mechanism.encode()]
    wrong = env_connection(kafka_sasl_env, sasl_mechanism=mechanism, sasl_password="nope")
    with pytest.raises(KafkaRefused, match="refused the credentials"):
        await produce(wrong, topic, [(b"k", b"never")])


def test_the_operator_api_records_plans_with_the_credentials_and_stops_without_them(
    kafka_sasl_env: dict[str, str], postgres_server: str, tmp_path: Path
) -> None:
    # `aiguilleur api`: its recorder consumes the plans topic and its outbox publisher produces,
    # both over SASL; with a wrong password it does not start.
    from tests.integration.api.conftest import Stack, plans, stack_env

    env = stack_env(kafka_sasl_env["AIGUILLEUR_KAFKA_BOOTSTRAP"], postgres_server, tmp_path)
    env.update(kafka_sasl_env)
    env["AIGUILLEUR_API_URL"] = f"http://127.0.0.1:{env['AIGUILLEUR_API_PORT']}"
    stack = Stack(env, tmp_path)
    try:
        stack.start_api()
        stack.publish_plans(plans(1, "alpha"))  # waits until the API has recorded it
    finally:
        stack.stop()
    wrong = {**env, "AIGUILLEUR_KAFKA_SASL_PASSWORD": "not-the-password"}
    done = subprocess.run(
        [sys.executable, "-m", "aiguilleur", "api"],
        env=wrong,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0
    assert "refused the credentials" in done.stderr + done.stdout
