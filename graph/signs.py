"""Sign registry: the variable-message signs (VMS) where diversion advice can be displayed.

A CSV with a header and one sign per line, placed either

- **by node**: ``sign_id,osm_node``: the OSM node of the intersection where drivers reading the
  sign can turn; or
- **by position**: ``sign_id,lat,lon,bearing``: where the sign stands and the direction of travel
  it faces. It is placed on the nearest edge carrying that direction (osmnx's ``nearest_edges``,
  then a direction-aware search within 30 m when the nearest runs the other way), and it serves the
  intersection at the end of that edge.

Malformed files raise :class:`~graph.errors.DetectorRegistryError`-like
:class:`SignRegistryError` with the file and line; well-formed signs that land nowhere are listed
in :attr:`SignRegistry.unmapped` with the reason, so one misplaced sign never stops the service.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

from graph._geo import angle_diff_deg
from graph.errors import GraphError
from graph.locate import (
    DEFAULT_BEARING_TOLERANCE_DEG,
    EdgeLocator,
    LocationError,
    heading_at,
    nearest_edges_batch,
    twins,
)
from graph.routing import RoutableGraph


class SignRegistryError(GraphError, ValueError):
    """A sign registry file that cannot be read."""

    def __init__(self, path: str, line: int, reason: str) -> None:
        self.path = path
        self.line = line
        self.reason = reason
        super().__init__(f"{path}:{line}: {reason}")


@dataclass(frozen=True, slots=True)
class SignRegistry:
    """Decision-point node -> sign id, and the signs that could not be placed."""

    by_node: dict[int, str]
    unmapped: tuple[tuple[str, int, str], ...] = ()
    """(sign id, line, reason)."""


def load_signs(path: Path, rg: RoutableGraph, *, max_m: float = 30.0) -> SignRegistry:
    """Read and place a sign registry."""
    if not path.is_file():
        raise SignRegistryError(str(path), 0, "file not found: give the path of a sign CSV")
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
        header = set(rows[0]) if rows else set()
    if "sign_id" not in header or not ({"osm_node"} <= header or {"lat", "lon"} <= header):
        raise SignRegistryError(
            str(path), 1, "the header needs sign_id and either osm_node or lat,lon,bearing"
        )
    by_node: dict[int, str] = {}
    unmapped: list[tuple[str, int, str]] = []
    positioned: list[tuple[str, int, float, float, float]] = []
    seen: set[str] = set()
    for line, row in enumerate(rows, start=2):
        sign = (row.get("sign_id") or "").strip()
        if not sign:
            raise SignRegistryError(str(path), line, "empty sign_id")
        if sign in seen:
            raise SignRegistryError(str(path), line, f"duplicate sign_id {sign!r}")
        seen.add(sign)
        try:
            if (row.get("osm_node") or "").strip():
                node = int(row["osm_node"])
                if node in rg.graph:
                    by_node[node] = sign
                else:
                    unmapped.append(
                        (sign, line, f"node {node} is not an intersection of the graph")
                    )
                continue
            lat, lon = float(row["lat"]), float(row["lon"])
            bearing = float(row.get("bearing") or "nan")
        except (ValueError, KeyError) as e:
            raise SignRegistryError(str(path), line, f"not a number: {e}") from e
        positioned.append((sign, line, lon, lat, bearing))
    _place(rg, positioned, by_node, unmapped, max_m)
    return SignRegistry(by_node, tuple(unmapped))


def _place(
    rg: RoutableGraph,
    positioned: list[tuple[str, int, float, float, float]],
    by_node: dict[int, str],
    unmapped: list[tuple[str, int, str]],
    max_m: float,
) -> None:
    locator: EdgeLocator | None = None
    found = nearest_edges_batch(rg, ((lon, lat) for _, _, lon, lat, _ in positioned))
    for (sign, line, lon, lat, bearing), (edge, dist) in zip(positioned, found, strict=True):
        match = None
        if dist <= max_m:
            match = next(
                (
                    e
                    for e in twins(rg, edge)
                    if math.isnan(bearing)
                    or abs(angle_diff_deg(bearing, heading_at(rg, e, lon, lat)))
                    <= DEFAULT_BEARING_TOLERANCE_DEG
                ),
                None,
            )
        if match is None:
            locator = locator or EdgeLocator(rg)
            try:
                match = locator.nearest(
                    lon, lat, None if math.isnan(bearing) else bearing, max_m=max_m
                )
            except LocationError as e:
                unmapped.append((sign, line, e.reason))
                continue
        by_node[match[1]] = sign
