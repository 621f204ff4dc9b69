"""The network model every other package reasons over.

Signal-controlled junctions, approaches, movements, phases. Built from OpenStreetMap (``graph.osm``)
or from a SUMO network (``graph.sumo``); both produce the same types.
Structs are frozen msgspec Structs so a built network can be cached and hashed byte-for-byte.
"""

from __future__ import annotations

from typing import Literal

import msgspec

TurnType = Literal["left", "through", "right", "uturn"]


class Lane(msgspec.Struct, frozen=True, kw_only=True):
    """One lane of an approach at the stop line, and the movements it serves."""

    index: int
    """0 is the rightmost lane in the direction of travel, counting leftwards (SUMO's
    convention; OSM's ``turn:lanes`` lists lanes from the left, so its last entry is lane 0)."""
    id: str
    """The lane's id: the SUMO lane id (``<edge>_<index>``) for a SUMO network,
    ``<approach id>#<index>`` for a network built from OSM."""
    movement_ids: tuple[str, ...]
    """Movements whose vehicles may leave from this lane."""
    guessed: bool = False
    """True when the lane's movements come from the default allocation (no ``turn:lanes``)."""


class Approach(msgspec.Struct, frozen=True, kw_only=True):
    """One incoming drivable edge of a junction (all its lanes)."""

    id: str
    junction_id: str
    osm_way_id: int | None = None
    from_node: str
    to_node: str
    bearing_deg: float
    """Direction of travel when entering the junction, degrees clockwise from north."""
    lanes: int
    saturation_flow_vph: float
    """Saturation flow of the whole approach (all lanes), vehicles per hour of green."""
    free_speed_mps: float
    length_m: float
    road_class: str
    name: str = ""
    guessed: tuple[str, ...] = ()
    """Attributes whose value is a documented default rather than read from the source."""
    node_ids: tuple[str, ...] = ()
    """OSM nodes of the approach in travel order, from its upstream end to the junction."""
    geometry: tuple[tuple[float, float], ...] = ()
    """(lon, lat) points of the approach in travel order, ending at the junction."""
    turn_lanes: tuple[str, ...] = ()
    """OSM ``turn:lanes`` of the approach, one entry per lane from the left (empty: untagged)."""
    position_deg: float | None = None
    """Where the approach meets the junction: bearing from the junction centre to a point of the
    approach ~25 m out. Separates the two carriageways of a divided road; ``None`` when unknown
    (then ``bearing_deg + 180``)."""
    lane_detail: tuple[Lane, ...] = ()
    """Every lane at the stop line with the movements it serves, index 0 first; empty in models
    built before lanes were recorded (every lane then serves every movement)."""


class Exit(msgspec.Struct, frozen=True, kw_only=True):
    """One outgoing drivable edge of a junction."""

    id: str
    junction_id: str
    osm_way_id: int | None = None
    from_node: str
    """The junction node the edge leaves from."""
    to_node: str
    """The first node outside the junction."""
    bearing_deg: float
    """Direction of travel when leaving the junction, degrees clockwise from north."""
    lanes: int = 1
    position_deg: float | None = None
    """Bearing from the junction centre to a point of the exit ~25 m out (``None``: unknown)."""
    lane_ids: tuple[str, ...] = ()
    """Ids of the exit's lanes where they are lanes of the model too (SUMO: ``<edge>_<index>``),
    so that a detector on them counts the junction's outflow; empty when unknown."""


class Movement(msgspec.Struct, frozen=True, kw_only=True):
    """A turn from an approach to an exit of the same junction."""

    id: str
    approach_id: str
    exit_id: str
    turn: TurnType
    protected: bool = False
    """True when the movement runs only in its own conflict-free phase (e.g. a left-turn lane)."""
    yields_to: tuple[str, ...] = ()
    """Movements this one must give way to when both show green (a left turn to the opposing
    through traffic; SUMO: the node's right-of-way matrix)."""


class Phase(msgspec.Struct, frozen=True, kw_only=True):
    """A set of movements that may run green together (no two of them conflict)."""

    index: int
    movement_ids: tuple[str, ...]
    approach_ids: tuple[str, ...]
    min_green_s: float = 7.0
    max_green_s: float = 90.0
    intergreen_s: float = 5.0
    """Amber plus all-red after this phase ends."""
    pedestrian: bool = False
    """True when a signalised pedestrian crossing walks during this phase."""
    permitted_movement_ids: tuple[str, ...] = ()
    """Movements of ``movement_ids`` the phase shows *permitted*: green, but giving way to a
    movement in :attr:`Movement.yields_to` (SUMO's ``g``); the others have priority."""
    lane_ids: tuple[str, ...] = ()
    """Lanes that show green in this phase (SUMO: a lane with a green link); empty: every lane
    serving one of ``movement_ids``."""
    programme_green_s: float | None = None
    """Green the signal's own programme gives this phase per cycle (SUMO ``tlLogic``); ``None``
    when no programme is known (a network built from OSM)."""


class Junction(msgspec.Struct, frozen=True, kw_only=True):
    """A signal-controlled junction: one or more OSM signal nodes clustered together."""

    id: str
    lat: float
    lon: float
    zone_id: str
    node_ids: tuple[str, ...]
    """OSM nodes inside the junction: its controlled nodes and the short roads joining them."""
    approaches: tuple[Approach, ...]
    movements: tuple[Movement, ...]
    phases: tuple[Phase, ...]
    name: str = ""
    pedestrian_clearance_s: float = 0.0
    guessed: tuple[str, ...] = ()
    signal_node_ids: tuple[str, ...] = ()
    """OSM signal nodes (traffic_signals, signalised crossings) whose lights this junction runs."""
    crossing_approach_ids: tuple[str, ...] = ()
    """Approaches whose arm has a pedestrian crossing near the junction."""
    exits: tuple[Exit, ...] = ()
    """Outgoing edges (movement ``exit_id`` values are their ids)."""
    programme_cycle_s: float | None = None
    """Cycle of the signal's own programme (SUMO ``tlLogic``); ``None`` when unknown."""

    def approach(self, approach_id: str) -> Approach:
        """Return the approach with this id, or raise ``KeyError``."""
        for a in self.approaches:
            if a.id == approach_id:
                return a
        raise KeyError(approach_id)


class Link(msgspec.Struct, frozen=True, kw_only=True):
    """A directed road path between two controlled junctions, for coordination."""

    from_junction: str
    to_junction: str
    length_m: float
    travel_time_s: float
    exit_id: str = ""
    """Exit of ``from_junction`` the path leaves by (empty: unknown, as in models built before)."""
    approach_id: str = ""
    """Approach of ``to_junction`` the path arrives by (empty: unknown, or not a signalled
    approach of that junction)."""


class Network(msgspec.Struct, frozen=True, kw_only=True):
    """A city's signal-controlled network."""

    source: str
    source_sha256: str
    junctions: tuple[Junction, ...]
    links: tuple[Link, ...] = ()
    attribution: str = ""

    def junction(self, junction_id: str) -> Junction:
        """Return the junction with this id, or raise ``KeyError``."""
        for j in self.junctions:
            if j.id == junction_id:
                return j
        raise KeyError(junction_id)

    def zones(self) -> dict[str, tuple[Junction, ...]]:
        """Junctions grouped by zone id, in a stable order."""
        out: dict[str, list[Junction]] = {}
        for j in sorted(self.junctions, key=lambda j: j.id):
            out.setdefault(j.zone_id, []).append(j)
        return {z: tuple(js) for z, js in sorted(out.items())}
