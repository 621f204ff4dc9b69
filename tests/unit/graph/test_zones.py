"""Zone assignment: every junction gets one, zones stay under the cap, order does not matter."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graph.model import Link
from graph.zones import assign_zones, zone_sizes


@st.composite
def graphs(draw: st.DrawFn) -> tuple[list[str], list[Link]]:
    n = draw(st.integers(min_value=1, max_value=30))
    ids = [f"osm-{i}" for i in range(n)]
    links = draw(
        st.lists(
            st.builds(
                lambda a, b, d: Link(
                    from_junction=ids[a], to_junction=ids[b], length_m=d, travel_time_s=d / 10
                ),
                st.integers(0, n - 1),
                st.integers(0, n - 1),
                st.floats(min_value=1, max_value=1500),
            ),
            max_size=80,
        )
    )
    return ids, links


@settings(max_examples=200, deadline=None)
@given(graphs(), st.integers(min_value=1, max_value=8), st.randoms(use_true_random=False))
def test_zone_invariants(g: tuple[list[str], list[Link]], cap: int, rnd: object) -> None:
    ids, links = g
    zones = assign_zones(ids, links, zone_link_m=500, max_zone_size=cap)
    assert set(zones) == set(ids)
    assert max(zone_sizes(zones).values()) <= cap
    # A zone is named after its smallest member.
    for z, members in _members(zones).items():
        assert z == "zone-" + min(members)
    shuffled = list(links)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]  # hypothesis Random
    assert assign_zones(reversed(ids), shuffled, zone_link_m=500, max_zone_size=cap) == zones
    # Junctions in one zone are joined through links no longer than the threshold.
    short = {(lk.from_junction, lk.to_junction) for lk in links if lk.length_m <= 500}
    for members in _members(zones).values():
        if len(members) > 1:
            for m in members:
                assert any(m in pair for pair in short)


def _members(zones: dict[str, str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for j, z in zones.items():
        out.setdefault(z, []).append(j)
    return out


def test_chain_is_cut_by_the_cap_shortest_links_first() -> None:
    links = [
        Link(from_junction="a", to_junction="b", length_m=100, travel_time_s=10),
        Link(from_junction="b", to_junction="c", length_m=50, travel_time_s=5),
        Link(from_junction="c", to_junction="d", length_m=300, travel_time_s=30),
        Link(from_junction="d", to_junction="e", length_m=900, travel_time_s=90),
    ]
    zones = assign_zones("abcde", links, zone_link_m=500, max_zone_size=2)
    assert zones == {"a": "zone-a", "b": "zone-b", "c": "zone-b", "d": "zone-d", "e": "zone-e"}


def test_bad_cap() -> None:
    with pytest.raises(ValueError, match="max_zone_size"):
        assign_zones(["a"], [], max_zone_size=0)
