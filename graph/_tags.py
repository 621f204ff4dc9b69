"""Read per-direction road attributes from OSM way tags, falling back to documented defaults.

Every function returns the value and whether it was guessed, so approaches can list their guesses.
"""

from __future__ import annotations

import re

from graph.settings import DEFAULT_LANES_ONEWAY, DEFAULT_LANES_PER_DIRECTION, BuildSettings

_ONEWAY_FORWARD = frozenset({"yes", "true", "1"})
_ONEWAY_BACKWARD = frozenset({"-1", "reverse"})
_ONEWAY_CLASSES = frozenset({"motorway", "motorway_link"})
_ROUNDABOUT = frozenset({"roundabout", "circular"})

_MPH = 1.609344
_ZONE = re.compile(r"zone:?(\d+)", re.IGNORECASE)
_NUMBER = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(mph|km/h|kmh|kph)?\s*$", re.IGNORECASE)
_IMPLICIT_KPH = {
    "urban": 50.0,
    "rural": 80.0,
    "living_street": 20.0,
    "walk": 7.0,
    "motorway": 110.0,
    "trunk": 90.0,
    "bicycle_road": 30.0,
}


def road_class(tags: dict[str, str]) -> str:
    """``highway`` without ``_link``: links share their parent's defaults."""
    return tags.get("highway", "road").removesuffix("_link")


def oneway(tags: dict[str, str]) -> int:
    """+1 one-way along the way, -1 against it, 0 two-way."""
    value = tags.get("oneway", "").lower()
    if value in _ONEWAY_FORWARD:
        return 1
    if value in _ONEWAY_BACKWARD:
        return -1
    if value == "no":
        return 0
    if tags.get("junction") in _ROUNDABOUT or tags.get("highway") in _ONEWAY_CLASSES:
        return 1
    return 0


def _int_tag(tags: dict[str, str], key: str) -> int | None:
    raw = tags.get(key)
    if raw is None:
        return None
    try:
        value = int(float(raw.split(";")[0].strip()))
    except ValueError:
        return None
    return value if value > 0 else None


def turn_lanes(tags: dict[str, str], forward: bool) -> tuple[str, ...]:
    """``turn:lanes`` entries for one direction, left to right (empty when untagged)."""
    key = "turn:lanes:forward" if forward else "turn:lanes:backward"
    raw = tags.get(key)
    if raw is None and (oneway(tags) == (1 if forward else -1)):
        raw = tags.get("turn:lanes")
    if not raw:
        return ()
    return tuple(part.strip() for part in raw.split("|"))


def _reserved(tags: dict[str, str], suffix: str) -> int:
    """Bus/PSV-only lanes tagged with ``lanes:psv<suffix>`` / ``lanes:bus<suffix>``."""
    return (_int_tag(tags, f"lanes:psv{suffix}") or 0) + (_int_tag(tags, f"lanes:bus{suffix}") or 0)


def lanes(tags: dict[str, str], forward: bool) -> tuple[int, bool]:
    """General-traffic lanes in one direction of travel and whether the number was guessed.

    OSM lane counts include bus lanes; ``lanes:psv`` / ``lanes:bus`` (per direction, or in
    total on a one-way road) are taken off, since buses do not discharge a signal's queue.
    """
    direction = "forward" if forward else "backward"
    own = _reserved(tags, f":{direction}")
    per_direction = _int_tag(tags, f"lanes:{direction}")
    if per_direction is not None:
        return max(1, per_direction - own), False
    tl = turn_lanes(tags, forward)
    if tl:
        return len(tl), False
    total = _int_tag(tags, "lanes")
    ow = oneway(tags)
    if ow != 0:
        if total is not None:
            return max(1, total - max(own, _reserved(tags, ""))), False
        return DEFAULT_LANES_ONEWAY.get(road_class(tags), 1), True
    if total is not None:
        other = _int_tag(tags, "lanes:backward" if forward else "lanes:forward")
        if other is not None and total > other:
            return max(1, total - other - own), False
        general = total - _reserved(tags, "") - own
        general -= _reserved(tags, ":backward" if forward else ":forward")
        # An odd total on a two-way road hides which side has the extra (often turn) lane.
        return max(1, general // 2), general % 2 == 1
    return DEFAULT_LANES_PER_DIRECTION.get(road_class(tags), 1), True


def parse_speed_kph(raw: str) -> float | None:
    """Speed limit in km/h from a ``maxspeed`` value, or ``None`` when it says nothing usable."""
    value = raw.split(";", maxsplit=1)[0].strip().lower()
    m = _NUMBER.match(value)
    if m:
        speed = float(m.group(1))
        return speed * _MPH if (m.group(2) or "").lower() == "mph" else speed
    zone = _ZONE.search(value)
    if zone:
        return float(zone.group(1))
    if value in {"walk"}:
        return _IMPLICIT_KPH["walk"]
    if ":" in value:
        return _IMPLICIT_KPH.get(value.split(":", 1)[1])
    return None


def free_speed_kph(
    tags: dict[str, str], forward: bool, settings: BuildSettings
) -> tuple[float, bool]:
    """Free-flow speed in one direction (the posted limit) and whether it was guessed."""
    direction = "forward" if forward else "backward"
    for key in (f"maxspeed:{direction}", "maxspeed"):
        raw = tags.get(key)
        if raw:
            speed = parse_speed_kph(raw)
            if speed is not None and speed > 0:
                return speed, False
    cls = road_class(tags)
    return settings.speed_kph.get(cls, settings.speed_kph.get("road", 50.0)), True


def saturation_flow_per_lane(tags: dict[str, str], settings: BuildSettings) -> float:
    """Saturation flow per lane (always a default: OSM does not state it)."""
    cls = road_class(tags)
    table = settings.saturation_flow_vph
    return table.get(cls, table.get("road", 1600.0))


def road_name(tags: dict[str, str]) -> str:
    """The way's name, else its ref, else empty."""
    return tags.get("name") or tags.get("ref") or ""


def lane_turns(entry: str) -> frozenset[str]:
    """Turn types one ``turn:lanes`` entry allows (``left;through`` → left, through)."""
    out: set[str] = set()
    for part in entry.split(";"):
        p = part.strip()
        if p in {"left", "sharp_left"}:
            out.add("left")
        elif p == "slight_left":
            out.update({"left", "through"})
        elif p in {"right", "sharp_right"}:
            out.add("right")
        elif p == "slight_right":
            out.update({"right", "through"})
        elif p in {"through", "merge_to_left", "merge_to_right"}:
            out.add("through")
        elif p == "reverse":
            out.add("uturn")
        else:  # "none", "" or unknown: the lane says nothing
            return frozenset({"left", "through", "right", "uturn"})
    return frozenset(out)
