"""Readings from DATEX II (version 2, namespace ``http://datex2.eu/schema/2/2_0``)
``MeasuredDataPublication`` documents, the European exchange format of road-traffic data
(CEN/TS 16157), as French and European traffic centres publish their counting stations.

Each ``siteMeasurements`` holds one site's values at one time, by measurement index:
``TrafficFlow`` (``vehicleFlowRate``, veh/h), ``TrafficSpeed`` (``averageVehicleSpeed``, km/h)
and ``TrafficConcentration`` (``occupancy``, %). A reading needs a flow; it becomes a count over
the value's period (``measurementOrCalculationPeriod``, else the caller's ``interval_s``).

Which indexes belong together (the flow, speed and occupancy of one lane) is stated by the
site's ``MeasurementSiteTablePublication``. Given one (``site_table``), values of the same site
and lane join into one reading, detector id ``<site>/<lane>``. For a site the table does not list
(or without a table), a site with a single
flow value becomes one reading (id ``<site>``) joined with the site's speed and occupancy if
there is one of each; a site with several flows gives one reading per flow (``<site>/<index>``),
and speeds or occupancies that cannot be paired are reported, not guessed.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

import msgspec

from importers.errors import ImportFileError
from importers.model import ImportResult, Rejected
from streams.events import TrafficCount, VehicleClass

NS = "http://datex2.eu/schema/2/2_0"
_XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"
_VEHICLE_CLASS: dict[str, VehicleClass] = {
    "car": "car",
    "carWithTrailer": "car",
    "lorry": "hgv",
    "articulatedVehicle": "hgv",
    "heavyGoodsVehicle": "hgv",
    "bus": "bus",
    "motorcycle": "motorcycle",
    "pedalCycle": "bicycle",
    "bicycle": "bicycle",
    "van": "lgv",
    "lightGoodsVehicle": "lgv",
    "anyVehicle": "all",
}


_RANGES = {
    "TrafficFlow": (0.0, 100_000.0),
    "TrafficSpeed": (0.0, 300.0),
    "TrafficConcentration": (0.0, 100.0),
}
"""Plausible values (veh/h, km/h, %): the input topic's own bounds for speed and occupancy."""


def _q(tag: str) -> str:
    return f"{{{NS}}}{tag}"


@dataclass(slots=True)
class _Value:
    kind: str
    index: str
    time: datetime
    period_s: int | None
    number: float | None
    error: str = ""
    vehicle_class: VehicleClass = "all"


@dataclass(slots=True)
class _Site:
    site: str
    line: int
    values: list[_Value] = field(default_factory=list)


def _text(el: ET.Element | None, path: str) -> str | None:
    if el is None:
        return None
    found = el.find(path)
    return None if found is None or found.text is None else found.text.strip()


def _datetime(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo is not None else None


def _basic(bd: ET.Element, index: str, default_time: datetime) -> _Value:
    kind = bd.attrib.get(_XSI_TYPE, "").rsplit(":", 1)[-1]
    time = _datetime(_text(bd, _q("measurementOrCalculationTime"))) or default_time
    period = _text(bd, _q("measurementOrCalculationPeriod"))
    period_s = round(float(period)) if period else None
    vtype = _text(bd, f"{_q('forVehiclesWithCharacteristicsOf')}/{_q('vehicleType')}")
    vclass: VehicleClass = _VEHICLE_CLASS.get(vtype or "anyVehicle", "all")
    paths = {
        "TrafficFlow": (_q("vehicleFlow"), _q("vehicleFlowRate")),
        "TrafficSpeed": (_q("averageVehicleSpeed"), _q("speed")),
        "TrafficConcentration": (_q("occupancy"), _q("percentage")),
    }
    if kind not in paths:
        return _Value(kind, index, time, period_s, None, f"{kind or 'untyped'} data is not read")
    holder_tag, value_tag = paths[kind]
    holder = bd.find(holder_tag)
    if holder is None:
        return _Value(kind, index, time, period_s, None, f"{kind} without a value")
    if (_text(holder, _q("dataError")) or "").lower() == "true":
        why = holder.find(_q("reasonForDataError"))
        reason = " ".join(t.strip() for t in why.itertext() if t.strip()) if why is not None else ""
        said = f" ({reason})" if reason else ""
        return _Value(kind, index, time, period_s, None, f"marked dataError{said}")
    raw = _text(holder, value_tag)
    try:
        number = float(raw) if raw is not None else None
    except ValueError:
        return _Value(kind, index, time, period_s, None, f"{kind} value {raw!r} is not a number")
    if number is None:
        return _Value(kind, index, time, period_s, None, f"{kind} without a value")
    low, high = _RANGES[kind]
    if not (math.isfinite(number) and low <= number <= high):
        return _Value(
            kind, index, time, period_s, None, f"{kind} value {raw} outside {low:g}..{high:g}"
        )
    return _Value(kind, index, time, period_s, number, vehicle_class=vclass)


def _sites(path: Path) -> Iterator[_Site]:
    """Every ``siteMeasurements`` of the document, with its values (streamed: a day of a large
    network's publications does not have to fit in memory)."""
    n = 0
    saw_publication = False
    try:
        for event, el in ET.iterparse(path, events=("start", "end")):
            if event == "start":
                if el.tag == _q("payloadPublication"):
                    kind = el.attrib.get(_XSI_TYPE, "").rsplit(":", 1)[-1]
                    if kind != "MeasuredDataPublication":
                        raise ImportFileError(
                            str(path),
                            f"a DATEX II {kind or 'untyped'} document, not a "
                            "MeasuredDataPublication",
                        )
                    saw_publication = True
                continue
            if el.tag == _q("siteMeasurements"):
                n += 1
                yield _site(el, n)
                el.clear()
    except ET.ParseError as e:
        raise ImportFileError(str(path), f"not well-formed XML: {e}", line=e.position[0]) from e
    except FileNotFoundError as e:
        raise ImportFileError(str(path), "file not found") from e
    except OSError as e:
        raise ImportFileError(str(path), f"cannot read: {e.strerror or e}") from e
    if not saw_publication:
        raise ImportFileError(
            str(path),
            f"no payloadPublication in namespace {NS}",
            "expected a DATEX II v2 MeasuredDataPublication",
        )


def _site(el: ET.Element, n: int) -> _Site:
    ref = el.find(_q("measurementSiteReference"))
    site = _Site(ref.attrib.get("id", "") if ref is not None else "", n)
    default_time = _datetime(_text(el, _q("measurementTimeDefault")))
    for mv in el.findall(_q("measuredValue")):
        index = mv.attrib.get("index", "")
        bd = mv.find(f"{_q('measuredValue')}/{_q('basicData')}")
        if bd is None:
            continue
        if default_time is None and bd.find(_q("measurementOrCalculationTime")) is None:
            site.values.append(
                _Value("?", index, datetime.min, None, None, "no measurementTimeDefault")
            )
            continue
        site.values.append(_basic(bd, index, default_time or datetime.min))
    return site


def read_site_table(path: Path) -> dict[tuple[str, str], str]:
    """(site id, measurement index) → lane, from a DATEX II ``MeasurementSiteTablePublication``
    (``measurementSpecificCharacteristics/specificLane``)."""
    out: dict[tuple[str, str], str] = {}
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError) as e:
        raise ImportFileError(str(path), f"cannot read the measurement site table: {e}") from e
    for rec in root.iter(_q("measurementSiteRecord")):
        site = rec.attrib.get("id", "")
        for ch in rec.findall(_q("measurementSpecificCharacteristics")):
            index = ch.attrib.get("index", "")
            lane = _text(ch, f"{_q('measurementSpecificCharacteristics')}/{_q('specificLane')}")
            if lane:
                out[(site, index)] = lane
    if not out:
        raise ImportFileError(
            str(path), "no measurementSiteRecord with a specificLane", "is it a site table?"
        )
    return out


