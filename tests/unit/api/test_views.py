"""What the operator reads: approaches named by the side traffic comes from, the plans' warnings in
both languages (the real warnings the planner and the lifecycle write), and a map that shows the
junction among its neighbours' streets."""

from __future__ import annotations

import msgspec
import pytest

from api.views import approach_labels, map_around, warning_texts
from graph.model import Exit, Junction, Network
from graph.synthetic import crossroads
from oversight.lifecycle import edited
from streams.planning import PlanningConfig, plan_junction
from streams.zone_planning import GUARDRAILS_SKIPPED
from streams.zone_state import ZoneState
from tests.unit.streams.test_guarding import LOW, SITES, WEBSTER, J, period


@pytest.mark.parametrize(
    ("arm", "en", "fr"),
    [
        ("N", "from the north", "en venant du nord"),
        ("E", "from the east", "en venant de l'est"),
        ("S", "from the south", "en venant du sud"),
        ("W", "from the west", "en venant de l'ouest"),
    ],
)
def test_an_approach_is_named_by_the_side_traffic_comes_from(arm: str, en: str, fr: str) -> None:
    j = crossroads("X", "Z", 1, 45.0, 4.0)
    named = _named(j)
    assert approach_labels(named)[f"X:{arm}"] == {
        "en": f"Rue {arm}, {en}",
        "fr": f"Rue {arm}, {fr}",
    }


def test_where_the_approach_meets_the_junction_wins_over_its_heading() -> None:
    # a road arriving from the north-east that turns to head due south just before the junction
    j = _named(crossroads("X", "Z", 1, 45.0, 4.0))
    a = msgspec.structs.replace(j.approach("X:N"), bearing_deg=180.0, position_deg=44.0)
    j = msgspec.structs.replace(j, approaches=(a, *j.approaches[1:]))
    assert approach_labels(j)["X:N"]["fr"] == "Rue N, en venant du nord-est"


def _named(j: Junction) -> Junction:
    return msgspec.structs.replace(
        j,
        approaches=tuple(msgspec.structs.replace(a, name=f"Rue {a.id[-1]}") for a in j.approaches),
    )


def _warnings_of_real_plans() -> list[str]:
    """The warnings the planner and the lifecycle actually write today."""
    j = msgspec.structs.replace(
        J,
        phases=tuple(msgspec.structs.replace(p, pedestrian=True) for p in J.phases),
    )
    state = ZoneState(zone_id="Z")
    period(state, 300_000, {k: v for k, v in LOW.items() if k != "E"})  # no readings from E
    cfg = PlanningConfig(period_s=300, window_s=300, pedestrian_flow_pph=60)
    plan = plan_junction(j, SITES, state, 300_000, cfg, WEBSTER, "abc")
    greens = [p.green_s + (2 if k == 0 else 0) for k, p in enumerate(plan.phases)]
    mine = edited(plan, plan.cycle_s + 2, greens, "ada")
    return [*mine.explanation.warnings, GUARDRAILS_SKIPPED]


def test_every_warning_the_pipeline_writes_reads_in_french_too() -> None:
    warnings = _warnings_of_real_plans()
    assert len(warnings) == 4  # unmeasured approach, assumed pedestrians, edit, guardrails
    names = approach_labels(_named(J))
    for w in warnings:
        texts = warning_texts(w, _named(J), "Rue N × Rue E", names)
        assert texts["en"]
        assert texts["fr"] != texts["en"], f"no French for: {w}"
        for english in ("pedestrian", "assumed", "detector", "modified", "guardrails", " the "):
            assert english not in texts["fr"], (english, texts["fr"])
    unmeasured = warning_texts(warnings[0], _named(J), "x", names)
    assert unmeasured["fr"].startswith("Rue E, en venant de l'est : aucune donnée de capteur")
    assert "J:E" not in unmeasured["en"]  # named by its street, not its id


def test_an_unknown_warning_is_shown_as_it_is_in_both_languages() -> None:
    assert warning_texts("something new", None, "x", {}) == {
        "en": "something new",
        "fr": "something new",
    }


