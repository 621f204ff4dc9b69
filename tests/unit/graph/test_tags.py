"""Reading lanes, speeds and turn lanes from OSM tags, and what counts as guessed."""

from __future__ import annotations

import pytest

from graph import _tags
from graph.settings import BuildSettings


@pytest.mark.parametrize(
    ("tags", "forward", "expected"),
    [
        ({"highway": "primary", "lanes": "4"}, True, (2, False)),
        ({"highway": "primary", "lanes": "3"}, True, (1, True)),
        ({"highway": "primary", "lanes": "3", "lanes:forward": "2"}, True, (2, False)),
        ({"highway": "primary", "lanes": "3", "lanes:forward": "2"}, False, (1, False)),
        ({"highway": "primary", "oneway": "yes", "lanes": "3"}, True, (3, False)),
        ({"highway": "primary", "oneway": "yes"}, True, (2, True)),
        ({"highway": "residential"}, False, (1, True)),
        ({"highway": "secondary", "turn:lanes:backward": "left|through"}, False, (2, False)),
        ({"highway": "motorway"}, True, (2, True)),
        # Bus lanes do not count.
        ({"highway": "primary", "oneway": "yes", "lanes": "3", "lanes:psv": "1"}, True, (2, False)),
        ({"highway": "primary", "lanes": "4", "lanes:psv": "2"}, False, (1, False)),
        (
            {"highway": "primary", "lanes:forward": "2", "lanes:bus:forward": "1"},
            True,
            (1, False),
        ),
        ({"highway": "primary", "lanes": "3", "lanes:psv:backward": "1"}, True, (1, False)),
    ],
)
def test_lanes(tags: dict[str, str], forward: bool, expected: tuple[int, bool]) -> None:
    assert _tags.lanes(tags, forward) == expected


@pytest.mark.parametrize(
    ("raw", "kph"),
    [
        ("50", 50.0),
        ("30 mph", 30 * 1.609344),
        ("FR:urban", 50.0),
        ("DE:rural", 80.0),
        ("FR:zone30", 30.0),
        ("walk", 7.0),
        ("50;30", 50.0),
        ("signals", None),
        ("none", None),
    ],
)
def test_parse_speed(raw: str, kph: float | None) -> None:
    got = _tags.parse_speed_kph(raw)
    assert got == (pytest.approx(kph) if kph is not None else None)


def test_speed_falls_back_to_class_default_and_says_so() -> None:
    s = BuildSettings()
    assert _tags.free_speed_kph({"highway": "primary"}, True, s) == (50.0, True)
    assert _tags.free_speed_kph({"highway": "primary", "maxspeed": "70"}, True, s) == (70.0, False)
    assert _tags.free_speed_kph(
        {"highway": "primary", "maxspeed": "70", "maxspeed:backward": "30"}, False, s
    ) == (30.0, False)
    custom = BuildSettings(speed_kph={"primary": 60.0, "road": 40.0})
    assert _tags.free_speed_kph({"highway": "primary_link"}, True, custom) == (60.0, True)


@pytest.mark.parametrize(
    ("tags", "value"),
    [
        ({"oneway": "yes"}, 1),
        ({"oneway": "-1"}, -1),
        ({"junction": "roundabout"}, 1),
        ({"highway": "motorway"}, 1),
        ({"highway": "motorway", "oneway": "no"}, 0),
        ({"highway": "primary"}, 0),
    ],
)
def test_oneway(tags: dict[str, str], value: int) -> None:
    assert _tags.oneway(tags) == value


def test_lane_turns() -> None:
    assert _tags.lane_turns("left;through") == {"left", "through"}
    assert _tags.lane_turns("slight_right") == {"right", "through"}
    assert _tags.lane_turns("merge_to_left") == {"through"}
    assert _tags.lane_turns("none") == {"left", "through", "right", "uturn"}
    assert _tags.lane_turns("") == {"left", "through", "right", "uturn"}


def test_saturation_flow_override() -> None:
    s = BuildSettings(saturation_flow_vph={"primary": 2000.0, "road": 1500.0})
    assert _tags.saturation_flow_per_lane({"highway": "primary"}, s) == 2000.0
    assert _tags.saturation_flow_per_lane({"highway": "busway"}, s) == 1500.0
