"""The ``aiguilleur`` command."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from aiguilleur.settings import REPO_ROOT, Settings

app = typer.Typer(
    help="aiguilleur: traffic-signal recommendations from live detector counts.",
    no_args_is_help=True,
    add_completion=False,
)
schemas_app = typer.Typer(help="The topics' JSON Schemas.", no_args_is_help=True)
app.add_typer(schemas_app, name="schemas")


def _settings(**overrides: object) -> Settings:
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})  # type: ignore[arg-type]  # pydantic validates
    except ValidationError as e:
        for err in e.errors():
            if err["loc"]:
                var = "AIGUILLEUR_" + "_".join(str(x) for x in err["loc"]).upper()
                print(f"configuration error: {var}: {err['msg']}", file=sys.stderr)
            else:  # a check of several variables: its message names them
                print(f"configuration error: {err['msg']}", file=sys.stderr)
        raise typer.Exit(2) from e


@app.command()
def worker() -> None:
    """Run a stream-processing worker (configured by AIGUILLEUR_* environment variables)."""
    from aiguilleur.worker import run_worker

    run_worker(_settings())


@app.command("replay")
def replay_cmd(
    file: Annotated[
        Path,
        typer.Argument(help="CSV (or .csv.gz): detector_id,interval_end,interval_s,count[,...]"),
    ],
    speed: Annotated[float, typer.Option(help="Times real time; 0 = as fast as possible.")] = 60.0,
    rebase_now: Annotated[
        bool,
        typer.Option(
            "--rebase/--no-rebase",
            help="Move the times so the file ends now (a worker refuses dates ahead of its clock).",
        ),
    ] = True,
) -> None:
    """Replay a counts file onto the input topic."""
    from aiguilleur.replay import BadRow, ReplayFileError, read_counts, rebase_to_now, replay

    s = _settings()
    bad: list[BadRow] = []
    try:
        readings = read_counts(file, bad)
    except ReplayFileError as e:
        print(f"error: {e}", file=sys.stderr)
        raise typer.Exit(2) from e
    for b in bad:
        print(f"skipped {file}:{b.line}: {b.reason}", file=sys.stderr)
    if rebase_now:
        readings = rebase_to_now(readings, s.control_period_s)
    from aiguilleur.wiring import kafka_connection, streams_config
    from aiguilleur.worker import ensure_topics
    from streams.topics import TopicNames

    topics = TopicNames(s.topic_namespace)
    asyncio.run(ensure_topics(streams_config(s), topics))  # with our partitions, not auto-created
    n = asyncio.run(replay(readings, kafka_connection(s), topics.counts, speed))
    print(f"{n} readings sent, {len(bad)} rows skipped")


@app.command()
def plans(
    follow: Annotated[
        bool, typer.Option("--follow/--no-follow", help="Keep waiting for new plans.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print each plan as JSON.")] = False,
) -> None:
    """Print the recommended plans on the plans topic."""
    from aiguilleur.follow import PLAN_HEADER, decode_plan, format_plan, records
    from aiguilleur.wiring import kafka_connection
    from streams.topics import TopicNames

    s = _settings()

    async def show() -> None:
        if not as_json:
            print(PLAN_HEADER)
        async for rec in records(
            kafka_connection(s),
            TopicNames(s.topic_namespace).plans,
            to_end=not follow,
        ):
            if rec.value is not None:
                print(
                    rec.value.decode() if as_json else format_plan(decode_plan(rec.value)),
                    flush=True,
                )

    asyncio.run(show())


@app.command("dead-letters")
def dead_letters() -> None:
    """Print the rejected input records with their reasons."""
    from aiguilleur.follow import records
    from aiguilleur.wiring import kafka_connection
    from streams.events import DLQ_HEADER_CODE, DLQ_HEADER_OFFSET, DLQ_HEADER_REASON
    from streams.topics import TopicNames

    s = _settings()

    async def show() -> None:
        async for rec in records(
            kafka_connection(s), TopicNames(s.topic_namespace).dead_letters, to_end=True
        ):
            h = rec.headers
            print(
                f"offset {h.get(DLQ_HEADER_OFFSET, b'?').decode()} "
                f"[{h.get(DLQ_HEADER_CODE, b'?').decode()}] "
                f"{h.get(DLQ_HEADER_REASON, b'').decode()}: "
                f"{(rec.value or b'')[:120]!r}"
            )

    asyncio.run(show())


@app.command()
def demo(
    speed: Annotated[float, typer.Option(help="Replay speed, times real time.")] = 60.0,
    keep_broker: Annotated[
        bool, typer.Option(help="Leave the local broker running afterwards.")
    ] = False,
    source: Annotated[
        str,
        typer.Option(
            help="counts: the recorded demo counts; twin: counts of a run of the demo city's "
            "SUMO twin, whose demand is fitted to them."
        ),
    ] = "counts",
    operator: Annotated[
        bool,
        typer.Option(
            "--operator/--no-operator",
            help="Also run PostgreSQL and the operator API, and approve one plan as an operator.",
        ),
    ] = True,
) -> None:
    """Start the local broker and a worker, replay the demo city's counts, print plans as they
    arrive; an operator approves one through the operator API and the active plan is published."""
    from aiguilleur.demo import run_demo

    if source not in ("counts", "twin"):
        print(f"error: --source must be counts or twin, not {source!r}", file=sys.stderr)
        raise typer.Exit(2)
    n = run_demo(
        speed,
        lambda line: print(line, flush=True),
        keep_broker,
        "twin" if source == "twin" else "counts",
        operator,
    )
    if n < 0:
        raise typer.Exit(130)  # interrupted, as a shell reports Ctrl-C
    if n == 0:
        raise typer.Exit(1)


@schemas_app.command("export")
def schemas_export(
    out: Annotated[Path, typer.Option(help="Folder to write into.")] = REPO_ROOT / "schemas",
    check: Annotated[bool, typer.Option(help="Only check that the files are up to date.")] = False,
) -> None:
    """Write (or check) one JSON Schema file per topic, generated from the event types."""
    from streams.schemas import schema_files

    stale = []
    for name, text in schema_files().items():
        path = out / name
        if check:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            path.write_text(text)
            print(f"wrote {path}")
    if stale:
        print(f"out of date: {', '.join(stale)}; run `aiguilleur schemas export`", file=sys.stderr)
        raise typer.Exit(1)


@app.command()
def settings() -> None:
    """Print the effective settings (secrets hidden)."""
    print(json.dumps(_settings().model_dump(mode="json"), indent=2))


@app.command()
def decisions(
    follow: Annotated[
        bool, typer.Option("--follow/--no-follow", help="Keep waiting for new decisions.")
    ] = False,
) -> None:
    """Print the live-control decisions (JSON, one per line) on the decisions topic."""
    from aiguilleur.follow import records
    from aiguilleur.wiring import kafka_connection
    from streams.topics import TopicNames

    s = _settings()

    async def show() -> None:
        async for rec in records(
            kafka_connection(s),
            TopicNames(s.topic_namespace).decisions,
            to_end=not follow,
        ):
            if rec.value is not None:
                print(rec.value.decode(), flush=True)

    asyncio.run(show())


def _mount_optional() -> None:
    # Sub-commands of other packages; each is optional so a partial install still runs the core.
    from aiguilleur.cli_envelopes import app as envelopes_app
    from aiguilleur.cli_operator import audit_app, serve

    app.command("api")(serve)
    app.add_typer(audit_app, name="audit", help="The audit trail: verify, replay, keygen.")

    app.add_typer(envelopes_app, name="envelopes", help="Approve live-control envelopes.")
    from aiguilleur.cli_recommendations import app as recommendations_app
    from aiguilleur.cli_recommendations import (
        policies_app,
        resume_cmd,
        suspend_cmd,
        suspensions_cmd,
    )

    app.add_typer(
        recommendations_app, name="recommendations", help="Decide on pending recommendations."
    )
    app.command("suspend")(suspend_cmd)
    app.command("resume")(resume_cmd)
    app.command("suspensions")(suspensions_cmd)
    app.add_typer(policies_app, name="policies", help="Administrators' auto-approval policies.")
    from aiguilleur.cli_import import app as import_app

    app.add_typer(import_app, name="import", help="Import counts from CSV exports and DATEX II.")

    from aiguilleur.cli_incidents import app as incidents_app

    app.add_typer(
        incidents_app, name="incidents", help="Closures and congestion, and their reroute advice."
    )
    try:
        from aiguilleur.cli_graph import app as graph_app

        app.add_typer(graph_app, name="graph", help="Build and inspect the road network model.")
    except ImportError:
        pass
    try:
        from aiguilleur.cli_twin import app as twin_app

        app.add_typer(
            twin_app, name="twin", help="Digital twin: SUMO evaluation and what-if reports."
        )
    except ImportError:
        pass


_mount_optional()


KAFKA_EXIT_CODE = 3
"""Exit status of a command that could not reach Kafka or was refused by it."""


def main() -> None:
    """Console entry point."""
    from streams.errors import KafkaUnavailable

    try:
        app()
    except KafkaUnavailable as e:
        # One line that says what and what to do, instead of a traceback.
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(KAFKA_EXIT_CODE) from e
