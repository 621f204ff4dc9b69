"""Write tiny OSM XML files for unit tests: nodes placed in metres east/north of an origin."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import quoteattr

LAT0, LON0 = 45.0, 5.0
_M_PER_DEG_LAT = 111_195.0


@dataclass
class OsmBuilder:
    nodes: dict[int, tuple[float, float, dict[str, str]]] = field(default_factory=dict)
    ways: list[tuple[int, list[int], dict[str, str]]] = field(default_factory=list)
    relations: list[tuple[int, list[tuple[str, int, str]], dict[str, str]]] = field(
        default_factory=list
    )

    def node(self, nid: int, east_m: float, north_m: float, **tags: str) -> int:
        lat = LAT0 + north_m / _M_PER_DEG_LAT
        lon = LON0 + east_m / (_M_PER_DEG_LAT * math.cos(math.radians(LAT0)))
        self.nodes[nid] = (lat, lon, {k.replace("__", ":"): v for k, v in tags.items()})
        return nid

    def way(self, wid: int, nodes: list[int], **tags: str) -> int:
        self.ways.append((wid, nodes, {k.replace("__", ":"): v for k, v in tags.items()}))
        return wid

    def restriction(self, rid: int, from_way: int, via: int, to_way: int, kind: str) -> None:
        members = [("way", from_way, "from"), ("node", via, "via"), ("way", to_way, "to")]
        self.relations.append((rid, members, {"type": "restriction", "restriction": kind}))

    def xml(self) -> str:
        out = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6" generator="test">']
        for nid, (lat, lon, tags) in sorted(self.nodes.items()):
            out.append(f'<node id="{nid}" version="1" lat="{lat:.8f}" lon="{lon:.8f}">')
            out.extend(f"<tag k={quoteattr(k)} v={quoteattr(v)}/>" for k, v in tags.items())
            out.append("</node>")
        for wid, nds, tags in self.ways:
            out.append(f'<way id="{wid}" version="1">')
            out.extend(f'<nd ref="{n}"/>' for n in nds)
            out.extend(f"<tag k={quoteattr(k)} v={quoteattr(v)}/>" for k, v in tags.items())
            out.append("</way>")
        for rid, members, tags in self.relations:
            out.append(f'<relation id="{rid}" version="1">')
            out.extend(f'<member type="{t}" ref="{r}" role="{role}"/>' for t, r, role in members)
            out.extend(f"<tag k={quoteattr(k)} v={quoteattr(v)}/>" for k, v in tags.items())
            out.append("</relation>")
        out.append("</osm>")
        return "\n".join(out)

    def write(self, path: Path) -> Path:
        path.write_text(self.xml(), encoding="utf-8")
        return path


def plain_cross(
    *, centre_tags: dict[str, str] | None = None, arm_m: float = 100.0, highway: str = "secondary"
) -> OsmBuilder:
    """A four-arm cross at node 1; arms end at nodes 10 (N), 20 (E), 30 (S), 40 (W), with a
    middle node each (11, 21, 31, 41) 15 m from the centre; one two-way way per arm."""
    b = OsmBuilder()
    b.node(1, 0, 0, **(centre_tags if centre_tags is not None else {"highway": "traffic_signals"}))
    for base, (dx, dy), name in (
        (10, (0, 1), "North Street"),
        (20, (1, 0), "East Street"),
        (30, (0, -1), "South Street"),
        (40, (-1, 0), "West Street"),
    ):
        b.node(base + 1, dx * 15, dy * 15)
        b.node(base, dx * arm_m, dy * arm_m)
        b.way(100 + base, [base, base + 1, 1], highway=highway, name=name)
    return b
