"""Readings from an integrator's CSV export, parsed with polars along a :class:`CsvMapping`.

Every row becomes a reading or a :class:`~importers.model.Rejected` with its line and reason:
a file never stops on a bad row. The whole file is parsed column-wise (polars), then each
candidate reading is validated against the input topic's contract (``TrafficCount``), so what
an import accepts is exactly what the worker accepts.
"""

from __future__ import annotations

import gzip
import io
import math
from datetime import date, datetime, timedelta
from pathlib import Path

import msgspec
import polars as pl

from importers.errors import ImportFileError
from importers.mapping import CsvMapping
from importers.model import ImportResult, Rejected
from streams.events import TrafficCount

_LINE = "__line"
_RANGES = {"occupancy": (0.0, 1.0), "speed": (0.0, 300.0)}
"""What the input topic accepts for the optional values (``TrafficCount``)."""


def _read_bytes(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except FileNotFoundError as e:
        raise ImportFileError(str(path), "file not found") from e
    except OSError as e:
        raise ImportFileError(str(path), f"cannot read: {e.strerror or e}") from e
    if path.suffix == ".gz":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as e:
            raise ImportFileError(str(path), f"not a readable gzip file: {e}") from e
    return data


def _text(data: bytes, mapping: CsvMapping, source: str) -> bytes:
    """The file as UTF-8 (polars reads UTF-8), without a byte-order mark."""
    if mapping.encoding == "latin-1":
        return data.decode("cp1252", errors="replace").encode("utf-8")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise ImportFileError(
            source,
            f"not UTF-8 (byte {data[e.start]:#04x})",
            'set encoding = "latin-1" in the mapping if the export is Windows-1252',
            line,
        ) from e
    return text.encode("utf-8")


def _frame(path: Path, mapping: CsvMapping) -> pl.DataFrame:
    source = str(path)
    data = _text(_read_bytes(path), mapping, source)
    if not data.strip():
        raise ImportFileError(source, "empty file")
    try:
        df = pl.read_csv(
            io.BytesIO(data),
            separator=mapping.separator,
            infer_schema=False,
            truncate_ragged_lines=False,
        )
    except (pl.exceptions.ComputeError, pl.exceptions.NoDataError) as e:
        raise ImportFileError(source, f"not a CSV with separator {mapping.separator!r}: {e}") from e
    wanted = [
        c
        for c in (
            mapping.detector_column,
            mapping.time_column,
            mapping.count_column,
            mapping.occupancy_column,
            mapping.speed_column,
        )
        if c is not None
    ]
    missing = [c for c in wanted if c not in df.columns]
    if missing:
        raise ImportFileError(
            source,
            f"missing column(s) {', '.join(repr(c) for c in missing)} "
            f"(the file has {', '.join(repr(c) for c in df.columns)})",
            f"check the separator ({mapping.separator!r}) and the mapping {mapping.name!r}",
            1,
        )
    return df.with_row_index(_LINE, offset=2)


def _number(col: str, mapping: CsvMapping) -> pl.Expr:
    text = pl.col(col).str.strip_chars()
    if mapping.decimal_comma:
        text = text.str.replace_all(",", ".", literal=True)
    return text.cast(pl.Float64, strict=False)


def _times(col: str, mapping: CsvMapping, day: date | None) -> pl.Expr:
    text = pl.col(col).str.strip_chars()
    fmt = mapping.time_format
    if mapping.needs_date:
        assert day is not None
        text = pl.lit(day.isoformat() + " ") + text
        fmt = "%Y-%m-%d " + fmt
    if mapping.time_has_offset:
        return text.str.to_datetime(fmt, strict=False, time_zone="UTC")
    naive = text.str.to_datetime(fmt, strict=False)
    return naive.dt.replace_time_zone(
        mapping.timezone, ambiguous="earliest", non_existent="null"
    ).dt.convert_time_zone("UTC")


def import_csv(path: Path, mapping: CsvMapping, day: date | None = None) -> ImportResult:
    """Readings of one CSV export; ``day`` dates the rows of a format whose times have no date."""
    source = str(path)
    if mapping.needs_date and day is None:
        raise ImportFileError(
            source,
            f"the {mapping.name!r} format's times ({mapping.time_format}) have no date",
            "give the day the file covers (--date YYYY-MM-DD)",
        )
    df = _frame(path, mapping)
    stem = path.name.split(".")[0]
    detector = (
        pl.lit(stem) if mapping.detector_column is None else pl.col(mapping.detector_column)
    ).str.strip_chars()
    exprs = [
        pl.col(_LINE),
        (pl.lit(mapping.detector_prefix) + detector).alias("detector_id"),
        detector.alias("raw_detector"),
        _times(mapping.time_column, mapping, day).alias("time"),
        pl.col(mapping.time_column).alias("raw_time"),
        _number(mapping.count_column, mapping).alias("count"),
        pl.col(mapping.count_column).alias("raw_count"),
    ]
    for field_name, col in (
        ("occupancy", mapping.occupancy_column),
        ("speed", mapping.speed_column),
    ):
        if col is not None:
            exprs += [
                _number(col, mapping).alias(field_name),
                pl.col(col).alias(f"raw_{field_name}"),
            ]
    rows = df.select(exprs).to_dicts()
    out = ImportResult()
    for row in rows:
        line = int(row[_LINE])
        notes: list[str] = []
        reading = _reading(row, mapping, notes)
        if isinstance(reading, str):
            out.rejected.append(Rejected(source, line, reading))
            continue
        out.readings.append(reading)
        out.rejected.extend(Rejected(source, line, f"{n}: left out, count kept") for n in notes)
    return out


def _reading(row: dict[str, object], mapping: CsvMapping, notes: list[str]) -> TrafficCount | str:
    """The reading of one parsed row, or why there is none. An occupancy or speed that is not a
    number or out of range is left out of the reading (the count is kept) and said in ``notes``:
    real exports carry ``inf`` occupancies now and then."""
    if not row["raw_detector"]:
        return "no detector id"
    time = row["time"]
    if not isinstance(time, datetime):
        return (
            f"time {row['raw_time']!r} in column {mapping.time_column!r} does not match "
            f"{mapping.time_format!r}"
        )
    count = row["count"]
    if count is None:
        raw = row["raw_count"]
        what = "empty" if raw in (None, "") else f"not a number: {raw!r}"
        return f"count {what} (column {mapping.count_column!r})"
    assert isinstance(count, float)
    vehicles = count * mapping.interval_s / 3600.0 if mapping.count_unit == "veh/h" else count
    record: dict[str, object] = {
        "detector_id": row["detector_id"],
        "interval_end": time + timedelta(seconds=mapping.interval_s)
        if mapping.time_marks == "start"
        else time,
        "interval_s": mapping.interval_s,
        "count": round(vehicles),
    }
    for name, col in (("occupancy", mapping.occupancy_column), ("speed", mapping.speed_column)):
        if col is None or row.get(f"raw_{name}") in (None, ""):
            continue
        value = row[name]
        if value is None:
            notes.append(f"{name} not a number: {row[f'raw_{name}']!r} (column {col!r})")
            continue
        assert isinstance(value, float)
        if name == "occupancy":
            value = value / 100.0 if mapping.occupancy_unit == "percent" else value
        low, high = _RANGES[name]
        if not (math.isfinite(value) and low <= value <= high):
            notes.append(
                f"{name} {row[f'raw_{name}']!r} (column {col!r}) outside {low:g}..{high:g}"
            )
            continue
        record["occupancy" if name == "occupancy" else "mean_speed_kmh"] = value
    try:
        return msgspec.convert(record, TrafficCount)
    except msgspec.ValidationError as e:
        return str(e)
