"""The rerouting comparison's mechanics with the real SUMO binary, on a small generated grid: the
closure closes, the advice diverts the vehicles bound for it at its decision point and they still
reach their own destinations, compliance levels are paired, the oracle runs."""

from __future__ import annotations

import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from twin.reroute import AdvisedRoute, PointAdvice, RerouteCase, RerouteRun, run_case
from twin.scenario import Scenario

pytestmark = pytest.mark.integration

THROUGH = "A0B0 B0C0 C0D0 D0D1 D1D2"
"""Eastbound along the bottom row, then north: uses C0D0, the edge the tests close."""


@pytest.fixture(scope="module")
def grid(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    import sumo  # noqa: F401  # sets SUMO_HOME
    import sumolib

    d = tmp_path_factory.mktemp("reroute")
    net = d / "grid.net.xml"
    subprocess.run(
        [
            sumolib.checkBinary("netgenerate"),
            "--grid",
            "--grid.number",
            "4",
            "--grid.length",
            "200",
            "--output-file",
            str(net),
            "--no-warnings",
        ],
        check=True,
    )
    routes = d / "routes.rou.xml"
    vehicles = [(10 * i, f"through{i}", THROUGH) for i in range(20)]
    vehicles += [(10 * i + 5, f"other{i}", "A1B1 B1C1 C1D1") for i in range(10)]
    text = "".join(
        f'<vehicle id="{v}" depart="{t}"><route edges="{r}"/></vehicle>'
        for t, v, r in sorted(vehicles)  # SUMO reads departures in order
    )
    routes.write_text(f"<routes>{text}</routes>", encoding="utf-8")
    return Scenario(name="grid", net=net, routes=(routes,), begin_s=0, end_s=600)


ADVICE = (PointAdvice("A0B0", (AdvisedRoute(("B0B1", "B1C1", "C1D1"), 1.0),)),)
"""At B0 (reached by A0B0, 200 m before the closure), go north and along the second row to D1,
where the through vehicles' own route goes on."""


def test_closure_advice_and_destinations(grid: Scenario) -> None:
    run = RerouteRun(grid, "C0D0", ADVICE)
    none = run_case(run, RerouteCase("none"), seed=1)
    assert none.trips == 30
    closed = run_case(run, RerouteCase("no_advice"), seed=1)
    assert closed.trips == 30
    full = run_case(run, RerouteCase("advice", 1.0), seed=1)
    assert full.bound == 20  # every through vehicle reached A0B0 with C0D0 ahead
    assert full.diverted == 20
    half = run_case(run, RerouteCase("advice", 0.5), seed=1)
    assert 0 < half.diverted < 20
    assert half.bound == 20
    # the advice's edges carry the 20 diverted vehicles and the 10 others (30 in 600 s)
    assert full.diversion_vph == pytest.approx(180.0)
    oracle = run_case(run, RerouteCase("oracle"), seed=1)
    assert oracle.trips == 30
    assert none.total_time_h <= closed.total_time_h


def test_diverted_vehicles_keep_their_destination(grid: Scenario, tmp_path: Path) -> None:
    """Read SUMO's own route output: the through vehicles left C0D0 alone and ended on D1D2."""
    from twin.options import RunOptions

    out = tmp_path / "vehroutes.xml"
    options = RunOptions(extra_sumo_args=("--vehroute-output", str(out)))
    run = RerouteRun(grid, "C0D0", ADVICE, options=options)
    res = run_case(run, RerouteCase("advice", 1.0), seed=3)
    assert res.diverted == 20
    ends = {}
    for veh in ET.parse(out).getroot().iter("vehicle"):
        routes = list(veh.iter("route"))
        final = routes[-1].attrib["edges"].split()
        ends[veh.attrib["id"]] = final
    through = {v: e for v, e in ends.items() if v.startswith("through")}
    assert len(through) == 20
    assert all(e[-1] == "D1D2" for e in through.values())
    assert all("C0D0" not in e for e in through.values())
    assert all("B1C1" in e for e in through.values())
