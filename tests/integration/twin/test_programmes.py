"""SUMO's actuated copy of the programme and the live controllers run under the same bounds."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from graph.sumo import network_from_sumo
from optimizer import shortest_cycle_s
from twin import load_scenario
from twin.live_policy import live_envelopes
from twin.programmes import (
    DEFAULT_MAX_GREEN_S,
    DEFAULT_MIN_GREEN_S,
    write_actuated_programmes,
)

pytestmark = pytest.mark.integration


def test_actuated_copy_and_live_controllers_get_the_same_greens(
    grid_scenario: Path, tmp_path: Path
) -> None:
    sc = load_scenario(grid_scenario)
    sn = network_from_sumo(sc.net, sc.additionals)
    add = tmp_path / "actuated.add.xml"
    write_actuated_programmes(sn.signals, add)
    written: dict[tuple[str, str], tuple[float, float]] = {}
    for tl in ET.parse(add).getroot().iter("tlLogic"):
        for ph in tl.iter("phase"):
            if "minDur" in ph.attrib:
                bounds = (float(ph.attrib["minDur"]), float(ph.attrib["maxDur"]))
                written[(tl.attrib["id"], ph.attrib["state"])] = bounds
    granted = live_envelopes(sn.network.junctions, sn.signals, "programme")
    model = live_envelopes(sn.network.junctions, sn.signals, "model")
    for j in sn.network.junctions:
        env, sig = granted[j.id], sn.signals[j.id]
        for k, state in enumerate(sig.green_states):
            assert (env.min_green_s[k], env.max_green_s[k]) == written[(sig.tls_id, state)]
        # netconvert's static programme states no bounds: the twin's one default holds for both
        assert set(env.min_green_s) == {DEFAULT_MIN_GREEN_S}
        assert set(env.max_green_s) == {DEFAULT_MAX_GREEN_S}
        # and the network model proposes its own (what `aiguilleur envelopes approve` gives)
        assert model[j.id].min_green_s == tuple(p.min_green_s for p in j.phases)
        # no minimum cycle beyond what the greens impose, a 120 s maximum
        n = len(env.min_green_s)
        assert env.cycle_min_s == shortest_cycle_s(
            range(n), env.min_green_s, env.intergreen_s, may_skip_phases=True
        )
        assert env.cycle_max_s == 120.0
