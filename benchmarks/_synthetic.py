"""Synthetic cities for benchmarks: a grid of four-arm junctions grouped in zones, with one detector
per approach. Shaped like the demo city's junctions (two phases, 1-3 lanes per approach), sized at
will."""

from __future__ import annotations

import csv
from pathlib import Path

import msgspec

from graph.model import Approach, Junction, Movement, Network, Phase

_ARMS = {"N": 180.0, "E": 270.0, "S": 0.0, "W": 90.0}
_TURNS = {
    "N": {"S": "through", "W": "right", "E": "left"},
    "S": {"N": "through", "E": "right", "W": "left"},
    "E": {"W": "through", "N": "right", "S": "left"},
    "W": {"E": "through", "S": "right", "N": "left"},
}


def _junction(i: int, zone: str) -> Junction:
    jid = f"J{i:05d}"
    approaches = tuple(
        Approach(
            id=f"{jid}:{arm}",
            junction_id=jid,
            osm_way_id=i * 10 + k + 1,
            from_node=f"{i * 10 + k + 1}0",
            to_node=jid,
            bearing_deg=b,
            lanes=1 + (i + k) % 3,
            saturation_flow_vph=1800.0 * (1 + (i + k) % 3),
            free_speed_mps=13.9,
            length_m=150.0,
            road_class="secondary",
        )
        for k, (arm, b) in enumerate(_ARMS.items())
    )
    movements = tuple(
        Movement(id=f"{jid}:{a}>{b}", approach_id=f"{jid}:{a}", exit_id=f"{jid}:{b}", turn=t)  # type: ignore[arg-type]  # literal from the table above
        for a, exits in _TURNS.items()
        for b, t in exits.items()
    )
    phases = tuple(
        Phase(
            index=p,
            movement_ids=tuple(m.id for m in movements if m.approach_id[-1] in arms),
            approach_ids=tuple(f"{jid}:{a}" for a in arms),
        )
        for p, arms in enumerate(("NS", "EW"))
    )
    return Junction(
        id=jid,
        lat=45.0 + i * 1e-4,
        lon=4.8,
        zone_id=zone,
        node_ids=(jid,),
        approaches=approaches,
        movements=movements,
        phases=phases,
    )


def city(junctions: int, zone_size: int = 8) -> Network:
    """A network of ``junctions`` junctions in zones of ``zone_size``."""
    return Network(
        source="synthetic",
        source_sha256="1" * 64,
        junctions=tuple(_junction(i, f"Z{i // zone_size:04d}") for i in range(junctions)),
    )


def write_city(folder: Path, junctions: int, zone_size: int = 8) -> tuple[Path, Path, list[str]]:
    """Write network .json and registry .csv; return their paths and the detector ids."""
    net = city(junctions, zone_size)
    net_path = folder / "network.json"
    net_path.write_bytes(msgspec.json.encode(net))
    reg_path = folder / "detectors.csv"
    dets = []
    with reg_path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["detector_id", "osm_way_id", "from_node", "lanes"])
        for j in net.junctions:
            for a in j.approaches:
                det = f"D{a.osm_way_id}"
                w.writerow([det, a.osm_way_id, a.from_node, a.lanes])
                dets.append(det)
    return net_path, reg_path, dets
