"""The rerouting stage on the real broker, in a real worker process, on the demo city's OSM graph:
an incident on the topic -> its advice on the advice topic (the same advice the pure function
computes); a closure nothing can go around -> a no-diversion advice with its reason; bad incidents
-> dead letters with theirs; a cleared incident -> its withdrawal."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pytest

from aiguilleur.settings import Settings
from aiguilleur.wiring import reroute_config
from graph.osm import load_network
from graph.routing import EdgeKey, build_routable_graph
from streams.events import (
    DLQ_HEADER_CODE,
    DLQ_HEADER_REASON,
    Incident,
    IncidentLocation,
    RerouteAdvice,
)
from streams.rerouting import RerouteContext, advise
from streams.topics import TopicNames
from tests.integration.conftest import WorkerProcess, collect, produce, wait_consumed
from tests.integration.graph.conftest import DEMO_DETECTORS, DEMO_OSM

pytestmark = pytest.mark.integration

STARTS = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=2)
"""In the future, so the advice's validity starts there: the worker and the test compute the
same advice, whatever the clock says when each runs."""


@pytest.fixture
def reroute_env(pipeline_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    return {
        **pipeline_env,
        "AIGUILLEUR_NETWORK_FILE": str(DEMO_OSM),
        "AIGUILLEUR_DETECTOR_REGISTRY": str(DEMO_DETECTORS),
        "AIGUILLEUR_CACHE_DIR": str(tmp_path / "cache"),
        "AIGUILLEUR_REROUTE": "true",
        "AIGUILLEUR_REROUTE_ALLOW_RESIDENTIAL": "true",
        "AIGUILLEUR_PARTITIONS": "2",
    }


def _incident(iid: str, way: int, node: int) -> Incident:
    return Incident(
        incident_id=iid,
        kind="closure",
        location=IncidentLocation(osm_way_id=way, from_node=node),
        starts_at=STARTS,
        reported_by="PC circulation",
    )


def _cases() -> tuple[tuple[EdgeKey, Incident, list[RerouteAdvice]], tuple[EdgeKey, Incident]]:
    """A closure the product diverts around, and one it cannot (no way around)."""
    rg = build_routable_graph(DEMO_OSM)
    ctx = RerouteContext.build(rg, load_network(DEMO_OSM))
    cfg = reroute_config(Settings(reroute_allow_residential=True))
    diverted = stuck = None
    for e in sorted(rg.graph.edges(keys=True)):
        d = rg.data(e)
        inc = _incident(f"inc-{e[0]}-{e[1]}", int(d["osmid"]), e[0])
        # the edge must be the one the way and node name (the first leaving the node)
        if rg.edge_on_way(int(d["osmid"]), e[0]) != e:
            continue
        out = advise(inc, e, ctx, {}, STARTS, cfg)
        if diverted is None and out[0].kind == "diversion":
            diverted = (e, inc, out)
        if stuck is None and out[0].reason == "no_alternative":
            # starting later, it is not among the active incidents the first one's advice avoids
            stuck = (e, msgspec.structs.replace(inc, starts_at=STARTS + timedelta(hours=1)))
        if diverted and stuck:
            return diverted, stuck
    raise AssertionError("the demo graph should have both kinds of closure")


async def _scenario(env: dict[str, str]) -> None:
    boot = env["AIGUILLEUR_KAFKA_BOOTSTRAP"]
    topics = TopicNames(env["AIGUILLEUR_TOPIC_NAMESPACE"])
    group = f"{env['AIGUILLEUR_APP_ID']}-reroute"
    (_, inc, want), (_, stuck) = _cases()
    enc = msgspec.json.encode
    bad = [
        (b"bad-1", b"{not json"),
        (b"bad-2", enc(_incident("bad-2", 999_999_999, 1))),  # a way the graph does not have
        (b"other-key", enc(_incident("bad-3", 1, 1))),
        (b"bad-4", enc({**msgspec.to_builtins(_incident("bad-4", 1, 1)), "kind": "flood"})),
    ]
    good = [(inc.incident_id.encode(), enc(inc)), (stuck.incident_id.encode(), enc(stuck))]
    await produce(boot, topics.incidents, good + bad)
    await wait_consumed(boot, group, [topics.incidents], timeout_s=120)

    recs = await collect(boot, topics.reroute_advice, len(want) + 1, timeout_s=30)
    got = [msgspec.json.decode(r.value or b"", type=RerouteAdvice) for r in recs]
    diversions = sorted(
        (a for a in got if a.incident_id == inc.incident_id), key=lambda a: a.advice_id
    )
    assert [a.advice_id for a in diversions] == sorted(a.advice_id for a in want)
    assert diversions == sorted(want, key=lambda a: a.advice_id)  # same advice, field by field
    assert all(a.status == "proposed" and a.alternatives for a in diversions)
    (none,) = [a for a in got if a.incident_id == stuck.incident_id]
    assert (none.kind, none.reason) == ("no_diversion", "no_alternative")
    assert "No diversion" in none.explanation.text_en
    assert "Pas de déviation" in none.explanation.text_fr

    dlq = await collect(boot, topics.incident_dead_letters, len(bad), timeout_s=30)
    by_value = {r.value: r for r in dlq}
    assert set(by_value) == {v for _, v in bad}
    codes = {v: by_value[v].headers[DLQ_HEADER_CODE].decode() for _, v in bad}
    assert [codes[v] for _, v in bad] == ["malformed", "location", "key_mismatch", "invalid"]
    reason = by_value[bad[1][1]].headers[DLQ_HEADER_REASON].decode()
    assert "999999999" in reason
    assert "not a drivable way" in reason

    # cleared: the stage withdraws what it advised
    cleared = msgspec.structs.replace(inc, status="cleared")
    await produce(boot, topics.incidents, [(inc.incident_id.encode(), enc(cleared))])
    await wait_consumed(boot, group, [topics.incidents], timeout_s=60)
    recs = await collect(boot, topics.reroute_advice, len(want) + 2, timeout_s=30)
    last = msgspec.json.decode(recs[-1].value or b"", type=RerouteAdvice)
    assert (last.incident_id, last.kind, last.reason) == (
        inc.incident_id,
        "no_diversion",
        "incident_cleared",
    )


def test_incidents_to_advice_and_dead_letters(
    reroute_env: dict[str, str], tmp_path: Path, kafka_bootstrap: str
) -> None:
    del kafka_bootstrap
    w = WorkerProcess(reroute_env, tmp_path / "worker")
    w.start()
    try:
        asyncio.run(_scenario(reroute_env))
    finally:
        if w.alive():
            w.stop(signal.SIGTERM)
        sys.stderr.write(w.log_text()[-4000:])
    assert os.path.exists(w.logs[0])
