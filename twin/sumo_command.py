"""The SUMO side of a run: its command line, closures, and reading the network's lanes and edges."""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from twin.options import RunOptions
from twin.scenario import Scenario, open_xml

log = logging.getLogger(__name__)

_KEPT_CFG_SECTIONS = {"processing", "routing", "random_number", "mesoscopic", "emissions"}


def lane_lengths(net: Path, wanted: set[str]) -> dict[str, float]:
    out: dict[str, float] = {}
    with open_xml(net) as f:
        for _, el in ET.iterparse(f):
            if el.tag == "lane" and el.attrib.get("id") in wanted:
                out[el.attrib["id"]] = float(el.attrib.get("length", "0"))
                if len(out) == len(wanted):
                    break
    return out


def sanitised_config(cfg: Path, workdir: Path) -> Path | None:
    """A copy of the .sumocfg keeping only processing options (inputs, outputs and window come from
    us).
    """
    root = ET.parse(cfg).getroot()
    out = ET.Element("configuration")
    for section in root:
        if section.tag in _KEPT_CFG_SECTIONS:
            out.append(section)
    if not len(out):
        return None
    path = workdir / "run.sumocfg"
    ET.ElementTree(out).write(path, encoding="utf-8", xml_declaration=True)
    return path


def write_closures(
    edges: tuple[str, ...], all_edges: list[str], path: Path, begin: float, end: float
) -> None:
    """A rerouter closing ``edges`` for the whole window; vehicles planning to use them reroute."""
    root = ET.Element("additional")
    rr = ET.SubElement(root, "rerouter", id="twin_closure", edges=" ".join(all_edges))
    iv = ET.SubElement(rr, "interval", begin=f"{begin:g}", end=f"{end:g}")
    for e in edges:
        ET.SubElement(iv, "closingReroute", id=e)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)


def sumo_api(use_traci: bool) -> Any:
    if use_traci:
        import traci

        return traci
    import libsumo

    return libsumo


def sumo_binary() -> str:
    import sumolib

    return str(sumolib.checkBinary("sumo"))


def build_command(
    scenario: Scenario, options: RunOptions, workdir: Path, additionals: list[Path]
) -> list[str]:
    """The SUMO command line of a run (outputs in ``workdir``)."""
    cmd = [options.sumo_binary or sumo_binary()]
    cfg = sanitised_config(scenario.config, workdir) if scenario.config is not None else None
    if cfg is not None:
        cmd += ["-c", str(cfg)]
    cmd += ["-n", str(scenario.net)]
    if scenario.routes:
        cmd += ["-r", ",".join(str(r) for r in scenario.routes)]
    if additionals:
        cmd += ["-a", ",".join(str(a) for a in additionals)]
    cmd += [
        "-b",
        f"{scenario.begin_s:g}",
        "-e",
        f"{scenario.end_s:g}",
        "--step-length",
        f"{scenario.step_length_s:g}",
        "--time-to-teleport",
        f"{options.time_to_teleport_s:g}",
        "--seed",
        str(options.seed),
        "--scale",
        f"{options.demand_factor:g}",
        "--tripinfo-output",
        str(workdir / "tripinfo.xml"),
        "--tripinfo-output.write-unfinished",
        "true",
        "--device.emissions.probability",
        "1",
        "--error-log",
        str(workdir / "sumo.err"),
        "--no-step-log",
        "true",
        "--no-warnings",
        "true",
        "--duration-log.disable",
        "true",
        *options.extra_sumo_args,
    ]
    return cmd


def log_tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def all_edges(net: Path) -> list[str]:
    with open_xml(net) as f:
        events = list(ET.iterparse(f))
    return [
        el.attrib["id"]
        for _, el in events
        if el.tag == "edge"
        and el.attrib.get("function", "") not in {"internal", "crossing", "walkingarea"}
    ]
