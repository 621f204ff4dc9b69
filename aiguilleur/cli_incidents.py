"""``aiguilleur incidents``: declare and clear closures and congestion, read the reroute advice,
or preview the advice offline."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from streams.context import StreamsConfig
    from streams.events import Incident
    from streams.kafka import KafkaConnection

app = typer.Typer(
    help="Incidents (closures, congestion) and the reroute advice they get.",
    no_args_is_help=True,
    add_completion=False,
)

WayOpt = Annotated[int | None, typer.Option("--way", help="OSM way id of the affected road.")]
FromOpt = Annotated[
    int | None, typer.Option("--from-node", help="OSM node the traffic comes from, on that way.")
]
ToOpt = Annotated[
    int | None,
    typer.Option("--to-node", help="Last OSM node of the affected stretch (default: one link)."),
]
KindOpt = Annotated[str, typer.Option("--kind", help="closure or congestion.")]
FactorOpt = Annotated[
    float,
    typer.Option("--capacity-factor", help="Share of capacity left (0: fully closed)."),
]
FlowOpt = Annotated[
    float | None, typer.Option("--flow", help="Veh/h on the link before the incident, if known.")
]


def _fail(message: str) -> typer.Exit:
    print(f"error: {message}", file=sys.stderr)
    return typer.Exit(2)


def _incident(
    incident_id: str,
    kind: str,
    way: int | None,
    from_node: int | None,
    to_node: int | None,
    lat: float | None,
    lon: float | None,
    bearing: float | None,
    capacity_factor: float,
    flow: float | None,
    hours: float,
    by: str,
    note: str,
) -> Incident:
    import msgspec

    from streams.events import Incident, IncidentLocation

    now = datetime.now(UTC).replace(microsecond=0)
    raw = {
        "incident_id": incident_id,
        "kind": kind,
        "location": msgspec.to_builtins(
            IncidentLocation(
                osm_way_id=way,
                from_node=from_node,
                to_node=to_node,
                lat=lat,
                lon=lon,
                bearing_deg=bearing,
            )
        ),
        "capacity_factor": capacity_factor,
        "flow_vph": flow,
        "starts_at": now.isoformat(),
        "ends_at": (now + timedelta(hours=hours)).isoformat() if hours > 0 else None,
        "reported_by": by,
        "note": note,
    }
    try:
        # through the decoder, so the CLI accepts exactly what the topic accepts
        return msgspec.json.decode(msgspec.json.encode(raw), type=Incident)
    except msgspec.ValidationError as e:
        raise _fail(str(e)) from e


@app.command("declare")
def declare_cmd(
    by: Annotated[str, typer.Option("--by", help="Who declares it (name on record).")],
    incident_id: Annotated[
        str, typer.Option("--id", help="Incident id (default: generated).")
    ] = "",
    kind: KindOpt = "closure",
    way: WayOpt = None,
    from_node: FromOpt = None,
    to_node: ToOpt = None,
    lat: Annotated[float | None, typer.Option(help="Latitude (instead of --way).")] = None,
    lon: Annotated[float | None, typer.Option(help="Longitude.")] = None,
    bearing: Annotated[float | None, typer.Option(help="Direction of travel (deg).")] = None,
    capacity_factor: FactorOpt = 0.0,
    flow: FlowOpt = None,
    hours: Annotated[float, typer.Option(help="Expected duration (0: until cleared).")] = 0.0,
    note: Annotated[str, typer.Option(help="Free text for the record.")] = "",
) -> None:
    """Declare an incident on the incidents topic; the rerouting stage answers with advice."""
    import msgspec

    from aiguilleur.cli import _settings
    from aiguilleur.wiring import streams_config
    from aiguilleur.worker import ensure_topics
    from streams.topics import TopicNames

    iid = incident_id or f"{kind}-{datetime.now(UTC):%Y%m%dT%H%M%S}"
    inc = _incident(
        iid,
        kind,
        way,
        from_node,
        to_node,
        lat,
        lon,
        bearing,
        capacity_factor,
        flow,
        hours,
        by,
        note,
    )
    s = _settings()
    cfg = streams_config(s)
    topics = TopicNames(s.topic_namespace)
    asyncio.run(ensure_topics(cfg, topics, reroute=True))
    asyncio.run(_send(cfg, topics.incidents, iid, msgspec.json.encode(inc)))
    print(f"declared {iid} on {topics.incidents}")


@app.command("clear")
def clear_cmd(
    incident_id: Annotated[str, typer.Argument(help="The incident to clear.")],
    by: Annotated[str, typer.Option("--by", help="Who clears it (name on record).")],
) -> None:
    """Clear an incident: its last record again, with status ``cleared``."""
    import msgspec

    from aiguilleur.cli import _settings
    from aiguilleur.wiring import kafka_connection, streams_config
    from streams.topics import TopicNames

    s = _settings()
    topics = TopicNames(s.topic_namespace)
    found = asyncio.run(_on_record(kafka_connection(s), topics.incidents))
    last = found.get(incident_id)
    if last is None:
        raise _fail(
            f"no incident {incident_id!r} on {topics.incidents}; `incidents list` shows them"
        )
    cleared = msgspec.structs.replace(last, status="cleared", reported_by=by)
    asyncio.run(
        _send(streams_config(s), topics.incidents, incident_id, msgspec.json.encode(cleared))
    )
    print(f"cleared {incident_id} on {topics.incidents}")


@app.command("list")
def list_cmd() -> None:
    """Print the active incidents on record."""
    from aiguilleur.cli import _settings
    from aiguilleur.wiring import kafka_connection
    from streams.topics import TopicNames

    s = _settings()
    found = asyncio.run(_on_record(kafka_connection(s), TopicNames(s.topic_namespace).incidents))
    for iid, inc in sorted(found.items()):
        if inc.status == "cleared":
            continue
        loc = inc.location
        where = (
            f"way {loc.osm_way_id} from node {loc.from_node}"
            if loc.osm_way_id is not None
            else f"{loc.lat}, {loc.lon} bearing {loc.bearing_deg}"
        )
        print(
            f"{iid:<28} {inc.kind:<10} {where}  capacity {inc.capacity_factor:.0%}  "
            f"since {inc.starts_at:%Y-%m-%d %H:%M}Z  by {inc.reported_by!r}"
        )


@app.command("advice")
def advice_cmd(
    follow: Annotated[bool, typer.Option("--follow/--no-follow", help="Keep waiting.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the JSON events.")] = False,
    french: Annotated[bool, typer.Option("--fr", help="Print the French text.")] = False,
) -> None:
    """Print the reroute advice on the advice topic."""
    import msgspec

    from aiguilleur.cli import _settings
    from aiguilleur.follow import records
    from aiguilleur.wiring import kafka_connection
    from streams.events import RerouteAdvice
    from streams.topics import TopicNames

    s = _settings()
    decoder = msgspec.json.Decoder(RerouteAdvice)

    async def show() -> None:
        async for rec in records(
            kafka_connection(s), TopicNames(s.topic_namespace).reroute_advice, to_end=not follow
        ):
            if rec.value is None:
                continue
            if as_json:
                print(rec.value.decode(), flush=True)
                continue
            a = decoder.decode(rec.value)
            text = a.explanation.text_fr if french else a.explanation.text_en
            print(f"{a.incident_id} [{a.kind}] {a.advice_id}: {text}", flush=True)

    asyncio.run(show())


@app.command("preview")
def preview_cmd(
    way: WayOpt = None,
    from_node: FromOpt = None,
    to_node: ToOpt = None,
    lat: Annotated[float | None, typer.Option(help="Latitude (instead of --way).")] = None,
    lon: Annotated[float | None, typer.Option(help="Longitude.")] = None,
    bearing: Annotated[float | None, typer.Option(help="Direction of travel (deg).")] = None,
    kind: KindOpt = "closure",
    capacity_factor: FactorOpt = 0.0,
    flow: FlowOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the JSON events.")] = False,
) -> None:
    """The advice the rerouting stage would give, computed here without Kafka (no measured
    flows: declared with --flow, else assumed from capacity)."""
    import msgspec

    from aiguilleur.cli import _settings
    from aiguilleur.wiring import load_network, reroute_setup
    from graph.errors import GraphError
    from graph.locate import EdgeLocator
    from streams.errors import RejectedReading
    from streams.reroute_stage import locate
    from streams.rerouting import advise

    s = _settings()
    inc = _incident(
        "preview",
        kind,
        way,
        from_node,
        to_node,
        lat,
        lon,
        bearing,
        capacity_factor,
        flow,
        0,
        "cli",
        "",
    )
    try:
        network = load_network(s.network_file, s.cache_dir)
        setup = reroute_setup(s, network, [])
    except GraphError as e:
        raise _fail(str(e)) from e
    try:
        stretch = locate(inc.location, setup.context, EdgeLocator(setup.context.rg))
    except RejectedReading as e:
        raise _fail(e.reason) from e
    for a in advise(inc, stretch, setup.context, {}, datetime.now(UTC), setup.config):
        print(msgspec.json.encode(a).decode() if as_json else a.explanation.text_en)


async def _send(cfg: StreamsConfig, topic: str, key: str, value: bytes) -> None:
    from streams import kafka

    producer = kafka.producer(cfg.kafka, acks="all", client_id="aiguilleur-incidents")
    await kafka.start(producer, cfg.kafka)
    try:
        await producer.send_and_wait(topic, key=key.encode(), value=value)
    finally:
        await kafka.stop(producer, cfg.kafka)


async def _on_record(conn: KafkaConnection, topic: str) -> dict[str, Incident]:
    import msgspec

    from aiguilleur.follow import records
    from streams.events import Incident

    decoder = msgspec.json.Decoder(Incident)
    out: dict[str, Incident] = {}
    async for rec in records(conn, topic, to_end=True):
        try:
            inc = decoder.decode(rec.value or b"")
        except (msgspec.DecodeError, msgspec.ValidationError):
            continue
        out[inc.incident_id] = inc
    return out
