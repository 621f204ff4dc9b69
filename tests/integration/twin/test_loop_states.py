"""Queues from loops only (``twin.loop_states``) against the vehicles SUMO shows halting.

One signal ``A`` (netconvert's fixed-time programme) where a main road crosses a side road whose
northern approach is shorter than the advance loop's distance (its loop sits at the lane's start,
where vehicles come on at a step boundary). Every second, the queue the loops give each approach
lane is compared with SUMO's halting vehicles on it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.twin.plain_net import build_plain_net
from twin.loop_states import ADVANCE_M, LoopStates, write_control_loops
from twin.sumo_command import lane_lengths

pytestmark = pytest.mark.integration

END_S = 900


def _build(d: Path) -> Path:
    nodes = {
        "W": (-300.0, 0.0, "priority"),
        "A": (0.0, 0.0, "traffic_light"),
        "E": (300.0, 0.0, "priority"),
        "N0": (0.0, 300.0, "priority"),
        "N": (0.0, 45.0, "priority"),
        "S": (0.0, -250.0, "priority"),
    }
    pairs = ["WA", "AE", "N0N", "NA", "AS", "SA", "AN", "NN0"]
    ends = {"WA": ("W", "A"), "AE": ("A", "E"), "N0N": ("N0", "N"), "NA": ("N", "A")}
    ends |= {"AS": ("A", "S"), "SA": ("S", "A"), "AN": ("A", "N"), "NN0": ("N", "N0")}
    net = build_plain_net(d, nodes, {e: (*ends[e], 13.9) for e in pairs})
    flows = {("WA", "AE"): 700, ("N0N", "AS"): 300, ("SA", "NN0"): 250}
    (d / "r.rou.xml").write_text(
        '<routes><vType id="car" sigma="0.5"/>'
        + "".join(
            f'<flow id="{a}_{b}" type="car" from="{a}" to="{b}" begin="0" end="{END_S}" '
            f'period="exp({vph / 3600.0:.5f})"/>'
            for (a, b), vph in flows.items()
        )
        + "</routes>"
    )
    return net


def test_loop_queues_follow_the_halting_vehicles(tmp_path: Path) -> None:
    import libsumo

    net = _build(tmp_path)
    approach, exits = {"WA_0", "NA_0", "SA_0"}, {"AE_0", "AS_0", "AN_0"}
    lengths = lane_lengths(net, approach | exits)
    assert lengths["NA_0"] < ADVANCE_M  # the short approach the test is about
    add = tmp_path / "loops.add.xml"
    loops = write_control_loops(
        {ln: lengths[ln] for ln in approach}, {ln: lengths[ln] for ln in exits}, add
    )
    cmd = ["sumo", "-n", str(net), "-r", str(tmp_path / "r.rou.xml"), "-a", str(add)]
    libsumo.start([*cmd, "--seed", "1", "--no-step-log", "--no-warnings", "--end", str(END_S)])
    try:
        states = LoopStates(libsumo, loops)
        errors: list[float] = []
        queued = seen = 0
        for _ in range(END_S):
            libsumo.simulationStep()
            states.tick(float(libsumo.simulation.getTime()), 1.0)
            for ln in approach:
                halting = libsumo.lane.getLastStepHaltingNumber(ln)
                est = states.queue(ln)
                errors.append(abs(est - halting))
                if halting:
                    queued += 1
                    seen += est >= 0.5
    finally:
        libsumo.close()
    assert queued > 300  # queues formed on red, on every approach in turn
    # A halted vehicle is seen (before a vehicle standing on the stop-line loop was counted out
    # as soon as it reached it, the count was reset under a vehicle still rolling between the
    # loops, and vehicles coming on at the lane's start at a step boundary were not counted:
    # one halting lane-second in five was missed on a generated grid).
    assert seen / queued >= 0.95
    assert sum(errors) / len(errors) <= 0.5  # 0.62 veh before, 0.39 now
