"""How the columns of an integrator's CSV export map onto a reading (:class:`CsvMapping`), read
from TOML, and the presets of the formats aiguilleur knows (``paris``, ``siredo``).

A mapping names, for each field of a reading, the column it comes from and its unit::

    separator = ";"
    decimal_comma = false        # "12,5" in the file means 12.5
    encoding = "utf-8"           # or "latin-1" (cp1252 exports)
    interval_s = 3600            # length of the counting interval of every row

    [detector]
    column = "Identifiant arc"   # or: from_filename = true (the file's name without suffix)
    prefix = "paris-arc-"        # prepended to the id (ids must match the detector registry)

    [time]
    column = "Date et heure de comptage"
    format = "%Y-%m-%dT%H:%M:%S%:z"  # strftime; with %z / %:z the row's UTC offset is used
    timezone = "Europe/Paris"    # for times written without an offset
    marks = "start"              # the time stamps the interval's "start" or "end"
                                 # a format without a date (e.g. "%H:%M") takes the day from
                                 # the importer's --date option

    [count]
    column = "Débit horaire"
    unit = "veh/h"               # "vehicles" (counted in the interval) or "veh/h"

    [occupancy]                  # optional
    column = "Taux d'occupation"
    unit = "percent"             # "percent" or "fraction"

    [speed]                      # optional
    column = "vitesse"           # km/h
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from importers.errors import MappingError

CountUnit = Literal["vehicles", "veh/h"]
OccupancyUnit = Literal["percent", "fraction"]
TimeMarks = Literal["start", "end"]


@dataclass(frozen=True, kw_only=True)
class CsvMapping:
    """Where each field of a reading is in a CSV export, and in which unit."""

    name: str
    interval_s: int
    detector_column: str | None
    """Column of the detector id; ``None``: the file's name (without suffixes) is the id."""
    time_column: str
    time_format: str
    count_column: str
    count_unit: CountUnit = "vehicles"
    separator: str = ","
    decimal_comma: bool = False
    encoding: Literal["utf-8", "latin-1"] = "utf-8"
    detector_prefix: str = ""
    timezone: str = "UTC"
    time_marks: TimeMarks = "end"
    occupancy_column: str | None = None
    occupancy_unit: OccupancyUnit = "fraction"
    speed_column: str | None = None

    @property
    def needs_date(self) -> bool:
        """True when the time column has no date: the day comes from the caller."""
        return not any(d in self.time_format for d in ("%Y", "%y", "%d", "%j", "%F", "%D", "%s"))

    @property
    def time_has_offset(self) -> bool:
        """True when the time column carries its UTC offset."""
        return "%z" in self.time_format or "%:z" in self.time_format


PARIS = CsvMapping(
    name="paris",
    interval_s=3600,
    separator=";",
    detector_column="Identifiant arc",
    detector_prefix="paris-arc-",
    time_column="Date et heure de comptage",
    time_format="%Y-%m-%dT%H:%M:%S%:z",
    timezone="Europe/Paris",
    # The Paris export stamps each hourly row with the hour it covers: its start.
    time_marks="start",
    count_column="Débit horaire",
    count_unit="veh/h",
    occupancy_column="Taux d'occupation",
    occupancy_unit="percent",
)
"""Ville de Paris open data, « comptages routiers permanents » (one row per arc and hour)."""

SIREDO = CsvMapping(
    name="siredo",
    interval_s=360,
    separator=";",
    detector_column=None,
    time_column="heure",
    time_format="%H:%M",
    timezone="Europe/Paris",
    time_marks="start",
    count_column="debit",
    count_unit="vehicles",
    occupancy_column="occupation",
    occupancy_unit="fraction",
    speed_column="vitesse",
)
"""SIREDO counting stations (French national roads): one file per station named after it,
``heure;vitesse;debit;occupation`` in 6-minute steps (vehicles per step, occupancy as a
fraction), without a date."""

PRESETS = {m.name: m for m in (PARIS, SIREDO)}


