"""``aiguilleur graph``: build the signal-controlled network from OSM, inspect a junction."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import msgspec
import typer

app = typer.Typer(
    help="The city's signal-controlled network (OpenStreetMap).",
    no_args_is_help=True,
    add_completion=False,
)


def default_cache_dir() -> Path:
    """AIGUILLEUR_CACHE_DIR/graph, else ~/.cache/aiguilleur/graph."""
    env = os.environ.get("AIGUILLEUR_CACHE_DIR")
    base = Path(env) if env else Path.home() / ".cache" / "aiguilleur"
    return base / "graph"


CacheOpt = Annotated[
    Path | None,
    typer.Option("--cache-dir", help="cache folder (default ~/.cache/aiguilleur/graph)"),
]
NoCacheOpt = Annotated[bool, typer.Option("--no-cache", help="build again, ignore the cache")]


def _fail(e: Exception) -> typer.Exit:
    print(f"error: {e}", file=sys.stderr)
    return typer.Exit(2)


@app.command("build")
def build_cmd(
    file: Annotated[Path, typer.Argument(help=".osm, .osm.gz, .osm.bz2 or .osm.pbf file")],
    geojson: Annotated[Path | None, typer.Option("--geojson", help="write GeoJSON here")] = None,
    png: Annotated[
        Path | None, typer.Option("--png", help="write a PNG map (junctions over the streets)")
    ] = None,
    streets: Annotated[
        Path | None,
        typer.Option(
            "--streets-geojson", help="write the routable graph's streets as GeoJSON here"
        ),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="write the network model as JSON here")
    ] = None,
    registry: Annotated[
        Path | None, typer.Option("--registry", help="detector CSV/GeoJSON to map")
    ] = None,
    cache_dir: CacheOpt = None,
    no_cache: NoCacheOpt = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the summary as JSON")] = False,
) -> None:
    """Build the network of FILE and print a summary."""
    from graph.errors import GraphError
    from graph.export import summary, write_geojson, write_png
    from graph.osm import load_network_with_report
    from graph.registry import load_registry

    try:
        network, report = load_network_with_report(
            file, cache_dir=None if no_cache else (cache_dir or default_cache_dir())
        )
        reg = load_registry(registry, network) if registry is not None else None
    except GraphError as e:
        raise _fail(e) from e
    info = summary(network, reg)
    info["seconds"] = round(report.seconds, 3)
    info["from_cache"] = report.from_cache
    if not report.from_cache:
        info["signal_nodes"] = report.n_signal_nodes
        info["dropped_clusters"] = [f"{jid}: {why}" for jid, why in report.dropped]
    if as_json:
        print(json.dumps(info, ensure_ascii=False, indent=2))
    else:
        _print_summary(info)
        if reg is not None:
            for u in reg.unmapped:
                print(f"  unmapped {u.detector_id} (line {u.line}): {u.reason}")
    if geojson is not None:
        write_geojson(network, geojson)
        print(f"wrote {geojson}")
    rg = None
    if png is not None or streets is not None:
        from graph.routing import build_routable_graph

        try:
            rg = build_routable_graph(file)
        except GraphError as e:
            raise _fail(e) from e
    if streets is not None and rg is not None:
        from graph.export import streets_geojson

        streets.write_text(json.dumps(streets_geojson(rg), ensure_ascii=False), encoding="utf-8")
        print(f"wrote {streets} ({rg.graph.number_of_edges()} street edges)")
    if png is not None:
        write_png(network, png, title=file.name, streets=rg)
        print(f"wrote {png}")
    if out is not None:
        out.write_bytes(msgspec.json.encode(network))
        print(f"wrote {out}")


def _print_summary(info: dict[str, object]) -> None:
    origin = "cache" if info["from_cache"] else "build"
    print(f"{info['source']}  ({origin}, {info['seconds']} s)")
    for key in ("junctions", "approaches", "lanes", "movements", "phases", "zones", "links"):
        print(f"  {key:<12}{info[key]}")
    if "detectors" in info:
        print(
            f"  {'detectors':<12}{info['detectors']} mapped, {info['unmapped_detectors']} unmapped"
        )
    guesses = info["guesses"]
    if isinstance(guesses, dict) and guesses:
        print("  guessed (defaults, not OSM tags):")
        for k, v in guesses.items():
            print(f"    {k:<32}{v}")
    dropped = info.get("dropped_clusters")
    if isinstance(dropped, list) and dropped:
        print("  signal clusters left out:")
        for d in dropped:
            print(f"    {d}")


@app.command("show")
def show_cmd(
    junction_id: Annotated[str, typer.Argument(help="junction id, e.g. osm-25932604")],
    source: Annotated[Path, typer.Option("--source", help="the OSM file")],
    cache_dir: CacheOpt = None,
    no_cache: NoCacheOpt = False,
) -> None:
    """Describe one junction: approaches, movements, phases, guesses."""
    from graph.errors import GraphError
    from graph.export import junction_text
    from graph.osm import load_network

    try:
        network = load_network(
            source, cache_dir=None if no_cache else (cache_dir or default_cache_dir())
        )
    except GraphError as e:
        raise _fail(e) from e
    try:
        junction = network.junction(junction_id)
    except KeyError:
        close = sorted(j.id for j in network.junctions if junction_id.lower() in j.id.lower())
        hint = f"; did you mean {', '.join(close[:5])}?" if close else ""
        print(
            f"error: no junction {junction_id!r} in {source} "
            f"({len(network.junctions)} junctions; `aiguilleur graph build` lists them){hint}",
            file=sys.stderr,
        )
        raise typer.Exit(2) from None
    print(junction_text(junction))
