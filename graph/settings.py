"""Settings of the OSM network builder: every default the model may have to guess, in one place.

Each value here is documented in ``docs/graph.md``; a junction or approach records in ``guessed``
which of its attributes came from these defaults rather than from OSM tags.
"""

from __future__ import annotations

from typing import Any

import msgspec

DEFAULT_SATURATION_FLOW_VPH: dict[str, float] = {
    # Vehicles per hour of green per lane. HCM's base is 1900 pc/h/ln for an ideal lane; urban
    # lanes of lower classes are narrower, busier with parking and pedestrians, hence lower.
    "motorway": 1900.0,
    "trunk": 1900.0,
    "primary": 1900.0,
    "secondary": 1800.0,
    "tertiary": 1700.0,
    "unclassified": 1600.0,
    "residential": 1600.0,
    "road": 1600.0,
    "living_street": 1400.0,
    "service": 1400.0,
}

DEFAULT_SPEED_KPH: dict[str, float] = {
    # Urban legal limits of most European countries where ``maxspeed`` is missing.
    "motorway": 110.0,
    "trunk": 70.0,
    "primary": 50.0,
    "secondary": 50.0,
    "tertiary": 50.0,
    "unclassified": 50.0,
    "residential": 50.0,
    "road": 50.0,
    "living_street": 20.0,
    "service": 20.0,
}

DEFAULT_LANES_ONEWAY: dict[str, int] = {"motorway": 2, "trunk": 2, "primary": 2}
"""Lanes of a one-way road without ``lanes`` (1 for classes not listed)."""
DEFAULT_LANES_PER_DIRECTION: dict[str, int] = {"motorway": 2, "trunk": 2}
"""Lanes per direction of a two-way road without any lane tag (1 for classes not listed)."""


class BuildSettings(msgspec.Struct, frozen=True, kw_only=True):
    """How the OSM builder clusters, measures and guesses. Part of the cache key."""

    guess_signals_dist_m: float = 25.0
    """A signal node this far upstream of an intersection's border or closer controls it
    (netconvert's ``--tls.guess-signals.dist`` default)."""
    join_dist_m: float = 20.0
    """Controlled nodes linked by roads shorter than this, border to border, form one junction
    (netconvert's ``--tls.join-dist`` default)."""
    intersection_radius_m: float = 3.0
    """Distance from an intersection's OSM node (its centre) to its border. netconvert measures
    both distances above from the junction shapes it computes; OSM has only the centre node."""
    saturation_flow_vph: dict[str, float] = msgspec.field(
        default_factory=lambda: dict(DEFAULT_SATURATION_FLOW_VPH)
    )
    speed_kph: dict[str, float] = msgspec.field(default_factory=lambda: dict(DEFAULT_SPEED_KPH))
    lane_width_m: float = 3.25
    walking_speed_mps: float = 1.2
    """Design walking speed for pedestrian clearance (MUTCD uses 3.5 ft/s = 1.07 m/s)."""
    crossing_search_m: float = 30.0
    """Crossing nodes this close to the junction along an arm belong to the junction."""
    approach_max_m: float = 1000.0
    """An approach is cut this far upstream even with no intersection before."""
    drive_left: bool = False
    """Left-hand traffic (UK, Japan…): mirrors which turns cross the opposing flow."""
    allow_uturns: bool = False
    """Keep U-turn movements (otherwise only when they are an approach's only way out)."""
    min_green_s: float = 7.0
    max_green_s: float = 90.0
    intergreen_s: float = 5.0
    """Shortest intergreen (amber plus all-red) between two phases."""
    amber_s: float = 3.0
    clearing_speed_mps: float = 10.0
    """Speed at which the last vehicle of a phase clears the junction: the all-red lasts until a
    6 m vehicle has crossed the junction's extent at this speed (rounded up to the second)."""
    max_all_red_s: float = 5.0
    """Cap on the all-red: a real controller of a large multi-node junction staggers its parts
    rather than holding everything red until the far side clears."""
    walk_s: float = 5.0
    """Walk interval before pedestrian clearance starts."""
    link_max_m: float = 2000.0
    """Junctions farther apart than this along the road get no coordination link."""
    zone_link_m: float = 500.0
    """Junctions linked by a road shorter than this may share a zone."""
    max_zone_size: int = 12
    """Most junctions in one zone (one zone is optimised together, one Kafka key)."""

    def key(self) -> dict[str, Any]:
        """Plain-data form, for the cache key."""
        return msgspec.to_builtins(self)  # type: ignore[no-any-return]  # msgspec returns Any