def _get(table: dict[str, Any], key: str, source: str, section: str, kind: type) -> Any:
    value = table.get(key)
    if value is not None and not isinstance(value, kind):
        raise MappingError(
            source, f"{section}.{key}" if section else key, f"must be a {kind.__name__}"
        )
    return value


def _section(doc: dict[str, Any], name: str, source: str, *, required: bool) -> dict[str, Any]:
    sec = doc.get(name)
    if sec is None:
        if required:
            raise MappingError(source, name, "missing section")
        return {}
    if not isinstance(sec, dict):
        raise MappingError(source, name, "must be a table")
    return sec


def _choice(value: Any, allowed: tuple[str, ...], source: str, key: str, default: str) -> Any:
    if value is None:
        return default
    if value not in allowed:
        raise MappingError(source, key, f"{value!r} is not one of {', '.join(allowed)}")
    return value


def load_mapping(path: Path) -> CsvMapping:
    """A mapping from a TOML file (see the module's documentation for the keys)."""
    source = str(path)
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise MappingError(source, "-", f"cannot read: {e.strerror or e}") from e
    except tomllib.TOMLDecodeError as e:
        raise MappingError(source, "-", f"not valid TOML: {e}") from e
    det = _section(doc, "detector", source, required=True)
    time = _section(doc, "time", source, required=True)
    count = _section(doc, "count", source, required=True)
    occ = _section(doc, "occupancy", source, required=False)
    speed = _section(doc, "speed", source, required=False)
    interval = _get(doc, "interval_s", source, "", int)
    if interval is None or not 0 < interval <= 3600:
        raise MappingError(source, "interval_s", "required, seconds between 1 and 3600")
    det_col = _get(det, "column", source, "detector", str)
    from_name = _get(det, "from_filename", source, "detector", bool)
    if (det_col is None) == (not from_name):
        raise MappingError(source, "detector", "set exactly one of column or from_filename = true")
    for sec, key in ((time, "time"), (count, "count")):
        if _get(sec, "column", source, key, str) is None:
            raise MappingError(source, f"{key}.column", "required")
    fmt = _get(time, "format", source, "time", str)
    if not fmt:
        raise MappingError(source, "time.format", "required (strftime, e.g. %Y-%m-%d %H:%M)")
    sep = _get(doc, "separator", source, "", str) or ","
    if len(sep) != 1:
        raise MappingError(source, "separator", "must be one character")
    return CsvMapping(
        name=path.stem,
        interval_s=interval,
        separator=sep,
        decimal_comma=bool(_get(doc, "decimal_comma", source, "", bool)),
        encoding=_choice(doc.get("encoding"), ("utf-8", "latin-1"), source, "encoding", "utf-8"),
        detector_column=det_col,
        detector_prefix=_get(det, "prefix", source, "detector", str) or "",
        time_column=time["column"],
        time_format=fmt,
        timezone=_get(time, "timezone", source, "time", str) or "UTC",
        time_marks=_choice(time.get("marks"), ("start", "end"), source, "time.marks", "end"),
        count_column=count["column"],
        count_unit=_choice(
            count.get("unit"), ("vehicles", "veh/h"), source, "count.unit", "vehicles"
        ),
        occupancy_column=_get(occ, "column", source, "occupancy", str),
        occupancy_unit=_choice(
            occ.get("unit"), ("percent", "fraction"), source, "occupancy.unit", "fraction"
        ),
        speed_column=_get(speed, "column", source, "speed", str),
    )


def resolve_mapping(name_or_path: str) -> CsvMapping:
    """A preset by name (``paris``, ``siredo``) or a mapping TOML file by path."""
    if name_or_path in PRESETS:
        return PRESETS[name_or_path]
    path = Path(name_or_path)
    if not path.exists():
        raise MappingError(
            name_or_path,
            "-",
            f"no such preset or file; presets: {', '.join(PRESETS)}, or a .toml mapping file",
        )
    return load_mapping(path)
