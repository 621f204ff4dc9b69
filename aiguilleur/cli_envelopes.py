"""``aiguilleur envelopes``: approve, list and withdraw live-control envelopes."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime
from typing import Annotated

import typer

app = typer.Typer(
    help="Operator-approved envelopes for live control (the adaptive mode).",
    no_args_is_help=True,
    add_completion=False,
)


def _fail(message: str) -> typer.Exit:
    print(f"error: {message}", file=sys.stderr)
    return typer.Exit(2)


@app.command("approve")
def approve_cmd(
    by: Annotated[str, typer.Option("--by", help="Who approves (name on record).")],
    junction: Annotated[
        list[str] | None, typer.Option(help="Junction id (repeatable); default: every junction.")
    ] = None,
    cycle_min: Annotated[float, typer.Option(help="Shortest cycle allowed (s).")] = 40.0,
    cycle_max: Annotated[float, typer.Option(help="Longest cycle allowed (s).")] = 120.0,
    skip: Annotated[
        bool, typer.Option("--skip/--no-skip", help="May serve phases out of order.")
    ] = True,
    note: Annotated[str, typer.Option(help="Why, for the record.")] = "",
    dry_run: Annotated[bool, typer.Option(help="Print the envelopes, publish nothing.")] = False,
) -> None:
    """Approve envelopes built from the network model (AIGUILLEUR_NETWORK_FILE): its phases in
    order, their minimum and maximum greens and intergreens, and these cycle bounds."""
    import msgspec

    from aiguilleur.approval import approvals, publish
    from aiguilleur.cli import _settings
    from aiguilleur.wiring import load_network, streams_config
    from aiguilleur.worker import ensure_topics
    from optimizer.errors import InvalidEnvelope
    from streams.topics import TopicNames

    if not by.strip():
        raise _fail("--by must name who approves")
    s = _settings()
    network = load_network(s.network_file, s.cache_dir)
    try:
        events = approvals(
            network,
            junction,
            approved_by=by.strip(),
            approved_at=datetime.now(UTC),
            cycle_min_s=cycle_min,
            cycle_max_s=cycle_max,
            may_skip_phases=skip,
            note=note,
        )
    except (KeyError, InvalidEnvelope) as e:
        raise _fail(str(e)) from e
    if dry_run:
        for ev in events:
            print(msgspec.json.encode(ev).decode())
        return
    cfg = streams_config(s)
    topics = TopicNames(s.topic_namespace)
    asyncio.run(ensure_topics(cfg, topics, control=True))
    n = asyncio.run(publish(cfg, topics.envelopes, events))
    for ev in events:
        print(f"approved {ev.junction_id} envelope {ev.envelope_id}", file=sys.stderr)
    print(f"{n} envelope(s) approved by {by.strip()!r} on {topics.envelopes}")


@app.command("withdraw")
def withdraw_cmd(
    by: Annotated[str, typer.Option("--by", help="Who withdraws (name on record).")],
    junction: Annotated[list[str], typer.Option(help="Junction id (repeatable).")],
) -> None:
    """Withdraw approvals: the junctions get no live decision any more."""
    from aiguilleur.approval import publish
    from aiguilleur.cli import _settings
    from aiguilleur.wiring import streams_config
    from streams.topics import TopicNames

    s = _settings()
    topic = TopicNames(s.topic_namespace).envelopes
    n = asyncio.run(publish(streams_config(s), topic, withdraw=[(j, by) for j in junction]))
    print(f"{n} approval(s) withdrawn by {by!r} on {topic}")


@app.command("list")
def list_cmd() -> None:
    """Print the approvals on record."""
    from aiguilleur.approval import on_record
    from aiguilleur.cli import _settings
    from streams.topics import TopicNames

    s = _settings()
    found = asyncio.run(on_record(s.kafka_bootstrap, TopicNames(s.topic_namespace).envelopes))
    for j, ev in sorted(found.items()):
        greens = " ".join(
            f"P{p}:{ev.min_green_s[p]:g}-{ev.max_green_s[p]:g}s" for p in ev.phase_order
        )
        print(
            f"{j:<20} {ev.envelope_id}  cycle {ev.cycle_min_s:g}-{ev.cycle_max_s:g}s  {greens}  "
            f"skip={'yes' if ev.may_skip_phases else 'no'}  by {ev.approved_by!r} "
            f"at {ev.approved_at:%Y-%m-%d %H:%M}Z"
        )
