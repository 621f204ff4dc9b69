"""Loading a SUMO scenario: a ``.sumocfg``, a folder holding one, or a net with route files."""

from __future__ import annotations

import gzip
import io
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, replace
from pathlib import Path

from twin.errors import ScenarioError, ScenarioFileMissing

DEFAULT_DURATION_S = 3600.0
"""Window length used when a scenario states no end time (one hour of demand is the usual unit)."""


@dataclass(frozen=True, kw_only=True)
class Scenario:
    """The files and time window of one SUMO scenario. Paths are absolute."""

    name: str
    net: Path
    routes: tuple[Path, ...]
    additionals: tuple[Path, ...] = ()
    begin_s: float = 0.0
    end_s: float = DEFAULT_DURATION_S
    step_length_s: float = 1.0
    config: Path | None = None
    """The .sumocfg it came from, if any (its processing options are kept)."""

    def with_window(self, begin_s: float | None = None, end_s: float | None = None) -> Scenario:
        """The same scenario over another time window."""
        b = self.begin_s if begin_s is None else begin_s
        e = self.end_s if end_s is None else end_s
        if e <= b:
            raise ScenarioError(self.name, f"end {e} s is not after begin {b} s")
        return replace(self, begin_s=b, end_s=e)


def _split(value: str) -> list[str]:
    return [v for v in re.split(r"[,\s]+", value.strip()) if v]


def _resolve(base: Path, names: list[str], referenced_from: Path) -> tuple[Path, ...]:
    out = []
    for n in names:
        p = (base / n).resolve()
        if not p.is_file():
            raise ScenarioFileMissing(str(p), str(referenced_from))
        out.append(p)
    return tuple(out)


def _option(root: ET.Element, name: str) -> str | None:
    for el in root.iter(name):
        v = el.attrib.get("value")
        if v is not None:
            return v
    return None


def sumo_time(value: str, where: Path) -> float:
    """A SUMO time value in seconds: ``3600``, ``3600.5``, ``1:00:00`` or ``0:01:00:00``
    (days, hours, minutes, seconds), as SUMO's options accept them."""
    parts = value.strip().split(":")
    try:
        if len(parts) == 1:
            return float(parts[0])
        if len(parts) in {3, 4}:
            units = (86400.0, 3600.0, 60.0, 1.0)[-len(parts) :]
            sign = -1.0 if parts[0].startswith("-") else 1.0
            return sign * sum(abs(float(p)) * u for p, u in zip(parts, units, strict=True))
    except ValueError:
        pass
    raise ScenarioError(str(where), f"{value!r} is not a SUMO time", "use seconds or [D:]HH:MM:SS")


def read_sumocfg(cfg: Path) -> Scenario:
    """The scenario a ``.sumocfg`` describes (net, routes, additional files, window)."""
    if not cfg.is_file():
        raise ScenarioFileMissing(str(cfg))
    try:
        root = ET.parse(cfg).getroot()
    except ET.ParseError as e:
        raise ScenarioError(str(cfg), f"not valid XML: {e}") from e
    base = cfg.parent
    net = _option(root, "net-file")
    if not net:
        raise ScenarioError(str(cfg), "no net-file in the configuration")
    routes = _resolve(base, _split(_option(root, "route-files") or ""), cfg)
    adds = _resolve(base, _split(_option(root, "additional-files") or ""), cfg)
    begin = sumo_time(_option(root, "begin") or "0", cfg)
    end_opt = _option(root, "end")
    end = sumo_time(end_opt, cfg) if end_opt else begin + DEFAULT_DURATION_S
    step = sumo_time(_option(root, "step-length") or "1", cfg)
    if not routes and not any(_has_demand(a) for a in adds):
        raise ScenarioError(str(cfg), "no route file and no demand in the additional files")
    return Scenario(
        name=_name(cfg),
        net=_resolve(base, [net], cfg)[0],
        routes=routes,
        additionals=adds,
        begin_s=begin,
        end_s=end,
        step_length_s=step,
        config=cfg.resolve(),
    )


def open_xml(path: Path) -> gzip.GzipFile | io.BufferedReader:
    """Open a SUMO XML file for reading, gzipped or not (SUMO reads both)."""
    if path.suffix == ".gz":
        return gzip.GzipFile(path, "rb")
    return path.open("rb")


def _has_demand(path: Path) -> bool:
    try:
        with open_xml(path) as f:
            for _, el in ET.iterparse(f):
                if el.tag in {"vehicle", "trip", "flow"}:
                    return True
    except ET.ParseError:
        return False
    return False


def _name(cfg: Path) -> str:
    stem = cfg.name.removesuffix(".sumocfg")
    return cfg.parent.name if stem in {"run", "osm", "scenario", "config"} else stem


def load_scenario(
    path: Path,
    *,
    routes: tuple[Path, ...] = (),
    additionals: tuple[Path, ...] = (),
    begin_s: float | None = None,
    end_s: float | None = None,
) -> Scenario:
    """Load a scenario from a ``.sumocfg``, a folder with exactly one, or a ``.net.xml`` plus
    ``routes``.

    ``routes`` and ``additionals`` given here replace the configuration's own route files and
    extend its
    additional files.
    """
    path = path.resolve()
    if not path.exists():
        raise ScenarioFileMissing(
            str(path), hint="give a .sumocfg, a folder holding one, or a .net.xml"
        )
    if path.is_dir():
        cfgs = sorted(path.glob("*.sumocfg"))
        if len(cfgs) != 1:
            found = ", ".join(c.name for c in cfgs) or "none"
            raise ScenarioError(
                str(path),
                f"expected exactly one .sumocfg in the folder, found {found}",
                "name the .sumocfg to use",
            )
        path = cfgs[0]
    if path.name.endswith(".sumocfg"):
        sc = read_sumocfg(path)
    elif path.name.endswith((".net.xml", ".net.xml.gz")):
        if not routes:
            raise ScenarioError(str(path), "a bare network needs route files", "pass routes=...")
        sc = Scenario(name=path.name.split(".net.xml")[0], net=path, routes=())
    else:
        raise ScenarioError(str(path), "not a .sumocfg, a folder or a .net.xml")
    for r in (*routes, *additionals):
        if not r.resolve().is_file():
            raise ScenarioFileMissing(str(r.resolve()))
    if routes:
        sc = replace(sc, routes=tuple(r.resolve() for r in routes))
    if additionals:
        sc = replace(sc, additionals=sc.additionals + tuple(a.resolve() for a in additionals))
    return sc.with_window(begin_s, end_s)


def discover_scenarios(root: Path) -> list[Path]:
    """Every ``.sumocfg`` under ``root``, sorted by the size of its net (smallest first)."""
    cfgs = sorted(root.rglob("*.sumocfg"))
    sized = []
    for c in cfgs:
        try:
            sc = read_sumocfg(c)
        except (ScenarioError, ScenarioFileMissing):
            continue
        sized.append((sc.net.stat().st_size + sum(r.stat().st_size for r in sc.routes), c))
    return [c for _, c in sorted(sized)]
