"""Scenario detector files: outputs redirected out of the (read-only) scenario folder."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from twin.detectors import rewrite_detector_files, strip_wauts, write_generated_loops


def test_outputs_are_redirected_and_detectors_listed(tmp_path: Path) -> None:
    scen = tmp_path / "scenario"
    scen.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    add = scen / "det.add.xml"
    add.write_text(
        "<additional>"
        '<e1Detector id="a" lane="e_0" pos="12" freq="900" file="out.xml"/>'
        '<laneAreaDetector id="b" lane="e_1" pos="0" endPos="-1" period="900" file="out.xml"/>'
        '<entryExitDetector id="c" period="60" file="e3.xml"><detEntry lane="e_0" pos="1"/>'
        '<detExit lane="f_0" pos="1"/></entryExitDetector>'
        '<edgeData id="d" file="edges.xml"/>'
        "</additional>"
    )
    plain = scen / "stops.add.xml"
    plain.write_text(
        '<additional><busStop id="s" lane="e_0" startPos="0" endPos="10"/></additional>'
    )
    files, specs = rewrite_detector_files((add, plain), work, 60)
    assert files[1] == plain  # nothing to redirect: loaded from where it is
    assert files[0].parent == work
    root = ET.parse(files[0]).getroot()
    assert all(Path(el.get("file", "")).parent == work for el in root if el.get("file"))
    assert [(d.id, d.kind, d.lane, d.pos_m) for d in specs] == [
        ("a", "e1", "e_0", 12.0),
        ("b", "e2", "e_1", 0.0),
    ]
    assert {el.get("freq") for el in root if el.tag in {"e1Detector", "laneAreaDetector"}} == {"60"}
    assert add.read_text().count('file="out.xml"') == 2  # the original is untouched


def test_generated_loops_sit_upstream_of_the_stop_line(tmp_path: Path) -> None:
    specs = write_generated_loops({"long_0": 200.0, "short_0": 20.0}, tmp_path / "l.add.xml", 60)
    pos = {d.lane: d.pos_m for d in specs}
    assert pos == {"long_0": 160.0, "short_0": 0.5}
    assert all(d.generated and d.id == f"twin_{d.lane}" for d in specs)


def test_timed_event_outputs_are_redirected(tmp_path: Path) -> None:
    # the wheel's game scenarios save signal switches next to their additional file
    add = tmp_path / "in.add.xml"
    add.write_text('<add><timedEvent type="SaveTLSSwitchStates" dest="tlsstate.xml"/></add>')
    work = tmp_path / "work"
    work.mkdir()
    (copy,), _ = rewrite_detector_files((add,), work, 60)
    (el,) = ET.parse(copy).getroot()
    assert Path(el.get("dest", "")).parent == work


def test_wauts_are_stripped_and_the_rest_kept(tmp_path: Path) -> None:
    add = tmp_path / "p.add.xml"
    add.write_text(
        '<additional><tlLogic id="A" programID="x"><phase duration="5" state="G"/></tlLogic>'
        '<WAUT refTime="0" id="w" startProg="x"><wautSwitch time="300" to="0"/></WAUT>'
        '<wautJunction wautID="w" junctionID="A"/></additional>'
    )
    plain = tmp_path / "q.add.xml"
    plain.write_text("<additional/>")
    out = strip_wauts((add, plain), tmp_path)
    assert out[1] == plain
    assert [el.tag for el in ET.parse(out[0]).getroot()] == ["tlLogic"]
    assert "WAUT" in add.read_text()
