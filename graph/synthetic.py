"""Synthetic networks of plain four-arm crossroads, for tests and benchmarks.

Each junction has two phases (north-south, then east-west) and one approach per arm. ``write_city``
also writes a detector registry with one detector per approach, in the way-and-node format that
``graph.registry`` reads.
"""

from __future__ import annotations

import csv
import itertools
from pathlib import Path

import msgspec

from graph.model import Approach, Junction, Link, Movement, Network, Phase, TurnType

ARMS = {"N": 180.0, "E": 270.0, "S": 0.0, "W": 90.0}
"""Bearing of travel when entering the junction from each arm."""
_TURNS: dict[str, dict[str, TurnType]] = {
    "N": {"S": "through", "W": "right", "E": "left"},
    "S": {"N": "through", "E": "right", "W": "left"},
    "E": {"W": "through", "N": "right", "S": "left"},
    "W": {"E": "through", "S": "right", "N": "left"},
}


def crossroads(
    junction_id: str,
    zone_id: str,
    way_base: int,
    lat: float,
    lon: float,
    lanes: dict[str, int] | None = None,
    sat_per_lane: float = 1800.0,
) -> Junction:
    """A four-arm junction whose approaches come from OSM ways ``way_base`` .. ``way_base + 3``."""
    lanes = lanes or {"N": 2, "S": 2, "E": 1, "W": 1}
    approaches = tuple(
        Approach(
            id=f"{junction_id}:{arm}",
            junction_id=junction_id,
            osm_way_id=way_base + k,
            from_node=f"{way_base + k}0",
            to_node=f"{junction_id}-node",
            bearing_deg=bearing,
            lanes=lanes[arm],
            saturation_flow_vph=sat_per_lane * lanes[arm],
            free_speed_mps=13.9,
            length_m=120.0,
            road_class="secondary",
        )
        for k, (arm, bearing) in enumerate(ARMS.items())
    )
    movements = tuple(
        Movement(
            id=f"{junction_id}:{a}>{b}",
            approach_id=f"{junction_id}:{a}",
            exit_id=f"{junction_id}:{b}",
            turn=t,
        )
        for a, exits in _TURNS.items()
        for b, t in exits.items()
    )
    phases = tuple(
        Phase(
            index=i,
            movement_ids=tuple(m.id for m in movements if m.approach_id[-1] in arms),
            approach_ids=tuple(f"{junction_id}:{a}" for a in arms),
            min_green_s=7,
            intergreen_s=5,
        )
        for i, arms in enumerate(("NS", "EW"))
    )
    return Junction(
        id=junction_id,
        lat=lat,
        lon=lon,
        zone_id=zone_id,
        node_ids=(f"{junction_id}-node",),
        approaches=approaches,
        movements=movements,
        phases=phases,
    )


def city(junctions: int, zone_size: int = 8) -> Network:
    """``junctions`` crossroads in zones of ``zone_size``, with 1 to 3 lanes per approach."""
    return Network(
        source="synthetic",
        source_sha256="1" * 64,
        junctions=tuple(
            crossroads(
                f"J{i:05d}",
                f"Z{i // zone_size:04d}",
                i * 10 + 1,
                45.0 + i * 1e-4,
                4.8,
                lanes={arm: 1 + (i + k) % 3 for k, arm in enumerate(ARMS)},
            )
            for i in range(junctions)
        ),
    )


def corridor_links(
    junction_ids: list[str], spacing_m: float, speed_mps: float = 13.9
) -> tuple[Link, ...]:
    """Links both ways between neighbours of a west-to-east row of :func:`crossroads`.

    Eastbound traffic leaves a junction by its east arm (exit ``<id>:E``) and reaches the next by
    its west approach (``<id>:W``); westbound the other way round.
    """
    out = []
    for west, east in itertools.pairwise(junction_ids):
        for up, down, leave, arrive in ((west, east, "E", "W"), (east, west, "W", "E")):
            out.append(
                Link(
                    from_junction=up,
                    to_junction=down,
                    length_m=spacing_m,
                    travel_time_s=round(spacing_m / speed_mps, 1),
                    exit_id=f"{up}:{leave}",
                    approach_id=f"{down}:{arrive}",
                )
            )
    return tuple(out)


def write_city(network: Network, folder: Path) -> tuple[Path, Path, dict[str, str]]:
    """Write ``network.json`` and ``detectors.csv`` (one detector per approach) into ``folder``.

    Returns both paths and a map from detector id to approach id.
    """
    net_path = folder / "network.json"
    net_path.write_bytes(msgspec.json.encode(network))
    reg_path = folder / "detectors.csv"
    mapping: dict[str, str] = {}
    with reg_path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["detector_id", "osm_way_id", "from_node", "lanes"])
        for j in network.junctions:
            for a in j.approaches:
                det = f"D-{a.id.replace(':', '-')}"
                w.writerow([det, a.osm_way_id, a.from_node, a.lanes])
                mapping[det] = a.id
    return net_path, reg_path, mapping


def write_grid_osm(path: Path, n: int, block_m: float = 80.0) -> None:
    """An OSM file of an n x n grid of two-way streets, a midpoint node per block side, signals at
    every third intersection (and every 7th block side has a signalised pedestrian crossing);
    streets are primary, secondary, tertiary and residential in turn. A city of any size for the
    benchmarks (``n = 110``: about 100,000 directed road segments)."""
    import math

    lat0, lon0 = 45.0, 5.0
    k_lat = 1 / 111_195.0
    k_lon = 1 / (111_195.0 * math.cos(math.radians(lat0)))
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6" generator="bench">']

    def nid(i: int, j: int, sub: int = 0) -> int:
        return 1 + 3 * (i * n + j) + sub

    for i in range(n):
        for j in range(n):
            lat, lon = lat0 + i * block_m * k_lat, lon0 + j * block_m * k_lon
            tag = '<tag k="highway" v="traffic_signals"/>' if (i + j) % 3 == 0 else ""
            lines.append(
                f'<node id="{nid(i, j)}" version="1" lat="{lat:.7f}" lon="{lon:.7f}">{tag}</node>'
            )
            for sub, (di, dj) in ((1, (0, 0.5)), (2, (0.5, 0))):
                crossing = (i * n + j + sub) % 7 == 0
                ctag = (
                    '<tag k="highway" v="crossing"/><tag k="crossing" v="traffic_signals"/>'
                    if crossing
                    else ""
                )
                la, lo = lat + di * block_m * k_lat, lon + dj * block_m * k_lon
                node = f'<node id="{nid(i, j, sub)}" version="1" lat="{la:.7f}" lon="{lo:.7f}">'
                lines.append(f"{node}{ctag}</node>")
    classes = ("primary", "secondary", "tertiary", "residential")
    streets = [  # (way id, road class, node refs): rows then columns
        (
            1 + k + (n if column else 0),
            classes[k % 4],
            [
                ref
                for m in range(n)
                for ref in ((nid(m, k), nid(m, k, 2)) if column else (nid(k, m), nid(k, m, 1)))[
                    : 1 if m == n - 1 else 2
                ]
            ],
        )
        for column in (False, True)
        for k in range(n)
    ]
    for wid, cls, refs in streets:
        nds = "".join(f'<nd ref="{r}"/>' for r in refs)
        lines.append(f'<way id="{wid}" version="1">{nds}<tag k="highway" v="{cls}"/></way>')
    lines.append("</osm>")
    path.write_text("\n".join(lines), encoding="utf-8")