def _geometry(j: Junction, length_deg: float = 0.0009) -> Junction:
    """Approaches with a straight geometry ending at the junction, exits with a position."""
    arms = {"N": (0.0, 1.0), "S": (0.0, -1.0), "E": (1.0, 0.0), "W": (-1.0, 0.0)}
    approaches = tuple(
        msgspec.structs.replace(
            a,
            name=f"Rue {a.id[-1]}",
            geometry=(
                (j.lon + arms[a.id[-1]][0] * length_deg, j.lat + arms[a.id[-1]][1] * length_deg),
                (j.lon, j.lat),
            ),
        )
        for a in j.approaches
    )
    exits = tuple(
        Exit(
            id=f"{j.id}:out{k}",
            junction_id=j.id,
            osm_way_id=a.osm_way_id,
            from_node="x",
            to_node="y",
            bearing_deg=0.0,
            position_deg=90.0 * k,
        )
        for k, a in enumerate(j.approaches)
    )
    return msgspec.structs.replace(j, approaches=approaches, exits=exits)


def test_the_map_shows_the_junction_among_its_neighbours_streets() -> None:
    lone = _geometry(crossroads("A", "Z", 10, 45.0, 4.0))
    # one approach, two exits
    lone = msgspec.structs.replace(lone, approaches=lone.approaches[:1], exits=lone.exits[:2])
    near = _geometry(crossroads("B", "Z", 20, 45.002, 4.0))  # ~220 m north
    linked = _geometry(crossroads("C", "Z", 30, 45.0, 4.006))  # ~470 m east, linked
    third = _geometry(crossroads("D", "Z", 40, 45.03, 4.0))  # 3 km away, the third nearest
    far = [_geometry(crossroads(k, "Z", 50 + i, 45.05 + i / 100, 4.0)) for i, k in enumerate("EF")]
    from graph.model import Link

    net = Network(
        source="t",
        source_sha256="0",
        junctions=(lone, near, linked, third, *far),
        links=(Link(from_junction="A", to_junction="C", length_m=470, travel_time_s=34),),
    )
    m = map_around(net, "A")
    drawn = {ln["junction_id"] for ln in m["lines"]}
    assert drawn == {"A", "B", "C", "D"}  # near, linked, or among the three nearest
    assert [ln["approach_id"] for ln in m["lines"] if ln["here"]] == ["A:N"]
    # the exits' ways, named from the approaches that share them (none for the second)
    assert [x["name"] for x in m["exits"]] == ["Rue N", ""]
    east = m["exits"][1]["coordinates"][1]
    assert east[0] > 4.0
    assert east[1] == pytest.approx(45.0)
    assert {o["id"] for o in m["junctions"]} == {"A", "B", "C", "D"}
    lon_w, lat_s, lon_e, lat_n = m["bounds"]
    assert lon_w <= 4.0 <= lon_e
    assert lat_s <= 45.0 <= lat_n
    assert lon_e >= 4.006  # the linked neighbour is in view


def test_a_junction_named_by_one_street_is_told_apart_by_where_it_is() -> None:
    from api.views import near_label

    crossing = _geometry(crossroads("X", "Z", 10, 45.0, 4.0))  # Rue N × Rue E × ...
    one_street = []
    for k, lon in enumerate((4.001, 3.999)):  # ~80 m east and west of it
        j = _geometry(crossroads(f"S{k}", "Z", 20 + 10 * k, 45.0, lon))
        named = tuple(msgspec.structs.replace(a, name="Rue Dedieu") for a in j.approaches)
        one_street.append(msgspec.structs.replace(j, approaches=named))
    net = Network(source="t", source_sha256="near-test", junctions=(crossing, *one_street))
    assert near_label(net, "X") is None
    east, west = near_label(net, "S0"), near_label(net, "S1")
    assert east == {
        "en": "80 m east of Rue N × Rue E × Rue S × Rue W",
        "fr": "à 80 m à l'est de Rue N × Rue E × Rue S × Rue W",
    }
    assert west is not None
    assert west["fr"].startswith("à 80 m à l'ouest de")
