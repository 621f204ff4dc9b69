"""graph.sumo on real SUMO networks: a generated grid and, when present, the shared scenarios."""

from __future__ import annotations

from pathlib import Path

import pytest

from graph.errors import NetworkSourceError
from graph.sumo import network_from_sumo, read_programs

pytestmark = pytest.mark.integration


def test_grid_junctions_match_the_net_programmes(grid_scenario: Path) -> None:
    net = grid_scenario.with_name("grid.net.xml")
    sn = network_from_sumo(net)
    programs = read_programs([net])
    assert {j.id for j in sn.network.junctions} == set(programs)
    for j in sn.network.junctions:
        sig = sn.signals[j.id]
        assert len(sig.green_states) == len(j.phases) >= 2
        movement_ids = {m.id for m in j.movements}
        for p in j.phases:
            assert set(p.movement_ids) <= movement_ids
            assert p.intergreen_s == pytest.approx(sig.yellow_s[p.index] + sig.red_s[p.index])
            assert p.intergreen_s > 0
        # every movement is served by some phase
        served = {m for p in j.phases for m in p.movement_ids}
        assert served == movement_ids
        # every link index of a movement names a movement of this junction
        assert {m for m in sig.link_movements if m} == movement_ids


def test_grid_lanes_phases_and_links(grid_scenario: Path) -> None:
    net = grid_scenario.with_name("grid.net.xml")
    sn = network_from_sumo(net)
    for j in sn.network.junctions:
        sig = sn.signals[j.id]
        lanes = {ln.id: ln for a in j.approaches for ln in a.lane_detail}
        for a in j.approaches:
            assert [ln.index for ln in a.lane_detail] == list(range(a.lanes))
        # every vehicle link leaves a recorded lane that serves its movement
        for m, (in_lane, _) in zip(sig.link_movements, sig.link_lanes, strict=True):
            if m:
                assert m in lanes[in_lane].movement_ids
        for p in j.phases:
            state = sig.green_states[p.index]
            assert set(p.lane_ids) <= set(lanes)
            assert set(p.permitted_movement_ids) <= set(p.movement_ids)
            for mid in p.permitted_movement_ids:  # shown with 'g' only: it gives way
                assert all(
                    state[i] == "g"
                    for i, m in enumerate(sig.link_movements)
                    if m == mid and state[i] in "Gg"
                )
            assert p.programme_green_s is not None
            assert p.programme_green_s > 0
        assert j.programme_cycle_s == pytest.approx(sum(ph.duration_s for ph in sig.program))
        assert {m.exit_id for m in j.movements} <= {x.id for x in j.exits}
        assert all(x.lane_ids for x in j.exits)
    # the 3x3 grid's signals are linked to their neighbours and zoned by those links
    assert sn.network.links
    pairs = {(lk.from_junction, lk.to_junction) for lk in sn.network.links}
    assert all((b, a) in pairs for a, b in pairs)
    assert len({j.zone_id for j in sn.network.junctions}) < len(sn.network.junctions)


def test_missing_net_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(NetworkSourceError, match="no such SUMO network file"):
        network_from_sumo(tmp_path / "absent.net.xml")


@pytest.mark.shared_data
def test_additional_programme_overrides_the_net(scenarios_dir: Path) -> None:
    d = scenarios_dir / "bologna" / "acosta"
    plain = network_from_sumo(d / "acosta_buslanes.net.xml")
    over = network_from_sumo(d / "acosta_buslanes.net.xml", [d / "acosta_tls.add.xml"])
    overridden = read_programs([d / "acosta_tls.add.xml"])
    for tls_id, (program_id, _, _, _) in overridden.items():
        if tls_id in over.signals:
            assert over.signals[tls_id].program_id == program_id
    assert any(
        over.signals[t].green_states != plain.signals[t].green_states
        or over.signals[t].program_id != plain.signals[t].program_id
        for t in overridden
        if t in plain.signals
    )


def test_permitted_left_turns_yield_to_the_opposing_through_traffic(grid_scenario: Path) -> None:
    """The right-of-way matrix read from the net: a left turn shown ``g`` while the opposing
    approach has ``G`` yields to some of that approach's links, and never to itself."""
    sn = network_from_sumo(grid_scenario.with_name("grid.net.xml"))
    checked = 0
    for j in sn.network.junctions:
        sig = sn.signals[j.id]
        turn = {m.id: m.turn for m in j.movements}
        assert len(sig.link_yields_to) == len(sig.link_lanes)
        for i, ys in enumerate(sig.link_yields_to):
            assert i not in ys
        for st in sig.green_states:
            for i, m in enumerate(sig.link_movements):
                if not m or turn.get(m) != "left" or st[i] != "g":
                    continue
                mine = sig.link_lanes[i][0].rsplit("_", 1)[0]
                others = [
                    k
                    for k in sig.link_yields_to[i]
                    if st[k] == "G" and sig.link_lanes[k][0].rsplit("_", 1)[0] != mine
                ]
                assert others, f"{j.id}: left link {i} shown g yields to no G link"
                checked += 1
    assert checked > 0