def import_datex2(
    path: Path,
    interval_s: int | None = None,
    site_table: dict[tuple[str, str], str] | None = None,
    time_marks: Literal["start", "end"] = "end",
) -> ImportResult:
    """Readings of one MeasuredDataPublication; ``line`` in what is rejected counts the
    ``siteMeasurements`` elements (1 = the first)."""
    out = ImportResult()
    source = str(path)
    for site in _sites(path):
        if not site.site:
            out.rejected.append(Rejected(source, site.line, "measurementSiteReference has no id"))
            continue
        for v in site.values:
            if v.error:
                out.rejected.append(
                    Rejected(source, site.line, f"site {site.site} index {v.index}: {v.error}")
                )
        good = [v for v in site.values if not v.error]
        groups = _groups(site.site, good, site_table)
        for det, flow, others in groups:
            reading = _reading(det, flow, others, interval_s, time_marks)
            if isinstance(reading, str):
                out.rejected.append(Rejected(source, site.line, reading))
            else:
                out.readings.append(reading)
        paired = {id(v) for _, f, o in groups for v in (f, *o)}
        for v in good:
            if id(v) not in paired:
                out.rejected.append(
                    Rejected(
                        source,
                        site.line,
                        f"site {site.site} index {v.index}: {v.kind} not paired with a flow "
                        "(give the measurement site table to join values by lane)",
                    )
                )
    return out


def _groups(
    site: str, values: list[_Value], table: dict[tuple[str, str], str] | None
) -> list[tuple[str, _Value, list[_Value]]]:
    """(detector id, flow value, its speed/occupancy values) of one site."""
    flows = [v for v in values if v.kind == "TrafficFlow"]
    rest = [v for v in values if v.kind != "TrafficFlow"]
    if table is not None and any(site == s for s, _ in table):
        out: list[tuple[str, _Value, list[_Value]]] = []
        for f in flows:
            lane = table.get((site, f.index))
            if lane is None:
                out.append((f"{site}/{f.index}", f, []))
                continue
            joined = [v for v in rest if table.get((site, v.index)) == lane]
            out.append((f"{site}/{lane}", f, joined))
        return out
    if len(flows) == 1:
        kinds = [v.kind for v in rest]
        joined = [v for v in rest if kinds.count(v.kind) == 1]
        return [(site, flows[0], joined)]
    return [(f"{site}/{f.index}", f, []) for f in flows]


def _reading(
    detector: str,
    flow: _Value,
    others: list[_Value],
    interval_s: int | None,
    marks: Literal["start", "end"],
) -> TrafficCount | str:
    period = flow.period_s or interval_s
    if period is None:
        return (
            f"{detector}: flow without measurementOrCalculationPeriod: give the interval "
            "(--interval)"
        )
    assert flow.number is not None
    end = flow.time + timedelta(seconds=period) if marks == "start" else flow.time
    record: dict[str, object] = {
        "detector_id": detector,
        "interval_end": end,
        "interval_s": period,
        "count": round(flow.number * period / 3600.0),
        "vehicle_class": flow.vehicle_class,
    }
    for v in others:
        if v.kind == "TrafficSpeed":
            record["mean_speed_kmh"] = v.number
        elif v.kind == "TrafficConcentration" and v.number is not None:
            record["occupancy"] = v.number / 100.0
    try:
        return msgspec.convert(record, TrafficCount)
    except msgspec.ValidationError as e:
        return f"{detector}: {e}"
