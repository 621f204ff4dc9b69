"""Detectors of a twin run: the scenario's own loops where it has them, generated E1 loops
otherwise.

SUMO writes detector output next to the additional file that declares it; scenarios are read-only,
so the
files declaring detectors are rewritten into the run's work folder with their output and
aggregation period
redirected. Counts are read through libsumo/TraCI at the end of every interval and turned into
records with
the fields of the input topic ``aiguilleur.traffic-counts.v1``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import msgspec

from twin.scenario import open_xml

E1_TAGS = {"e1Detector", "inductionLoop"}
E2_TAGS = {"e2Detector", "laneAreaDetector"}
OUTPUT_TAGS = (
    E1_TAGS
    | E2_TAGS
    | {
        "e3Detector",
        "entryExitDetector",
        "instantInductionLoop",
        "edgeData",
        "laneData",
        "routeProbe",
        "vTypeProbe",
    }
)
"""Additional-file elements whose ``file`` attribute is an output SUMO writes (redirected, since
the scenario folder may be read-only)."""
LOOP_SETBACK_M = 40.0
"""Generated loops sit this far upstream of the stop line (or at the lane's start if it is
shorter).
"""
LOOP_LENGTH_M = 2.0
"""Length of an induction loop (real ones are about 2 m). SUMO's loops are points by default, and
a point sees a vehicle standing over it in no time step; with a length, it sees it in every step.
Generated loops get it, and so do the scenario's own E1 loops that state none."""

DetectorKind = Literal["e1", "e2"]


class DetectorSpec(msgspec.Struct, frozen=True, kw_only=True):
    """One detector the run reads."""

    id: str
    kind: DetectorKind
    lane: str
    generated: bool
    pos_m: float = 0.0


class CountRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One detector's count for one interval: the fields of ``aiguilleur.traffic-counts.v1``."""

    detector_id: str
    interval_end: datetime
    interval_s: int
    count: int
    occupancy: float | None = None
    """Time occupancy, 0..1."""
    mean_speed_kmh: float | None = None
    vehicle_class: str = "all"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (``interval_end`` as RFC 3339)."""
        out: dict[str, Any] = msgspec.to_builtins(self)
        return out


def _float(v: str) -> float:
    try:
        return float(v)
    except ValueError:
        return 0.0


def sim_time_to_datetime(base: datetime, time_s: float) -> datetime:
    """Simulation time (s) as a timezone-aware datetime counted from ``base``."""
    if base.tzinfo is None:
        base = base.replace(tzinfo=UTC)
    return base + timedelta(seconds=time_s)


def rewrite_detector_files(
    additionals: tuple[Path, ...],
    workdir: Path,
    interval_s: int,
    lane_length: Callable[[set[str]], Mapping[str, float]] | None = None,
) -> tuple[tuple[Path, ...], list[DetectorSpec]]:
    """Copy the additional files that declare outputs into ``workdir``, outputs redirected.

    With ``lane_length`` (lane ids -> their lengths, read from the network), E1 loops that state no
    length get :data:`LOOP_LENGTH_M`, or what is left of their lane after them when less.

    Returns the additional files to load (rewritten copies in place of the originals) and the
    scenario's own E1/E2 detectors.
    """
    out_files: list[Path] = []
    specs: list[DetectorSpec] = []
    loops: list[ET.Element] = []
    for i, path in enumerate(additionals):
        with open_xml(path) as f:
            tree = ET.parse(f)
        found = False
        for el in tree.getroot().iter():
            if el.tag in OUTPUT_TAGS and "file" in el.attrib:
                found = True
                el.set("file", str(workdir / f"scenario_{el.tag}.out.xml"))
            if el.tag == "calibrator" and "output" in el.attrib:
                found = True
                el.set("output", str(workdir / "scenario_calibrator.out.xml"))
            if el.tag == "timedEvent" and "dest" in el.attrib:  # SaveTLSStates and the like
                found = True
                el.set("dest", str(workdir / f"scenario_{el.attrib.get('type', 'event')}.out.xml"))
            kind: DetectorKind | None = (
                "e1" if el.tag in E1_TAGS else "e2" if el.tag in E2_TAGS else None
            )
            if kind is None or "lane" not in el.attrib:
                continue
            el.attrib.pop("period", None)
            el.set("freq", str(interval_s))  # "period" in new SUMO; "freq" read by all versions
            if kind == "e1" and "length" not in el.attrib:
                loops.append(el)
            specs.append(
                DetectorSpec(
                    id=el.attrib["id"],
                    kind=kind,
                    lane=el.attrib["lane"],
                    generated=False,
                    pos_m=_float(el.attrib.get("pos", "0")),
                )
            )
        if loops and lane_length is not None:
            _give_length(loops, lane_length({el.attrib["lane"] for el in loops}))
        loops = []
        if found:
            copy = workdir / f"{i:02d}_{path.name.removesuffix('.gz')}"
            tree.write(copy, encoding="utf-8", xml_declaration=True)
            out_files.append(copy)
        else:
            out_files.append(path)
    return tuple(out_files), specs


def _give_length(loops: list[ET.Element], lengths: Mapping[str, float]) -> None:
    """Give each loop :data:`LOOP_LENGTH_M` of length, within its lane (SUMO refuses a loop that
    reaches past its lane's end); a loop with less than half a metre left stays a point."""
    for el in loops:
        lane = lengths.get(el.attrib["lane"])
        if lane is None:
            continue
        pos = _float(el.attrib.get("pos", "0"))
        start = lane + pos if pos < 0 else pos
        room = min(LOOP_LENGTH_M, lane - start - 0.1)
        if room >= 0.5:
            el.set("length", f"{room:.2f}")


WAUT_TAGS = {"WAUT", "wautJunction"}


def strip_wauts(additionals: tuple[Path, ...], workdir: Path) -> tuple[Path, ...]:
    """The additional files without their WAUTs (copies in ``workdir`` where there were any).

    A WAUT switches a signal's programme at set times, even away from one the twin loaded (the
    actuated copy): a control that replaces the programmes must not be undone by it.
    """
    out: list[Path] = []
    for i, path in enumerate(additionals):
        with open_xml(path) as f:
            tree = ET.parse(f)
        root = tree.getroot()
        wauts = [el for el in root if el.tag in WAUT_TAGS]
        if not wauts:
            out.append(path)
            continue
        for el in wauts:
            root.remove(el)
        copy = workdir / f"nowaut_{i:02d}_{path.name.removesuffix('.gz')}"
        tree.write(copy, encoding="utf-8", xml_declaration=True)
        out.append(copy)
    return tuple(out)


def write_generated_loops(
    lanes: dict[str, float], path: Path, interval_s: int
) -> list[DetectorSpec]:
    """Write one E1 loop per lane (``{lane_id: length_m}``) into an additional file at ``path``."""
    root = ET.Element("additional")
    specs = []
    for lane, length in sorted(lanes.items()):
        det_id = f"twin_{lane}"
        pos = max(0.5, length - LOOP_SETBACK_M) if length > 1.0 else 0.0
        ET.SubElement(
            root,
            "inductionLoop",
            id=det_id,
            lane=lane,
            pos=f"{pos:.2f}",
            freq=str(interval_s),
            file=str(path.with_suffix(".out.xml")),
            friendlyPos="true",
            length=f"{LOOP_LENGTH_M:g}",
        )
        specs.append(DetectorSpec(id=det_id, kind="e1", lane=lane, generated=True, pos_m=pos))
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
    return specs


class OccupancySampler:
    """Time occupancy of E1 loops as a real loop measures it: the share of time steps a vehicle
    stands over the loop, whether it moves or not.

    SUMO's interval occupancy of an E1 loop (``getLastIntervalOccupancy``, and its XML output)
    accounts a vehicle only when it leaves the loop: a queue standing over it reads 0 % (measured
    on a held red: 0.00 for 4 minutes while the lane was queued back past the loop). Real loops
    read close to 100 % there, which is what tells a saturated lane. So the twin samples each
    loop's occupancy of the last step (``getLastStepOccupancy``, which sees a standing vehicle on
    a loop with a length, :data:`LOOP_LENGTH_M`) every step and reports the mean over the interval.
    """

    def __init__(self, api: Any, specs: list[DetectorSpec]) -> None:
        self._api = api
        self._ids = sorted({d.id for d in specs if d.kind == "e1"})
        self._sum = dict.fromkeys(self._ids, 0.0)
        self._steps = 0

    def step(self) -> None:
        """Sample every loop once (call after each simulation step)."""
        loops = self._api.inductionloop
        for d in self._ids:
            self._sum[d] += float(loops.getLastStepOccupancy(d))
        self._steps += 1

    def take(self) -> dict[str, float]:
        """Mean occupancy (0..1) of each loop since the last call."""
        if not self._steps:
            return {}
        out = {d: min(1.0, max(0.0, s / self._steps / 100.0)) for d, s in self._sum.items()}
        self._sum = dict.fromkeys(self._ids, 0.0)
        self._steps = 0
        return out


class DetectorReader:
    """Reads the last completed interval of every detector through a libsumo/TraCI module."""

    def __init__(
        self, api: Any, specs: list[DetectorSpec], interval_s: int, base: datetime
    ) -> None:
        self._api = api
        self.specs = specs
        self.interval_s = interval_s
        self.base = base

    def read(
        self, time_s: float, occupancy: Mapping[str, float] | None = None
    ) -> list[CountRecord]:
        """Records of the interval that ended at ``time_s``; ``occupancy`` (0..1, by detector id),
        when given, replaces SUMO's interval occupancy (:class:`OccupancySampler`)."""
        end = sim_time_to_datetime(self.base, time_s)
        out = []
        for d in self.specs:
            mod = self._api.inductionloop if d.kind == "e1" else self._api.lanearea
            count = int(mod.getLastIntervalVehicleNumber(d.id))
            sampled = (occupancy or {}).get(d.id)
            occ = (
                100.0 * sampled
                if sampled is not None
                else float(mod.getLastIntervalOccupancy(d.id))
            )
            speed = float(mod.getLastIntervalMeanSpeed(d.id))
            out.append(
                CountRecord(
                    detector_id=d.id,
                    interval_end=end,
                    interval_s=self.interval_s,
                    count=count,
                    occupancy=min(1.0, max(0.0, occ / 100.0)),
                    mean_speed_kmh=round(speed * 3.6, 2) if speed >= 0 and count > 0 else None,
                )
            )
        return out
