"""Sovereignty, tested (issue 15): a worker opens no network connection except to the configured
Kafka broker. Its only other socket is the /metrics listener it was told to open.

Two independent views of one real worker (and its planning process) through start-up, work and
shutdown:
- from inside, a Python audit hook (``sys.addaudithook``, loaded by a ``sitecustomize`` on the
  worker's ``PYTHONPATH``) records every ``socket.connect``, ``socket.sendto`` and
  ``socket.getaddrinfo`` the processes make, including attempts that fail;
- from outside, ``/proc/<pid>/fd`` and ``/proc/<pid>/net/{tcp,tcp6,udp,udp6}`` are sampled every
  50 ms for the sockets the processes hold.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path

import pytest

from streams.topics import TopicNames
from tests.integration.conftest import WorkerProcess, collect, feed
from tests.integration.streams.test_pipeline import all_readings, close_period

pytestmark = pytest.mark.integration

SITECUSTOMIZE = """
import os, sys

_log = open(os.environ["AIGUILLEUR_TEST_AUDIT_LOG"] + "." + str(os.getpid()), "a", buffering=1)

def _hook(event, args):
    if event in ("socket.connect", "socket.sendto", "socket.sendmsg"):
        _log.write(f"{event}\\t{args[1]!r}\\n")
    elif event == "socket.getaddrinfo":
        _log.write(f"{event}\\t{(args[0], args[1])!r}\\n")

sys.addaudithook(_hook)
"""


def _sockets(pid: int) -> set[str]:
    """Inodes of the sockets ``pid`` holds."""
    out = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                out.add(target[8:-1])
    except OSError:
        pass
    return out


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _endpoint(hex_addr: str) -> tuple[str, int]:
    addr, port = hex_addr.split(":")
    raw = bytes.fromhex(addr)
    if len(raw) == 4:
        host = socket.inet_ntop(socket.AF_INET, raw[::-1])
    else:
        host = socket.inet_ntop(
            socket.AF_INET6, b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
        )
    return host, int(port, 16)


def _inet_sockets(pid: int) -> dict[str, tuple[str, tuple[str, int], tuple[str, int], str]]:
    """inode -> (protocol, local, remote, state) of the internet sockets in ``pid``'s namespace."""
    table = {}
    for proto in ("tcp", "tcp6", "udp", "udp6"):
        try:
            lines = Path(f"/proc/{pid}/net/{proto}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            table[f[9]] = (proto, _endpoint(f[1]), _endpoint(f[2]), f[3])
    return table


LISTEN = "0A"


async def test_the_worker_connects_to_kafka_only(
    pipeline_env: dict[str, str], tmp_path: Path
) -> None:
    hook_dir = tmp_path / "hook"
    hook_dir.mkdir()
    (hook_dir / "sitecustomize.py").write_text(SITECUSTOMIZE)
    audit = tmp_path / "audit"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        metrics_port = s.getsockname()[1]
    env = {
        **pipeline_env,
        "PYTHONPATH": os.pathsep.join([str(hook_dir), pipeline_env.get("PYTHONPATH", "")]),
        "AIGUILLEUR_TEST_AUDIT_LOG": str(audit),
        "AIGUILLEUR_METRICS_PORT": str(metrics_port),
    }
    boot_host, boot_port = env["AIGUILLEUR_KAFKA_BOOTSTRAP"].split(":")
    kafka = ("127.0.0.1" if boot_host == "localhost" else boot_host, int(boot_port))
    worker = WorkerProcess(env, tmp_path / "worker")
    seen: dict[str, tuple[str, tuple[str, int], tuple[str, int], str]] = {}
    pids: set[int] = set()
    sampling = True

    async def sample() -> None:
        while sampling:
            if worker.proc is not None:
                for pid in [worker.proc.pid, *_children(worker.proc.pid)]:
                    pids.add(pid)
                    held = _sockets(pid)
                    if held:
                        table = _inet_sockets(pid)
                        seen.update({i: table[i] for i in held if i in table})
            await asyncio.sleep(0.05)

    sampler = asyncio.create_task(sample())
    worker.start()
    try:
        await worker.wait_ready()
        await feed(env, all_readings(range(1, 6)))
        await close_period(env)
        plans = await collect(
            env["AIGUILLEUR_KAFKA_BOOTSTRAP"],
            TopicNames(env["AIGUILLEUR_TOPIC_NAMESPACE"]).plans,
            3,
        )
        assert len(plans) == 3, "the worker did its work (and its planning process with it)"
        assert worker.stop(signal.SIGTERM) in (0, 75)
    finally:
        sampling = False
        await sampler
        if worker.alive():
            worker.stop(signal.SIGKILL)
        sys.stderr.write(worker.log_text()[-2000:])

    assert len(pids) >= 2, "the planning process was observed too"
    assert seen, "no socket was observed: the sampling is broken"
    for proto, local, remote, state in seen.values():
        if state == LISTEN and proto.startswith("tcp"):
            assert local[1] == metrics_port, f"unexpected listener {local}"
            continue
        assert proto.startswith("tcp"), f"a {proto} socket {local} -> {remote}"
        # Connections out go to Kafka; the only ones in are scrapes of /metrics.
        assert remote == kafka or local[1] == metrics_port, (
            f"a connection to {remote}, not to Kafka at {kafka}"
        )
    logs = list(tmp_path.glob("audit.*"))
    assert len(logs) >= 2, "the audit hook ran in the worker and its planning process"
    events = [line.split("\t") for p in logs for line in p.read_text().splitlines()]
    connects = {e[1] for e in events if e[0] != "socket.getaddrinfo"}
    lookups = {e[1] for e in events if e[0] == "socket.getaddrinfo"}
    assert connects, "the hook saw the Kafka connections"
    assert connects <= {repr(kafka), repr((boot_host, int(boot_port)))}, connects
    assert all(boot_host in lookup or "'0.0.0.0'" in lookup for lookup in lookups), lookups
