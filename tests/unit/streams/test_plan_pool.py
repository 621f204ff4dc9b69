"""Plans computed in a planning process are the plans computed in the worker's own thread."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from optimizer.guardrails import GuardrailConfig
from optimizer.strategy import planner
from streams.events import ZoneReading
from streams.plan_inputs import capture, compute
from streams.plan_pool import PlanPool, pool_spec
from streams.planning import PlanningConfig, SiteRef
from streams.zone_state import ZoneState
from tests.fixtures.networks import small_network

REPO = Path(__file__).resolve().parents[3]
MIN = 60_000
END = 1_000 * 5 * MIN


def _state() -> ZoneState:
    state = ZoneState(zone_id="Z1")
    state.upsert(
        [
            ZoneReading(f"D-{a.id}", END - k * MIN, 60, 3 + k + len(a.id))
            for j in small_network().junctions
            if j.zone_id == "Z1"
            for a in j.approaches
            for k in range(5)
        ]
    )
    return state


async def test_a_planning_process_computes_the_same_plans() -> None:
    net = small_network()
    sites = tuple(
        SiteRef(f"D-{a.id}", a.id, a.lanes)
        for j in net.junctions
        if j.zone_id == "Z1"
        for a in j.approaches
    )
    cfg = PlanningConfig(300, 300, guardrails=GuardrailConfig())
    inputs = capture(
        commune="c",
        zone_id="Z1",
        state=_state(),
        sites=sites,
        period_end_ms=END,
        cfg=cfg,
        planner="optimizer",
        zone_planner=False,
        network_sha256=net.source_sha256,
        active={},
    )
    junctions = net.zones()["Z1"]
    inline = compute(inputs, junctions, net.links, planner("optimizer"), None)
    pool = PlanPool(pool_spec(net, "optimizer"), processes=1)
    try:
        pooled, seconds = await pool.compute(inputs)
    finally:
        pool.close()
    assert [p.junction_id for p in pooled.plans] == ["J1", "J2"]
    assert pooled.plans == inline.plans, _diff(pooled.plans, inline.plans)
    assert pooled.unmeasured == inline.unmeasured == ()
    assert len(seconds) == 2


def _diff(a: object, b: object, path: str = "") -> list[str]:
    import json

    import msgspec

    da, db = json.loads(msgspec.json.encode(a)), json.loads(msgspec.json.encode(b))
    out = []

    def walk(x: object, y: object, p: str) -> None:
        if isinstance(x, dict) and isinstance(y, dict):
            for k in set(x) | set(y):
                walk(x.get(k), y.get(k), f"{p}.{k}")
        elif isinstance(x, list) and isinstance(y, list) and len(x) == len(y):
            for i, (u, v) in enumerate(zip(x, y, strict=True)):
                walk(u, v, f"{p}[{i}]")
        elif x != y:
            out.append(f"{p}: {x!r} != {y!r}")

    walk(da, db, path)
    return out


def test_a_planning_process_does_not_outlive_a_killed_worker(tmp_path: Path) -> None:
    """A SIGKILLed worker leaves no planning process behind (they were seen to, once)."""
    script = tmp_path / "owner.py"
    script.write_text(
        "import asyncio, os, time\n"
        "from streams.plan_pool import PlanPool, pool_spec\n"
        "from tests.fixtures.networks import small_network\n"
        "async def main():\n"
        "    pool = PlanPool(pool_spec(small_network(), 'webster'), 1)\n"
        "    loop = asyncio.get_running_loop()\n"
        "    print(await loop.run_in_executor(pool._executor, os.getpid), flush=True)\n"
        "    time.sleep(600)\n"
        "if __name__ == '__main__':\n"
        "    asyncio.run(main())\n"
    )
    owner = subprocess.Popen(
        [sys.executable, str(script)],
        stdout=subprocess.PIPE,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        assert owner.stdout is not None
        child = int(owner.stdout.readline())
        assert Path(f"/proc/{child}").exists()
    finally:
        owner.kill()
        owner.wait()
        if owner.stdout is not None:
            owner.stdout.close()
    for _ in range(300):  # the watcher checks every second
        if not Path(f"/proc/{child}").exists() or "Z" in _state_of(child):
            return
        time.sleep(0.1)
    raise AssertionError(f"planning process {child} outlived its worker")


def _state_of(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()[0]
    except OSError:
        return "gone"


def test_a_planning_process_still_starting_when_its_worker_dies_ends(tmp_path: Path) -> None:
    """Killed before its planning process has set up its parent-death checks (it imports for a
    second or two after the spawn), a worker left it idle for hours under PID 1."""
    script = tmp_path / "owner.py"
    script.write_text(
        "import os\n"
        "from streams.plan_pool import PlanPool, pool_spec\n"
        "from tests.fixtures.networks import small_network\n"
        "if __name__ == '__main__':\n"
        "    pool = PlanPool(pool_spec(small_network(), 'webster'), 1)\n"
        "    pool._executor.submit(os.getpid)\n"
        "    print(*pool._executor._processes, flush=True)\n"
        "    os.kill(os.getpid(), 9)\n"
    )
    owner = subprocess.Popen(
        [sys.executable, str(script)],
        stdout=subprocess.PIPE,  # read one line only: an orphan would hold the pipe open
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert owner.stdout is not None
    children = [int(p) for p in owner.stdout.readline().split()]
    assert owner.wait(timeout=120) == -9
    owner.stdout.close()
    assert children
    for _ in range(600):  # its imports, then the check
        if all(not Path(f"/proc/{c}").exists() or "Z" in _state_of(c) for c in children):
            return
        time.sleep(0.1)
    raise AssertionError(f"planning processes {children} outlived their worker")
