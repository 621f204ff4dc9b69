"""Zones: groups of nearby junctions optimised together (the unit of Kafka partitioning).

Rule (deterministic, documented in ``docs/graph.md``): junctions are nodes, coordination links
shorter than ``zone_link_m`` (500 m of road) are edges, taken shortest first (ties by junction
ids). An edge merges two zones unless the merged zone would exceed ``max_zone_size`` junctions
(12). This is Kruskal's algorithm with a size cap: closely coupled junctions land together, and
no zone grows past what one optimiser run should handle. A junction with no short link is a zone
of its own. A zone is named after its smallest junction id: ``zone-<junction id>``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from graph.model import Link

ZONE_PREFIX = "zone-"


def assign_zones(
    junction_ids: Iterable[str],
    links: Iterable[Link],
    *,
    zone_link_m: float = 500.0,
    max_zone_size: int = 12,
) -> dict[str, str]:
    """Map every junction id to its zone id."""
    if max_zone_size < 1:
        raise ValueError(f"max_zone_size must be at least 1, got {max_zone_size}")
    ids = sorted(set(junction_ids))
    parent = {j: j for j in ids}
    size = dict.fromkeys(ids, 1)

    def find(j: str) -> str:
        while parent[j] != j:
            parent[j] = parent[parent[j]]
            j = parent[j]
        return j

    shortest: dict[tuple[str, str], float] = {}
    for link in links:
        if link.from_junction not in parent or link.to_junction not in parent:
            continue
        if link.from_junction == link.to_junction:
            continue
        key = tuple(sorted((link.from_junction, link.to_junction)))
        pair = (key[0], key[1])
        shortest[pair] = min(shortest.get(pair, link.length_m), link.length_m)
    for (a, b), length in sorted(shortest.items(), key=lambda kv: (kv[1], kv[0])):
        if length > zone_link_m:
            break
        ra, rb = find(a), find(b)
        if ra == rb or size[ra] + size[rb] > max_zone_size:
            continue
        root, child = (ra, rb) if ra < rb else (rb, ra)
        parent[child] = root
        size[root] += size[child]
    members: dict[str, list[str]] = {}
    for j in ids:
        members.setdefault(find(j), []).append(j)
    return {j: ZONE_PREFIX + min(group) for group in members.values() for j in group}


def zone_sizes(zones: Mapping[str, str]) -> dict[str, int]:
    """Number of junctions per zone id."""
    out: dict[str, int] = {}
    for z in zones.values():
        out[z] = out.get(z, 0) + 1
    return out
