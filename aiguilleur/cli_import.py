"""``aiguilleur import``: integrators' CSV exports and DATEX II publications into readings, written
as the counts CSV ``aiguilleur replay`` reads, or published on the input topic."""

from __future__ import annotations

import asyncio
import sys
from datetime import date
from pathlib import Path
from typing import Annotated, Literal

import typer

from importers import (
    PRESETS,
    ImporterError,
    ImportResult,
    import_csv,
    import_datex2,
    resolve_mapping,
    write_replay_csv,
)
from importers.datex2 import read_site_table

app = typer.Typer(
    help="Import counts from integrators' formats (CSV exports, DATEX II).",
    no_args_is_help=True,
    add_completion=False,
)

FilesArg = Annotated[list[Path], typer.Argument(help="files to import (.csv, .csv.gz, .xml)")]
OutOpt = Annotated[
    Path | None,
    typer.Option("--out", "-o", help="write the readings as a counts CSV (aiguilleur replay's)"),
]
PublishOpt = Annotated[
    bool, typer.Option("--publish", help="publish the readings on the input topic as they are")
]


def _finish(result: ImportResult, out: Path | None, publish: bool) -> None:
    for r in result.rejected:
        print(f"skipped {r}", file=sys.stderr)
    readings = result.sorted()
    if not readings:
        print(f"error: nothing imported ({len(result.rejected)} rows rejected)", file=sys.stderr)
        raise typer.Exit(1)
    if out is not None:
        write_replay_csv(readings, out)
        print(f"{len(readings)} readings written to {out}", file=sys.stderr)
    if publish:
        from aiguilleur.cli import _settings
        from aiguilleur.replay import replay
        from aiguilleur.wiring import streams_config
        from aiguilleur.worker import ensure_topics
        from streams.topics import TopicNames

        s = _settings()
        topics = TopicNames(s.topic_namespace)
        cfg = streams_config(s)
        asyncio.run(ensure_topics(cfg, topics))
        n = asyncio.run(replay(readings, cfg.kafka, topics.counts, 0.0))
        print(f"{n} readings published on {topics.counts}", file=sys.stderr)
    if out is None and not publish:
        stdout = Path("/dev/stdout")
        write_replay_csv(readings, stdout)
    print(
        f"{len(readings)} readings imported, {len(result.rejected)} rows or values rejected",
        file=sys.stderr,
    )


@app.command("csv")
def csv_cmd(
    files: FilesArg,
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            help=f"a preset ({', '.join(PRESETS)}) or a column-mapping .toml file",
        ),
    ],
    day: Annotated[
        str | None,
        typer.Option("--date", help="the day the files cover, for formats whose times have none"),
    ] = None,
    out: OutOpt = None,
    publish: PublishOpt = False,
) -> None:
    """Import CSV exports (Paris open data, SIREDO stations, or your own columns)."""
    try:
        mapping = resolve_mapping(fmt)
        the_day = date.fromisoformat(day) if day else None
        result = ImportResult()
        for f in files:
            result.extend(import_csv(f, mapping, the_day))
    except ValueError as e:  # ImporterError subclasses and a bad --date
        print(f"error: {e}", file=sys.stderr)
        raise typer.Exit(2) from e
    _finish(result, out, publish)


@app.command("datex2")
def datex2_cmd(
    files: FilesArg,
    interval: Annotated[
        int | None,
        typer.Option(help="counting interval (s) where a value states no period"),
    ] = None,
    site_table: Annotated[
        Path | None,
        typer.Option(help="MeasurementSiteTablePublication: joins values of one lane"),
    ] = None,
    time_marks: Annotated[
        str, typer.Option(help="measurementTimeDefault stamps the interval's start or end")
    ] = "end",
    out: OutOpt = None,
    publish: PublishOpt = False,
) -> None:
    """Import DATEX II (v2) MeasuredDataPublication documents."""
    if time_marks not in ("start", "end"):
        print("error: --time-marks must be start or end", file=sys.stderr)
        raise typer.Exit(2)
    marks: Literal["start", "end"] = "start" if time_marks == "start" else "end"
    try:
        table = read_site_table(site_table) if site_table is not None else None
        result = ImportResult()
        for f in files:
            result.extend(import_datex2(f, interval, table, marks))
    except ImporterError as e:
        print(f"error: {e}", file=sys.stderr)
        raise typer.Exit(2) from e
    _finish(result, out, publish)
